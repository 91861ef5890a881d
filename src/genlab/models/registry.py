"""The model registry: `@register("name")` on a model class is the single source of truth.

The CLI's choices, the studies, the app and the conformance tests all read `list_models()`.
"""

from __future__ import annotations

from typing import Any, Callable

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


def _import_builtin_models() -> None:
    # Importing a family's module runs its @register decorators; one line per family file.
    from genlab.models import conv_vae, cvae, gan, gan_critics, pixel_vae, vae, vq_vae  # noqa: F401
    from genlab.models import baselines, hybrid  # noqa: F401


def list_models() -> list[str]:
    """Names of every registered model, sorted."""
    _import_builtin_models()
    return sorted(_MODELS)


def get_model_class(name: str) -> type:
    """The class registered under `name`, or a one-line error listing the known names."""
    _import_builtin_models()
    if name not in _MODELS:
        raise GenlabError(f"unknown model '{name}'; run `genlab models` to list them: {', '.join(sorted(_MODELS))}")
    return _MODELS[name]


def create_model(
    name: str,
    data_shape: tuple[int, ...] = (1, 28, 28),
    num_classes: int = 10,
    **config: Any,
):
    """Build a registered model for data of `data_shape` (C, H, W) with config overrides.

    `create_model("vae", latent_dim=2)`; unknown or ill-typed keys raise a one-line GenlabError.
    """
    from genlab.config import from_dict

    model_class = get_model_class(name)
    model_config = from_dict(model_class.config_class, config)
    return model_class(model_config, data_shape=tuple(data_shape), num_classes=num_classes)
