"""Reproducible corruptions of image datasets: additive white Gaussian noise and smooth spline warps.

Each corruption has named levels (`awgn:low|medium|high`, `warp:low|medium|high`) or an explicit
strength (`awgn:0.3`, `warp:2.5`). Every image gets its own seed (base seed + index), so the
corrupted copy of a dataset is the same whatever subset or order it is computed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from genlab.errors import GenlabError

# AWGN: the noise std in units of the [0, 1] pixel range.
AWGN_LEVELS = {"low": 0.05, "medium": 0.1, "high": 0.2}
# Warps: the std of the control-point displacements in pixels of a 28-pixel image (scaled with the
# image side, so a level deforms a 64-pixel face as much as a 28-pixel digit).
WARP_LEVELS = {"low": 0.5, "medium": 1.0, "high": 2.0}
WARP_CONTROL_POINTS = 4  # a 4x4 grid of random displacements, upsampled by a cubic spline
KINDS = {"awgn": AWGN_LEVELS, "warp": WARP_LEVELS}


@dataclass(frozen=True)
class Corruption:
    """A parsed corruption: its kind, the level's name (or None) and its numeric strength."""

    kind: str
    strength: float
    level: str | None = None

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.level or self.strength:g}" if self.level is None else f"{self.kind}:{self.level}"


def parse_corruption(text: str) -> Corruption:
    """`awgn:high` or `warp:2.0` to a Corruption; a one-line error for anything else."""
    kind, _, level = text.partition(":")
    if kind not in KINDS or not level:
        raise GenlabError(f"unknown corruption {text!r}; use awgn:LEVEL or warp:LEVEL with LEVEL low|medium|high or a number")
    levels = KINDS[kind]
    if level in levels:
        return Corruption(kind, levels[level], level)
    try:
        strength = float(level)
    except ValueError:
        raise GenlabError(f"unknown {kind} level {level!r}; use low, medium, high or a number") from None
    if strength < 0:
        raise GenlabError(f"{kind} strength must be non-negative, got {strength}")
    return Corruption(kind, strength)


def _per_image_normal(count: int, shape: tuple[int, ...], seed: int, first_index: int) -> torch.Tensor:
    """Standard normal draws of `shape` for images first_index.. first_index+count-1, one seed each."""
    out = torch.empty(count, *shape)
    generator = torch.Generator()
    for offset in range(count):
        generator.manual_seed(seed * 1_000_003 + first_index + offset)
        out[offset] = torch.randn(shape, generator=generator)
    return out


def add_awgn(images: torch.Tensor, sigma: float, seed: int = 0, first_index: int = 0) -> torch.Tensor:
    """uint8 (N, C, H, W) images plus N(0, sigma^2) noise in [0, 1] units, clipped and rounded back to uint8."""
    noise = _per_image_normal(images.shape[0], tuple(images.shape[1:]), seed, first_index)
    noisy = images.float() / 255.0 + sigma * noise
    return (noisy.clamp(0, 1) * 255).round().to(torch.uint8)


def spline_warp(images: torch.Tensor, strength: float, seed: int = 0, first_index: int = 0) -> torch.Tensor:
    """Warp each image by a smooth random displacement field.

    Displacements (std `strength` pixels at 28 px, scaled with the image side) are drawn on a coarse control grid and upsampled with a
    bicubic spline to a dense field, then the image is resampled bilinearly at the displaced points.
    """
    count, _, height, width = images.shape
    control = _per_image_normal(count, (2, WARP_CONTROL_POINTS, WARP_CONTROL_POINTS), seed, first_index)
    pixels = strength * max(height, width) / 28.0
    field = F.interpolate(control * pixels, size=(height, width), mode="bicubic", align_corners=True)
    # Pixel displacements to grid_sample's [-1, 1] coordinates.
    field = torch.stack((field[:, 0] * 2 / max(width - 1, 1), field[:, 1] * 2 / max(height - 1, 1)), dim=-1)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
    grid = torch.stack((xs, ys), dim=-1).unsqueeze(0) + field  # (N, H, W, 2)
    warped = F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="border", align_corners=True)
    return warped.round().clamp(0, 255).to(torch.uint8)


def apply_corruption(images: torch.Tensor, corruption: str | Corruption, seed: int = 0, chunk: int = 8192) -> torch.Tensor:
    """Corrupt uint8 (N, C, H, W) images reproducibly (image i always gets seed + i), in chunks."""
    parsed = parse_corruption(corruption) if isinstance(corruption, str) else corruption
    function = add_awgn if parsed.kind == "awgn" else spline_warp
    parts = [function(images[start : start + chunk], parsed.strength, seed, start) for start in range(0, images.shape[0], chunk)]
    return torch.cat(parts) if parts else images.clone()


def example_grid(name: str, out: str | Path, n: int = 32, corruption: str | None = None, seed: int = 0) -> Path:
    """A PNG of `n` training examples of a dataset; with a corruption, each clean row above its corrupted copy."""
    from genlab.data.batches import to_float
    from genlab.data.registry import load_dataset
    from genlab.images import save_samples

    dataset = load_dataset(name)
    if dataset.kind != "image":
        raise GenlabError(f"dataset '{name}' holds points, not images: nothing to show as a grid")
    images = dataset.train_x[:n]
    columns = min(8, images.shape[0])
    if corruption is None:
        return save_samples(out, to_float(images), columns)
    corrupted = apply_corruption(images, corruption, seed=seed)
    rows = []
    for start in range(0, images.shape[0], columns):
        rows += [images[start : start + columns], corrupted[start : start + columns]]
    return save_samples(out, to_float(torch.cat(rows)), columns)
