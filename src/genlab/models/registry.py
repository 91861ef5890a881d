"""The model registry: `@register("name")` on a model class is the single source of truth.

The CLI's choices, the studies, the app and the conformance tests all read `list_models()`. Models are
found by discovery (genlab.discovery): every module of genlab.models, and installed packages' `genlab.models`
entry points, so a new model is one new file and nothing else.
"""

from __future__ import annotations

from typing import Any, Callable

from genlab.discovery import MODEL_ENTRY_POINTS, discover
from genlab.errors import GenlabError

_MODELS: dict[str, type] = {}


def register(name: str) -> Callable[[type], type]:
    """Class decorator: register a `GenerativeModel` subclass under `name`."""

    def decorate(model_class: type) -> type:
        if name in _MODELS:
            raise ValueError(f"model {name!r} registered twice")
        model_class.registry_name = name
        _MODELS[name] = model_class
        return model_class

    return decorate


def _discover_models() -> None:
    # Importing a module runs its @register decorators: every module of genlab.models, then plugins.
    discover("genlab.models", MODEL_ENTRY_POINTS)


def list_models() -> list[str]:
    """Names of every registered model (built in, or from an installed package's `genlab.models`
    entry point), sorted."""
    _discover_models()
    return sorted(_MODELS)


def get_model_class(name: str) -> type:
    """The class registered under `name`, or a one-line error listing the known names."""
    _discover_models()
    if name not in _MODELS:
        raise GenlabError(f"unknown model '{name}'; run `genlab models` to list them: {', '.join(sorted(_MODELS))}")
    return _MODELS[name]


RECIPES = ("auto", "fast", "paper")


def resolve_recipe(recipe: str | None, device: str | None = None) -> str:
    """'fast' or 'paper' for a requested recipe: 'auto' (the default) is 'fast' on CPUs and 'paper' on GPUs.

    The fast recipes are sized for wall-clock-to-quality on a 2-core CPU (narrower conv stacks, smaller
    batches: more updates per minute, which is what a CPU lacks); a GPU runs the papers' sizes fast enough.
    """
    recipe = recipe or "auto"
    if recipe not in RECIPES:
        raise GenlabError(f"recipe must be one of {', '.join(RECIPES)}, got {recipe!r}")
    if recipe != "auto":
        return recipe
    import torch

    device = device or "auto"
    on_gpu = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    return "paper" if on_gpu else "fast"


def create_model(
    name: str,
    data_shape: tuple[int, ...] = (1, 28, 28),
    num_classes: int = 10,
    *,
    recipe: str | None = None,
    device: str | None = None,
    **config: Any,
):
    """Build a registered model for data of `data_shape` (C, H, W) with config overrides.

    `create_model("vae", latent_dim=2)`; unknown or ill-typed keys raise a one-line GenlabError.
    `recipe` ("auto", "fast" or "paper"; also accepted as a config key) picks the defaults under the
    overrides: the paper's, or the model's `fast_recipe` for this data (see `resolve_recipe`; `device`
    is where it will train, for "auto"). The model remembers the recipe it was built with (`.recipe`).
    """
    from genlab.config import from_dict

    model_class = get_model_class(name)
    config = dict(config)
    recipe = resolve_recipe(config.pop("recipe", None) or recipe, device)
    defaults = model_class.fast_recipe(tuple(data_shape)) if recipe == "fast" else {}
    model_config = from_dict(model_class.config_class, {**defaults, **config})
    model = model_class(model_config, data_shape=tuple(data_shape), num_classes=num_classes)
    model.recipe = recipe
    return model
