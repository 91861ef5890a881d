"""Training an evaluator network on a dataset's train split: deterministic seed, a schedule sized to
the split (a few CPU minutes at most), and its held-out accuracy or reconstruction error."""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from genlab.data.batches import to_float
from genlab.data.registry import Dataset
from genlab.metrics.evaluator_nets import build_network

EVALUATOR_SEED = 0
BATCH_SIZE = 128
LEARNING_RATE = 2e-3
WEIGHT_DECAY = 5e-4
# Training length in image presentations. Small sets (mnist-5k: 4,000 images) get random shifts of
# up to 2 pixels and ~12 epochs; large sets (Fashion-MNIST: 60,000) ~4 epochs without augmentation.
SMALL_SET_BELOW = 20_000
PRESENTATIONS = {"small": 48_000, "large": 240_000}
EPOCH_RANGE = (2, 200)
SHIFT_PIXELS = 2
FEATURE_BATCH = 1000


def random_shift(images: torch.Tensor, generator: torch.Generator, pixels: int = SHIFT_PIXELS) -> torch.Tensor:
    """Translate each image by up to `pixels` in x and y (zero padding), one gather for the batch."""
    count, channels, height, width = images.shape
    padded = F.pad(images, (pixels,) * 4)
    dx = torch.randint(0, 2 * pixels + 1, (count,), generator=generator)
    dy = torch.randint(0, 2 * pixels + 1, (count,), generator=generator)
    rows = (dy[:, None] + torch.arange(height))[:, None, :, None]  # (B, 1, H, 1)
    cols = (dx[:, None] + torch.arange(width))[:, None, None, :]  # (B, 1, 1, W)
    return padded[torch.arange(count)[:, None, None, None], torch.arange(channels)[None, :, None, None], rows, cols]


def training_schedule(train_count: int) -> tuple[int, bool]:
    """(epochs, augment) for a training split of `train_count` images."""
    small = train_count < SMALL_SET_BELOW
    presentations = PRESENTATIONS["small" if small else "large"]
    epochs = min(max(round(presentations / train_count), EPOCH_RANGE[0]), EPOCH_RANGE[1])
    return epochs, small


# Gradients on even when called inside a model's inference() (evaluate() builds a missing evaluator there).
@torch.enable_grad()
def train_network(network: nn.Module, dataset: Dataset, objective: str, progress: Callable[[str], None] | None = None
                  ) -> dict[str, Any]:
    """Train `network` on the train split (deterministic seed); returns what to record about it.

    `objective` is "classify" (cross-entropy) or "reconstruct" (MSE to the un-shifted input).
    """
    train_x, train_y = dataset.train_x, dataset.train_y
    count = train_x.shape[0]
    batch_size = min(BATCH_SIZE, count)
    epochs, augment = training_schedule(count)
    steps_per_epoch = count // batch_size
    total_steps = epochs * steps_per_epoch
    generator = torch.Generator().manual_seed(EVALUATOR_SEED)
    network.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(network.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, LEARNING_RATE, total_steps=total_steps, pct_start=0.25)
    started = time.perf_counter()
    network.train()
    for epoch in range(epochs):
        order = torch.randperm(count, generator=generator)
        for position in range(steps_per_epoch):
            index = order[position * batch_size : (position + 1) * batch_size]
            clean = to_float(train_x[index])
            inputs = random_shift(clean, generator) if augment else clean
            inputs = inputs.contiguous(memory_format=torch.channels_last)
            if objective == "classify":
                loss = F.cross_entropy(network(inputs), train_y[index])
            else:
                loss = F.mse_loss(network(inputs), inputs)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        if progress is not None:
            progress(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.4f} ({time.perf_counter() - started:.0f} s)")
    network.eval()
    return {"epochs": epochs, "steps": total_steps, "batch_size": batch_size, "augment_shift_pixels": SHIFT_PIXELS if augment else 0,
            "train_seconds": round(time.perf_counter() - started, 2), "train_items": count}


@torch.inference_mode()
def held_out_scores(network: nn.Module, dataset: Dataset, objective: str) -> dict[str, float]:
    """Held-out quality of a trained evaluator: accuracy (classifier) or MSE (autoencoder) on the test split."""
    network.eval()
    test_x, test_y = dataset.test_x, dataset.test_y
    if test_x.shape[0] == 0:
        return {}
    correct, squared, count = 0, 0.0, 0
    for start in range(0, test_x.shape[0], FEATURE_BATCH):
        x = to_float(test_x[start : start + FEATURE_BATCH]).contiguous(memory_format=torch.channels_last)
        if objective == "classify":
            correct += int((network(x).argmax(1) == test_y[start : start + FEATURE_BATCH]).sum())
        else:
            squared += float(F.mse_loss(network(x), x, reduction="sum"))
        count += x.shape[0]
    if objective == "classify":
        return {"test_accuracy": correct / count, "test_items": count}
    return {"test_mse": squared / (count * math.prod(dataset.shape)), "test_items": count}


def train_evaluator(dataset: Dataset, progress: Callable[[str], None] | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Train the evaluator network a dataset calls for; returns the network and its record."""
    kind = "classifier" if dataset.num_classes >= 2 else "autoencoder"
    objective = "classify" if kind == "classifier" else "reconstruct"
    with torch.random.fork_rng(devices=[]):  # initial weights and dropout never touch the caller's RNG
        torch.manual_seed(EVALUATOR_SEED)
        network = build_network(kind, dataset.shape, max(dataset.num_classes, 1))
        record = train_network(network, dataset, objective, progress)
    record.update(held_out_scores(network, dataset, objective))
    record["kind"] = kind
    return network, record
