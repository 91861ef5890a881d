"""The trainer's side of the optimisation step: fp16 loss scaling and gradient clipping for every model.

Models backpropagate and step through `GenerativeModel.manual_backward` / `optimizer_step` (or
`update`); the trainer installs `TrainerUpdates` there, so these options need no model to know them:

- `precision="fp16"` (CUDA only) scales each loss with a `torch.amp.GradScaler` before its backward
  pass and unscales the optimizer's gradients right after it, so gradient norms measured between
  backward and step (diagnostics, clipping) are true ones; a step whose gradients overflowed is
  skipped and the scale lowered (`end_step`). Elsewhere the scaler is disabled: every call is a no-op.
- `clip_grad_norm` rescales the gradients of an optimizer's parameters to at most that total norm
  before it steps (0 turns it off).

`training_step` is one step as the trainer runs it (the update, then the loss scale and the moving
average of the weights): code that steps a model by hand (tests, benchmarks) calls it too.
"""

from __future__ import annotations

from typing import Any

import torch

from genlab.data.batches import Batch
from genlab.models.base import GenerativeModel, OptimizerHook


class TrainerUpdates(OptimizerHook):
    """Backward passes with loss scaling (fp16 on CUDA) and steps with gradient clipping."""

    def __init__(self, device: torch.device, fp16: bool = False, clip_grad_norm: float = 0.0) -> None:
        self.scaler = torch.amp.GradScaler("cuda", enabled=fp16 and device.type == "cuda")
        self.clip_grad_norm = clip_grad_norm

    def backward(self, model: GenerativeModel, loss: torch.Tensor, name: str, **backward_options: Any) -> None:
        self.scaler.scale(loss).backward(**backward_options)
        self.scaler.unscale_(model.optimizers[name])

    def step(self, model: GenerativeModel, name: str) -> None:
        optimizer = model.optimizers[name]
        if self.clip_grad_norm:
            parameters = [parameter for group in optimizer.param_groups for parameter in group["params"]
                          if parameter.grad is not None]
            torch.nn.utils.clip_grad_norm_(parameters, self.clip_grad_norm)
        self.scaler.step(optimizer)

    def end_step(self) -> None:
        """After each train_step: adapt the loss scale to whether any gradient overflowed."""
        self.scaler.update()


def training_step(model: GenerativeModel, batch: Batch, step: int, updates: TrainerUpdates | None = None,
                  ema_decay: float | None = None) -> dict[str, Any]:
    """`model.train_step(batch, step)`, then the end of the step: the loss scale adapts, and the moving
    average of the weights (decay `ema_decay`, None: the model's own) moves where the model keeps one."""
    values = model.train_step(batch, step)
    if updates is not None:
        updates.end_step()
    decay = model.default_ema_decay() if ema_decay is None else ema_decay
    if decay and model.has_moving_average:
        model.update_moving_average(step, decay)
    return values
