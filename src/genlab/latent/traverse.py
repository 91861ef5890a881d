"""Latent traversals: set one component of a code to a range of values, the others fixed.

One row per component, as in the β-VAE papers' figures: a disentangled component changes one
factor of the image (stroke width, slant) along its row.
"""

from __future__ import annotations

from typing import Sequence

import torch

from genlab.errors import GenlabError
from genlab.latent.common import (
    LatentGrid,
    check_codes,
    decode,
    draw_codes,
    label_batch,
    prior_spread,
    require_latent_images,
    resolve_label,
)
from genlab.models.base import GenerativeModel

MAX_COMPONENTS = 64
MAX_STEPS = 64
DEFAULT_COMPONENTS = 8


def traverse_codes(base: torch.Tensor, components: Sequence[int], values: torch.Tensor) -> torch.Tensor:
    """Copies of `base` (D,) with component k set to each value: (len(components), len(values), D).

    `values` is (S,) (the same values for every component) or (K, S) (one range per component).
    """
    base = torch.as_tensor(base, dtype=torch.float32).reshape(-1)
    values = torch.as_tensor(values, dtype=torch.float32)
    values = values.expand(len(components), -1) if values.dim() == 1 else values
    codes = base.expand(len(components), values.shape[1], base.shape[0]).clone()
    for row, component in enumerate(components):
        codes[row, :, component] = values[row]
    return codes


def resolve_components(latent_dim: int, components: Sequence[int] | int | None) -> list[int]:
    """Component indices: a list as given, an int K for the first K, None for the first min(8, D)."""
    if components is None:
        components = min(DEFAULT_COMPONENTS, latent_dim)
    if isinstance(components, int):
        if not 1 <= components <= min(latent_dim, MAX_COMPONENTS):
            raise GenlabError(f"the number of components must be between 1 and {min(latent_dim, MAX_COMPONENTS)}, got {components}")
        return list(range(components))
    chosen = [int(component) for component in components]
    if not chosen or len(chosen) > MAX_COMPONENTS:
        raise GenlabError(f"choose between 1 and {MAX_COMPONENTS} components, got {len(chosen)}")
    bad = [component for component in chosen if not 0 <= component < latent_dim]
    if bad:
        raise GenlabError(f"latent components must be in [0, {latent_dim}), got {bad}")
    return chosen


def traverse(
    model: GenerativeModel,
    components: Sequence[int] | int | None = None,
    *,
    steps: int = 9,
    span: float = 3.0,
    values: Sequence[float] | torch.Tensor | None = None,
    base: torch.Tensor | None = None,
    label: int | None = None,
    generator: torch.Generator | None = None,
) -> LatentGrid:
    """Decode traversals of `components` (see `resolve_components`) around the code `base`.

    Each component is set to `values`, by default `steps` values evenly spread over the prior's
    centre ± `span` standard deviations (−3…3 for a standard normal prior); every other component
    keeps its value in `base` (by default one code drawn from the prior with `generator`).
    Conditional models decode with class `label` (default 0).
    """
    require_latent_images(model, "traverse")
    label = resolve_label(model, label)
    chosen = resolve_components(model.latent_dim, components)
    if base is None:
        base = draw_codes(model, 1, generator)[0]
    base = check_codes(model, base, "base").reshape(-1)
    if values is not None:
        values = torch.as_tensor(values, dtype=torch.float32).reshape(-1)
        if not 2 <= values.numel() <= MAX_STEPS or not torch.isfinite(values).all():
            raise GenlabError(f"give between 2 and {MAX_STEPS} finite traversal values, got {values.numel()}")
        ranges = values.expand(len(chosen), -1)
    else:
        if not 2 <= steps <= MAX_STEPS:
            raise GenlabError(f"steps must be between 2 and {MAX_STEPS}, got {steps}")
        if not 0 < span <= 10:
            raise GenlabError(f"span must be in (0, 10] prior standard deviations, got {span}")
        centre, scale = prior_spread(model)
        offsets = torch.linspace(-span, span, steps)
        ranges = centre[chosen, None] + scale[chosen, None] * offsets  # (K, S)
    codes = traverse_codes(base, chosen, ranges)
    flat = codes.reshape(-1, model.latent_dim)
    images = decode(model, flat, label_batch(model, label, flat.shape[0]))
    shared = bool(torch.allclose(ranges, ranges[:1].expand_as(ranges))) and ranges.shape[1] <= 12
    column_names = [f"{value:+.1f}" for value in ranges[0].tolist()] if shared else []
    return LatentGrid(images=images, columns=codes.shape[1], codes=codes, row_names=[f"z{k}" for k in chosen],
                      column_names=column_names)
