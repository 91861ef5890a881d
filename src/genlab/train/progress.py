"""What training shows while it runs: the step, the latest losses and the time left.

On a terminal: a tqdm bar, with the losses from the first logged step on and, under a time budget,
the time left. Anywhere else (a log file, a pipe, a job scheduler's output) a bar's carriage returns
are noise, so a plain line is printed every `PLAIN_INTERVAL` seconds, at the first logged losses and
at the end.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, TextIO

from tqdm import tqdm

PLAIN_INTERVAL = 10.0  # seconds between progress lines when the output is not a terminal


def format_duration(seconds: float) -> str:
    """'0:07', '12:30', '1:02:03'."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def format_losses(values: dict[str, float]) -> str:
    """'loss 152, kl 8.21' from a logged row (grouped values such as per-layer norms left out)."""
    return ", ".join(f"{key} {value:.3g}" for key, value in values.items())


class Progress:
    """Progress of one training session, from `start_step` (and `elapsed_before` seconds already trained).

    `total_steps` is None when only a time budget bounds the run; `budget_seconds` is inf without one.
    """

    def __init__(self, name: str, start_step: int, total_steps: int | None, budget_seconds: float,
                 elapsed_before: float, enabled: bool = True, stream: TextIO | None = None,
                 interval: float | None = None) -> None:
        self.name = name
        self.start_step = start_step
        self.total_steps = total_steps
        self.budget_seconds = budget_seconds
        self.elapsed_before = elapsed_before
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.interval = PLAIN_INTERVAL if interval is None else interval
        self.losses: dict[str, float] = {}
        self.step = start_step
        self.elapsed = elapsed_before
        isatty = getattr(self.stream, "isatty", None)
        self.terminal = bool(isatty and isatty())
        self.bar: Any = None
        if enabled and self.terminal:
            self.bar = tqdm(total=total_steps, initial=start_step, desc=name, unit="step", dynamic_ncols=True,
                            mininterval=0.2, file=self.stream)
        self._last_line = time.perf_counter()
        self._last_postfix = 0.0

    def seconds_left(self) -> float | None:
        """The sooner of the step budget's end (at the session's rate so far) and the time budget's end."""
        candidates = []
        if math.isfinite(self.budget_seconds):
            candidates.append(max(0.0, self.budget_seconds - self.elapsed))
        steps_done, seconds = self.step - self.start_step, self.elapsed - self.elapsed_before
        if self.total_steps is not None and steps_done > 0 and seconds > 0:
            candidates.append((self.total_steps - self.step) * seconds / steps_done)
        return min(candidates) if candidates else None

    def describe(self) -> str:
        """One plain line: 'vae: step 120/600 (20%), 45.1 steps/s, 0:11 left, loss 152, kl 8.21'."""
        parts = [f"step {self.step}/{self.total_steps} ({100 * self.step / max(self.total_steps, 1):.0f}%)"
                 if self.total_steps is not None else f"step {self.step}"]
        steps_done, seconds = self.step - self.start_step, self.elapsed - self.elapsed_before
        if steps_done > 0 and seconds > 0:
            parts.append(f"{steps_done / seconds:.1f} steps/s")
        left = self.seconds_left()
        if left is not None:
            parts.append(f"{format_duration(left)} left")
        if self.losses:
            parts.append(format_losses(self.losses))
        return f"{self.name}: " + ", ".join(parts)

    def _print_line(self) -> None:
        print(self.describe(), file=self.stream, flush=True)
        self._last_line = time.perf_counter()

    def _postfix(self) -> dict[str, str]:
        postfix = {key: f"{value:.3g}" for key, value in self.losses.items()}
        left = self.seconds_left()
        if left is not None and math.isfinite(self.budget_seconds):
            postfix["left"] = format_duration(left)  # tqdm's own ETA only knows the step budget
        return postfix

    def update(self, step: int, elapsed: float) -> None:
        """After every training step."""
        self.step, self.elapsed = step, elapsed
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.bar is not None:
            if math.isfinite(self.budget_seconds) and now - self._last_postfix >= 1.0:
                self.bar.set_postfix(self._postfix(), refresh=False)
                self._last_postfix = now
            self.bar.update(step - self.bar.n)
        elif now - self._last_line >= self.interval:
            self._print_line()

    def show_losses(self, values: dict[str, float], step: int, elapsed: float) -> None:
        """At every logged step: the losses shown from now on (shown at once the first time)."""
        first = not self.losses
        self.losses = dict(values)
        self.step, self.elapsed = step, elapsed
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_postfix(self._postfix(), refresh=False)
            self.bar.update(step - self.bar.n)
            if first:  # at once; later ones follow the bar's own refresh rate
                self.bar.refresh()
        elif first:
            self._print_line()

    def close(self) -> None:
        """At the end of the session (also after an error): close the bar, or print the last line."""
        if self.bar is not None:
            self.bar.close()
        elif self.enabled and self.step > self.start_step:
            self._print_line()
