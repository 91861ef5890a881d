"""In-memory batching on the device: the whole split lives there, a batch is one index operation.

Batch order is a pure function of (seed, step), so a resumed run sees exactly the batches an
uninterrupted one would, with no loader state to save. Under DDP each rank takes its own
slice of every global batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Batch:
    """One training batch on the device: inputs (float, images in [0, 1]) and integer labels."""

    x: torch.Tensor  # (B, C, H, W) in [0, 1], or (B, D) points
    y: torch.Tensor  # (B,) int64

    def __len__(self) -> int:
        return self.x.shape[0]


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images to float in [0, 1]; float inputs pass through."""
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    return x.float()


class Batcher:
    """Shuffled batches drawn from tensors already on the device.

    Each epoch is a fresh permutation drawn from a generator seeded by (seed, epoch); the last
    incomplete batch of an epoch is dropped so every step sees `batch_size` items.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        device: torch.device | str = "cpu",
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        memory_format: torch.memory_format = torch.contiguous_format,
    ) -> None:
        if batch_size * world_size > x.shape[0]:
            raise ValueError(f"batch size {batch_size} x {world_size} ranks exceeds the {x.shape[0]} training items")
        self.device = torch.device(device)
        self.x = x.to(self.device)
        self.y = y.to(self.device)
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        # channels_last: batches of images come out NHWC, the layout conv kernels prefer.
        self.memory_format = memory_format if x.dim() == 4 else torch.contiguous_format
        self.global_batch = batch_size * world_size
        self.steps_per_epoch = x.shape[0] // self.global_batch
        self._epoch = -1
        self._order: torch.Tensor | None = None

    def _order_for(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._order = torch.randperm(self.x.shape[0], generator=generator).to(self.device)
            self._epoch = epoch
        assert self._order is not None
        return self._order

    def epoch_of(self, step: int) -> int:
        return step // self.steps_per_epoch

    def batch(self, step: int) -> Batch:
        """The batch for global step `step` (0-based), this rank's share of it."""
        epoch, position = divmod(step, self.steps_per_epoch)
        order = self._order_for(epoch)
        start = position * self.global_batch + self.rank * self.batch_size
        index = order[start : start + self.batch_size]
        x = to_float(self.x.index_select(0, index))
        if self.memory_format is not torch.contiguous_format:
            x = x.contiguous(memory_format=self.memory_format)
        return Batch(x, self.y.index_select(0, index))


def iterate_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, device: torch.device | str = "cpu"):
    """Ordered, complete pass over a split (for evaluation): yields `Batch`es, the last one may be short."""
    for start in range(0, x.shape[0], batch_size):
        yield Batch(to_float(x[start : start + batch_size].to(device)), y[start : start + batch_size].to(device))
