"""Training throughput: genlab's training step against a plain PyTorch loop of the same networks.

For each of genlab's `vae` and `dcgan` (default configs, the model's own batch size), this times
images per second of:

- genlab step loop: `Batcher` (the whole split in memory, a batch is one index operation) feeding
  `model.train_step(batch, step)`, exactly what the trainer does per step;
- plain loop: deep copies of the very same networks (same architecture, same initial weights)
  trained by the objective written out by hand, as in the PyTorch examples, fed by a
  `torch.utils.data.DataLoader` over a map-style `Dataset` that does the usual per-item work
  (index a uint8 array, ToTensor-style conversion to float in [0, 1], return (image, label)),
  shuffle=True, drop_last=True, with num_workers=0 and num_workers=2;
- genlab.train: the full trainer end to end for a run of the same number of steps (dataset load,
  setup, the loop, the final checkpoint, model.safetensors and sample grid), with logging, eval,
  sampling and checkpointing off; a second 1-step call per window gives its fixed cost and so
  the trainer loop's own rate.

Fairness: one process, one torch thread count, warm-up excluded, and the contenders interleaved
window by window so a noisy shared machine hits them all alike. Every window records the other
processes' CPU use (/proc/stat minus this process and its children), and the JSON keeps it.

    python benchmarks/train_throughput.py                 # ~3-4 minutes
    python benchmarks/train_throughput.py --quick         # smoke run, < 1 minute
    python benchmarks/train_throughput.py --data fashion-mnist --windows 7 --out /tmp/t.json
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table
from torch import nn
from torch.utils.data import DataLoader

import genlab
from genlab.data import Batcher, to_float
from machine import machine_info  # benchmarks/machine.py, beside this script

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "train_throughput.json"
MODELS = ("vae", "dcgan")
# The targets: genlab's step loop over the plain num_workers=0 loop.
TARGET_RATIOS = {"vae": 1.5, "dcgan": 1.0}
# Seconds one timing window should take (full run, --quick run).
WINDOW_SECONDS = {"vae": (1.5, 0.3), "dcgan": (2.5, 0.6)}
WARMUP_STEPS = {"vae": (30, 10), "dcgan": (5, 2)}
MIN_STEPS = 3
WINDOW_CAP = 5  # a window stops after this many times its planned seconds
PARITY_TOLERANCE = 1e-4
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PLAIN_WORKERS = (0, 2)


# --- the plain PyTorch side ------------------------------------------------------------------
class ArrayImageDataset(torch.utils.data.Dataset):
    """A map-style dataset over uint8 (N, H, W, C) images doing torchvision's ToTensor per item."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images = images  # (N, H, W, C) uint8, as images are usually stored
        self.labels = labels  # (N,) int64

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        # What ToTensor does to a uint8 HWC array: CHW, contiguous, float in [0, 1].
        image = torch.from_numpy(self.images[index].transpose(2, 0, 1)).contiguous()
        return image.float().div(255), int(self.labels[index])


def plain_dataset(train_x: torch.Tensor, train_y: torch.Tensor) -> ArrayImageDataset:
    """The genlab split (uint8 (N, C, H, W) tensors) as numpy HWC arrays behind a plain Dataset."""
    images = np.ascontiguousarray(train_x.numpy().transpose(0, 2, 3, 1))
    return ArrayImageDataset(images, train_y.numpy())


def plain_vae_update(encoder: nn.Module, decoder: nn.Module, optimizer: torch.optim.Optimizer,
                     images: torch.Tensor) -> tuple[float, ...]:
    """One VAE step as in pytorch/examples: summed BCE-with-logits + analytic KL, per-item mean."""
    x = images.view(images.shape[0], -1)  # (B, 784)
    mean, log_var = encoder(x).chunk(2, dim=1)
    z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
    logits = decoder(z)
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + log_var - mean.pow(2) - log_var.exp())
    loss = (reconstruction + kl) / x.shape[0]  # genlab averages over items; same gradient scale
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return (loss.item(),)


def plain_dcgan_update(generator: nn.Module, discriminator: nn.Module, g_optimizer: torch.optim.Optimizer,
                       d_optimizer: torch.optim.Optimizer, images: torch.Tensor, latent_dim: int) -> tuple[float, ...]:
    """One DCGAN step as in pytorch/examples' dcgan (with BCE on logits): D on real/fake, then G."""
    real = images * 2 - 1  # Normalize((0.5,), (0.5,))
    batch_size = real.shape[0]
    ones, zeros = torch.ones(batch_size), torch.zeros(batch_size)

    discriminator.zero_grad()
    loss_real = F.binary_cross_entropy_with_logits(discriminator(real), ones)
    loss_real.backward()
    noise = torch.randn(batch_size, latent_dim)
    fake = generator(noise)
    loss_fake = F.binary_cross_entropy_with_logits(discriminator(fake.detach()), zeros)
    loss_fake.backward()
    d_optimizer.step()

    generator.zero_grad()
    loss_g = F.binary_cross_entropy_with_logits(discriminator(fake), ones)  # non-saturating
    loss_g.backward()
    g_optimizer.step()
    return (loss_real + loss_fake).item(), loss_g.item()


def plain_update_for(name: str, model: Any, fused: bool = False) -> Callable[[torch.Tensor], tuple[float, ...]]:
    """Deep copies of `model`'s networks with their own optimizers, as a `update(images)` function.

    `fused=True` gives the plain loop the fused Adam kernel genlab uses, to separate the gain of
    genlab's batching from the gain of its optimizer.
    """
    if name == "vae":
        encoder, decoder = copy.deepcopy(model.encoder), copy.deepcopy(model.decoder)
        optimizer = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=model.config.lr, fused=fused)
        return lambda images: plain_vae_update(encoder, decoder, optimizer, images)
    if name == "dcgan":
        generator, discriminator = copy.deepcopy(model.generator), copy.deepcopy(model.discriminator)
        betas = (model.config.beta1, model.config.beta2)
        g_optimizer = torch.optim.Adam(generator.parameters(), lr=model.config.lr, betas=betas, fused=fused)
        d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=model.config.lr, betas=betas, fused=fused)
        latent_dim = model.config.latent_dim
        return lambda images: plain_dcgan_update(generator, discriminator, g_optimizer, d_optimizer, images, latent_dim)
    raise ValueError(f"no plain loop written for model {name!r}")


def endless(loader: DataLoader):
    """Batches from `loader` epoch after epoch (a new epoch iterator, as a `for` loop makes)."""
    while True:
        yield from loader


# --- the contenders ---------------------------------------------------------------------------
class GenlabStepLoop:
    """`model.train_step(batcher.batch(step), step)`: the trainer's per-step work, nothing else."""

    def __init__(self, model: Any, batcher: Batcher) -> None:
        self.model = model
        self.batcher = batcher
        self.step = 0

    def run(self, steps: int) -> None:
        for _ in range(steps):
            self.model.train_step(self.batcher.batch(self.step), self.step)
            self.step += 1


class PlainLoop:
    """A DataLoader feeding a hand-written update of copied networks."""

    def __init__(self, update: Callable[[torch.Tensor], tuple[float, ...]], loader: DataLoader) -> None:
        self.update = update
        self.batches = endless(loader)

    def run(self, steps: int) -> None:
        for _ in range(steps):
            images, _labels = next(self.batches)
            self.update(images.to("cpu"))


class GenlabTrainCall:
    """`genlab.train(...)` with logging, evaluation, sampling and periodic checkpoints off."""

    def __init__(self, name: str, data: str, scratch: Path) -> None:
        self.name = name
        self.data = data
        self.scratch = scratch
        self.calls = 0

    def run(self, steps: int) -> None:
        self.calls += 1
        genlab.train(self.name, self.data, out=self.scratch / f"{self.name}-{self.calls}", steps=steps,
                     log_every=0, eval_every=0, sample_every=0, checkpoint_every=0, progress=False)


# --- measuring --------------------------------------------------------------------------------
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


@dataclass
class Window:
    """One timed window of one contender."""

    steps: int
    seconds: float
    images_per_second: float
    other_cpu_seconds: float  # CPU time used by other processes during the window
    other_cpu_fraction: float  # ... as a share of the machine's capacity (wall time x cores)
    steal_seconds: float


def timed_window(run: Callable[[int], None], steps: int, batch_size: int, time_cap: float | None = None) -> Window:
    """Run `steps` steps, timing the wall clock and the machine's other CPU use.

    With `time_cap`, the steps run in tenths and the window ends early once it has taken that long
    (a heavily loaded machine can slow a step a hundredfold); the rate counts the steps done.
    """
    before = CpuSnapshot.take()
    started = time.perf_counter()
    if time_cap is None:
        run(steps)
        done = steps
    else:
        done, chunk = 0, max(1, steps // 10)
        while done < steps and time.perf_counter() - started < time_cap:
            run(min(chunk, steps - done))
            done += min(chunk, steps - done)
    seconds = time.perf_counter() - started
    after = CpuSnapshot.take()
    other = max(0.0, (after.machine_busy - before.machine_busy) - (after.own - before.own))
    return Window(done, seconds, done * batch_size / seconds, other, other / (seconds * (os.cpu_count() or 1)),
                  after.machine_steal - before.machine_steal)


@dataclass
class Column:
    """Every window of one contender on one model, and their summary."""

    label: str
    windows: list[Window] = field(default_factory=list)
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def rates(self) -> list[float]:
        """Images/s of each window, in order."""
        return [window.images_per_second for window in self.windows]

    def summary(self) -> dict[str, float] | None:
        """Median, min and max images/s; None when no window ran."""
        rates = self.rates()
        if not rates:
            return None
        return {"median": statistics.median(rates), "min": min(rates), "max": max(rates)}

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "error": self.error, "images_per_second": self.summary(),
                "windows": [asdict(window) for window in self.windows], **self.extra}


# --- one model --------------------------------------------------------------------------------
def check_parity(name: str, dataset: Any) -> dict[str, Any]:
    """One step of genlab and of the plain loop from the same weights, batch and seed: same losses?"""
    model = genlab.create_model(name, data_shape=dataset.shape, num_classes=dataset.num_classes)
    model.train()
    update = plain_update_for(name, model)
    model.setup_optimizers()
    batch = Batcher(dataset.train_x, dataset.train_y, model.config.batch_size, device="cpu", seed=0).batch(0)
    torch.manual_seed(1234)
    values = model.train_step(batch, 0)
    genlab_losses = [values["loss"]] if name == "vae" else [values["loss_d"], values["loss_g"]]
    torch.manual_seed(1234)
    plain_losses = list(update(batch.x.clone()))
    difference = max(abs(a - b) / max(1.0, abs(a)) for a, b in zip(genlab_losses, plain_losses))
    return {"genlab_losses": genlab_losses, "plain_losses": plain_losses, "max_relative_difference": difference,
            "ok": difference < PARITY_TOLERANCE}


def check_item_conversion(dataset: Any, items: ArrayImageDataset) -> None:
    """The plain Dataset's items equal genlab's batches, pixel for pixel."""
    for index in (0, len(items) // 2, len(items) - 1):
        image, label = items[index]
        if not torch.equal(image, to_float(dataset.train_x[index])) or label != int(dataset.train_y[index]):
            raise RuntimeError(f"plain Dataset item {index} differs from genlab's data")


def benchmark_model(name: str, dataset: Any, data_name: str, windows: int, quick: bool, with_trainer: bool,
                    console: Console) -> dict[str, Any]:
    """Build the contenders for one model, warm them up, then time them window by window."""
    model = genlab.create_model(name, data_shape=dataset.shape, num_classes=dataset.num_classes)
    model.train()
    batch_size = model.config.batch_size
    items = plain_dataset(dataset.train_x, dataset.train_y)
    check_item_conversion(dataset, items)

    contenders: dict[str, Any] = {}
    columns: dict[str, Column] = {}
    # The plain copies are taken before genlab trains a step, so all start from the same weights.
    for workers in PLAIN_WORKERS:
        key = f"plain_workers{workers}"
        columns[key] = Column(f"plain DataLoader num_workers={workers}",
                              extra={"num_workers": workers, "persistent_workers": False})
        loader = DataLoader(items, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=workers)
        contenders[key] = PlainLoop(plain_update_for(name, model), loader)
    columns["plain_fused"] = Column("plain DataLoader num_workers=0 + fused Adam", extra={"num_workers": 0, "fused": True})
    loader = DataLoader(items, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=0)
    contenders["plain_fused"] = PlainLoop(plain_update_for(name, model, fused=True), loader)
    model.setup_optimizers()
    batcher = Batcher(dataset.train_x, dataset.train_y, batch_size, device="cpu", seed=0)
    contenders = {"genlab": GenlabStepLoop(model, batcher), **contenders}
    columns = {"genlab": Column("genlab Batcher + train_step"), **columns}
    scratch = Path(tempfile.mkdtemp(prefix="genlab-throughput-"))
    if with_trainer:
        contenders["genlab_train"] = GenlabTrainCall(name, data_name, scratch)
        columns["genlab_train"] = Column("genlab.train end to end")

    # Warm-up (allocator, kernels, lazy imports, worker start). The genlab warm-up runs in chunks and
    # also calibrates the window length from its fastest chunk, the least disturbed by other load.
    warmup_steps = WARMUP_STEPS[name][quick]
    seconds_per_step = math.inf
    for key, contender in contenders.items():
        try:
            if key == "genlab":
                chunk = max(1, warmup_steps // 5)
                for _ in range(max(2, warmup_steps // chunk)):
                    chunk_started = time.perf_counter()
                    contender.run(chunk)
                    seconds_per_step = min(seconds_per_step, (time.perf_counter() - chunk_started) / chunk)
            elif key == "genlab_train":
                contender.run(2)
            else:
                contender.run(warmup_steps)
        except Exception as error:  # e.g. DataLoader workers failing to start: report, don't hide
            columns[key].error = f"{type(error).__name__}: {error}"
            console.print(f"[yellow]{name}: {columns[key].label} failed in warm-up: {columns[key].error}[/yellow]")
    window_seconds = WINDOW_SECONDS[name][quick]
    steps = max(MIN_STEPS, round(window_seconds / seconds_per_step))
    console.print(f"{name}: batch {batch_size}, {steps} steps per window (~{steps * seconds_per_step:.1f} s on a quiet "
                  f"machine), {windows} windows, {warmup_steps} warm-up steps")

    for window_index in range(windows):
        for key, contender in contenders.items():
            column = columns[key]
            if column.error:
                continue
            try:
                time_cap = None if key == "genlab_train" else WINDOW_CAP * window_seconds
                column.windows.append(timed_window(contender.run, steps, batch_size, time_cap))
                if key == "genlab_train":
                    fixed = timed_window(contender.run, 1, batch_size)
                    column.extra.setdefault("one_step_call_seconds", []).append(fixed.seconds)
            except Exception as error:
                column.error = f"{type(error).__name__}: {error} (window {window_index})"
                console.print(f"[yellow]{name}: {column.label} failed: {column.error}[/yellow]")
        rates = "  ".join(f"{key}={columns[key].windows[-1].images_per_second:,.0f}"
                          for key in columns if columns[key].windows and not columns[key].error)
        console.print(f"  window {window_index + 1}/{windows}: {rates} img/s")

    if "genlab_train" in columns and columns["genlab_train"].windows:
        column = columns["genlab_train"]
        # Fixed cost of a call (load, setup, final checkpoint, samples) and the loop's own rate.
        loop_rates = [(window.steps - 1) * batch_size / (window.seconds - one_step)
                      for window, one_step in zip(column.windows, column.extra["one_step_call_seconds"])
                      if window.seconds > one_step]
        column.extra["fixed_cost_seconds_median"] = statistics.median(column.extra["one_step_call_seconds"])
        column.extra["loop_images_per_second"] = (
            {"median": statistics.median(loop_rates), "min": min(loop_rates), "max": max(loop_rates),
             "per_window": loop_rates} if loop_rates else None)

    shutil.rmtree(scratch, ignore_errors=True)
    return {
        "batch_size": batch_size,
        "steps_per_window": steps,
        "warmup_steps": warmup_steps,
        "parity": check_parity(name, dataset),
        "columns": {key: column.to_json() for key, column in columns.items()},
        "comparison": compare(name, columns),
    }


def compare(name: str, columns: dict[str, Column]) -> dict[str, Any]:
    """genlab over each plain loop (ratio of medians, and the median of per-window ratios)."""
    genlab_column = columns["genlab"]
    result: dict[str, Any] = {"target_ratio": TARGET_RATIOS[name]}
    best_key, best_median = None, -math.inf
    for key, column in columns.items():
        if not key.startswith("plain") or not column.summary() or not genlab_column.summary():
            continue
        paired = [g / p for g, p in zip(genlab_column.rates(), column.rates())]
        median = column.summary()["median"]
        result[f"ratio_vs_{key}"] = genlab_column.summary()["median"] / median
        result[f"paired_window_ratio_vs_{key}"] = statistics.median(paired)
        if median > best_median:
            best_key, best_median = key, median
    primary = result.get("ratio_vs_plain_workers0")
    result["target_met"] = None if primary is None else primary >= TARGET_RATIOS[name]
    if best_key is not None:
        result["fastest_plain"] = best_key
        result["ratio_vs_fastest_plain"] = result[f"ratio_vs_{best_key}"]
        result["target_met_vs_fastest_plain"] = result["ratio_vs_fastest_plain"] >= TARGET_RATIOS[name]
    return result


# --- the report -------------------------------------------------------------------------------
def format_rate(summary: dict[str, float] | None) -> str:
    """'median' over '(min-max)' for a table cell."""
    if summary is None:
        return "-"
    return f"{summary['median']:,.0f}\n({summary['min']:,.0f}-{summary['max']:,.0f})"


def print_report(results: dict[str, Any], console: Console) -> None:
    """The table, each model's target verdict and parity check, and the machine's load."""
    table = Table(title=f"Training throughput, images/s: median (min-max) over {results['settings']['windows']} "
                        f"windows, {results['machine']['torch_threads']} torch threads, data {results['settings']['data']}")
    table.add_column("model")
    table.add_column("batch", justify="right")
    table.add_column("steps per\nwindow", justify="right")
    table.add_column("genlab\nstep loop", justify="right")
    table.add_column("plain\nnum_workers=0", justify="right")
    table.add_column("plain\nnum_workers=2", justify="right")
    table.add_column("plain nw=0\n+ fused Adam", justify="right")
    table.add_column("genlab / plain\nnw=0 | nw=2 | fused", justify="right")
    table.add_column("genlab.train\nend to end", justify="right")
    table.add_column("genlab.train\nloop only", justify="right")
    table.add_column("genlab.train\nfixed s/call", justify="right")
    for name, result in results["models"].items():
        columns, comparison = result["columns"], result["comparison"]

        def rate(key: str) -> str:
            column = columns.get(key)
            if column is None:
                return "skipped"
            return "failed" if column["error"] and not column["windows"] else format_rate(column["images_per_second"])

        ratios = " | ".join(f"{comparison[f'ratio_vs_plain_workers{w}']:.2f}x" if f"ratio_vs_plain_workers{w}" in comparison
                            else "-" for w in PLAIN_WORKERS)
        ratios += f" | {comparison['ratio_vs_plain_fused']:.2f}x" if "ratio_vs_plain_fused" in comparison else " | -"
        trainer = columns.get("genlab_train")
        loop_only = format_rate(trainer.get("loop_images_per_second")) if trainer else "skipped"
        fixed = f"{trainer['fixed_cost_seconds_median']:.2f}" if trainer and "fixed_cost_seconds_median" in trainer else "-"
        table.add_row(name, str(result["batch_size"]), str(result["steps_per_window"]), rate("genlab"),
                      rate("plain_workers0"), rate("plain_workers2"), rate("plain_fused"), ratios, rate("genlab_train"), loop_only, fixed)
    console.print(table)

    for name, result in results["models"].items():
        comparison, parity = result["comparison"], result["parity"]
        target = comparison["target_ratio"]
        verdict = {True: "[green]MET[/green]", False: "[red]NOT MET[/red]", None: "[yellow]n/a[/yellow]"}
        primary = comparison.get("ratio_vs_plain_workers0")
        primary_text = "-" if primary is None else f"{primary:.2f}x"
        line = (f"{name}: target genlab >= {target:g}x plain (num_workers=0): {primary_text} "
                f"{verdict[comparison['target_met']]}")
        if "ratio_vs_fastest_plain" in comparison:
            line += (f"; vs the fastest plain ({comparison['fastest_plain']}): {comparison['ratio_vs_fastest_plain']:.2f}x "
                     f"{verdict[comparison['target_met_vs_fastest_plain']]}")
        console.print(line)
        paired = ", ".join(f"{comparison[f'paired_window_ratio_vs_plain_workers{w}']:.2f}x (nw={w})"
                           for w in PLAIN_WORKERS if f"paired_window_ratio_vs_plain_workers{w}" in comparison)
        console.print(f"  median of per-window ratios (genlab over plain in the same round): {paired}")
        console.print(f"  parity (one step, same weights/batch/seed): max relative loss difference "
                      f"{parity['max_relative_difference']:.1e} {'ok' if parity['ok'] else '[red]MISMATCH[/red]'}")
        for column in result["columns"].values():
            if column["error"]:
                console.print(f"  [yellow]{column['label']}: {column['error']}[/yellow]")

    load = results["load"]
    console.print(f"load average (counts this benchmark too) before {load['loadavg_before']} after {load['loadavg_after']}; "
                  f"other processes used "
                  f"{load['other_cpu_fraction_median']:.0%} of the machine's CPU in the median window "
                  f"(max {load['other_cpu_fraction_max']:.0%}) on {results['machine']['usable_cpus']} usable cores")


def main() -> None:
    """Parse the options, time every model, print the report and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="mnist-5k", help="genlab dataset name (mnist-5k, fashion-mnist, ...)")
    parser.add_argument("--windows", type=int, default=None, help="timing windows per contender (default 5; 3 with --quick)")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter windows: a smoke run in under a minute")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="torch threads (default: the usable cores)")
    parser.add_argument("--no-trainer", dest="with_trainer", action="store_false", help="skip the genlab.train column")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    args = parser.parse_args()
    windows = args.windows or (3 if args.quick else 5)
    if windows < 1:
        parser.error("--windows must be at least 1")

    # A pipe or a log file gets a wide table instead of rich's 80-column default.
    console = Console() if sys.stdout.isatty() else Console(width=150)
    torch.set_num_threads(args.threads)
    loadavg_before = os.getloadavg()
    started = time.perf_counter()
    dataset = genlab.load_dataset(args.data)
    console.print(f"{args.data}: {tuple(dataset.train_x.shape)} {dataset.train_x.dtype} training items; "
                  f"{args.threads} torch threads on {len(os.sched_getaffinity(0))} usable cores")

    results: dict[str, Any] = {
        "benchmark": "train_throughput",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": {"data": args.data, "windows": windows, "quick": args.quick, "models": args.models,
                     "with_trainer": args.with_trainer, "target_ratios": TARGET_RATIOS},
        "machine": machine_info(torch.get_num_threads()),
        "models": {},
    }
    for name in args.models:
        results["models"][name] = benchmark_model(name, dataset, args.data, windows, args.quick, args.with_trainer, console)
    other = [window["other_cpu_fraction"] for result in results["models"].values()
             for column in result["columns"].values() for window in column["windows"]]
    results["load"] = {
        "loadavg_before": [round(value, 2) for value in loadavg_before],
        "loadavg_after": [round(value, 2) for value in os.getloadavg()],
        "other_cpu_fraction_median": statistics.median(other) if other else 0.0,
        "other_cpu_fraction_max": max(other) if other else 0.0,
        "note": "other = machine busy CPU time (/proc/stat) minus this process and its children, per window",
    }
    results["wall_seconds"] = time.perf_counter() - started

    print_report(results, console)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"wrote {args.out} ({results['wall_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
