"""Mode coverage of the GAN family on toy2d: modes covered and % high-quality samples, mean +- std over seeds.

Every GAN that takes points (gan with its non-saturating and its minimax generator loss, wgan, wgan-gp,
sngan) is trained by `genlab.train` on toy2d `ring-8` and `grid-25` with the same budget of trainer
steps (= critic updates = batches; the WGANs update the generator on one step in 5 by design, the others
on every step), the same MLP networks and batch size (and with `--lr` / `--ema-decay` the same learning
rate and moving average of G), and otherwise each model's own paper defaults.
Then 2,000 samples are scored with `genlab.train.diagnostics.mode_statistics`: a sample is high quality
within 3 std of its nearest mode; a mode is covered when at least 16 of the 2,000 samples (PacGAN's
20 of 2,500) are high-quality samples of it. `--variants "cgan (told the mode)"` adds a conditional reference that is told the mode.

    python benchmarks/gan_modes.py --jobs 2               # the default budget, 3 seeds: 6-10 minutes on 2 cores
    python benchmarks/gan_modes.py --quick                # smoke run
    python benchmarks/gan_modes.py --layouts grid-25 --width 512 --depth 3 --batch-size 256 --minutes 10 \
        --eval-every 500 --seeds 0 --variants wgan-gp "gan (non-saturating)" "gan (minimax)" sngan --jobs 2
                                                          # the WGAN-GP authors' toy settings for 10 CPU-minutes each
    python benchmarks/gan_modes.py --steps 30000 --width 256 --jobs 2 --out /tmp/modes.json
    python benchmarks/gan_modes.py --layouts grid-25 --lr 1e-3 --ema-decay 0.99 --out benchmarks/results/gan_modes_lr1e-3.json
                                                          # one shared learning rate and G average (the test's settings)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

import genlab
from genlab.train.diagnostics import mode_statistics

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "gan_modes.json"
LAYOUTS = ("ring-8", "grid-25")
# label -> (registered model, config overrides beyond the shared networks)
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "gan (non-saturating)": ("gan", {}),
    "gan (minimax)": ("gan", {"generator_loss": "minimax"}),
    "wgan": ("wgan", {}),
    "wgan-gp": ("wgan-gp", {}),
    "sngan": ("sngan", {}),
}
# A reference that is told the mode to draw (its coverage is then the conditioning's, not the GAN's).
REFERENCES: dict[str, tuple[str, dict[str, Any]]] = {"cgan (told the mode)": ("cgan", {})}
SAMPLES = 2000


def train_and_score(label: str, layout: str, seed: int, steps: int, networks: dict[str, Any], threads: int,
                    minutes: float | None = None, eval_every: int | None = None) -> dict[str, Any]:
    """One run: train (for `steps`, or for `minutes` when given), then score 2,000 samples; also the coverage
    logged during training, with its step and training time."""
    torch.set_num_threads(threads)
    name, overrides = {**VARIANTS, **REFERENCES}[label]
    config = {**networks, **overrides}
    data = {"name": "toy2d", "seed": seed, "options": {"layout": layout}}
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        budget = {"steps": 10**9, "minutes": minutes} if minutes else {"steps": steps}
        run = genlab.train(name, data, out=Path(folder) / "run", config=config, seed=seed, progress=False,
                           sample_every=0, checkpoint_every=0, log_every=eval_every or max(1, steps // 20),
                           eval_every=eval_every or max(1, steps // 4), **budget)
        steps = run.step
        seconds = time.perf_counter() - started
        dataset = genlab.load_dataset("toy2d", seed=seed, layout=layout)
        labels = torch.arange(SAMPLES) % dataset.num_classes if run.model.conditional else None
        points = run.model.sample(SAMPLES, labels=labels, generator=torch.Generator().manual_seed(10_000 + seed))
        final = mode_statistics(points, dataset.info["modes"], dataset.info["std"])
        trajectory = [{"step": row["step"], "seconds": row.get("time"), "modes_covered": row["modes_covered"],
                       "high_quality_fraction": row["high_quality_fraction"]}
                      for row in run.metrics() if "modes_covered" in row]
    return {"variant": label, "model": name, "config": config, "layout": layout, "seed": seed, "steps": steps,
            "generator_updates": -(-steps // run.model.config.critic_steps), "train_seconds": seconds,
            "modes_total": int(dataset.info["modes"].shape[0]), **final, "trajectory": trajectory}


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per variant and layout: mean and std over seeds of the modes covered and the high-quality %."""
    summary: dict[str, dict[str, Any]] = {}
    for run in runs:
        entry = summary.setdefault(run["variant"], {}).setdefault(run["layout"], {"modes": [], "quality": [], "seconds": []})
        entry["modes"].append(run["modes_covered"])
        entry["quality"].append(100 * run["high_quality_fraction"])
        entry["seconds"].append(run["train_seconds"])
        entry["modes_total"] = run["modes_total"]
        entry["generator_updates"] = run["generator_updates"]
    for layouts in summary.values():
        for entry in layouts.values():
            entry["modes_mean"], entry["modes_std"] = mean_std(entry["modes"])
            entry["quality_mean"], entry["quality_std"] = mean_std(entry["quality"])
            entry["seconds_mean"] = statistics.fmean(entry["seconds"])
    return summary


def print_table(summary: dict[str, dict[str, Any]], settings: dict[str, Any], console: Console) -> None:
    table = Table(title=f"toy2d mode coverage after {settings['steps']} trainer steps, mean ± std over seeds "
                        f"{settings['seeds']}; {SAMPLES} samples; MLP {settings['networks']}")
    table.add_column("model")
    for layout in settings["layouts"]:
        table.add_column(f"{layout}\nmodes covered", justify="right")
        table.add_column(f"{layout}\n% high quality", justify="right")
    table.add_column("G updates", justify="right")
    table.add_column("s / run", justify="right")
    for variant, layouts in summary.items():
        cells = []
        for layout in settings["layouts"]:
            entry = layouts.get(layout)
            if entry is None:
                cells += ["-", "-"]
                continue
            cells += [f"{entry['modes_mean']:.1f} ± {entry['modes_std']:.1f} / {entry['modes_total']}",
                      f"{entry['quality_mean']:.1f} ± {entry['quality_std']:.1f}"]
        first = next(iter(layouts.values()))
        seconds = statistics.fmean(entry["seconds_mean"] for entry in layouts.values())
        table.add_row(variant, *cells, str(first["generator_updates"]), f"{seconds:.0f}")
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=None, help="trainer steps per run (default 3000; 200 with --quick)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--layouts", nargs="+", default=list(LAYOUTS), choices=LAYOUTS)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=[*VARIANTS, *REFERENCES],
                        metavar="VARIANT", help=f"default: the unconditional ones; also: {', '.join(REFERENCES)}")
    parser.add_argument("--width", type=int, default=64, help="units per hidden layer of G and D")
    parser.add_argument("--depth", type=int, default=3, help="hidden layers of G and D")
    parser.add_argument("--latent-dim", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=None, help="one learning rate for every model (default: each its own)")
    parser.add_argument("--ema-decay", type=float, default=0.0, help="moving average of G for sampling (default off)")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel processes (one torch thread each)")
    parser.add_argument("--minutes", type=float, default=None, help="train each run for this long instead of --steps "
                        "(the trajectory then shows modes covered over training time)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per run (default: 1 with --jobs > 1, else the cores)")
    parser.add_argument("--eval-every", type=int, default=None, help="trainer steps between mode counts during training")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 200 steps, seed 0 only")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    args = parser.parse_args()
    steps = args.steps or (200 if args.quick else 3000)
    seeds = [0] if args.quick else args.seeds
    networks = {"latent_dim": args.latent_dim, "generator_hidden": [args.width] * args.depth,
                "discriminator_hidden": [args.width] * args.depth, "batch_size": args.batch_size,
                **({"lr": args.lr} if args.lr is not None else {}),
                **({"ema_decay": args.ema_decay} if args.ema_decay else {})}
    settings = {"steps": steps, "minutes": args.minutes, "seeds": seeds, "layouts": args.layouts, "variants": args.variants,
                "networks": networks, "samples": SAMPLES, "jobs": args.jobs}
    console = Console() if sys.stdout.isatty() else Console(width=150)
    started = time.perf_counter()
    loadavg_before = os.getloadavg()
    tasks = [(label, layout, seed) for layout in args.layouts for label in args.variants for seed in seeds]
    threads = args.threads or (1 if args.jobs > 1 else max(1, len(os.sched_getaffinity(0))))
    runs: list[dict[str, Any]] = []
    pool = ProcessPoolExecutor(max_workers=args.jobs)
    try:
        futures = [pool.submit(train_and_score, label, layout, seed, steps, networks, threads, args.minutes, args.eval_every)
                   for label, layout, seed in tasks]
        for future in futures:
            run = future.result()
            runs.append(run)
            console.print(f"{run['layout']:>8} {run['variant']:<22} seed {run['seed']}: {run['modes_covered']:.0f}/"
                          f"{run['modes_total']} modes, {100 * run['high_quality_fraction']:.1f} % high quality "
                          f"({run['train_seconds']:.0f} s)")
    finally:
        pool.shutdown(cancel_futures=True)  # a failed run stops the benchmark instead of waiting for the queue
    summary = summarise(runs)
    print_table(summary, settings, console)
    results = {
        "benchmark": "gan_modes",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": settings,
        "machine": {"cpu_count": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)),
                    "torch_version": torch.__version__, "genlab_version": genlab.__version__,
                    "python_version": platform.python_version(), "platform": platform.platform(),
                    "loadavg_before": [round(v, 2) for v in loadavg_before],
                    "loadavg_after": [round(v, 2) for v in os.getloadavg()]},
        "summary": {variant: {layout: {k: v for k, v in entry.items()} for layout, entry in layouts.items()}
                    for variant, layouts in summary.items()},
        "runs": runs,
        "wall_seconds": time.perf_counter() - started,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"wrote {args.out} ({results['wall_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
