"""Class grids for conditional models: one row per class, each column one code shared by every row.

Holding z fixed down a column while the class changes shows what the latent carries apart from the
class (a digit's slant and stroke width: its style), as in the CVAE and AC-GAN papers' figures.
"""

from __future__ import annotations

from typing import Sequence

import torch

from genlab.errors import GenlabError
from genlab.latent.common import LatentGrid, check_codes, decode, draw_codes, model_name, require_latent_images

MAX_COLUMNS = 32
MAX_CLASSES = 100


def class_grid(
    model,
    columns: int = 8,
    classes: Sequence[int] | None = None,
    *,
    codes: torch.Tensor | None = None,
    class_names: Sequence[str] = (),
    generator: torch.Generator | None = None,
) -> LatentGrid:
    """Decode `columns` codes (drawn from the prior with `generator`, or `codes` (columns, D)) once per class.

    `classes` defaults to every class of the model; rows are named with `class_names` when given.
    """
    require_latent_images(model, "class-grid")
    if not model.conditional:
        raise GenlabError(f"class-grid needs a conditional model; '{model_name(model)}' is not conditional "
                          "(train a conditional one such as cvae or cgan)")
    chosen = list(range(model.num_classes)) if classes is None else [int(k) for k in classes]
    if not chosen or len(chosen) > MAX_CLASSES:
        raise GenlabError(f"choose between 1 and {MAX_CLASSES} classes, got {len(chosen)}")
    bad = [k for k in chosen if not 0 <= k < model.num_classes]
    if bad:
        raise GenlabError(f"classes must be in [0, {model.num_classes}), got {bad}")
    if codes is None:
        if not 1 <= columns <= MAX_COLUMNS:
            raise GenlabError(f"columns must be between 1 and {MAX_COLUMNS}, got {columns}")
        codes = draw_codes(model, columns, generator)
    codes = check_codes(model, codes).reshape(-1, model.latent_dim)
    if not 1 <= codes.shape[0] <= MAX_COLUMNS:
        raise GenlabError(f"give between 1 and {MAX_COLUMNS} codes, got {codes.shape[0]}")
    count = codes.shape[0]
    grid_codes = codes.unsqueeze(0).expand(len(chosen), count, model.latent_dim)  # (rows, columns, D)
    labels = torch.tensor(chosen, dtype=torch.long).repeat_interleave(count).to(model.device)
    images = decode(model, grid_codes.reshape(-1, model.latent_dim), labels)
    names = [class_names[k] if k < len(class_names) else str(k) for k in chosen]
    return LatentGrid(images=images, columns=count, codes=grid_codes.clone(), row_names=names)
