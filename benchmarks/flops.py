"""Training FLOPs of a step, and the machine's matrix-product peak to compare them with."""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from genlab.train import accel
from machine import CpuSnapshot  # benchmarks/machine.py, beside this module

PEAK_SIZE = 2048


class TrainingFlopCounter(TorchDispatchMode):
    """Matmul and convolution FLOPs of everything run inside it, by torch.utils.flop_counter's formulas
    and with FlopCounterMode's dispatch logic. FlopCounterMode itself is not used: its per-module hooks
    make a double backward (wgan-gp's gradient penalty) fail in this torch."""

    def __init__(self) -> None:
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is not torch.ops.prim.device.default:
            # As FlopCounterMode: composite ops are decomposed so the matmuls inside them are seen.
            with self:
                result = func.decompose(*args, **kwargs)
            if result is not NotImplemented:
                return result
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.flops += formula(*args, **kwargs, out_val=out)
        return out


def step_cycle(model: Any) -> int:
    """Steps after which a model's per-step work repeats: a GAN updates G on one step in `critic_steps`."""
    return max(1, int(getattr(model.config, "critic_steps", 1)))


def matmul_peak(dtype: torch.dtype, repeats: int = 5) -> dict[str, Any]:
    """GFLOP/s of a PEAK_SIZE^3 matrix product in the current thread count: median and best of `repeats`."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(PEAK_SIZE, PEAK_SIZE, generator=generator).to(dtype)
    b = torch.randn(PEAK_SIZE, PEAK_SIZE, generator=generator).to(dtype)
    out = torch.mm(a, b)  # warm-up: oneDNN picks and caches its kernel
    seconds = []
    before, started = CpuSnapshot.take(), time.perf_counter()
    for _ in range(repeats):
        run_started = time.perf_counter()
        torch.mm(a, b, out=out)
        seconds.append(time.perf_counter() - run_started)
    load = CpuSnapshot.take().other_load_since(before, time.perf_counter() - started)
    flops = 2 * PEAK_SIZE**3
    return {"dtype": str(dtype).removeprefix("torch."), "size": PEAK_SIZE, "seconds": seconds,
            "gflops_median": flops / statistics.median(seconds) / 1e9, "gflops_max": flops / min(seconds) / 1e9, **load}


def measure_peaks() -> dict[str, Any]:
    """The fp32 matmul peak, and the bf16 one where the CPU runs bfloat16 natively."""
    peaks: dict[str, Any] = {"fp32": matmul_peak(torch.float32)}
    if accel.native_bf16(torch.device("cpu")):
        peaks["bf16"] = matmul_peak(torch.bfloat16)
    else:
        peaks["bf16"] = None
    return peaks
