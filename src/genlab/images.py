"""Image grids and GIFs written with Pillow (no torchvision), and scatter plots for point data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def make_grid(images: torch.Tensor, columns: int | None = None, padding: int = 2) -> np.ndarray:
    """Tile (N, C, H, W) images in [0, 1] into one uint8 array (rows*H, cols*W, C) with padding."""
    images = images.detach().float().clamp(0, 1).cpu()
    count, channels, height, width = images.shape
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    grid = torch.ones(channels, rows * (height + padding) + padding, columns * (width + padding) + padding)
    for index in range(count):
        row, column = divmod(index, columns)
        top, left = padding + row * (height + padding), padding + column * (width + padding)
        grid[:, top : top + height, left : left + width] = images[index]
    array = (grid * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return array[:, :, 0] if channels == 1 else array


def grid_image(images: torch.Tensor, columns: int | None = None, scale: int = 1) -> Image.Image:
    """A Pillow image of the grid (nearest-neighbour upscaled by `scale` so small digits are visible)."""
    picture = Image.fromarray(make_grid(images, columns))
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    return picture


def points_image(points: torch.Tensor, reference: torch.Tensor | None = None, size: int = 4) -> Image.Image:
    """A scatter plot of 2-D points (optionally over reference points) as a Pillow image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(size, size), dpi=80)
    if reference is not None:
        axes.scatter(reference[:, 0].cpu(), reference[:, 1].cpu(), s=2, c="lightgray", label="data")
    axes.scatter(points[:, 0].cpu(), points[:, 1].cpu(), s=2, c="tab:blue", label="samples")
    axes.set_aspect("equal")
    figure.tight_layout()
    figure.canvas.draw()
    picture = Image.fromarray(np.asarray(figure.canvas.buffer_rgba())[:, :, :3].copy())
    plt.close(figure)
    return picture


def samples_image(samples: torch.Tensor, columns: int | None = None) -> Image.Image:
    """Images as a grid, 2-D points as a scatter plot."""
    if samples.dim() == 4:
        scale = max(1, 128 // samples.shape[-1]) if samples.shape[-1] < 64 else 1
        return grid_image(samples, columns, scale=min(scale, 4))
    return points_image(samples)


def save_samples(path: str | Path, samples: torch.Tensor, columns: int | None = None) -> Path:
    """Write samples as a PNG (grid or scatter plot); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    samples_image(samples, columns).save(path)
    return path


def save_gif(path: str | Path, frames: list[Path], milliseconds_per_frame: int = 400) -> Path | None:
    """An animated GIF of the given PNG frames (e.g. samples over training); None when no frames."""
    if not frames:
        return None
    pictures = [Image.open(frame).convert("RGB") for frame in frames]
    path = Path(path)
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=milliseconds_per_frame, loop=0)
    return path
