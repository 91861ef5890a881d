"""Speed settings of the training step that do not change what is trained: bf16 autocast, the
channels-last memory layout, and cuDNN autotuning.

- `precision="bf16"` runs each `train_step` under `torch.autocast(dtype=torch.bfloat16)`: matrix
  products and convolutions in bfloat16 (oneDNN on CPUs with AVX-512 BF16 / AMX, tensor cores on GPUs),
  weights, gradients and optimizer state stay float32, so no loss scaling is needed. CPUs without
  native bfloat16 would emulate it slower than float32, so they are refused with a clear message.
- `precision="fp16"` (CUDA only) autocasts to float16, whose narrow range needs the loss scaler the
  trainer's update hook applies (genlab.train.updates).
- `channels_last` stores conv weights and image batches as NHWC, the layout oneDNN and cuDNN
  prefer; the model computes the same function.
- On CUDA, cuDNN benchmark mode picks the fastest convolution algorithms for the (fixed) batch shape,
  unless the run asked for deterministic kernels.
"""

from __future__ import annotations

import contextlib
from typing import ContextManager

import torch

from genlab.errors import GenlabError

PRECISIONS = ("fp32", "bf16", "fp16")


def native_bf16(device: torch.device) -> bool:
    """Whether `device` runs bfloat16 matrix products natively (not emulated)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):  # a torch build without oneDNN
            return False
    return False


def check_precision(precision: str, device: torch.device) -> None:
    """Refuse a precision the device cannot run fast, naming the fix."""
    if precision not in PRECISIONS:
        raise GenlabError(f"unknown precision '{precision}'; use {' or '.join(PRECISIONS)}")
    if precision == "fp16" and device.type != "cuda":
        raise GenlabError(f"--precision fp16 needs a CUDA GPU (its loss scaler runs there); device '{device}' is not "
                          f"one: use --precision fp32 (or bf16 where the device has it)")
    if precision == "bf16" and not native_bf16(device):
        raise GenlabError(f"--precision bf16 needs native bfloat16 (a CPU with AVX-512 BF16 or AMX, or a GPU that "
                          f"supports it); device '{device}' has none: use --precision fp32")


def autocast(precision: str, device: torch.device) -> ContextManager:
    """The context a training step runs in: bf16 or fp16 autocast, or nothing for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.float16 if precision == "fp16" else torch.bfloat16)


def memory_format(channels_last: bool) -> torch.memory_format:
    return torch.channels_last if channels_last else torch.contiguous_format


def prepare_model(model: torch.nn.Module, channels_last: bool) -> None:
    """Convert conv weights to the channels-last layout (4-D tensors only; others are unchanged)."""
    if channels_last:
        model.to(memory_format=torch.channels_last)


def configure_backends(device: torch.device, deterministic: bool) -> None:
    """cuDNN autotuning on CUDA (off when deterministic kernels were asked for)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not deterministic
        # TF32 matmuls on Ampere and later: float32 training at tensor-core speed, fp32 range.
        torch.backends.cuda.matmul.allow_tf32 = not deterministic
        torch.backends.cudnn.allow_tf32 = not deterministic
