"""The explorer's pictures and captions: upscaled images, the map's crosshair, codes as text, the map's legend."""

from __future__ import annotations

import json

import torch
from PIL import Image

from genlab.images import make_grid
from genlab.latent import LatentMap

DISPLAY_SIDE = 224  # single decoded images are upscaled to about this many pixels


def display(picture: Image.Image, side: int = DISPLAY_SIDE) -> Image.Image:
    """Upscale small pictures by an integer factor (nearest neighbour: pixels stay sharp)."""
    factor = max(1, side // max(picture.width, picture.height))
    if factor > 1:
        picture = picture.resize((picture.width * factor, picture.height * factor), Image.NEAREST)
    return picture


def single_picture(image: torch.Tensor) -> Image.Image:
    """One (C, H, W) image in [0, 1] as a display-sized Pillow image."""
    return display(Image.fromarray(make_grid(image.unsqueeze(0), 1, padding=0)).convert("RGB"))


def draw_crosshair(picture: Image.Image, column: float, row: float, arm: int = 9) -> None:
    """Mark pixel (column, row) of `picture` in place: a black cross outlined in white, visible on light and
    dark images; a point outside the picture is marked at its nearest edge."""
    from PIL import ImageDraw

    column = min(max(column, 0.0), picture.width - 1.0)
    row = min(max(row, 0.0), picture.height - 1.0)
    draw = ImageDraw.Draw(picture)
    for colour, width in (("white", 5), ("black", 2)):
        draw.line([(column - arm, row), (column + arm, row)], fill=colour, width=width)
        draw.line([(column, row - arm), (column, row + arm)], fill=colour, width=width)


def format_code(code: torch.Tensor, limit: int = 64) -> str:
    """A code as a short JSON list (rounded; long codes truncated with a count)."""
    values = [round(float(value), 3) for value in code.reshape(-1)[:limit]]
    text = json.dumps(values)
    if code.numel() > limit:
        text += f"  (first {limit} of {code.numel()})"
    return text


def map_caption(result: LatentMap) -> str:
    """HTML: what the map shows and, for a scatter, each class's colour."""
    from genlab.latent.latent_map import class_colour

    what = {"latent": "the 2-D latent space", "pca": "the plane of the codes' two principal directions",
            "axes": "the plane of z0 and z1 through the prior's centre"}[result.kind]
    text = f"Click either picture to decode that point of {what}."
    if result.explained_variance is not None:
        text += f" PC1 and PC2 hold {100 * result.explained_variance[0]:.0f}% and {100 * result.explained_variance[1]:.0f}% of the codes' variance."
    if result.note:
        text += f" {result.note}."
    if result.points is not None and result.labels is not None:
        swatches = []
        for label in sorted(set(result.labels.tolist())):
            name = result.class_names[label] if label < len(result.class_names) else str(label)
            swatches.append(f'<span style="color:{class_colour(label)}">&#9679;</span>&nbsp;{_escape(name)}')
        text += "<br>" + " &nbsp; ".join(swatches)
    return text


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
