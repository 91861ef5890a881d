"""Optimizer construction shared by the model families.

Adam uses torch's fused kernel where this torch build and device have one (CPU from torch 2.4,
CUDA): the update of an MLP's parameters then costs a third of the per-tensor loop's time, which
matters for small models whose whole step is a few milliseconds.
"""

from __future__ import annotations

from typing import Iterable

import torch


def adam(parameters: Iterable[torch.nn.Parameter], lr: float, betas: tuple[float, float] = (0.9, 0.999),
         **options) -> torch.optim.Adam:
    """Adam, fused where supported, otherwise the standard implementation (same update, same state)."""
    parameters = list(parameters)
    try:
        return torch.optim.Adam(parameters, lr=lr, betas=betas, fused=True, **options)
    except (RuntimeError, TypeError, ValueError):  # older torch or a device without the fused kernel
        return torch.optim.Adam(parameters, lr=lr, betas=betas, **options)
