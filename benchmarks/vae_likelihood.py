"""Test-set likelihood of the VAE family after a fixed CPU budget: vae, conv-vae, iwae (k=5, 50), pixelvae,
beside the classic baselines' exact likelihoods.

Each model trains for the same budget of CPU seconds (this process's CPU time, so other processes'
load costs nobody steps) on dynamically binarised training images, then its test-set NLL is
estimated with genlab's importance-sampled bound (`model.log_likelihood(x, k=...)`, the same k for
every model) on a fixed stochastic binarisation of the test images, in nats per image. The table
also gives the ELBO, the NLL in bits/dim and the number of steps each model managed.

Models and why they are configured so:

- `vae` and `iwae` share Burda et al.'s network (784-200-200-50, tanh) so that only the objective
  differs (k = 1 for the VAE, 5 or 50 for IWAE), as in their comparison;
- `conv-vae` uses its default config; `pixelvae` a CPU-sized one (conv nets of (16, 16, 32, 32)
  channels, a 2-block gated PixelCNN of 16 channels): its default config takes ~1.5 CPU-s a step,
  which would leave it a few dozen steps in a short budget;
- every model uses batch 32 (their defaults range from 20 to 128; a short budget favours small ones).

The classic baselines are fitted once on the training split (their CPU-s is the fit) and scored
exactly: `naive-bayes` (Bernoulli pixels, fitted on the intensities as expected counts of stochastic
binarisation) sits in the binarised table; a second table scores the 8-bit test images in bits/dim
with `naive-bayes-256` (a categorical over the 256 levels: a probability) and `gaussian-bayes` and
`gmm` (densities on [0, 1], with the 8-bit convention of a 1/256 bin per level).

Orderings checked (and reported when they fail): the IWAE-trained models' NLL <= the VAE's (Burda
et al. 2015, Table 1), and PixelVAE's NLL the lowest (Gulrajani et al. 2017). The papers compare at
equal epochs over days of GPU time; a short CPU budget gives IWAE (k times the decoder work per
step) far fewer steps, so a failed ordering here is a statement about that budget.

    python benchmarks/vae_likelihood.py                       # ~8 minutes on an idle core
    python benchmarks/vae_likelihood.py --cpu-seconds 5 --test-items 50 --eval-k 10     # smoke run, ~2 minutes
    python benchmarks/vae_likelihood.py --epochs 20 --datasets mnist-5k   # equal epochs, as the papers compare
    python benchmarks/vae_likelihood.py --datasets mnist-5k --models vae iwae-k5 --out /tmp/nll.json
    python benchmarks/vae_likelihood.py --models naive-bayes --test-items 1000 --out benchmarks/results/baselines_likelihood.json   # baselines only, ~2 minutes
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

import genlab
from genlab.data.batches import Batcher, to_float
from genlab.errors import GenlabError
from genlab.likelihood import binarize
from machine import machine_info, write_results  # benchmarks/machine.py, beside this script

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "vae_likelihood.json"
BURDA_NET = {"hidden_dims": [200, 200], "activation": "tanh", "latent_dim": 50}
SMALL_PIXELVAE = {"channels": [16, 16, 32, 32], "fc_dim": 128, "condition_channels": 8, "pixelcnn_channels": 16,
                  "pixelcnn_layers": 2}
# name in the table -> (registered model, config overrides)
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "vae": ("vae", {**BURDA_NET, "binarize": True, "batch_size": 32}),
    "conv-vae": ("conv-vae", {"binarize": True, "batch_size": 32}),
    "iwae-k5": ("iwae", {**BURDA_NET, "num_samples": 5, "binarize": True, "batch_size": 32}),
    "iwae-k50": ("iwae", {**BURDA_NET, "num_samples": 50, "binarize": True, "batch_size": 32}),
    "pixelvae": ("pixelvae", {**SMALL_PIXELVAE, "batch_size": 32}),
    "naive-bayes": ("naive-bayes", {"pixel_model": "bernoulli"}),
}
# Baselines scored on the 8-bit test images (exact likelihoods, bits/dim).
EIGHT_BIT_BASELINES: dict[str, tuple[str, dict[str, Any]]] = {
    "naive-bayes-256": ("naive-bayes", {}),
    "gaussian-bayes": ("gaussian-bayes", {}),
    "gmm": ("gmm", {}),
}
DATASETS = {"mnist-5k": {}, "fashion-mnist": {"test_subset": 1000}}


def train_for(model: Any, dataset: Any, cpu_seconds: float | None, seed: int, epochs: float | None = None) -> dict[str, float]:
    """`model.train_step` on shuffled batches until this process has used `cpu_seconds` of CPU time
    (or, with `epochs`, for that many passes over the training split)."""
    model.setup_optimizers()
    model.train()
    batcher = Batcher(dataset.train_x, dataset.train_y, model.config.batch_size, seed=seed)
    max_steps = math.ceil(epochs * batcher.steps_per_epoch) if epochs is not None else math.inf
    cpu_budget = cpu_seconds if epochs is None else math.inf
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    step, last = 0, {}
    while step < max_steps and time.process_time() - cpu_start < cpu_budget:
        last = model.train_step(batcher.batch(step), step)
        if not all(np.isfinite(value) for value in last.values()):
            raise GenlabError(f"{model.registry_name} diverged at step {step}: {last}")
        step += 1
    return {"steps": step, "epochs": step / batcher.steps_per_epoch, "cpu_seconds": time.process_time() - cpu_start,
            "wall_seconds": time.perf_counter() - wall_start, "last_loss": last.get("loss", float("nan"))}


def fit_once(model: Any, dataset: Any) -> dict[str, float]:
    """Fit a classic baseline on the whole training split; reported like one epoch of one step."""
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    model.fit(dataset.train_x, dataset.train_y)
    return {"steps": 1, "epochs": 1.0, "cpu_seconds": time.process_time() - cpu_start,
            "wall_seconds": time.perf_counter() - wall_start, "last_loss": float("nan")}


def score_eight_bit_baselines(dataset: Any, args: argparse.Namespace, console: Console) -> dict[str, Any]:
    """Fit each 8-bit baseline and score the grey-level test images exactly."""
    test = to_float(dataset.test_x[: args.test_items])
    rows: dict[str, Any] = {}
    for key in args.eight_bit_baselines:
        registered, overrides = EIGHT_BIT_BASELINES[key]
        torch.manual_seed(args.seed)
        model = genlab.create_model(registered, data_shape=dataset.shape, num_classes=dataset.num_classes, **overrides)
        training = fit_once(model, dataset)
        estimate = model.log_likelihood(test)
        rows[key] = {"model": registered, "config": overrides, **training, **estimate.to_dict()}
        console.print(f"  {key:<15} fitted in {training['cpu_seconds']:.1f} CPU-s  NLL {estimate.nll:8.2f} nats  "
                      f"{estimate.bits_per_dim:.3f} bits/dim ({estimate.measure})")
    return rows


def benchmark_dataset(name: str, args: argparse.Namespace, console: Console) -> dict[str, Any]:
    """Train and score every model on one dataset; None-valued entries say why a model was skipped."""
    dataset = genlab.load_dataset(name, **DATASETS[name])
    test = binarize(to_float(dataset.test_x[: args.test_items]), torch.Generator().manual_seed(args.seed))
    console.print(f"[bold]{name}[/]: {dataset.train_x.shape[0]} training images, {test.shape[0]} binarised test images, "
                  f"{budget_text(args)} per model, NLL by IWAE-{args.eval_k}")
    rows: dict[str, Any] = {}
    for key in args.models:
        registered, overrides = MODELS[key]
        torch.manual_seed(args.seed)
        model = genlab.create_model(registered, data_shape=dataset.shape, num_classes=dataset.num_classes, **overrides)
        if getattr(model, "fitted", False):
            training = fit_once(model, dataset)
        else:
            training = train_for(model, dataset, args.cpu_seconds, args.seed, args.epochs)
        scoring_started = time.perf_counter()
        estimate = model.log_likelihood(test, k=args.eval_k, generator=torch.Generator().manual_seed(args.seed))
        rows[key] = {"model": registered, "config": overrides, **training, **estimate.to_dict(),
                     "scoring_seconds": time.perf_counter() - scoring_started}
        elbo = "exact" if estimate.elbo is None else f"ELBO {estimate.elbo:7.2f}"
        console.print(f"  {key:<9} {training['steps']:>6} steps  NLL {estimate.nll:7.2f} nats  "
                      f"({elbo})  scored in {rows[key]['scoring_seconds']:.0f} s")
    return {"data_source": dataset.source, "train_items": int(dataset.train_x.shape[0]), "models": rows,
            "orderings": check_orderings(rows), "eight_bit_baselines": score_eight_bit_baselines(dataset, args, console)}


def check_orderings(rows: dict[str, Any]) -> list[dict[str, Any]]:
    """The literature's orderings of test NLL, each with whether this run shows it."""
    checks = []
    for iwae in ("iwae-k5", "iwae-k50"):
        if iwae in rows and "vae" in rows:
            checks.append({"claim": f"{iwae} NLL <= vae NLL (Burda et al. 2015)",
                           "holds": rows[iwae]["nll"] <= rows["vae"]["nll"],
                           "values": {iwae: rows[iwae]["nll"], "vae": rows["vae"]["nll"]}})
    if "pixelvae" in rows and len(rows) > 1:
        best = min(rows, key=lambda key: rows[key]["nll"])
        checks.append({"claim": "pixelvae has the lowest NLL (Gulrajani et al. 2017)", "holds": best == "pixelvae",
                       "values": {key: row["nll"] for key, row in rows.items()}})
    return checks


def budget_text(args: argparse.Namespace) -> str:
    return f"{args.epochs:g} epochs" if args.epochs is not None else f"{args.cpu_seconds:g} CPU-s"


def print_report(results: dict[str, Any], console: Console) -> None:
    for name, result in results["datasets"].items():
        if "skipped" in result:
            console.print(f"{name}: skipped ({result['skipped']})")
            continue
        table = Table(title=f"{name}: test NLL after {results['budget']} per model "
                            f"(IWAE-{results['settings']['eval_k']} bound, {results['settings']['test_items']} binarised test images)")
        for column in ("model", "steps", "epochs", "CPU-s", "NLL (nats)", "± s.e.", "ELBO (nats)", "bits/dim"):
            table.add_column(column, justify="left" if column == "model" else "right")
        for key, row in result["models"].items():
            elbo = "exact" if row["elbo"] is None else f"{row['elbo']:.2f}"
            table.add_row(key, str(row["steps"]), f"{row['epochs']:.1f}", f"{row['cpu_seconds']:.0f}", f"{row['nll']:.2f}",
                          f"{row['standard_error']:.2f}", elbo, f"{row['bits_per_dim']:.4f}")
        console.print(table)
        if result.get("eight_bit_baselines"):
            table = Table(title=f"{name}: classic baselines on {results['settings']['test_items']} 8-bit test images (exact)")
            for column in ("model", "fit CPU-s", "NLL (nats)", "± s.e.", "bits/dim", "measure"):
                table.add_column(column, justify="left" if column in ("model", "measure") else "right")
            for key, row in result["eight_bit_baselines"].items():
                table.add_row(key, f"{row['cpu_seconds']:.1f}", f"{row['nll']:.2f}", f"{row['standard_error']:.2f}",
                              f"{row['bits_per_dim']:.4f}", row["measure"])
            console.print(table)
        for check in result["orderings"]:
            mark = "[green]holds[/]" if check["holds"] else "[red]DOES NOT HOLD[/]"
            values = ", ".join(f"{key} {value:.2f}" for key, value in check["values"].items())
            console.print(f"  {check['claim']}: {mark} ({values})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--eight-bit-baselines", nargs="*", default=list(EIGHT_BIT_BASELINES),
                        choices=list(EIGHT_BIT_BASELINES), help="baselines scored on 8-bit test images (none: skip)")
    parser.add_argument("--cpu-seconds", type=float, default=30.0, help="training budget per model, in CPU seconds")
    parser.add_argument("--epochs", type=float, default=None, help="train every model this many epochs instead")
    parser.add_argument("--eval-k", type=int, default=50, help="importance samples of the NLL estimate")
    parser.add_argument("--test-items", type=int, default=200, help="binarised test images scored per dataset")
    parser.add_argument("--seed", type=int, default=0)
    # One thread: CPU time is then all useful work (idle OpenMP threads spin and bill CPU time on a busy machine).
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    args = parser.parse_args()

    console = Console() if sys.stdout.isatty() else Console(width=150)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "benchmark": "vae_likelihood", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": {key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()},
        "budget": budget_text(args), "machine": machine_info(torch.get_num_threads()), "loadavg_before": os.getloadavg(),
        "datasets": {},
    }
    for name in args.datasets:
        try:
            results["datasets"][name] = benchmark_dataset(name, args, console)
        except GenlabError as error:  # e.g. Fashion-MNIST not installed and downloads forbidden
            results["datasets"][name] = {"skipped": str(error)}
            console.print(f"{name}: skipped ({error})")
    results["loadavg_after"] = os.getloadavg()
    results["wall_seconds"] = time.perf_counter() - started
    print_report(results, console)
    write_results(results, args.out, console)


if __name__ == "__main__":
    main()
