"""The machine and versions a benchmark result belongs to, and the load other processes put on it
while a benchmark runs; shared by every script in benchmarks/."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import genlab

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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


@dataclass
class CpuSnapshot:
    """Machine-wide busy CPU seconds and this process's own (children included)."""

    machine_busy: float
    machine_steal: float
    own: float

    @classmethod
    def take(cls) -> "CpuSnapshot":
        with open("/proc/stat") as stat:
            # cpu  user nice system idle iowait irq softirq steal guest guest_nice (clock ticks)
            ticks = [int(value) for value in stat.readline().split()[1:]]
        busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]
        steal = ticks[7] if len(ticks) > 7 else 0
        return cls(busy / CLOCK_TICKS, steal / CLOCK_TICKS, own_cpu_seconds())

    def other_load_since(self, before: "CpuSnapshot", seconds: float) -> dict[str, float]:
        """Other processes' CPU seconds between `before` and this snapshot, their share of the machine's
        capacity over `seconds` of wall time (all cores), and the steal time."""
        other = max(0.0, (self.machine_busy - before.machine_busy) - (self.own - before.own))
        return {"other_cpu_seconds": other,
                "other_cpu_fraction": other / (max(seconds, 1e-9) * (os.cpu_count() or 1)),
                "steal_seconds": self.machine_steal - before.machine_steal}


def own_cpu_seconds() -> float:
    """CPU seconds of this process, its reaped children, and its live children (DataLoader workers)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    my_pid = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                # Fields after the ")" that ends the command name: state ppid ... utime(12) stime(13).
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        if int(fields[1]) == my_pid:
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def load_summary(loadavg_before: tuple[float, ...], fractions: list[float], note: str,
                 maxima: list[float] | None = None) -> dict[str, object]:
    """The run's load record: load averages before and after, and the median and max share of the
    machine's CPU that other processes used per measured window (`maxima`: per-window maxima when
    `fractions` are already medians)."""
    return {
        "loadavg_before": [round(value, 2) for value in loadavg_before],
        "loadavg_after": [round(value, 2) for value in os.getloadavg()],
        "other_cpu_fraction_median": statistics.median(fractions) if fractions else 0.0,
        "other_cpu_fraction_max": max(maxima if maxima is not None else fractions, default=0.0),
        "note": note,
    }


def write_results(results: dict, out: Path, console) -> None:
    """Write a benchmark's results as JSON to `out` and say where, with the run's wall time."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"wrote {out} ({results['wall_seconds']:.0f} s)")
