"""Interpolation in latent space: linear or spherical paths between codes, decoded into images.

Spherical interpolation (slerp, White 2016 "Sampling generative networks") follows the great circle
between two codes, so that intermediate codes keep the norm typical of a Gaussian prior instead of
passing near the origin, where a linear path between two random codes in many dimensions goes.
"""

from __future__ import annotations

from typing import Literal

import torch

from genlab.errors import GenlabError
from genlab.latent.common import (
    LatentGrid,
    check_codes,
    decode,
    draw_codes,
    encode,
    label_batch,
    require_encoder,
    require_latent_images,
    resolve_label,
)
from genlab.models.base import GenerativeModel

Method = Literal["linear", "spherical"]
METHODS: tuple[str, ...] = ("linear", "spherical")
MAX_STEPS = 64
MAX_PAIRS = 64


def check_path_request(steps: int, method: str, pairs: int = 1) -> None:
    if not 2 <= steps <= MAX_STEPS:
        raise GenlabError(f"steps must be between 2 and {MAX_STEPS} (both ends included), got {steps}")
    if method not in METHODS:
        raise GenlabError(f"unknown interpolation method {method!r}; use one of {', '.join(METHODS)}")
    if not 1 <= pairs <= MAX_PAIRS:
        raise GenlabError(f"pairs must be between 1 and {MAX_PAIRS}, got {pairs}")


def path_positions(steps: int) -> torch.Tensor:
    """The `steps` positions t in [0, 1] of a path, both ends included, (steps,)."""
    return torch.linspace(0.0, 1.0, steps)


def lerp(start: torch.Tensor, end: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Linear paths: start + t (end - start). start, end (..., D), positions (S,) -> (..., S, D)."""
    t = positions.to(start.dtype).view(-1, 1)
    return start.unsqueeze(-2) + t * (end - start).unsqueeze(-2)


def slerp(start: torch.Tensor, end: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Spherical paths: sin((1-t)Ω)/sin Ω · start + sin(tΩ)/sin Ω · end, Ω the angle between the codes.

    start, end (..., D), positions (S,) -> (..., S, D). Nearly parallel codes (sin Ω ≈ 0), where
    the formula is 0/0, fall back to the linear path, which is then the same curve.
    """
    start64, end64 = start.double(), end.double()
    cosine = (start64 * end64).sum(-1) / (start64.norm(dim=-1) * end64.norm(dim=-1)).clamp_min(1e-12)
    omega = torch.arccos(cosine.clamp(-1.0, 1.0)).unsqueeze(-1).unsqueeze(-1)  # (..., 1, 1)
    t = positions.double().view(-1, 1)  # (S, 1)
    sin_omega = torch.sin(omega)
    safe = sin_omega.abs() > 1e-6
    denominator = torch.where(safe, sin_omega, torch.ones_like(sin_omega))
    spherical = (torch.sin((1 - t) * omega) / denominator) * start64.unsqueeze(-2) + \
        (torch.sin(t * omega) / denominator) * end64.unsqueeze(-2)
    path = torch.where(safe, spherical, lerp(start64, end64, positions))
    return path.to(start.dtype)


def codes_along(start: torch.Tensor, end: torch.Tensor, positions: torch.Tensor, method: Method = "linear") -> torch.Tensor:
    """Codes at any positions t (S,) of the path from `start` to `end` ((..., D) each): (..., S, D)."""
    if method not in METHODS:
        raise GenlabError(f"unknown interpolation method {method!r}; use one of {', '.join(METHODS)}")
    positions = torch.as_tensor(positions, dtype=torch.float32).reshape(-1)
    return lerp(start, end, positions) if method == "linear" else slerp(start, end, positions)


def interpolate_codes(start: torch.Tensor, end: torch.Tensor, steps: int = 8, method: Method = "linear") -> torch.Tensor:
    """Codes along the path from `start` to `end` (each (D,) or (P, D)): (steps, D) or (P, steps, D).

    The first and last codes are exactly `start` and `end`.
    """
    check_path_request(steps, method)
    start, end = torch.as_tensor(start, dtype=torch.float32), torch.as_tensor(end, dtype=torch.float32)
    if start.shape != end.shape:
        raise GenlabError(f"start and end codes must have the same shape, got {tuple(start.shape)} and {tuple(end.shape)}")
    path = codes_along(start, end, path_positions(steps), method)
    # The formulas give the ends up to rounding; make them exact so a path starts and ends on its inputs.
    path[..., 0, :], path[..., -1, :] = start, end
    return path


def interpolate(
    model: GenerativeModel,
    start: torch.Tensor | None = None,
    end: torch.Tensor | None = None,
    *,
    pairs: int = 1,
    steps: int = 8,
    method: Method = "linear",
    label: int | None = None,
    generator: torch.Generator | None = None,
) -> LatentGrid:
    """Decode paths between pairs of codes: one row per pair, `steps` images from start to end.

    `start`/`end` are codes (D,) or (P, D); when omitted, `pairs` pairs are drawn from the model's
    prior with `generator`. Conditional models decode every image with class `label` (default 0).
    """
    require_latent_images(model, "interpolate")
    check_path_request(steps, method, pairs)
    label = resolve_label(model, label)
    if (start is None) != (end is None):
        raise GenlabError("give both start and end codes, or neither (random pairs from the prior)")
    if start is None:
        codes = draw_codes(model, 2 * pairs, generator)
        start, end = codes[:pairs], codes[pairs:]
    start = check_codes(model, start, "start").reshape(-1, model.latent_dim)
    end = check_codes(model, end, "end").reshape(-1, model.latent_dim)
    if start.shape != end.shape or start.shape[0] > MAX_PAIRS:
        raise GenlabError(f"start and end must hold the same number of codes (at most {MAX_PAIRS}), "
                          f"got {start.shape[0]} and {end.shape[0]}")
    path = interpolate_codes(start, end, steps, method)  # (P, S, D)
    flat = path.reshape(-1, model.latent_dim)
    images = decode(model, flat, label_batch(model, label, flat.shape[0]))
    names = [f"t={t:.2f}" for t in path_positions(steps).tolist()]
    return LatentGrid(images=images, columns=steps, codes=path, column_names=names if steps <= 12 else [])


def interpolate_images(
    model: GenerativeModel,
    first: torch.Tensor,
    second: torch.Tensor,
    *,
    steps: int = 8,
    method: Method = "linear",
    labels: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> LatentGrid:
    """Encode real images and decode the paths between their codes, the real images at both ends.

    `first` and `second` are (C, H, W) or (P, C, H, W) images in [0, 1] (or uint8); each row is
    [first | steps decoded images | second]. Conditional models need `labels` = (labels of first,
    labels of second) to encode, and decode each row with its first image's class.
    """
    require_latent_images(model, "interpolating between images")
    require_encoder(model, "interpolating between real images")
    check_path_request(steps, method)
    first, second = _as_batch(first), _as_batch(second)
    if first.shape != second.shape:
        raise GenlabError(f"the two sets of images must have the same shape, got {tuple(first.shape)} and {tuple(second.shape)}")
    if first.shape[0] > MAX_PAIRS:
        raise GenlabError(f"at most {MAX_PAIRS} pairs of images, got {first.shape[0]}")
    first_labels = second_labels = None
    if model.conditional:
        if labels is None:
            raise GenlabError(f"'{model.registry_name}' is conditional: pass labels=(labels of first, labels of second)")
        first_labels, second_labels = (torch.as_tensor(part).long().reshape(-1) for part in labels)
        for part in (first_labels, second_labels):
            resolve_label(model, int(part.min()))
            resolve_label(model, int(part.max()))
    start, end = encode(model, first, first_labels), encode(model, second, second_labels)
    path = interpolate_codes(start, end, steps, method)  # (P, S, D)
    decode_labels = None if first_labels is None else first_labels.repeat_interleave(steps)
    decoded = decode(model, path.reshape(-1, model.latent_dim), decode_labels).view(first.shape[0], steps, *first.shape[1:])
    rows = torch.cat([first.unsqueeze(1), decoded, second.unsqueeze(1)], dim=1)  # (P, S + 2, C, H, W)
    names = ["real"] + [f"t={t:.2f}" for t in path_positions(steps).tolist()] + ["real"]
    return LatentGrid(images=rows.flatten(0, 1), columns=steps + 2, codes=path, column_names=names if steps <= 12 else [])


def _as_batch(images: torch.Tensor) -> torch.Tensor:
    images = torch.as_tensor(images)
    if images.dtype == torch.uint8:
        images = images.float() / 255.0
    return (images.unsqueeze(0) if images.dim() == 3 else images).float()
