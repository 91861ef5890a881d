"""Training throughput of every trainable genlab model, and of plain PyTorch loops of the same networks.

Every registered model that trains by steps (not the `fitted` baselines), at its default config and
batch size, on `--data` (mnist-5k; a points-only model on `--points-data`, toy2d), is timed as:

- genlab fp32: `Batcher` (the whole split in memory, a batch is one index operation) feeding
  `model.train_step(batch, step)`, exactly the trainer's per-step work;
- genlab bf16: the same step under `accel.autocast("bf16", cpu)`, as `--precision bf16` runs it
  (refused, and reported so, on a CPU without native bfloat16);
- genlab channels-last, and bf16 + channels-last (models with conv layers): `accel.prepare_model`
  and NHWC batches from the `Batcher`, as `--channels-last` runs them.

Each column trains its own copy of the model from the same initial weights. The report gives images/s,
each column's speed-up over fp32, the model's training FLOPs per image (matmul and convolution FLOPs of
the forward and backward passes, counted over one step, or one critic cycle, by torch.utils.flop_counter's
formulas; the optimizer's elementwise work is not counted), the GFLOP/s that makes, and its share of the
machine's matmul peak (a 2048^3 fp32 or bf16 matrix product in the same thread count, measured at the
start); flops.py beside this script does both.

`vae` and `dcgan` are also timed against hand-written plain loops of the same networks (plain_loops.py:
deep copies, same initial weights, the objective written out as in pytorch/examples, standard Adam) fed:

- as torchvision's MNIST/CIFAR datasets with `transforms.ToTensor()` feed them (torchvision itself
  cannot be imported with this torch): per item, `Image.fromarray(uint8 array, mode="L" or "RGB")`,
  then ToTensor's PIL path (copy to a tensor, HWC -> CHW, float / 255), by a `DataLoader` with
  shuffle=True, drop_last=True, num_workers=0 and 2;
- by a lean map-style Dataset over a uint8 numpy array (no PIL), num_workers=0, with standard and
  with fused Adam (genlab's optimizer), to separate the feeding from the optimizer;
- from an in-memory float tensor: shuffled once per epoch and sliced per step, no DataLoader;

and `genlab.train` end to end for a run of the same number of steps (dataset load, setup, the loop,
the final checkpoint and samples; logging, evaluation, sampling and periodic checkpoints off), with a
1-step call per window giving its fixed cost and so the loop's own rate. The issue's targets: the
vae step at least 2.5x the ToTensor DataLoader loop (num_workers=0) and 1.7x the in-memory loop; the
dcgan step no slower than either.

Fairness: one process, one torch thread count, warm-up excluded, and a model's columns interleaved
window by window so a noisy shared machine hits them all alike. Every window records the other
processes' CPU use (/proc/stat minus this process and its children), and the JSON keeps it.

    python benchmarks/train_throughput.py                      # every model: ~10 minutes on 2 cores
    python benchmarks/train_throughput.py --models vae dcgan   # the two with plain baselines: ~5 minutes
    python benchmarks/train_throughput.py --quick --threads 1  # smoke run of every model: ~6 minutes on a busy machine
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager

import torch
from rich.console import Console
from rich.table import Table
from torch import nn
from torch.utils.data import DataLoader

import genlab
from genlab.data import Batcher, to_float
from genlab.errors import GenlabError
from genlab.models.registry import get_model_class, list_models
from genlab.train import accel
from genlab.train.updates import training_step

# Modules beside this script: benchmarks/machine.py, flops.py, plain_loops.py.
from flops import PEAK_SIZE, TrainingFlopCounter, measure_peaks, step_cycle
from machine import CpuSnapshot, load_summary, machine_info, write_results
from plain_loops import ArrayImageDataset, InMemoryLoop, PILToTensorDataset, PlainLoop, plain_update_for

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "train_throughput.json"
CPU = torch.device("cpu")
# Models with hand-written plain loops, and the targets for them: genlab fp32 step loop over
# the ToTensor DataLoader loop (num_workers=0) and over the in-memory loop.
DETAILED_MODELS = ("vae", "dcgan")
TARGETS = {"vae": {"plain_totensor_workers0": 2.5, "plain_memory": 1.7},
           "dcgan": {"plain_totensor_workers0": 1.0, "plain_memory": 1.0}}
PLAIN_WORKERS = (0, 2)
PARITY_TOLERANCE = 1e-4
CHANNELS_LAST_TOLERANCE = 1e-3  # relative loss difference of one step: NHWC computes the same function
CONSISTENCY_SEED = 1234
WINDOW_CAP = 5  # a window stops after this many times its planned seconds


@dataclass(frozen=True)
class Timing:
    """How long one model's windows are and how it warms up (a full run and a --quick run differ)."""

    windows: int
    window_seconds: float
    warmup_steps: int
    warmup_seconds: float
    min_steps: int


# vae and dcgan keep long windows (the targets are judged on them); the other models get short ones.
DETAILED_TIMING = {"vae": (Timing(5, 1.5, 30, 0.0, 3), Timing(3, 0.3, 10, 0.0, 3)),
                   "dcgan": (Timing(5, 2.5, 5, 0.0, 3), Timing(3, 0.6, 2, 0.0, 3))}
SUMMARY_TIMING = (Timing(3, 1.0, 2, 0.5, 2), Timing(2, 0.25, 1, 0.1, 1))


@dataclass(frozen=True)
class Variant:
    """One way of running genlab's step: a precision and a memory layout, as the trainer's options."""

    key: str
    label: str
    precision: str
    channels_last: bool


VARIANTS = (Variant("genlab", "genlab fp32", "fp32", False),
            Variant("genlab_bf16", "genlab bf16 autocast", "bf16", False),
            Variant("genlab_channels_last", "genlab channels-last", "fp32", True),
            Variant("genlab_bf16_channels_last", "genlab bf16 + channels-last", "bf16", True))


# --- the contenders ---------------------------------------------------------------------------
class GenlabStepLoop:
    """`model.train_step(batcher.batch(step), step)` inside the precision's context, as the trainer runs it."""

    def __init__(self, model: Any, batcher: Batcher, context: ContextManager) -> None:
        self.model = model
        self.batcher = batcher
        self.context = context
        self.step = 0
        self.last_values: dict[str, Any] = {}

    def run(self, steps: int) -> None:
        for _ in range(steps):
            with self.context:
                self.last_values = training_step(self.model, self.batcher.batch(self.step), self.step)
            self.step += 1


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
class Window:
    """One timed window of one contender."""

    steps: int
    seconds: float
    images_per_second: float
    other_cpu_seconds: float  # CPU time used by other processes during the window
    other_cpu_fraction: float  # ... as a share of the machine's capacity (wall time x cores)
    steal_seconds: float


def timed_window(run: Callable[[int], None], steps: int, batch_size: int, time_cap: float | None = None,
                 chunk: int | None = None) -> Window:
    """Run `steps` steps, timing the wall clock and the machine's other CPU use.

    With `time_cap`, the steps run in chunks (a tenth, or `chunk`) and the window ends early once it
    has taken that long (a heavily loaded machine can slow a step a hundredfold); the rate counts the
    steps done.
    """
    before = CpuSnapshot.take()
    started = time.perf_counter()
    if time_cap is None:
        run(steps)
        done = steps
    else:
        done, chunk = 0, chunk or max(1, steps // 10)
        while done < steps and time.perf_counter() - started < time_cap:
            run(min(chunk, steps - done))
            done += min(chunk, steps - done)
    seconds = time.perf_counter() - started
    load = CpuSnapshot.take().other_load_since(before, seconds)
    return Window(done, seconds, done * batch_size / seconds, load["other_cpu_seconds"], load["other_cpu_fraction"],
                  load["steal_seconds"])


@dataclass
class Column:
    """Every window of one contender on one model, and their summary."""

    label: str
    windows: list[Window] = field(default_factory=list)
    error: str | None = None
    skipped: str | None = None  # why the column does not apply (no conv layers, no native bf16)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.error is None and self.skipped is None

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
        return {"label": self.label, "error": self.error, "skipped": self.skipped, "images_per_second": self.summary(),
                "windows": [asdict(window) for window in self.windows], **self.extra}


def ratio_of(numerator: Column, denominator: Column) -> dict[str, float] | None:
    """Ratio of the median rates, and the median of the per-window ratios (the same round of windows)."""
    if not numerator.summary() or not denominator.summary():
        return None
    paired = [a / b for a, b in zip(numerator.rates(), denominator.rates())]
    return {"of_medians": numerator.summary()["median"] / denominator.summary()["median"],
            "paired_windows_median": statistics.median(paired)}


def relative_difference(values: dict[str, float], reference: dict[str, float]) -> float | None:
    """Largest relative difference over the values both dicts hold (None when they share none)."""
    keys = [key for key in reference if key in values]
    if not keys:
        return None
    return max(abs(values[key] - reference[key]) / max(1.0, abs(reference[key])) for key in keys)


# --- one model --------------------------------------------------------------------------------
def check_parity(name: str, dataset: Any) -> dict[str, Any]:
    """One step of genlab and of the plain loop from the same weights, batch and seed: same losses?"""
    model = genlab.create_model(name, data_shape=dataset.shape, num_classes=dataset.num_classes)
    model.train()
    update = plain_update_for(name, model)
    model.setup_optimizers()
    batch = Batcher(dataset.train_x, dataset.train_y, model.config.batch_size, device="cpu", seed=0).batch(0)
    torch.manual_seed(CONSISTENCY_SEED)
    values = model.train_step(batch, 0)
    genlab_losses = [float(values[key]) for key in (("loss",) if name == "vae" else ("loss_d", "loss_g"))]
    torch.manual_seed(CONSISTENCY_SEED)
    plain_losses = list(update(batch.x.clone()))
    difference = max(abs(a - b) / max(1.0, abs(a)) for a, b in zip(genlab_losses, plain_losses))
    return {"genlab_losses": genlab_losses, "plain_losses": plain_losses, "max_relative_difference": difference,
            "ok": difference < PARITY_TOLERANCE}


def check_items(dataset: Any, items: torch.utils.data.Dataset) -> None:
    """A plain Dataset's items equal genlab's batches, pixel for pixel."""
    for index in (0, len(items) // 2, len(items) - 1):
        image, label = items[index]
        if not torch.equal(image, to_float(dataset.train_x[index])) or label != int(dataset.train_y[index]):
            raise RuntimeError(f"{type(items).__name__} item {index} differs from genlab's data")


def is_convolutional(model: nn.Module) -> bool:
    """Whether the model has conv layers (4-D weights), the tensors channels-last changes."""
    return any(parameter.dim() == 4 for parameter in model.parameters())


def genlab_contender(template: Any, variant: Variant, dataset: Any) -> GenlabStepLoop:
    """A copy of `template` set up as the trainer sets it up for `variant`'s options."""
    model = copy.deepcopy(template)
    accel.prepare_model(model, variant.channels_last)
    model.setup_optimizers()
    batcher = Batcher(dataset.train_x, dataset.train_y, model.config.batch_size, device="cpu", seed=0,
                      memory_format=accel.memory_format(variant.channels_last))
    return GenlabStepLoop(model, batcher, accel.autocast(variant.precision, CPU))


def plain_contenders(name: str, template: Any, dataset: Any) -> tuple[dict[str, Any], dict[str, Column]]:
    """The plain loops of `name` from copies of `template`'s networks, with their columns."""
    batch_size = template.config.batch_size
    pil_items = PILToTensorDataset(dataset.train_x, dataset.train_y)
    lean_items = ArrayImageDataset(dataset.train_x, dataset.train_y)
    check_items(dataset, pil_items)
    check_items(dataset, lean_items)
    contenders: dict[str, Any] = {}
    columns: dict[str, Column] = {}
    for workers in PLAIN_WORKERS:
        key = f"plain_totensor_workers{workers}"
        columns[key] = Column(f"plain: DataLoader, PIL + ToTensor per item, num_workers={workers}",
                              extra={"num_workers": workers, "persistent_workers": False, "dataset": "PIL + ToTensor"})
        loader = DataLoader(pil_items, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=workers)
        contenders[key] = PlainLoop(plain_update_for(name, template), loader)
    for key, fused in (("plain_lean_workers0", False), ("plain_lean_fused", True)):
        columns[key] = Column(f"plain: DataLoader, lean numpy Dataset, num_workers=0{', fused Adam' if fused else ''}",
                              extra={"num_workers": 0, "fused": fused, "dataset": "numpy uint8, no PIL"})
        loader = DataLoader(lean_items, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=0)
        contenders[key] = PlainLoop(plain_update_for(name, template, fused=fused), loader)
    columns["plain_memory"] = Column("plain: in-memory float tensor, sliced per step (no DataLoader)", extra={"fused": False})
    contenders["plain_memory"] = InMemoryLoop(plain_update_for(name, template), dataset.train_x, batch_size)
    return contenders, columns


def warm_up_and_calibrate(contender: GenlabStepLoop, timing: Timing, cycle: int) -> tuple[int, float]:
    """Warm-up steps in chunks of whole step cycles; returns the steps run and the fastest chunk's seconds
    per step (the least disturbed by other load)."""
    chunk = cycle * max(1, timing.warmup_steps // (5 * cycle))
    done, seconds_per_step, started = 0, math.inf, time.perf_counter()
    while done < timing.warmup_steps or time.perf_counter() - started < timing.warmup_seconds:
        chunk_started = time.perf_counter()
        contender.run(chunk)
        seconds_per_step = min(seconds_per_step, (time.perf_counter() - chunk_started) / chunk)
        done += chunk
    return done, seconds_per_step


def benchmark_model(name: str, dataset: Any, data_name: str, timing: Timing, peaks: dict[str, Any], with_trainer: bool,
                    console: Console) -> dict[str, Any]:
    """Build one model's columns from the same initial weights, warm them up, then time them window by window."""
    # The plain loops are written for images (the ToTensor path makes PIL images).
    detailed = name in DETAILED_MODELS and dataset.kind == "image"
    torch.manual_seed(0)
    template = genlab.create_model(name, data_shape=dataset.shape, num_classes=dataset.num_classes)
    template.train()
    batch_size = template.config.batch_size
    cycle = step_cycle(template)
    convolutional = is_convolutional(template) and len(dataset.shape) == 3

    contenders: dict[str, Any] = {}
    columns: dict[str, Column] = {}
    for variant in VARIANTS:
        column = columns[variant.key] = Column(variant.label, extra={"precision": variant.precision,
                                                                     "channels_last": variant.channels_last})
        if variant.channels_last and not convolutional:
            column.skipped = "no conv layers"
            continue
        try:
            accel.check_precision(variant.precision, CPU)
        except GenlabError as error:
            column.skipped = str(error)
            continue
        contenders[variant.key] = genlab_contender(template, variant, dataset)
    scratch = Path(tempfile.mkdtemp(prefix="genlab-throughput-"))
    if detailed:
        plain, plain_columns = plain_contenders(name, template, dataset)
        contenders.update(plain)
        columns.update(plain_columns)
        if with_trainer:
            contenders["genlab_train"] = GenlabTrainCall(name, data_name, scratch)
            columns["genlab_train"] = Column("genlab.train end to end")

    # Each genlab column's first step starts from the same weights, batch and seed: its values against
    # fp32's show what bf16 and channels-last change. fp32's next steps (one cycle) count the FLOPs.
    # Then the warm-up (allocator, kernels, lazy imports, worker start); fp32's calibrates the window.
    flops_per_image, warmup_steps, seconds_per_step = None, 0, math.inf
    for key, contender in contenders.items():
        column = columns[key]
        try:
            if isinstance(contender, GenlabStepLoop):
                torch.manual_seed(CONSISTENCY_SEED)
                contender.run(1)
                # float(): train_step may return floats or detached 0-d tensors the trainer reads when it logs.
                column.extra["first_step_values"] = {key: float(value) for key, value in contender.last_values.items()}
                if key == "genlab":
                    counter = TrainingFlopCounter()
                    with counter:
                        contender.run(cycle)
                    flops_per_image = counter.flops / (cycle * batch_size)
                    warmup_steps, seconds_per_step = warm_up_and_calibrate(contender, timing, cycle)
                else:
                    contender.run(max(1, warmup_steps))
            elif key == "genlab_train":
                contender.run(2)
            else:
                contender.run(timing.warmup_steps)
        except Exception as error:  # a column that cannot run (e.g. DataLoader workers failing): report, don't hide
            column.error = f"{type(error).__name__}: {error}"
            console.print(f"[yellow]{name}: {column.label} failed in warm-up: {column.error}[/yellow]")
            if key == "genlab":
                break
    if columns["genlab"].error:
        shutil.rmtree(scratch, ignore_errors=True)
        return {"data": data_name, "batch_size": batch_size, "error": columns["genlab"].error,
                "columns": {key: column.to_json() for key, column in columns.items()}}

    steps = max(timing.min_steps, round(timing.window_seconds / seconds_per_step))
    steps = cycle * max(1, round(steps / cycle))  # whole cycles: every window does the same mix of updates
    console.print(f"{name} on {data_name}: batch {batch_size}, {steps} steps per window (~{steps * seconds_per_step:.2f} s "
                  f"on a quiet machine), {timing.windows} windows, {warmup_steps} warm-up steps"
                  + (f", {flops_per_image / 1e6:,.1f} MFLOP per image" if flops_per_image else ""))

    for window_index in range(timing.windows):
        for key, contender in contenders.items():
            column = columns[key]
            if not column.active:
                continue
            try:
                time_cap = None if key == "genlab_train" else WINDOW_CAP * timing.window_seconds
                chunk = cycle * max(1, steps // (10 * cycle))  # whole cycles, checking the cap ~10 times
                column.windows.append(timed_window(contender.run, steps, batch_size, time_cap, chunk))
                if key == "genlab_train":
                    fixed = timed_window(contender.run, 1, batch_size)
                    column.extra.setdefault("one_step_call_seconds", []).append(fixed.seconds)
            except Exception as error:
                column.error = f"{type(error).__name__}: {error} (window {window_index})"
                console.print(f"[yellow]{name}: {column.label} failed: {column.error}[/yellow]")
        rates = "  ".join(f"{key}={column.windows[-1].images_per_second:,.0f}"
                          for key, column in columns.items() if column.windows and column.active)
        console.print(f"  window {window_index + 1}/{timing.windows}: {rates} img/s")
    shutil.rmtree(scratch, ignore_errors=True)

    summarise_genlab_columns(columns, flops_per_image, peaks)
    result: dict[str, Any] = {
        "data": data_name,
        "batch_size": batch_size,
        "steps_per_window": steps,
        "warmup_steps": warmup_steps,
        "step_cycle": cycle,
        "convolutional": convolutional,
        "flops_per_image": flops_per_image,
        "timing": asdict(timing),
    }
    if detailed:
        summarise_trainer_column(columns, batch_size)
        result["parity"] = check_parity(name, dataset)
        result["comparison"] = compare(name, columns)
    result["columns"] = {key: column.to_json() for key, column in columns.items()}
    return result


def summarise_genlab_columns(columns: dict[str, Column], flops_per_image: float | None, peaks: dict[str, Any]) -> None:
    """Each genlab column's speed-up over fp32, first-step agreement with fp32, GFLOP/s and share of the peak."""
    fp32 = columns["genlab"]
    reference_values = fp32.extra.get("first_step_values", {})
    for variant in VARIANTS:
        column = columns[variant.key]
        if "first_step_values" in column.extra and variant.key != "genlab":
            difference = relative_difference(column.extra["first_step_values"], reference_values)
            column.extra["first_step_relative_difference"] = difference
            if variant.precision == "fp32" and difference is not None:
                column.extra["first_step_ok"] = difference < CHANNELS_LAST_TOLERANCE
        summary = column.summary()
        if summary is None:
            continue
        column.extra["speedup_vs_fp32"] = ratio_of(column, fp32)
        if flops_per_image:
            gflops = flops_per_image * summary["median"] / 1e9
            peak = peaks.get(variant.precision)
            column.extra["gflops"] = gflops
            column.extra["peak_fraction"] = gflops / peak["gflops_median"] if peak else None


def summarise_trainer_column(columns: dict[str, Column], batch_size: int) -> None:
    """The fixed cost of a genlab.train call (load, setup, final checkpoint, samples) and the loop's own rate."""
    column = columns.get("genlab_train")
    if column is None or not column.windows:
        return
    loop_rates = [(window.steps - 1) * batch_size / (window.seconds - one_step)
                  for window, one_step in zip(column.windows, column.extra["one_step_call_seconds"])
                  if window.seconds > one_step]
    column.extra["fixed_cost_seconds_median"] = statistics.median(column.extra["one_step_call_seconds"])
    column.extra["loop_images_per_second"] = (
        {"median": statistics.median(loop_rates), "min": min(loop_rates), "max": max(loop_rates),
         "per_window": loop_rates} if loop_rates else None)


def compare(name: str, columns: dict[str, Column]) -> dict[str, Any]:
    """genlab (fp32, and its fastest variant) over each plain loop, and the issue's targets."""
    result: dict[str, Any] = {"targets": TARGETS[name], "ratios": {}, "verdicts": {}}
    genlab_keys = [variant.key for variant in VARIANTS if columns[variant.key].summary()]
    fastest_genlab = max(genlab_keys, key=lambda key: columns[key].summary()["median"])
    result["fastest_genlab"] = fastest_genlab
    for key, column in columns.items():
        if not key.startswith("plain") or not column.summary():
            continue
        result["ratios"][key] = {"genlab": ratio_of(columns["genlab"], column),
                                 "fastest_genlab": ratio_of(columns[fastest_genlab], column)}
    for key, target in TARGETS[name].items():
        ratio = result["ratios"].get(key)
        result["verdicts"][key] = None if ratio is None else {
            "target": target, "ratio": ratio["genlab"]["of_medians"], "met": ratio["genlab"]["of_medians"] >= target,
            "ratio_fastest_genlab": ratio["fastest_genlab"]["of_medians"],
            "met_fastest_genlab": ratio["fastest_genlab"]["of_medians"] >= target}
    return result


# --- which models, on which data --------------------------------------------------------------
def trainable_models() -> list[str]:
    """Registered models that train by steps (the `fitted` baselines estimate in one call instead)."""
    return [name for name in list_models() if not getattr(get_model_class(name), "fitted", False)]


def dataset_for(name: str, image_data: Any, image_name: str, load_points: Callable[[], Any],
                points_name: str) -> tuple[Any, str] | str:
    """(dataset, its name) the model trains on, or the reason it cannot be benchmarked."""
    model_class = get_model_class(name)
    if image_data.kind in model_class.supported_data:
        dataset, data_name = image_data, image_name
    elif "points" in model_class.supported_data:
        dataset, data_name = load_points(), points_name
    else:
        return f"takes {' or '.join(model_class.supported_data)} data, {image_name} is {image_data.kind}"
    if not model_class.supports_shape(dataset.shape):
        return f"cannot be built for {data_name} items of shape {dataset.shape} (channels {model_class.supported_channels})"
    return dataset, data_name


# --- the report -------------------------------------------------------------------------------
def format_rate(summary: dict[str, float] | None) -> str:
    """'median' over '(min-max)' for a table cell."""
    if summary is None:
        return "-"
    return f"{summary['median']:,.0f}\n({summary['min']:,.0f}-{summary['max']:,.0f})"


def column_cell(column: dict[str, Any] | None, with_range: bool = True) -> str:
    """A column's images/s, or why it has none."""
    if column is None:
        return "skipped"
    if column["skipped"]:
        return "n/a"
    if column["error"] and not column["windows"]:
        return "failed"
    summary = column["images_per_second"]
    if not with_range and summary:
        return f"{summary['median']:,.0f}"
    return format_rate(summary)


def variant_cell(column: dict[str, Any]) -> str:
    """images/s (speed-up over fp32) over GFLOP/s (% of the matmul peak) for the summary table."""
    text = column_cell(column, with_range=False)
    if not column["images_per_second"]:
        return text
    speedup = column.get("speedup_vs_fp32")
    if speedup:
        text += f" ({speedup['of_medians']:.2f}x)"
    if column.get("gflops") is not None:
        share = column.get("peak_fraction")
        text += f"\n{column['gflops']:,.1f} GF/s" + (f", {share:.0%}" if share is not None else "")
    return text


def print_report(results: dict[str, Any], console: Console) -> None:
    """The vae/dcgan table against the plain loops with the targets, then every model's summary table."""
    peaks, machine = results["matmul_peak"], results["machine"]
    detailed = {name: result for name, result in results["models"].items() if "comparison" in result}
    if detailed:
        table = Table(title=f"genlab against plain PyTorch loops of the same networks, images/s: median (min-max) over "
                            f"the windows, {machine['torch_threads']} torch threads")
        headers = {"genlab": "genlab\nfp32", "genlab_bf16": "genlab\nbf16", "plain_totensor_workers0": "plain\nToTensor nw=0",
                   "plain_totensor_workers2": "plain\nToTensor nw=2", "plain_lean_workers0": "plain\nlean nw=0",
                   "plain_lean_fused": "plain lean\n+fused Adam", "plain_memory": "plain\nin-memory"}
        for header in ("model", "batch", "steps\n/window", *headers.values(), "fp32 /\nToTensor nw=0", "fp32 /\nin-memory"):
            table.add_column(header, justify="left" if header == "model" else "right")
        for name, result in detailed.items():
            columns, ratios = result["columns"], result["comparison"]["ratios"]
            ratio_cells = [f"{ratios[key]['genlab']['of_medians']:.2f}x" if key in ratios else "-"
                           for key in ("plain_totensor_workers0", "plain_memory")]
            table.add_row(name, str(result["batch_size"]), str(result["steps_per_window"]),
                          *(column_cell(columns.get(key)) for key in headers), *ratio_cells)
        console.print(table)
        verdict = {True: "[green]MET[/green]", False: "[red]NOT MET[/red]"}
        for name, result in detailed.items():
            comparison, parity = result["comparison"], result["parity"]
            for key, judged in comparison["verdicts"].items():
                label = result["columns"][key]["label"]
                if judged is None:
                    console.print(f"{name}: target genlab >= {comparison['targets'][key]:g}x {label}: [yellow]not measured[/yellow]")
                    continue
                line = f"{name}: target genlab fp32 >= {judged['target']:g}x {label}: {judged['ratio']:.2f}x {verdict[judged['met']]}"
                if comparison["fastest_genlab"] != "genlab":
                    line += (f"; with {result['columns'][comparison['fastest_genlab']]['label']}: "
                             f"{judged['ratio_fastest_genlab']:.2f}x {verdict[judged['met_fastest_genlab']]}")
                console.print(line)
            ratios = ", ".join(f"{key.removeprefix('plain_')} {ratio['genlab']['of_medians']:.2f}x "
                               f"(per-window {ratio['genlab']['paired_windows_median']:.2f}x)"
                               for key, ratio in comparison["ratios"].items())
            console.print(f"  genlab fp32 over each plain loop (ratio of medians; median of same-round ratios): {ratios}")
            trainer = result["columns"].get("genlab_train")
            if trainer and trainer["images_per_second"]:
                loop = trainer.get("loop_images_per_second")
                console.print(f"  genlab.train end to end: {trainer['images_per_second']['median']:,.0f} img/s for "
                              f"{result['steps_per_window']}-step runs; fixed cost {trainer['fixed_cost_seconds_median']:.2f} s "
                              f"per call (load, setup, final checkpoint and samples); the trainer's loop alone "
                              f"{loop['median'] if loop else float('nan'):,.0f} img/s")
            console.print(f"  parity (one step, same weights/batch/seed): max relative loss difference "
                          f"{parity['max_relative_difference']:.1e} {'ok' if parity['ok'] else '[red]MISMATCH[/red]'}")

    peak_text = ", ".join(f"{key} {peak['gflops_median']:,.0f} GFLOP/s (best {peak['gflops_max']:,.0f})"
                          for key, peak in peaks.items() if peak)
    table = Table(title=f"Every trainable model, images/s (x over fp32) and GFLOP/s, % of the matmul peak "
                        f"({peak_text}; {PEAK_SIZE}^3, {machine['torch_threads']} threads)")
    for header in ("model", "data", "batch", "MFLOP\n/image", "steps x\nwindows", *(variant.label.removeprefix("genlab ")
                                                                                   for variant in VARIANTS)):
        table.add_column(header, justify="left" if header in ("model", "data") else "right")
    for name, result in results["models"].items():
        columns = result["columns"]
        flops = f"{result['flops_per_image'] / 1e6:,.1f}" if result.get("flops_per_image") else "-"
        shape = f"{result.get('steps_per_window', '-')} x {result.get('timing', {}).get('windows', '-')}"
        table.add_row(name, result["data"], str(result["batch_size"]), flops, shape,
                      *(variant_cell(columns[variant.key]) for variant in VARIANTS))
    console.print(table)

    for name, result in results["models"].items():
        notes = []
        for key, column in result["columns"].items():
            if column["error"]:
                notes.append(f"{column['label']} failed: {column['error']}")
            if column.get("first_step_ok") is False:
                notes.append(f"{column['label']}: first step differs from fp32 by {column['first_step_relative_difference']:.1e}")
        for note in notes:
            console.print(f"[yellow]{name}: {note}[/yellow]")
    bf16_differences = [column["first_step_relative_difference"] for result in results["models"].values()
                        for column in result["columns"].values()
                        if column.get("precision") == "bf16" and column.get("first_step_relative_difference") is not None]
    layout_differences = [column["first_step_relative_difference"] for result in results["models"].values()
                          for column in result["columns"].values()
                          if column.get("precision") == "fp32" and column.get("first_step_relative_difference") is not None]
    if bf16_differences or layout_differences:
        console.print(f"first step from the same weights/batch/seed against fp32, max relative difference of the logged values: "
                      f"bf16 {max(bf16_differences, default=0):.1e}, channels-last {max(layout_differences, default=0):.1e}")
    for name, reason in results["skipped"].items():
        console.print(f"skipped {name}: {reason}")

    load = results["load"]
    console.print(f"load average (counts this benchmark too) before {load['loadavg_before']} after {load['loadavg_after']}; "
                  f"other processes used {load['other_cpu_fraction_median']:.0%} of the machine's CPU in the median window "
                  f"(max {load['other_cpu_fraction_max']:.0%}) on {machine['usable_cpus']} usable cores")


def main() -> None:
    """Parse the options, measure the peak, time every model, print the report and write the JSON."""
    models = trainable_models()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="mnist-5k", help="genlab image dataset (mnist-5k, fashion-mnist, ...)")
    parser.add_argument("--points-data", default="toy2d", help="dataset for models that take only points")
    parser.add_argument("--windows", type=int, default=None,
                        help="timing windows per column (default 5 for vae/dcgan, 3 for the others; 3 and 2 with --quick)")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter windows: a smoke run of every model")
    parser.add_argument("--models", nargs="+", default=models, choices=models, metavar="MODEL",
                        help=f"models to time (default: every trainable one: {', '.join(models)})")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="torch threads (default: the usable cores)")
    parser.add_argument("--no-trainer", dest="with_trainer", action="store_false", help="skip the genlab.train column")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    args = parser.parse_args()
    if args.windows is not None and args.windows < 1:
        parser.error("--windows must be at least 1")

    # A pipe or a log file gets a wide table instead of rich's 80-column default.
    console = Console() if sys.stdout.isatty() else Console(width=170)
    torch.set_num_threads(args.threads)
    loadavg_before = os.getloadavg()
    started = time.perf_counter()
    image_data = genlab.load_dataset(args.data)
    points: dict[str, Any] = {}

    def load_points() -> Any:
        if "data" not in points:
            points["data"] = genlab.load_dataset(args.points_data)
        return points["data"]

    peaks = measure_peaks()
    console.print(f"{args.data}: {tuple(image_data.train_x.shape)} {image_data.train_x.dtype} training items; "
                  f"{args.threads} torch threads on {len(os.sched_getaffinity(0))} usable cores; matmul peak "
                  + ", ".join(f"{key} {peak['gflops_median']:,.0f} GFLOP/s" for key, peak in peaks.items() if peak))

    results: dict[str, Any] = {
        "benchmark": "train_throughput",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": {"data": args.data, "points_data": args.points_data, "windows": args.windows, "quick": args.quick,
                     "models": args.models, "with_trainer": args.with_trainer, "targets": TARGETS},
        "machine": machine_info(torch.get_num_threads()),
        "matmul_peak": peaks,
        "models": {},
        "skipped": {},
        "not_trainable": [name for name in list_models() if name not in models],
    }
    # vae and dcgan first: their tables matter most and they should not wait behind the others.
    ordered = [name for name in DETAILED_MODELS if name in args.models] + [name for name in args.models if name not in DETAILED_MODELS]
    for name in ordered:
        chosen = dataset_for(name, image_data, args.data, load_points, args.points_data)
        if isinstance(chosen, str):
            results["skipped"][name] = chosen
            console.print(f"[yellow]skipping {name}: {chosen}[/yellow]")
            continue
        dataset, data_name = chosen
        timing = (DETAILED_TIMING[name] if name in DETAILED_MODELS else SUMMARY_TIMING)[args.quick]
        if args.windows is not None:
            timing = Timing(args.windows, timing.window_seconds, timing.warmup_steps, timing.warmup_seconds, timing.min_steps)
        model_started = time.perf_counter()
        try:
            result = benchmark_model(name, dataset, data_name, timing, peaks, args.with_trainer, console)
        except GenlabError as error:  # the model cannot be built for this data at its default config
            results["skipped"][name] = str(error)
            console.print(f"[yellow]skipping {name}: {error}[/yellow]")
            continue
        if "error" in result:
            results["skipped"][name] = f"its training step failed: {result['error']}"
        result["wall_seconds"] = time.perf_counter() - model_started
        results["models"][name] = result
    other = [window["other_cpu_fraction"] for result in results["models"].values()
             for column in result["columns"].values() for window in column["windows"]]
    results["load"] = load_summary(
        loadavg_before, other, "other = machine busy CPU time (/proc/stat) minus this process and its children, per window")
    results["wall_seconds"] = time.perf_counter() - started

    print_report(results, console)
    write_results(results, args.out, console)


if __name__ == "__main__":
    main()
