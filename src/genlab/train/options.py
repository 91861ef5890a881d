"""The trainer's options (`TrainConfig`) and budgets, and the setup every run shares: the device, the
seeds, the versions recorded with a run, and where notices go."""

from __future__ import annotations

import math
import platform
import random
import sys
from dataclasses import dataclass
from typing import Any, Callable, Literal

import numpy as np
import torch

from genlab._version import __version__
from genlab.errors import GenlabError


@dataclass
class TrainConfig:
    """The trainer's options. Budgets: the first of steps / epochs / minutes to run out stops training."""

    steps: int | None = None
    epochs: float | None = None
    minutes: float | None = None
    batch_size: int | None = None  # None: the model's own default (its paper's)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    log_every: int = 50
    eval_every: int = 250  # held-out metrics (e.g. the test ELBO) on a fixed test subset
    eval_items: int = 1000
    sample_every: int = 500
    num_samples: int = 64
    checkpoint_every: int = 1000
    # Also checkpoint (and write a sample grid) every N minutes of training: studies with a time budget
    # use it to follow quality over training time.
    checkpoint_minutes: float | None = None
    keep_checkpoints: int = 3  # 0 keeps all
    # Costly per-step measurements the model may log (e.g. every layer's gradient norm) every N steps.
    diagnostics_every: int = 50
    gradient_histograms: bool = False  # also record per-layer gradient histograms (gradient_histograms.jsonl)
    # A mode-collapse signal from samples at each evaluation, for models that sample cheaply: modes hit
    # (toy2d) or the entropy of a small classifier's label histogram (labelled images).
    sample_diagnostics: bool = True
    deterministic: bool = False
    # Speed settings that keep the model's function (genlab.train.accel; measured in
    # benchmarks/train_throughput.py): bf16 autocast of the step, NHWC layout for conv nets.
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"  # fp16: CUDA only, with a loss scaler (train/updates.py)
    channels_last: bool = False
    # The optimisation step of every model (genlab.train.updates): clip each optimizer's gradients to
    # this total norm (0: no clipping); keep a moving average of the weights with this decay, which
    # sampling and evaluation use (None: the model's own `ema_decay` where its config has one, else none).
    clip_grad_norm: float = 0.0
    ema_decay: float | None = None
    # Under torchrun (DDP): batch statistics over the global batch (GPUs only; see train/distributed.py).
    sync_batchnorm: bool = False
    threads: int | None = None  # torch CPU threads; None = all cores
    progress: bool = True

    def validate(self) -> None:
        for key in ("steps", "epochs", "minutes", "batch_size"):
            value = getattr(self, key)
            if value is not None and value <= 0:
                raise GenlabError(f"train option '{key}' must be positive, got {value}")
            if value is not None and not math.isfinite(value):
                raise GenlabError(f"train option '{key}' must be a finite number, got {value}")
        if not self.clip_grad_norm >= 0:
            raise GenlabError(f"train option 'clip_grad_norm' must be >= 0 (0 turns clipping off), got {self.clip_grad_norm}")
        if self.ema_decay is not None and not 0 <= self.ema_decay < 1:
            raise GenlabError(f"train option 'ema_decay' must be in [0, 1) (0 turns the average off), got {self.ema_decay}")
        for key in ("log_every", "eval_every", "sample_every", "checkpoint_every", "diagnostics_every"):
            if getattr(self, key) < 0:
                raise GenlabError(f"train option '{key}' must be >= 0 (0 turns it off)")


DEFAULT_STEPS = 1000
BUDGET_KEYS = ("steps", "epochs", "minutes")
FITTED_STEP = 1  # the step number of a fitted model's single `fit` over the training split


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present, else the CPU; a named device must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise GenlabError(f"unknown device '{name}'; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GenlabError(f"device '{name}' asked for but no CUDA GPU is visible; use --device cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise GenlabError("device 'mps' asked for but MPS is not available; use --device cpu")
    return device


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch; optionally make torch choose deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def environment_metadata() -> dict[str, Any]:
    """Versions recorded in every run, so a result can be traced to the code that made it."""
    return {
        "genlab_version": __version__,
        "torch_version": str(torch.__version__),
        "python_version": platform.python_version(),
        "platform": platform.platform(),
    }




def default_say(progress: bool) -> Callable[[str], None]:
    """Library calls without a `say`: notices go to stderr while progress is shown, else nowhere."""
    if not progress:
        return lambda message: None
    return lambda message: print(message, file=sys.stderr, flush=True)
