"""What the training loop keeps between steps: a stop asked for by a signal, and the running values
`train_step` returned since the last log."""

from __future__ import annotations

import math
import signal
import threading
from typing import Any

import torch


class StopRequest:
    """Turns the first Ctrl-C / SIGTERM during training into a clean stop after the current step.

    The run then checkpoints as at the end of its budget, so an interrupted run loses nothing and
    resumes exactly; a second Ctrl-C interrupts at once.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():  # signals can only be caught there
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


class RunningValues:
    """What `train_step` returned since the last log: running sums and counts per name.

    Values are floats or 0-d tensors. Tensors stay on the device, so a step costs no host sync; they
    are read (and checked for NaN/inf) together, once per logging interval or checkpoint. Floats are
    checked at once.
    """

    def __init__(self) -> None:
        self.sums: dict[str, Any] = {}
        self.counts: dict[str, int] = {}
        self.first_unchecked: int | None = None  # the first step whose tensor values are not checked yet

    def add(self, values: dict[str, Any], step: int) -> list[str]:
        """Accumulate one step's values; returns the names of non-finite float values."""
        bad = []
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                value = value.detach().float()
                if self.first_unchecked is None:
                    self.first_unchecked = step
            elif not math.isfinite(value):
                bad.append(key)
            self.sums[key] = self.sums.get(key, 0.0) + value
            self.counts[key] = self.counts.get(key, 0) + 1
        return bad

    def _read(self) -> dict[str, float]:
        tensor_keys = [key for key, value in self.sums.items() if isinstance(value, torch.Tensor)]
        read = {key: float(value) for key, value in self.sums.items() if key not in tensor_keys}
        if tensor_keys:  # one transfer for all of them
            read.update(zip(tensor_keys, torch.stack([self.sums[key] for key in tensor_keys]).tolist()))
        return read

    def check(self) -> list[str]:
        """Names whose sum since the last log is NaN/inf (a NaN or inf in any step shows in the sum)."""
        self.first_unchecked = None
        return [key for key, value in self._read().items() if not math.isfinite(value)]

    def means(self) -> dict[str, float]:
        """Mean of each value since the last call, and start a new interval."""
        means = {key: value / self.counts[key] for key, value in self._read().items()}
        self.sums, self.counts, self.first_unchecked = {}, {}, None
        return means
