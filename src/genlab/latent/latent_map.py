"""The latent map: where a test set's codes fall, and what the decoder draws across the same plane.

For a 2-D latent the plane is the latent space itself (Kingma & Welling's learned-manifold figure):
the encoded test set as a scatter coloured by class, and the decoder's images on a regular grid over
the same axes. For more dimensions the plane is spanned by the two principal directions of the
codes (PCA), through their mean; the scatter can instead show a t-SNE embedding of the codes (which
has no inverse, so the decoded grid stays on the PCA plane). A model without an encoder gets the
decoded plane of its first two components through the prior's centre, and no scatter.

Every point (x, y) of the map is the code `origin + x · directions[0] + y · directions[1]`, so a
click on a picture of the map decodes exactly the code under the pointer.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from genlab.errors import GenlabError
from genlab.images import make_grid
from genlab.latent.common import (
    decode,
    encode,
    has_encoder,
    label_batch,
    no_encoder_message,
    prior_spread,
    require_latent_images,
    resolve_label,
)
from genlab.models.base import GenerativeModel

MapMethod = Literal["pca", "tsne"]
MAX_GRID = 40
MAX_POINTS = 20000
# Matplotlib's tab10: the colours a class keeps in every picture of the map.
CLASS_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def class_colour(label: int) -> str:
    return CLASS_COLOURS[int(label) % len(CLASS_COLOURS)]


@dataclass
class LatentMap:
    """A plane through latent space with the codes that fall on it and the images decoded across it."""

    kind: Literal["latent", "pca", "axes"]  # the 2-D latent itself, its PCA plane, or components 0 and 1
    origin: torch.Tensor  # (D,) the code at map point (0, 0)
    directions: torch.Tensor  # (2, D) the codes' steps along the map's x and y axes
    extent: tuple[float, float, float, float]  # x_min, x_max, y_min, y_max covered by the decoded grid
    grid_size: int
    manifold: torch.Tensor  # (grid_size², C, H, W) decoded images, row-major, top row at y_max
    points: torch.Tensor | None = None  # (N, 2) the codes projected on the plane
    labels: torch.Tensor | None = None  # (N,) their classes
    class_names: list[str] = field(default_factory=list)
    embedding: torch.Tensor | None = None  # (N, 2) t-SNE embedding of the codes, when asked for
    explained_variance: tuple[float, float] | None = None  # PCA: share of the codes' variance per axis
    label: int | None = None  # the class every manifold image is decoded with (conditional models)
    note: str = ""  # why a part is missing (no encoder, no data)

    # --- coordinates ------------------------------------------------------------------------------
    @property
    def axis_names(self) -> tuple[str, str]:
        if self.kind == "pca":
            return "PC1", "PC2"
        return "z0", "z1"

    def to_codes(self, points: torch.Tensor | Sequence[float]) -> torch.Tensor:
        """Latent codes (..., D) of map points (..., 2)."""
        points = torch.as_tensor(points, dtype=torch.float32)
        return self.origin + points @ self.directions

    def to_points(self, codes: torch.Tensor) -> torch.Tensor:
        """Map points (..., 2) of codes (..., D): their orthogonal projection on the plane (the directions
        are orthonormal), so `to_points(to_codes(p)) == p`."""
        return (torch.as_tensor(codes, dtype=torch.float32) - self.origin) @ self.directions.T

    def grid_points(self) -> torch.Tensor:
        """Map points at the centres of the grid's cells, (grid_size², 2), row-major from the top."""
        x_min, x_max, y_min, y_max = self.extent
        count = self.grid_size
        xs = x_min + (torch.arange(count) + 0.5) * (x_max - x_min) / count
        ys = y_max - (torch.arange(count) + 0.5) * (y_max - y_min) / count
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        return torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1)

    def pixel_to_point(self, column: float, row: float, width: int, height: int) -> tuple[float, float]:
        """The map point under pixel (column, row) of a `width` x `height` picture of the extent."""
        if not (0 <= column < width and 0 <= row < height):
            raise GenlabError(f"pixel ({column}, {row}) lies outside the {width}x{height} map")
        x_min, x_max, y_min, y_max = self.extent
        x = x_min + (column + 0.5) / width * (x_max - x_min)
        y = y_max - (row + 0.5) / height * (y_max - y_min)
        return float(x), float(y)

    def point_to_pixel(self, x: float, y: float, width: int, height: int) -> tuple[float, float]:
        x_min, x_max, y_min, y_max = self.extent
        return (x - x_min) / (x_max - x_min) * width - 0.5, (y_max - y) / (y_max - y_min) * height - 0.5

    # --- pictures ---------------------------------------------------------------------------------
    def manifold_picture(self) -> Image.Image:
        """The decoded grid without padding, so its pixels map linearly onto the extent."""
        return Image.fromarray(make_grid(self.manifold, self.grid_size, padding=0)).convert("RGB")

    def codes_picture(self, width: int, height: int, marker: tuple[float, float] | None = None) -> Image.Image:
        """The codes as dots coloured by class over the extent (blank without codes); `marker` is a map point."""
        picture = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(picture)
        x_min, x_max, y_min, y_max = self.extent
        if x_min < 0 < x_max:  # the axes through the origin, as reference lines
            column, _ = self.point_to_pixel(0.0, 0.0, width, height)
            draw.line([(column, 0), (column, height)], fill="#dddddd")
        if y_min < 0 < y_max:
            _, row = self.point_to_pixel(0.0, 0.0, width, height)
            draw.line([(0, row), (width, row)], fill="#dddddd")
        if self.points is not None:
            labels = self.labels if self.labels is not None else torch.zeros(len(self.points), dtype=torch.long)
            for (x, y), label in zip(self.points.tolist(), labels.tolist()):
                column, row = self.point_to_pixel(x, y, width, height)
                draw.ellipse([column - 2, row - 2, column + 2, row + 2], fill=class_colour(label))
        if marker is not None:
            column, row = self.point_to_pixel(marker[0], marker[1], width, height)
            draw.line([(column - 8, row), (column + 8, row)], fill="black", width=2)
            draw.line([(column, row - 8), (column, row + 8)], fill="black", width=2)
        return picture

    def figure(self) -> Image.Image:
        """Scatter of the codes (coloured by class, with a legend) beside the decoded manifold, with axes."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        has_scatter = self.points is not None
        figure, axes = plt.subplots(1, 2 if has_scatter else 1, figsize=(11, 5.4) if has_scatter else (5.8, 5.4), dpi=100)
        axes = list(np.atleast_1d(axes))
        x_min, x_max, y_min, y_max = self.extent
        x_name, y_name = self.axis_names
        if self.explained_variance is not None:
            x_name += f" ({100 * self.explained_variance[0]:.0f}% of variance)"
            y_name += f" ({100 * self.explained_variance[1]:.0f}%)"
        if has_scatter:
            scatter_axes = axes[0]
            shown = self.embedding if self.embedding is not None else self.points
            labels = self.labels if self.labels is not None else torch.zeros(len(shown), dtype=torch.long)
            for label in sorted(set(labels.tolist())):
                chosen = labels == label
                name = self.class_names[label] if label < len(self.class_names) else str(label)
                scatter_axes.scatter(shown[chosen, 0], shown[chosen, 1], s=4, color=class_colour(label), label=name)
            if self.embedding is not None:
                scatter_axes.set_title("t-SNE of the encoded test set")
                scatter_axes.set_xlabel("t-SNE 1")
                scatter_axes.set_ylabel("t-SNE 2")
            else:
                scatter_axes.set_title("encoded test set")
                scatter_axes.set_xlim(x_min, x_max)
                scatter_axes.set_ylim(y_min, y_max)
                scatter_axes.set_xlabel(x_name)
                scatter_axes.set_ylabel(y_name)
            scatter_axes.legend(fontsize=7, markerscale=3, loc="best", ncol=2 if len(set(labels.tolist())) > 5 else 1)
        manifold_axes = axes[-1]
        manifold_axes.imshow(np.asarray(self.manifold_picture()), extent=(x_min, x_max, y_min, y_max), aspect="auto",
                             interpolation="nearest")
        title = {"latent": "decoded latent grid", "pca": "decoded grid on the codes' PCA plane",
                 "axes": "decoded grid of z0, z1 (others at the prior's centre)"}[self.kind]
        if self.label is not None:
            name = self.class_names[self.label] if self.label < len(self.class_names) else str(self.label)
            title += f", class {name}"
        manifold_axes.set_title(title)
        manifold_axes.set_xlabel(x_name)
        manifold_axes.set_ylabel(y_name)
        note = textwrap.fill(self.note, 140 if has_scatter else 75) if self.note else ""
        if note:
            figure.text(0.5, 0.005, note, ha="center", va="bottom", fontsize=8, color="dimgray")
        figure.tight_layout(rect=(0, 0.03 * (1 + note.count("\n")), 1, 1))
        figure.canvas.draw()
        picture = Image.fromarray(np.asarray(figure.canvas.buffer_rgba())[:, :, :3].copy())
        plt.close(figure)
        return picture

    def save(self, path: str | Path) -> Path:
        """Write `figure()` as a PNG; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.figure().save(path)
        return path


def principal_plane(codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[float, float]]:
    """(mean (D,), the two principal directions (2, D), their shares of the variance) of codes (N, D).

    Each direction's sign is fixed (its largest loading positive) so the same codes give the same map.
    """
    codes = codes.double()
    mean = codes.mean(0)
    _, singular_values, right = torch.linalg.svd(codes - mean, full_matrices=False)
    directions = right[:2]
    signs = torch.sign(directions.gather(1, directions.abs().argmax(1, keepdim=True)))
    directions = directions * torch.where(signs == 0, torch.ones_like(signs), signs)
    variance = singular_values.pow(2)
    shares = (variance[:2] / variance.sum().clamp_min(1e-12)).tolist()
    return mean.float(), directions.float(), (float(shares[0]), float(shares[1]))


def covering_extent(points: torch.Tensor, margin: float = 0.05) -> tuple[float, float, float, float]:
    """The smallest box around `points` (N, 2), widened by `margin` of its size on each side."""
    low, high = points.min(0).values, points.max(0).values
    size = (high - low).clamp_min(1e-3)
    low, high = low - margin * size, high + margin * size
    return float(low[0]), float(high[0]), float(low[1]), float(high[1])


def tsne_embedding(codes: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """A 2-D t-SNE embedding of codes (N, D) with scikit-learn, seeded from `generator`."""
    from sklearn.manifold import TSNE

    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    perplexity = float(min(30, max(2, (codes.shape[0] - 1) // 3)))
    embedded = TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(codes.double().numpy())
    return torch.as_tensor(embedded, dtype=torch.float32)


def latent_map(
    model: GenerativeModel,
    images: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    *,
    class_names: Sequence[str] = (),
    grid_size: int = 15,
    method: MapMethod = "pca",
    max_points: int = 2000,
    label: int | None = None,
    generator: torch.Generator | None = None,
) -> LatentMap:
    """Map `images` (a test set, (N, C, H, W) in [0, 1] or uint8, with class `labels`) into latent space.

    Up to `max_points` images (a random choice with `generator`) are encoded; the manifold is a
    `grid_size` x `grid_size` grid of decoded images over the codes' range. `method="tsne"` also
    embeds the codes with t-SNE for the scatter. Conditional models encode with the images' labels
    and decode the manifold with class `label` (default 0). Without an encoder (or images) the map
    is the plane of components 0 and 1 through the prior's centre, ±3 prior standard deviations.
    """
    require_latent_images(model, "latent-map")
    if model.latent_dim < 2:
        raise GenlabError(f"a latent map needs at least 2 latent dimensions; '{model.registry_name}' has 1: use traverse")
    if not 2 <= grid_size <= MAX_GRID:
        raise GenlabError(f"grid_size must be between 2 and {MAX_GRID}, got {grid_size}")
    if not 1 <= max_points <= MAX_POINTS:
        raise GenlabError(f"max_points must be between 1 and {MAX_POINTS}, got {max_points}")
    if method not in ("pca", "tsne"):
        raise GenlabError(f"unknown projection method {method!r}; use pca or tsne")
    label = resolve_label(model, label)
    dimensions = model.latent_dim
    note, points, kept_labels, embedding, shares = "", None, None, None, None
    if has_encoder(model) and images is not None and len(images) > 0:
        if labels is not None and len(labels) != len(images):
            raise GenlabError(f"got {len(images)} images but {len(labels)} labels")
        chosen = torch.randperm(len(images), generator=generator)[:max_points]
        kept_labels = None if labels is None else torch.as_tensor(labels)[chosen].long()
        codes = encode(model, torch.as_tensor(images)[chosen], kept_labels if model.conditional else None)
        if dimensions == 2:
            kind, origin, directions = "latent", torch.zeros(2), torch.eye(2)
        else:
            kind = "pca"
            origin, directions, shares = principal_plane(codes)
        points = (codes - origin) @ directions.T
        extent = covering_extent(points)
        if method == "tsne":
            embedding = tsne_embedding(codes, generator)
    else:
        note = no_encoder_message(model) if not has_encoder(model) else "no images given: showing the prior's plane"
        kind = "latent" if dimensions == 2 else "axes"
        centre, scale = prior_spread(model)
        origin = centre.clone()
        origin[:2] = 0.0  # map coordinates along z0, z1 are the components' own values
        directions = torch.zeros(2, dimensions)
        directions[0, 0] = directions[1, 1] = 1.0
        extent = (float(centre[0] - 3 * scale[0]), float(centre[0] + 3 * scale[0]),
                  float(centre[1] - 3 * scale[1]), float(centre[1] + 3 * scale[1]))
    result = LatentMap(kind=kind, origin=origin, directions=directions, extent=extent, grid_size=grid_size,
                       manifold=torch.empty(0), points=points, labels=kept_labels, class_names=list(class_names),
                       embedding=embedding, explained_variance=shares, label=label, note=note)
    grid_codes = result.to_codes(result.grid_points())
    result.manifold = decode(model, grid_codes, label_batch(model, label, grid_codes.shape[0]))
    return result
