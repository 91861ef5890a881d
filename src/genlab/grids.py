"""Reconstruction grids (each row of originals above its reconstructions) and per-class sample grids.

Functions over the model interface (`reconstruct`, `sample(n, labels=...)`) that return image
tensors, and `save_*` helpers that write them as PNGs with genlab.images.
"""

from __future__ import annotations

from pathlib import Path

import torch

from genlab.errors import GenlabError
from genlab.images import save_samples


def interleave_rows(originals: torch.Tensor, reconstructions: torch.Tensor, columns: int) -> torch.Tensor:
    """Order two (N, C, H, W) sets so a grid of `columns` shows each row of originals above its
    reconstructions; a short last row is filled with blank (white) tiles."""
    if originals.shape != reconstructions.shape:
        raise ValueError(f"originals {tuple(originals.shape)} and reconstructions {tuple(reconstructions.shape)} differ")
    count = originals.shape[0]
    rows = -(-count // columns)
    blank = torch.ones(rows * columns - count, *originals.shape[1:], dtype=originals.dtype, device=originals.device)
    padded = [torch.cat([images, blank]).view(rows, columns, *originals.shape[1:]) for images in (originals, reconstructions)]
    return torch.stack(padded, dim=1).reshape(2 * rows * columns, *originals.shape[1:])  # (rows, 2, columns, ...)


def reconstructions_of(model, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """`model.reconstruct(x)` in [0, 1], with a one-line error for models without an encoder."""
    try:
        return model.reconstruct(x, labels=labels if model.conditional else None).float().cpu()
    except NotImplementedError:
        raise GenlabError(f"model '{model.registry_name}' has no encoder, so it cannot reconstruct images") from None


def save_reconstruction_grid(path: str | Path, originals: torch.Tensor, reconstructions: torch.Tensor,
                             columns: int = 8) -> Path:
    """Write originals above reconstructions, row by row, as one PNG."""
    columns = min(columns, originals.shape[0])
    return save_samples(path, interleave_rows(originals.float().cpu(), reconstructions.float().cpu(), columns), columns)


def class_samples(model, per_class: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """`per_class` samples of every class of a conditional model, class by class: (classes * per_class, C, H, W)."""
    if not model.conditional:
        raise GenlabError(f"model '{model.registry_name}' is not conditional: per-class grids need a conditional model")
    if per_class < 1:
        raise GenlabError(f"per-class sample count must be at least 1, got {per_class}")
    labels = torch.arange(model.num_classes).repeat_interleave(per_class)
    return model.sample(labels.numel(), labels=labels, generator=generator)


def save_class_grid(path: str | Path, samples: torch.Tensor, per_class: int) -> Path:
    """Write class-ordered samples with one row per class."""
    return save_samples(path, samples, columns=per_class)


def run_reconstructions(run, n: int = 32, seed: int = 0, split: str = "test") -> tuple[torch.Tensor, torch.Tensor]:
    """(originals, reconstructions) of `n` images drawn with `seed` from a run's dataset split."""
    from genlab.config import from_dict
    from genlab.data.batches import to_float
    from genlab.data.registry import DataConfig, load_dataset

    if n < 1:
        raise GenlabError(f"the number of images to reconstruct must be at least 1, got {n}")
    dataset = load_dataset(from_dict(DataConfig, run.config["data"]))
    if dataset.kind != "image":
        raise GenlabError(f"reconstruction grids need image data; '{dataset.name}' holds {dataset.kind}")
    images, labels = dataset.split(split)
    chosen = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))[:n]
    originals = to_float(images[chosen]).to(run.model.device)
    return originals.cpu(), reconstructions_of(run.model, originals, labels[chosen].to(run.model.device))
