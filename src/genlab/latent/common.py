"""What every latent tool needs from a model, asked through the common interface only.

The tools never look at a model's family: they read the capabilities its class declares (`has_latent`:
`decode` takes codes of `latent_dim` numbers; `has_encoder`: `encode` gives them). Codes come from `sample_latent`
(the model's own prior), so models with non-Gaussian priors (e.g. VQ-VAE codebook vectors) work too.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch
from PIL import Image, ImageDraw, ImageFont

from genlab.errors import GenlabError
from genlab.images import make_grid
from genlab.models.base import GenerativeModel

# Codes decoded or images encoded per forward pass: bounds memory for any grid size.
BATCH_SIZE = 256


def model_name(model: GenerativeModel) -> str:
    return getattr(model, "registry_name", "") or type(model).__name__


def has_latent_space(model: GenerativeModel) -> bool:
    """Whether codes of `model.latent_dim` numbers can be decoded into images (declared: `has_latent`)."""
    return model.has_latent


def has_encoder(model: GenerativeModel) -> bool:
    """Whether `model.encode` maps images to codes (declared: `has_encoder`)."""
    return model.has_encoder


def require_latent_images(model: GenerativeModel, tool: str) -> None:
    """Refuse models without a decodable latent space, or that model points rather than images."""
    if not has_latent_space(model):
        raise GenlabError(f"{tool} needs a model with a latent space; '{model_name(model)}' has none "
                          "(it has no decode(z)); choose a VAE or GAN run")
    if len(model.data_shape) != 3:
        raise GenlabError(f"{tool} draws images, but '{model_name(model)}' models points of shape "
                          f"{tuple(model.data_shape)}; use `genlab sample` for point data")


def require_encoder(model: GenerativeModel, tool: str) -> None:
    if not has_encoder(model):
        raise GenlabError(f"{tool} needs an encoder, and '{model_name(model)}' has none (it only decodes); "
                          "use codes drawn from the prior instead")


def no_encoder_message(model: GenerativeModel) -> str:
    """The line shown where an encoder feature is skipped."""
    return (f"'{model_name(model)}' has no encoder, so images cannot be mapped to codes: "
            "encoder features (reconstructions, codes of real images) are skipped")


def resolve_label(model: GenerativeModel, label: int | None) -> int | None:
    """The class to decode with: required to be valid for conditional models (default 0), None otherwise."""
    if not model.conditional:
        if label is not None:
            raise GenlabError(f"'{model_name(model)}' is not conditional: drop the class label")
        return None
    label = 0 if label is None else int(label)
    if not 0 <= label < model.num_classes:
        raise GenlabError(f"class label must be in [0, {model.num_classes}) for '{model_name(model)}', got {label}")
    return label


def label_batch(model: GenerativeModel, label: int | None, count: int) -> torch.Tensor | None:
    """`count` copies of `label` on the model's device (None for unconditional models)."""
    if label is None:
        return None
    return torch.full((count,), int(label), dtype=torch.long, device=model.device)


def check_codes(model: GenerativeModel, codes: torch.Tensor, name: str = "codes") -> torch.Tensor:
    """`codes` as float of shape (..., latent_dim), finite; a clear error otherwise."""
    codes = torch.as_tensor(codes, dtype=torch.float32)
    if codes.dim() == 0 or codes.shape[-1] != model.latent_dim:
        raise GenlabError(f"{name} must have {model.latent_dim} numbers each (the model's latent_dim), "
                          f"got shape {tuple(codes.shape)}")
    if not torch.isfinite(codes).all():
        raise GenlabError(f"{name} must be finite numbers")
    return codes


def inference(model: GenerativeModel) -> contextlib.AbstractContextManager[None]:
    """Evaluation mode (batch-norm running statistics, no dropout) without gradients, restored after:
    `model.inference()`."""
    return model.inference()


def decode(model: GenerativeModel, codes: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Images in [0, 1] on the CPU for codes (N, latent_dim), decoded in batches of BATCH_SIZE."""
    codes = check_codes(model, codes)
    pieces = []
    with inference(model):
        for start in range(0, codes.shape[0], BATCH_SIZE):
            chunk = codes[start : start + BATCH_SIZE].to(model.device)
            chunk_labels = None if labels is None else labels[start : start + BATCH_SIZE].to(model.device)
            pieces.append(model.decode(chunk, chunk_labels).float().clamp(0, 1).cpu())
    return torch.cat(pieces) if pieces else torch.empty(0, *model.data_shape)


def encode(model: GenerativeModel, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Codes (N, latent_dim) on the CPU for images (N, C, H, W) in [0, 1] (uint8 is converted)."""
    require_encoder(model, "encoding images")
    images = torch.as_tensor(images)
    if images.dtype == torch.uint8:
        images = images.float() / 255.0
    if tuple(images.shape[1:]) != tuple(model.data_shape):
        raise GenlabError(f"images must have the model's shape {tuple(model.data_shape)}, got {tuple(images.shape[1:])}")
    if model.conditional and labels is None:
        raise GenlabError(f"'{model_name(model)}' is conditional: pass the images' class labels to encode them")
    pieces = []
    with inference(model):
        for start in range(0, images.shape[0], BATCH_SIZE):
            chunk = images[start : start + BATCH_SIZE].float().to(model.device)
            chunk_labels = None if labels is None else torch.as_tensor(labels[start : start + BATCH_SIZE]).long().to(model.device)
            pieces.append(model.encode(chunk, chunk_labels).float().flatten(1).cpu())
    return torch.cat(pieces) if pieces else torch.empty(0, model.latent_dim)


def draw_codes(model: GenerativeModel, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """`count` codes from the model's prior, (count, latent_dim) on the CPU, drawn with `generator`."""
    with inference(model):
        return model.sample_latent(count, generator).float().flatten(1).cpu()


def prior_spread(model: GenerativeModel, draws: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """(centre, scale) per latent component, each (latent_dim,): where the prior puts its codes.

    The default prior of the interface is N(0, I), so (0, 1) exactly; a model with its own
    `sample_latent` gets the mean and standard deviation of `draws` codes from a fixed seed.
    """
    if type(model).sample_latent is GenerativeModel.sample_latent:
        return torch.zeros(model.latent_dim), torch.ones(model.latent_dim)
    codes = draw_codes(model, draws, torch.Generator().manual_seed(0))
    scale = codes.std(0)
    return codes.mean(0), torch.where(scale > 1e-6, scale, torch.ones_like(scale))


# --- pictures ----------------------------------------------------------------------------------
@dataclass
class LatentGrid:
    """Decoded images laid out in rows (one per pair, component or class), with the codes behind them."""

    images: torch.Tensor  # (rows * columns, C, H, W) in [0, 1], row-major
    columns: int
    codes: torch.Tensor  # (rows, decoded columns, latent_dim): the codes of the decoded images
    row_names: list[str] = field(default_factory=list)
    column_names: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.images.shape[0] // self.columns

    def picture(self, scale: int | None = None) -> Image.Image:
        """The grid as a Pillow image, upscaled so small images are visible, row names on the left."""
        return labelled_grid(self.images, self.columns, self.row_names, self.column_names, scale)

    def save(self, path: str | Path) -> Path:
        """Write the grid as a PNG; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.picture().save(path)
        return path


def default_scale(image_side: int) -> int:
    """Nearest-neighbour upscaling that makes 28-pixel images about 64 pixels wide on screen."""
    return max(1, min(4, round(64 / max(image_side, 1))))


def labelled_grid(images: torch.Tensor, columns: int, row_names: Sequence[str] = (), column_names: Sequence[str] = (),
                  scale: int | None = None) -> Image.Image:
    """A grid of images with optional row names on the left and column names on top."""
    scale = scale or default_scale(images.shape[-1])
    grid = Image.fromarray(make_grid(images, columns)).convert("RGB")
    if scale > 1:
        grid = grid.resize((grid.width * scale, grid.height * scale), Image.NEAREST)
    if not row_names and not column_names:
        return grid
    font = ImageFont.load_default()
    measure = ImageDraw.Draw(grid)
    left = 6 + max((int(measure.textlength(name, font=font)) for name in row_names), default=0) if row_names else 0
    top = 16 if column_names else 0
    canvas = Image.new("RGB", (grid.width + left, grid.height + top), "white")
    canvas.paste(grid, (left, top))
    draw = ImageDraw.Draw(canvas)
    pad, cell_height = 2 * scale, images.shape[-2] * scale
    cell_width = images.shape[-1] * scale
    for row, name in enumerate(row_names):
        y = top + pad + row * (cell_height + pad) + cell_height // 2 - 5
        draw.text((2, y), name, fill="black", font=font)
    for column, name in enumerate(column_names):
        x = left + pad + column * (cell_width + pad) + (cell_width - int(draw.textlength(name, font=font))) // 2
        draw.text((x, 2), name, fill="black", font=font)
    return canvas


# --- a run's data ----------------------------------------------------------------------------------
def load_test_split(run_config: dict) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(images uint8 (N, C, H, W), labels (N,), class names) of the clean test split a run was trained on."""
    from genlab.config import from_dict
    from genlab.data import DataConfig, load_dataset

    if "data" not in run_config:
        raise GenlabError("the run's config.yaml has no data section; is it a genlab run?")
    data_config = from_dict(DataConfig, run_config["data"])
    data_config.corruption = None  # the corruption only ever applies to the training split
    dataset = load_dataset(data_config)
    if dataset.kind != "image":
        raise GenlabError(f"the run's data '{dataset.name}' holds points, not images")
    return dataset.test_x, dataset.test_y, list(dataset.class_names)
