"""The machine and versions a benchmark result belongs to, shared by every script in benchmarks/."""

from __future__ import annotations

import os
import platform
from typing import Any

import numpy as np
import torch

import genlab


def cpu_model() -> str:
    """The processor's model name from /proc/cpuinfo ('' where there is none)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "")
    except OSError:
        return ""


def machine_info(threads: int | None = None) -> dict[str, Any]:
    """Cores, processor, torch thread count and library versions, for a benchmark's JSON."""
    return {
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model(),
        "torch_threads": threads if threads is not None else torch.get_num_threads(),
        "torch_version": str(torch.__version__),
        "genlab_version": genlab.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
    }
