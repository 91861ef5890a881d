"""Whole-dataset transforms applied once at load time: subset, resize, channels.

They work on the full uint8 tensor in chunks, so no per-item Python runs during training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genlab.data.registry import DataConfig, Dataset


def choose_subset(x: torch.Tensor, y: torch.Tensor, count: int | None, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random choice of `count` items (all of them, in order, when count is None or too big)."""
    if count is None or count >= x.shape[0]:
        return x, y
    generator = torch.Generator().manual_seed(seed)
    keep = torch.randperm(x.shape[0], generator=generator)[:count].sort().values
    return x[keep], y[keep]


def resize_images(images: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """Resize uint8 (N, C, H, W) images to (N, C, size, size), antialiased, in chunks to bound memory."""
    if images.shape[-2:] == (size, size):
        return images
    out = []
    for start in range(0, images.shape[0], chunk):
        block = images[start : start + chunk].float()
        block = F.interpolate(block, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out.append(block.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(out) if out else images.new_zeros((0, images.shape[1], size, size))


def convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Greyscale to RGB by repetition; RGB to greyscale by ITU-R 601 luma (as Pillow's 'L')."""
    current = images.shape[1]
    if current == channels:
        return images
    if current == 1 and channels == 3:
        return images.repeat(1, 3, 1, 1)
    if current == 3 and channels == 1:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (images.float() * weights).sum(1, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)
    raise ValueError(f"cannot convert {current} channels to {channels}")


def apply_transforms(dataset: Dataset, config: DataConfig) -> Dataset:
    """Apply the common options of `DataConfig` to a freshly loaded dataset."""
    train_x, train_y = choose_subset(dataset.train_x, dataset.train_y, config.subset, config.seed)
    test_x, test_y = choose_subset(dataset.test_x, dataset.test_y, config.test_subset, config.seed + 1)
    if dataset.kind == "image":
        if config.resize is not None:
            train_x, test_x = resize_images(train_x, config.resize), resize_images(test_x, config.resize)
        if config.channels is not None:
            train_x, test_x = convert_channels(train_x, config.channels), convert_channels(test_x, config.channels)
        if config.corruption is not None:
            from genlab.data.corruptions import apply_corruption

            train_x = apply_corruption(train_x, config.corruption, seed=config.seed)
    elif config.resize is not None or config.channels is not None or config.corruption is not None:
        from genlab.errors import GenlabError

        raise GenlabError(f"dataset '{dataset.name}' holds points, not images: drop resize/channels/corruption")
    return dataset.replace(
        train_x=train_x.contiguous(), train_y=train_y, test_x=test_x.contiguous(), test_y=test_y
    )
