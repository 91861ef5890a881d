"""Drawing many samples from any model: a chunk at a time (bounded memory), from one seeded generator,
without gradients, collected on the CPU. Used by evaluation and by the trainer's sample diagnostics."""

from __future__ import annotations

import torch

from genlab.models.base import GenerativeModel

SAMPLE_CHUNK = 500


def draw_samples(model: GenerativeModel, count: int, labels: torch.Tensor | None, generator: torch.Generator,
                 chunk: int = SAMPLE_CHUNK) -> torch.Tensor:
    """`count` samples on the CPU; `labels` (one per sample) for conditional models, or None."""
    parts = []
    with torch.no_grad():
        for start in range(0, count, chunk):
            size = min(chunk, count - start)
            part_labels = None if labels is None else labels[start : start + size].to(model.device)
            parts.append(model.sample(size, labels=part_labels, generator=generator).cpu())
    return torch.cat(parts)
