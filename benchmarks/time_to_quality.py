"""Time to quality on Fashion-MNIST: genlab's DCGAN against its peers, and every model's quality after 3 minutes.

Peers (the default mode). Three contenders train on the same data for the same training time:

- reference: the DCGAN paper's 64x64 network as in pytorch/examples (ngf = ndf = 64, batch 64) on
  Fashion-MNIST resized to 64 px (antialiased bilinear upsampling at load time), trained by genlab;
- genlab: genlab's default `dcgan` on the native 28-px images (the CPU "fast" recipe: conv widths 32,
  batch 64), trained by genlab (`model.train_step(batcher.batch(step), step)`, the trainer's work);
- plain: copies of the same 28-px networks trained by the pytorch/examples loop (a DataLoader over a
  per-item PIL + ToTensor dataset, hand-written BCE updates, standard Adam; benchmarks/plain_loops.py).

They take turns of a few seconds (the one behind on its own clock goes next), so all pass each point
of their training time at about the same moment and a shared machine's load hits them alike; each
clock counts only its own training steps. At fixed points of its own training time each draws the
same fixed z, its samples are quantised to 8 bits (the reference's downsampled 64 -> 28 px), and the
Fashion-MNIST evaluator gives the FID against the whole test split. The target is a real quality level,
the calibration's blurred-real FID at the same sample count (real training images under a 1-px
Gaussian blur): when each contender first reaches it (and stays there), and genlab's time against the
peers'. Every slice records the other processes' CPU use (/proc/stat minus this process).

Models (`--models`): every named image model trained by `genlab.train` at its defaults for
`--budget-minutes` (3 by default here), scored against the calibration references; see quality_table.py.

    python benchmarks/time_to_quality.py                          # peers, 10-minute budget each (~35 min)
    python benchmarks/time_to_quality.py --budget-minutes 3       # peers, ~12 minutes
    python benchmarks/time_to_quality.py --models default         # the README's table: 9 models x 3 min (~32 min)
    python benchmarks/time_to_quality.py --models dcgan,vae --budget-minutes 1
    python benchmarks/time_to_quality.py --quick                  # smoke run of the peers, ~2 minutes
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

import genlab
from genlab.data import Batcher
from genlab.data.registry import DataConfig
from genlab.data.transforms import resize_images
from genlab.metrics.evaluate import draw_samples
from genlab.metrics.evaluator import Evaluator, get_evaluator
from genlab.metrics.fid import fid_from_features
from genlab.metrics.reference import real_features
from genlab.metrics.calibration import calibrate
from genlab.train.updates import training_step
from machine import CpuSnapshot, machine_info  # benchmarks/machine.py, beside this script
from plain_loops import PILToTensorDataset, plain_update_for

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "time_to_quality.json"
DATA = "fashion-mnist"
EVALUATOR_SIDE = 28  # the evaluator's (and the data's native) image side
DEFAULT_CHECKPOINTS = 25  # evaluations per budget; 25 puts one at exactly a fifth of it
QUICK = {"budget_minutes": 0.25, "samples": 500, "slice_seconds": 1.5, "checkpoints": 5}
DEFAULTS = {"budget_minutes": 10.0, "samples": 2000, "slice_seconds": 6.0}


@dataclass(frozen=True)
class Spec:
    """One contender: genlab's dcgan, the data it trains on and its config overrides."""

    label: str
    data: DataConfig
    overrides: dict[str, Any]


SPECS = {
    "reference": Spec("reference: 64x64 DCGAN (Radford et al.), resized data",
                      DataConfig(name=DATA, resize=64),
                      {"recipe": "paper", "generator_features": 64, "discriminator_features": 64, "batch_size": 64}),
    "data_sized": Spec("genlab dcgan (defaults: fast recipe, 28 px)", DataConfig(name=DATA), {}),
    "plain": Spec("pytorch/examples loop, same 28-px networks", DataConfig(name=DATA), {}),
}


class PlainDCGAN:
    """The pytorch/examples DCGAN loop as a contender: copies of genlab's networks, a DataLoader over a
    PIL + ToTensor dataset, the hand-written update (plain_loops.py); `sample` as genlab's model does."""

    def __init__(self, model: Any, dataset: Any, batch_size: int, seed: int) -> None:
        from torch.utils.data import DataLoader

        self.update = plain_update_for("dcgan", model)  # deep copies of the networks, with their own Adam
        loader = DataLoader(PILToTensorDataset(dataset.train_x, dataset.train_y), batch_size=batch_size, shuffle=True,
                            drop_last=True, num_workers=0, generator=torch.Generator().manual_seed(seed))
        from plain_loops import endless

        self.batches = endless(loader)
        self.latent_dim = model.config.latent_dim
        self.device = torch.device("cpu")

    def train_step(self, batch: Any, step: int) -> dict[str, float]:
        images, _ = next(self.batches)
        loss_d, loss_g = self.update(images)
        return {"loss_d": loss_d, "loss_g": loss_g}

    @torch.no_grad()
    def sample(self, n: int, labels: Any = None, generator: torch.Generator | None = None) -> torch.Tensor:
        network = self.update.generator
        was_training = network.training
        network.eval()
        z = torch.randn(n, self.latent_dim, generator=generator)
        images = (network(z) + 1) / 2
        network.train(was_training)
        return images


class NoBatches:
    """The plain contender draws its own batches from its DataLoader: the trainer-side batcher does nothing."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size

    def batch(self, step: int) -> None:
        return None


@dataclass
class Contender:
    """A model in training: its own step counter, clock (training seconds only), FID curve and slices."""

    key: str
    spec: Spec
    model: Any
    batcher: Batcher
    data_shape: tuple[int, ...]
    step: int = 0
    clock: float = 0.0
    curve: list[dict[str, Any]] = field(default_factory=list)
    slices: list[dict[str, Any]] = field(default_factory=list)
    losses: dict[str, list[float]] = field(default_factory=dict)

    @property
    def batch_size(self) -> int:
        return self.batcher.batch_size

    def train_slice(self, seconds: float, stop_at: float) -> dict[str, Any]:
        """Train whole steps until the slice has taken `seconds` or the clock reaches `stop_at`; at least one step."""
        before = CpuSnapshot.take()
        started = time.perf_counter()
        steps = 0
        while True:
            step_started = time.perf_counter()
            values = training_step(self.model, self.batcher.batch(self.step), self.step)
            self.clock += time.perf_counter() - step_started
            self.step += 1
            steps += 1
            for name, value in values.items():
                self.losses.setdefault(name, []).append(value)
            if self.clock >= stop_at or time.perf_counter() - started >= seconds:
                break
        wall = time.perf_counter() - started
        record = {"model": self.key, "steps": steps, "seconds": wall,
                  "images_per_second": steps * self.batch_size / wall, "clock_after": self.clock,
                  **CpuSnapshot.take().other_load_since(before, wall)}
        self.slices.append(record)
        return record

    def pop_losses(self) -> dict[str, float]:
        """Mean of each logged value since the last call (the curve's loss columns)."""
        # train_step may return floats or 0-d tensors (kept unsynchronised until here).
        means = {name: statistics.fmean(float(value) for value in values) for name, values in self.losses.items() if values}
        self.losses = {}
        return means


# --- FID ------------------------------------------------------------------------------------------
def quantised(images: torch.Tensor) -> torch.Tensor:
    """Samples in [0, 1] as uint8, the form saved images (and the dataset's own) have."""
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)


def sample_features(model: Any, evaluator: Evaluator, count: int, seed: int) -> tuple[torch.Tensor, float]:
    """Evaluator features of `count` samples from the fixed codes of `seed`, downsampled to the
    evaluator's side where the model is larger; and the seconds sampling took."""
    with torch.random.fork_rng(devices=[]):  # evaluation never moves the training RNG
        samples, seconds = draw_samples(model, count, None, seed)
        images = resize_images(quantised(samples), EVALUATOR_SIDE)
        return evaluator.features(images), seconds


def evaluate_checkpoint(contender: Contender, evaluator: Evaluator, reference: torch.Tensor, count: int,
                        seed: int, scheduled: float) -> dict[str, Any]:
    """Append one point of the contender's FID curve (at its current training time)."""
    started = time.perf_counter()
    features, sampling_seconds = sample_features(contender.model, evaluator, count, seed)
    point = {"scheduled_seconds": scheduled, "training_seconds": contender.clock, "step": contender.step,
             "images_seen": contender.step * contender.batch_size, "fid": fid_from_features(reference, features),
             "sampling_seconds": sampling_seconds, "evaluation_seconds": time.perf_counter() - started,
             "losses": contender.pop_losses()}
    contender.curve.append(point)
    return point


# --- reading the curves ---------------------------------------------------------------------------
def first_reaching(curve: list[dict[str, Any]], target: float) -> dict[str, Any] | None:
    """The first trained point of `curve` with FID <= target, with the crossing time interpolated
    linearly from the point before it (None when no point reaches it). The untrained point never
    counts: an initialisation that happens to score below a barely trained reference says nothing."""
    for index, point in enumerate(curve):
        if point["step"] > 0 and point["fid"] <= target:
            interpolated = point["training_seconds"]
            before = curve[index - 1] if index > 0 else None
            if before is not None and before["fid"] > target:  # (an untrained point can already be below it)
                fraction = (before["fid"] - target) / (before["fid"] - point["fid"])
                interpolated = before["training_seconds"] + fraction * (point["training_seconds"] - before["training_seconds"])
            return {**point, "interpolated_seconds": interpolated}
    return None


def sustained_reaching(curve: list[dict[str, Any]], target: float) -> dict[str, Any] | None:
    """The first trained point from which every later point of `curve` has FID <= target (None if the last does not)."""
    found = None
    for point in reversed(curve):
        if point["step"] == 0 or point["fid"] > target:
            break
        found = point
    return found


def compare(contenders: dict[str, Contender], target: float) -> dict[str, Any]:
    """When each contender first reaches the blurred-real FID `target` (and from when it stays there), and
    genlab's time against each peer's; also when genlab reaches the reference's own final FID."""
    reached = {}
    for key, contender in contenders.items():
        first = first_reaching(contender.curve, target)
        sustained = sustained_reaching(contender.curve, target)
        reached[key] = {"first": first, "sustained": sustained, "final_fid": contender.curve[-1]["fid"],
                        "training_seconds": contender.clock,
                        "first_seconds": first["interpolated_seconds"] if first else None}
    genlab_seconds = reached["data_sized"]["first_seconds"]
    ratios = {}
    for peer in ("reference", "plain"):
        peer_seconds = reached[peer]["first_seconds"]
        if genlab_seconds is not None and peer_seconds is not None:
            ratios[peer] = genlab_seconds / peer_seconds
        elif genlab_seconds is not None:  # the peer never got there: genlab took at most this share of its time
            ratios[peer] = f"< {genlab_seconds / reached[peer]['training_seconds']:.3f} (the peer did not reach it)"
        else:
            ratios[peer] = None
    reference_final = contenders["reference"].curve[-1]["fid"]
    data_sized_at_reference_final = first_reaching(contenders["data_sized"].curve, reference_final)
    return {
        "target_fid": target,
        "target": "the calibration's blurred-real FID (real training images, Gaussian blur sigma 1 px) at this sample count",
        "contenders": reached,
        "genlab_time_ratio_to": ratios,
        "reference_final_fid": reference_final,
        "data_sized_reaches_reference_final_fid_at": data_sized_at_reference_final,
    }


# --- setup ----------------------------------------------------------------------------------------
def training_flops_per_image(spec: Spec, dataset: Any) -> float:
    """FLOPs of one training step per image (torch's FlopCounterMode on a throwaway copy of the model)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.random.fork_rng(devices=[]):
        model = genlab.create_model("dcgan", data_shape=dataset.shape, num_classes=dataset.num_classes, **spec.overrides)
        model.train()
        model.setup_optimizers()
        batch = Batcher(dataset.train_x, dataset.train_y, model.config.batch_size, seed=0).batch(0)
        with FlopCounterMode(display=False) as counter:
            model.train_step(batch, 0)
    return counter.get_total_flops() / model.config.batch_size


def build_contenders(seed: int, console: Console) -> tuple[dict[str, Contender], dict[str, Any]]:
    """Load each contender's data, build its model from `seed`, and describe both for the JSON."""
    contenders, described = {}, {}
    for key, spec in SPECS.items():
        started = time.perf_counter()
        dataset = genlab.load_dataset(spec.data)
        load_seconds = time.perf_counter() - started
        flops = training_flops_per_image(spec, dataset)
        torch.manual_seed(seed)
        model = genlab.create_model("dcgan", data_shape=dataset.shape, num_classes=dataset.num_classes, **spec.overrides)
        model.train()
        model.setup_optimizers()
        if key == "plain":
            # The same initial weights as genlab's data-sized model (same seed), trained by the plain loop.
            contenders[key] = Contender(key, spec, PlainDCGAN(model, dataset, model.config.batch_size, seed),
                                        NoBatches(model.config.batch_size), tuple(dataset.shape))
        else:
            batcher = Batcher(dataset.train_x, dataset.train_y, model.config.batch_size, device="cpu", seed=seed)
            contenders[key] = Contender(key, spec, model, batcher, tuple(dataset.shape))
        described[key] = {
            "label": spec.label, "model": "dcgan", "data": dataclasses.asdict(spec.data), "data_shape": list(dataset.shape),
            "train_items": int(dataset.train_x.shape[0]), "data_load_seconds": load_seconds,
            "config": dataclasses.asdict(model.config), "parameters": sum(p.numel() for p in model.parameters()),
            "training_gflop_per_image": flops / 1e9,
            "generator": str(model.generator), "discriminator": str(model.discriminator),
        }
        console.print(f"{key}: {spec.label}; data {tuple(dataset.shape)} (loaded in {load_seconds:.1f} s), "
                      f"batch {model.config.batch_size}, {described[key]['parameters']:,} parameters, "
                      f"{flops / 1e9:.2f} GFLOP per image per training step")
        del dataset
    return contenders, described


def real_floor(evaluator: Evaluator, test_features: torch.Tensor, count: int, seed: int) -> float:
    """FID of `count` real training images against the test split: what a perfect model scores at this sample count."""
    dataset = genlab.load_dataset(DataConfig(name=DATA))
    keep = torch.randperm(dataset.train_x.shape[0], generator=torch.Generator().manual_seed(seed))[:count]
    return fid_from_features(test_features, evaluator.features(dataset.train_x[keep]))


# --- the run --------------------------------------------------------------------------------------
def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    """Train both contenders in alternating slices up to the budget, evaluating at every checkpoint."""
    budget = args.budget_minutes * 60
    eval_every = args.eval_every or budget / args.checkpoints
    schedule = [eval_every * index for index in range(1, math.ceil(budget / eval_every - 1e-9) + 1)]
    schedule[-1] = budget

    evaluator = get_evaluator(DataConfig(name=DATA), progress=console.print)
    test_x = genlab.load_dataset(DataConfig(name=DATA)).test_x
    test_features, _, _ = real_features(evaluator, test_x)
    floor = real_floor(evaluator, test_features, args.samples, args.seed)
    full = genlab.load_dataset(DataConfig(name=DATA))
    references = calibrate(evaluator, test_x, full.train_x, full.train_y, args.samples, seed=args.seed)["references"]
    del full
    console.print(f"evaluator: {evaluator.description}; FID of {args.samples} generated images against the "
                  f"{test_x.shape[0]:,} test images (real training images score {floor:.2f}; the target, blurred real "
                  f"images, {references['blurred']['fid']:.2f}; uniform noise {references['uniform_noise']['fid']:.0f})")
    contenders, described = build_contenders(args.seed, console)
    for contender in contenders.values():
        point = evaluate_checkpoint(contender, evaluator, test_features, args.samples, args.seed, 0.0)
        console.print(f"  {contender.key}: FID {point['fid']:.1f} before training")

    next_checkpoint = {key: 0 for key in contenders}
    turn, last_key = 0, None
    while any(contender.clock < budget for contender in contenders.values()):
        # The model behind on its own clock trains next (ties: not the one that just did), so both pass
        # each point of their training time at about the same moment and meet the same machine load.
        key = min((key for key, contender in contenders.items() if contender.clock < budget),
                  key=lambda key: (contenders[key].clock, key == last_key))
        contender, last_key = contenders[key], key
        record = contender.train_slice(args.slice_seconds, stop_at=schedule[next_checkpoint[key]])
        record["turn"] = turn
        turn += 1
        passed = None
        # One step can pass several checkpoints (a slow step, a short --eval-every): evaluate once, at the last.
        while next_checkpoint[key] < len(schedule) and contender.clock >= schedule[next_checkpoint[key]]:
            passed = schedule[next_checkpoint[key]]
            next_checkpoint[key] += 1
        if passed is not None:
            point = evaluate_checkpoint(contender, evaluator, test_features, args.samples, args.seed, passed)
            console.print(f"  {key}: {point['training_seconds']:6.1f} s, step {point['step']:5d}, "
                          f"FID {point['fid']:7.2f}  (slice {record['images_per_second']:,.0f} img/s, "
                          f"other processes {record['other_cpu_fraction']:.0%} of the CPU)")

    results: dict[str, Any] = {
        "settings": {"budget_minutes": args.budget_minutes, "budget_seconds": budget, "eval_every_seconds": eval_every,
                     "samples": args.samples, "slice_seconds": args.slice_seconds, "seed": args.seed, "quick": args.quick,
                     "sample_codes": f"fixed: the same {args.samples} z from torch.Generator().manual_seed({args.seed}) "
                                     "at every checkpoint, for both models (both have latent_dim 100)",
                     "fid": "genlab's fashion-mnist evaluator features; generated (quantised to uint8) vs the whole test split",
                     "downsampling": "reference samples 64 -> 28 px by antialiased bilinear interpolation "
                                     "(genlab.data.transforms.resize_images) before the evaluator"},
        "evaluator": {"description": evaluator.description, "path": str(evaluator.path) if evaluator.path else None,
                      "test_items": int(test_x.shape[0]), "real_train_vs_test_fid": floor},
        "references": references,
        "models": {},
    }
    for key, contender in contenders.items():
        rates = [record["images_per_second"] for record in contender.slices]
        loads = [record["other_cpu_fraction"] for record in contender.slices]
        results["models"][key] = {
            **described[key], "steps": contender.step, "training_seconds": contender.clock,
            "images_seen": contender.step * contender.batch_size,
            "images_per_second": {"median": statistics.median(rates), "min": min(rates), "max": max(rates),
                                  "over": "training slices"},
            "other_cpu_fraction": {"median": statistics.median(loads), "max": max(loads)},
            "curve": contender.curve,
        }
    results["slices"] = sorted((record for contender in contenders.values() for record in contender.slices),
                               key=lambda record: record["turn"])
    results["comparison"] = compare(contenders, references["blurred"]["fid"])
    return results


# --- the report -----------------------------------------------------------------------------------
def threads_text(results: dict[str, Any]) -> str:
    threads = results["machine"]["torch_threads"]
    return f"{threads} torch thread{'' if threads == 1 else 's'}"


NAMES = {"reference": "reference 64 px", "data_sized": "genlab 28 px", "plain": "plain loop 28 px"}


def print_report(results: dict[str, Any], console: Console) -> None:
    """The FID curves side by side, the contenders' summary, when each reaches the target, and the load."""
    settings, models, comparison = results["settings"], results["models"], results["comparison"]
    target = comparison["target_fid"]
    curves = Table(title=f"FID vs training time on {DATA} ({settings['samples']} samples, fixed z, vs the "
                         f"{results['evaluator']['test_items']:,} test images; reference samples downsampled 64 -> 28 px)")
    curves.add_column("checkpoint\n(s of training)", justify="right")
    keys = [key for key in NAMES if key in models]
    for key in keys:
        curves.add_column(f"{NAMES[key]}\ns | step", justify="right")
        curves.add_column(f"{NAMES[key]}\nFID", justify="right")
    by_time = [{point["scheduled_seconds"]: point for point in models[key]["curve"]} for key in keys]
    for scheduled in sorted(set().union(*by_time)):
        cells = []
        for points in by_time:
            point = points.get(scheduled)
            if point is None:  # a slow step passed this checkpoint together with the next one
                cells += ["-", "-"]
                continue
            fid = f"{point['fid']:.2f}"
            cells += [f"{point['training_seconds']:.0f} | {point['step']}",
                      f"[green]{fid}[/green]" if point["step"] > 0 and point["fid"] <= target else fid]
        curves.add_row(f"{scheduled:.0f}", *cells)
    console.print(curves)

    summary = Table(title=f"Summary ({threads_text(results)}, budget {settings['budget_minutes']:g} min of training each; "
                          f"target: blurred real images, FID {target:.2f})")
    for column in ("contender", "data", "batch", "parameters", "GFLOP/image\n(train step)", "images/s median\n(min-max)",
                   "steps", "final FID", "first reaches\nthe target (s)", "stays below\nfrom (s)"):
        summary.add_column(column, justify="left" if column in ("contender", "data") else "right")
    for key in keys:
        model, reached = models[key], comparison["contenders"][key]
        rate = model["images_per_second"]
        summary.add_row(model["label"], "x".join(str(side) for side in model["data_shape"]), str(model["config"]["batch_size"]),
                        f"{model['parameters']:,}", f"{model['training_gflop_per_image']:.2f}",
                        f"{rate['median']:,.0f}\n({rate['min']:,.0f}-{rate['max']:,.0f})", str(model["steps"]),
                        f"{model['curve'][-1]['fid']:.2f}",
                        "not reached" if reached["first_seconds"] is None else f"{reached['first_seconds']:.0f}",
                        "-" if reached["sustained"] is None else f"{reached['sustained']['training_seconds']:.0f}")
    console.print(summary)
    for peer, ratio in comparison["genlab_time_ratio_to"].items():
        text = f"{ratio:.3f}" if isinstance(ratio, float) else ("genlab did not reach it" if ratio is None else ratio)
        console.print(f"genlab's time to the target / the {NAMES[peer]}'s: {text}")
    at_reference = comparison["data_sized_reaches_reference_final_fid_at"]
    console.print(f"the reference's FID after its budget: {comparison['reference_final_fid']:.2f}; genlab first reaches it at "
                  + ("never" if at_reference is None else f"{at_reference['interpolated_seconds']:.0f} s"))
    load = results["load"]
    console.print(f"load average before {load['loadavg_before']} after {load['loadavg_after']}; other processes used "
                  f"{load['other_cpu_fraction_median']:.0%} of the machine's CPU in the median slice "
                  f"(max {load['other_cpu_fraction_max']:.0%}) on {results['machine']['usable_cpus']} usable cores")


def plot(results: dict[str, Any], path: Path) -> None:
    """FID against training seconds for every contender and the reference lines, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    comparison = results["comparison"]
    figure, axes = plt.subplots(figsize=(8, 5))
    colours = {"reference": "tab:red", "data_sized": "tab:blue", "plain": "tab:green"}
    for key, colour in colours.items():
        model = results["models"].get(key)
        if model is None:
            continue
        axes.plot([point["training_seconds"] for point in model["curve"]], [point["fid"] for point in model["curve"]],
                  "o-", color=colour, markersize=3,
                  label=f"{model['label']} ({'x'.join(map(str, model['data_shape'][1:]))}, batch {model['config']['batch_size']})")
        first = comparison["contenders"][key]["first"]
        if first:
            axes.plot([first["interpolated_seconds"]], [comparison["target_fid"]], "*", color=colour, markersize=13)
    references = results.get("references", {})
    for name, style in (("blurred", "--"), ("one_class", "-."), ("uniform_noise", ":")):
        if name in references:
            axes.axhline(references[name]["fid"], color="grey", linestyle=style, linewidth=1,
                         label=f"{name.replace('_', ' ')} ({references[name]['fid']:.0f})" + (": the target" if name == "blurred" else ""))
    axes.axhline(results["evaluator"]["real_train_vs_test_fid"], color="black", linestyle="-.", linewidth=0.8,
                 label="real training images")
    axes.set_yscale("log")
    axes.set_xlabel("training wall time of the model (s; evaluation excluded)")
    axes.set_ylabel(f"FID ({DATA} evaluator, {results['settings']['samples']} samples)")
    axes.set_title(f"Time to quality on {DATA}: genlab's DCGAN against its peers ({threads_text(results)})", fontsize=10)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def run_models(args: argparse.Namespace) -> None:
    """The per-model table (quality_table.py): each model in turn, then JSON, samples PNG and markdown."""
    from quality_table import DEFAULT_MODELS, run_table

    models = list(DEFAULT_MODELS) if args.models == "default" else [name.strip() for name in args.models.split(",") if name.strip()]
    minutes = args.budget_minutes if args.budget_minutes is not None else 3.0
    samples = args.samples or DEFAULTS["samples"]
    out = args.out or DEFAULT_OUT.with_name("time_to_quality_models.json")
    console = Console() if sys.stdout.isatty() else Console(width=150)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    results = {"benchmark": "time_to_quality --models", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "machine": machine_info(torch.get_num_threads()),
               **run_table(models, args.data, minutes, samples, args.seed, args.threads, out, console)}
    results["wall_seconds"] = time.perf_counter() - started
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    console.print(f"wrote {out} and {results['sample_sheet']} ({results['wall_seconds']:.0f} s)")


def main() -> None:
    """Parse the options, run both models, print the report, write the JSON and the plot."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget-minutes", type=float, default=None,
                        help=f"training minutes of each model (default {DEFAULTS['budget_minutes']:g}; {QUICK['budget_minutes']:g} with --quick)")
    parser.add_argument("--quick", action="store_true", help="a smoke run of about 1.5 minutes")
    parser.add_argument("--samples", type=int, default=None,
                        help=f"generated images per FID (default {DEFAULTS['samples']}; {QUICK['samples']} with --quick)")
    parser.add_argument("--eval-every", type=float, default=None,
                        help=f"seconds of a model's training between FIDs (default: the budget / {DEFAULT_CHECKPOINTS})")
    parser.add_argument("--slice-seconds", type=float, default=None,
                        help=f"length of one model's turn (default {DEFAULTS['slice_seconds']:g}; at least one step)")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="torch threads (default: the usable cores)")
    parser.add_argument("--seed", type=int, default=0, help="model initialisation, batch order, training noise and the FID codes")
    parser.add_argument("--out", type=Path, default=None, help=f"JSON results, the PNG beside it (default {DEFAULT_OUT}, "
                        "or time_to_quality_models.json with --models)")
    parser.add_argument("--models", default=None, help="instead of the peers: these image models (comma list, or 'default': "
                        "the nine of the README's table) trained at their defaults for --budget-minutes (3) each")
    parser.add_argument("--data", default=DATA, help=f"dataset of --models (default {DATA})")
    args = parser.parse_args()
    if args.models:
        run_models(args)
        return
    preset = QUICK if args.quick else DEFAULTS
    args.budget_minutes = args.budget_minutes if args.budget_minutes is not None else preset["budget_minutes"]
    args.samples = args.samples if args.samples is not None else preset["samples"]
    args.slice_seconds = args.slice_seconds if args.slice_seconds is not None else preset["slice_seconds"]
    args.checkpoints = QUICK["checkpoints"] if args.quick else DEFAULT_CHECKPOINTS
    if args.budget_minutes <= 0 or args.samples < 10 or args.slice_seconds <= 0 or args.threads < 1:
        parser.error("--budget-minutes and --slice-seconds must be positive, --samples at least 10, --threads at least 1")
    if args.eval_every is not None and args.eval_every <= 0:
        parser.error("--eval-every must be positive")

    # A pipe or a log file gets a wide table instead of rich's 80-column default.
    console = Console() if sys.stdout.isatty() else Console(width=150)
    torch.set_num_threads(args.threads)
    loadavg_before = os.getloadavg()
    started = time.perf_counter()
    results = {"benchmark": "time_to_quality", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "machine": machine_info(torch.get_num_threads()), **run(args, console)}
    slices = results["slices"]
    results["load"] = {
        "loadavg_before": [round(value, 2) for value in loadavg_before],
        "loadavg_after": [round(value, 2) for value in os.getloadavg()],
        "other_cpu_fraction_median": statistics.median(record["other_cpu_fraction"] for record in slices),
        "other_cpu_fraction_max": max(record["other_cpu_fraction"] for record in slices),
        "note": "other = machine busy CPU time (/proc/stat) minus this process and its children, per training slice",
    }
    results["wall_seconds"] = time.perf_counter() - started

    print_report(results, console)
    args.out = args.out or DEFAULT_OUT
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    plot_path = args.out.with_suffix(".png")
    plot(results, plot_path)
    console.print(f"wrote {args.out} and {plot_path} ({results['wall_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
