"""Training: the loop (`Trainer`, `train`), safe checkpoints and run folders (`load_run`).

`Run` and `load_run` are light; the trainer and its names are imported on first use (PEP 562), so
reading a run folder does not load the training loop.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from genlab.train.run import Run, load_run

if TYPE_CHECKING:
    from genlab.train.trainer import TrainConfig, Trainer, seed_everything, train

_LAZY = {name: "genlab.train.trainer" for name in ("TrainConfig", "Trainer", "seed_everything", "train")}

__all__ = ["Run", "TrainConfig", "Trainer", "load_run", "seed_everything", "train"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'genlab.train' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
