"""Latent attribute control: does a single latent coordinate steer one image attribute (claim C22)?

Report 002 says single coordinates of a GAN's latent control rotation, colour and sharpness. For
each latent coordinate j, every one of `count` prior codes z (192) is moved to z - step·e_j and
z + step·e_j and both are decoded; the coordinate's effect on an attribute is |median over codes of
the attribute change| (a median: robust to the odd code whose angle flips), so a coordinate that
steers the attribute consistently scores high and one whose changes cancel scores low. Attributes of an image (cheap, no evaluator needed):

- brightness: mean pixel intensity (stroke thickness, for digits; colour intensity in general)
- sharpness:  log variance of the 3x3 Laplacian (genlab.metrics.sharpness)
- angle:      orientation of the principal axis of the intensity's second moments (rotation, slant),
              radians; changes are wrapped into [-pi/2, pi/2)

`control_ratio` = the top coordinate's effect / the median coordinate's. That ratio is large even
when no coordinate is special: if an attribute follows one random direction of the latent space,
its components on the axes are those of a random unit vector, whose largest is ~3.7x the median in
100 dimensions. `chance_control_ratio(d)` is that expectation (Monte Carlo, seeded), and
`axis_alignment` = control_ratio / chance: ~1 when the attribute is spread over the coordinates as a
random direction would be (an entangled latent), well above 1 when one coordinate carries it.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Callable

import torch

from genlab.metrics.sharpness import laplacian_variance

ATTRIBUTES = ("brightness", "sharpness", "angle")
TRAVERSAL_STEP = 2.0  # codes move +-2 prior standard deviations along each coordinate
# Prior codes each coordinate is traversed from. Fewer leave the top/median ratio to noise: on one DCGAN the
# alignment read 0.9-1.9 over draws of 16 codes, 1.1-1.7 of 64, 1.14-1.25 of 192.
BASE_CODES = 192
MAX_COORDINATES = 128  # coordinates measured (the first ones): bounds the cost for large latents
DECODE_BATCH = 512
CHANCE_DRAWS = 2000


def image_attributes(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Brightness, sharpness (log Laplacian variance) and principal-axis angle of each image, each (N,).

    `images`: (N, C, H, W) floats in [0, 1]; colour images are averaged to grey for the angle.
    """
    images = images.float()
    grey = images.mean(1)  # (N, H, W)
    brightness = grey.flatten(1).mean(1)
    sharpness = torch.log(laplacian_variance(images).to(images.device) + 1e-8)
    height, width = grey.shape[1:]
    rows = torch.arange(height, dtype=grey.dtype, device=grey.device).view(1, height, 1)
    cols = torch.arange(width, dtype=grey.dtype, device=grey.device).view(1, 1, width)
    mass = grey.sum((1, 2)).clamp_min(1e-8)
    mean_row = (grey * rows).sum((1, 2)) / mass
    mean_col = (grey * cols).sum((1, 2)) / mass
    d_row, d_col = rows - mean_row.view(-1, 1, 1), cols - mean_col.view(-1, 1, 1)
    mu_rr = (grey * d_row**2).sum((1, 2)) / mass
    mu_cc = (grey * d_col**2).sum((1, 2)) / mass
    mu_rc = (grey * d_row * d_col).sum((1, 2)) / mass
    # Orientation of the major axis measured from the horizontal (x = column, y = up = -row).
    angle = 0.5 * torch.atan2(-2 * mu_rc, mu_cc - mu_rr)
    return {"brightness": brightness, "sharpness": sharpness, "angle": angle}


def wrap_half_turn(angle_change: torch.Tensor) -> torch.Tensor:
    """An axis has no direction: changes of orientation live in [-pi/2, pi/2)."""
    return torch.remainder(angle_change + math.pi / 2, math.pi) - math.pi / 2


def traversal_effects(decode: Callable[[torch.Tensor], torch.Tensor], base: torch.Tensor, coordinates: int,
                      step: float = TRAVERSAL_STEP) -> dict[str, torch.Tensor]:
    """Effect of each of the first `coordinates` latent coordinates on each attribute, (coordinates,) each.

    `base`: (count, latent_dim) codes; `decode` maps codes to images in [0, 1]."""
    count = base.shape[0]
    codes = []
    for index in range(coordinates):
        for sign in (-1.0, 1.0):
            moved = base.clone()
            moved[:, index] += sign * step
            codes.append(moved)
    all_codes = torch.cat(codes)  # (coordinates * 2 * count, latent_dim): [coord0 -, coord0 +, coord1 -, ...]
    parts = {name: [] for name in ATTRIBUTES}
    for start in range(0, all_codes.shape[0], DECODE_BATCH):
        for name, values in image_attributes(decode(all_codes[start : start + DECODE_BATCH])).items():
            parts[name].append(values.cpu())
    effects = {}
    for name in ATTRIBUTES:
        values = torch.cat(parts[name]).double().view(coordinates, 2, count)
        change = values[:, 1] - values[:, 0]  # (coordinates, count): + minus -
        if name == "angle":
            change = wrap_half_turn(change)
        # The median, not the mean: a near-round digit has no clear axis, and its angle may flip by ~90 degrees.
        effects[name] = change.median(1).values.abs()
    return effects


def control_ratio(effects: torch.Tensor) -> float:
    """The largest effect over the median one (inf when the median is 0 and the largest is not)."""
    top, median = float(effects.max()), float(effects.median())
    if median <= 0:
        return math.inf if top > 0 else 1.0
    return top / median


@lru_cache(maxsize=None)
def chance_control_ratio(dims: int, draws: int = CHANCE_DRAWS) -> float:
    """Expected `control_ratio` of |components| of a random direction in `dims` dimensions (seeded)."""
    vectors = torch.randn(draws, dims, generator=torch.Generator().manual_seed(dims), dtype=torch.float64).abs()
    return float((vectors.max(1).values / vectors.median(1).values).mean())


@torch.no_grad()
def latent_attribute_control(model: Any, count: int = BASE_CODES, step: float = TRAVERSAL_STEP, seed: int = 0,
                             max_coordinates: int = MAX_COORDINATES) -> dict[str, Any]:
    """Per attribute: each coordinate's effect, the control ratio, its chance value and the alignment.

    `model`: anything with `latent_dim`, `sample_latent(n, generator)` and `decode(z)` (images in [0, 1]).
    Returns `control_ratio` and `axis_alignment` (the largest over the attributes), `chance_ratio`, and
    `attributes`: {name: {control_ratio, axis_alignment, top_coordinate, top_effect, median_effect}}.
    """
    coordinates = min(int(model.latent_dim), max_coordinates)
    if coordinates < 3:
        raise ValueError(f"a latent of {model.latent_dim} dimensions is too small to single out a coordinate (needs 3+)")
    generator = torch.Generator().manual_seed(seed)
    base = model.sample_latent(count, generator)  # (count, latent_dim), the model's own prior
    effects = traversal_effects(lambda z: model.decode(z).clamp(0, 1), base, coordinates, step)
    chance = chance_control_ratio(coordinates)
    per_attribute = {}
    for name, values in effects.items():
        ratio = control_ratio(values)
        per_attribute[name] = {"control_ratio": ratio, "axis_alignment": ratio / chance,
                               "top_coordinate": int(values.argmax()), "top_effect": float(values.max()),
                               "median_effect": float(values.median())}
    return {"control_ratio": max(item["control_ratio"] for item in per_attribute.values()),
            "axis_alignment": max(item["axis_alignment"] for item in per_attribute.values()),
            "chance_ratio": chance, "coordinates": coordinates, "base_codes": count, "step": step,
            "attributes": per_attribute}
