"""Sampling and evaluation speed: FID, KID and PRDC of 10,000 generated images on this CPU.

For each dataset and each fast-sampling model, the script trains a short run into a temporary folder
(`vae`: 300 steps, `dcgan`: 20 steps; quality does not matter here, only the evaluation path) and then
times, in every repeat, each stage of `genlab.evaluate` on its own:

- sampling `--n` images (`draw_samples`, batches of 500, one seeded generator);
- the evaluator's features and class probabilities of those samples;
- the reference features of the real test split: cold (the reference cache emptied first) and cached
  (read back from `<cache>/evaluators/reference/`);
- FID, KID (100 subsets of 1,000) and PRDC (precision/recall k=3, density/coverage k=5) from the features
  (PRDC here computes the real set's k-NN radii too; `evaluate` keeps them with the cached reference);

and the whole `genlab.evaluate(run, metrics=["fid", "kid", "prdc"], n=...)` wall time, twice: with the
reference features cold and with them cached. The evaluator network itself is always cached: it is
trained once per dataset into the user's cache (`genlab evaluator NAME`) and copied into a private cache
folder, so emptying that folder's reference features never touches the user's. End to end, FID also
computes its floor (the train split against the test split), so cold means two real splits to featurise.

Every stage records the other processes' CPU use while it ran (/proc/stat minus this process), and the
report gives medians (min-max) over the repeats, because this machine is shared and noisy. The issue's
target: the end-to-end evaluation of 10,000 samples in under 60 s, reference features cold.

    python benchmarks/eval_speed.py                        # both datasets, vae and dcgan, 3 repeats: ~3 minutes idle, ~30 busy
    python benchmarks/eval_speed.py --quick                # fashion-mnist, vae, 1 repeat: under a minute
    python benchmarks/eval_speed.py --threads 1 --repeats 5 --out /tmp/eval_speed.json
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch
from rich.console import Console
from rich.table import Table

import genlab
from genlab.metrics import fid, prdc
from genlab.metrics.evaluate import choose_items, draw_samples
from genlab.metrics.evaluator import Evaluator, evaluators_dir, get_evaluator
from genlab.metrics.reference import real_features
from machine import CpuSnapshot, load_summary, machine_info, write_results  # benchmarks/machine.py, beside this script

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "eval_speed.json"
DATASETS = ("fashion-mnist", "mnist-5k")
TRAIN_STEPS = {"vae": 300, "dcgan": 20}  # enough for a real run; quality is not what is measured
METRICS = ["fid", "kid", "prdc"]
TARGET_SECONDS = 60.0
CONSISTENCY_TOLERANCE = 1e-6  # threaded float reductions may differ in the last bits from run to run
SEED = 0
# The stages in report order: JSON key -> table label.
STAGES = {
    "sample": "sample n images",
    "fake_features": "features of the samples",
    "reference_cold": "reference features, cold",
    "reference_cached": "reference features, cached",
    "fid": "FID",
    "kid": "KID (100 x 1,000)",
    "prdc": "PRDC (k=3, k=5)",
    "evaluate_cold": "genlab.evaluate, reference cold",
    "evaluate_cached": "genlab.evaluate, reference cached",
}


def timed(stage: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    """Run `stage`; its value, and its wall seconds with the other processes' CPU use meanwhile."""
    before = CpuSnapshot.take()
    started = time.perf_counter()
    value = stage()
    seconds = time.perf_counter() - started
    return value, {"seconds": seconds, **CpuSnapshot.take().other_load_since(before, seconds)}


def private_cache(datasets: list[str], scratch: Path, console: Console) -> Path:
    """A cache folder holding copies of the datasets' evaluators (trained into the user's cache if missing)
    and no reference features, so the cold timings can empty it freely."""
    cache = scratch / "cache"
    (cache / "evaluators").mkdir(parents=True)
    for name in datasets:
        evaluator = get_evaluator(name, progress=lambda message, name=name: console.print(f"  evaluator {name}: {message}"))
        for suffix in (".json", ".safetensors"):
            shutil.copy2(evaluator.path.with_suffix(suffix), cache / "evaluators" / evaluator.path.with_suffix(suffix).name)
    return cache


def empty_reference_cache() -> None:
    """Forget every cached reference feature file (the private cache's only)."""
    shutil.rmtree(evaluators_dir() / "reference", ignore_errors=True)


def train_run(model: str, data: str, scratch: Path, threads: int) -> Any:
    """A short training run of `model` on `data` (logging, evaluation, sampling, checkpoints off)."""
    return genlab.train(model, data, out=scratch / f"{model}-{data}", steps=TRAIN_STEPS[model], seed=SEED,
                        threads=threads, log_every=0, eval_every=0, sample_every=0, checkpoint_every=0, progress=False)


def one_repeat(run: Any, evaluator: Evaluator, real_x: torch.Tensor, n: int) -> dict[str, Any]:
    """Every stage once, in the order `evaluate` runs them; timings and the metric values."""
    model = run.model
    model.eval()
    timings: dict[str, dict[str, float]] = {}
    (samples, _), timings["sample"] = timed(lambda: draw_samples(model, n, None, SEED))
    samples = samples.clamp(0, 1)
    (fake, _), timings["fake_features"] = timed(lambda: evaluator.features_and_probabilities(samples))
    empty_reference_cache()
    (real, _, cached), timings["reference_cold"] = timed(lambda: real_features(evaluator, real_x))
    if cached:
        raise RuntimeError("the reference cache was emptied, yet the features came from it")
    (real_again, _, cached), timings["reference_cached"] = timed(lambda: real_features(evaluator, real_x))
    if not cached or not torch.equal(real, real_again):
        raise RuntimeError("the second reference read must come from the cache, unchanged")
    values: dict[str, Any] = {}
    values["fid"], timings["fid"] = timed(lambda: fid.fid_from_features(real, fake))
    kid, timings["kid"] = timed(lambda: fid.kernel_inception_distance(real, fake, generator=torch.Generator().manual_seed(SEED)))
    values.update(kid_mean=kid["kid_mean"], kid_std=kid["kid_std"])
    scores, timings["prdc"] = timed(lambda: prdc.prdc(real, fake))
    values.update(scores)

    def evaluate() -> dict[str, Any]:
        return genlab.evaluate(run, metrics=METRICS, n=n, seed=SEED, write=False)

    empty_reference_cache()
    cold, timings["evaluate_cold"] = timed(evaluate)
    warm, timings["evaluate_cached"] = timed(evaluate)
    if cold["details"]["real_features_cached"] or not warm["details"]["real_features_cached"]:
        raise RuntimeError("the reference cache did not behave: cold run found features, or warm run did not")
    # The stages above are evaluate's own steps on the same samples: its numbers must be theirs.
    differences = {key: abs(cold["metrics"][key] - value) / max(1.0, abs(value)) for key, value in values.items()}
    return {"timings": timings, "values": values, "evaluate_metrics": cold["metrics"],
            "max_relative_difference_to_evaluate": max(differences.values()),
            "evaluate_seconds_cold": cold["seconds"], "evaluate_seconds_cached": warm["seconds"],
            "n_real": cold["n_real"]}


def summarise(values: list[float]) -> dict[str, float]:
    """Median, min and max."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def benchmark(data: str, models: list[str], repeats: int, n: int, threads: int, scratch: Path,
              console: Console) -> dict[str, Any]:
    """Train the runs for one dataset, then time every stage `repeats` times for each model, in turn."""
    evaluator = get_evaluator(data, build=False)
    dataset = genlab.load_dataset(data)
    real_x = dataset.test_x[choose_items(dataset.test_x.shape[0], n, SEED)]  # the real images evaluate compares with
    runs = {}
    for model in models:
        started = time.perf_counter()
        runs[model] = train_run(model, data, scratch, threads)
        console.print(f"{data}: trained {model} for {TRAIN_STEPS[model]} steps in {time.perf_counter() - started:.1f} s")
    torch.set_num_threads(threads)  # the trainer sets its own; evaluation runs at the benchmark's
    repeats_by_model: dict[str, list[dict[str, Any]]] = {model: [] for model in models}
    for index in range(repeats):
        for model in models:  # interleaved, so a burst of load hits every model alike
            before = CpuSnapshot.take()
            started = time.perf_counter()
            record = one_repeat(runs[model], evaluator, real_x, n)
            wall = time.perf_counter() - started
            record["load"] = {"seconds": wall, **CpuSnapshot.take().other_load_since(before, wall),
                              "loadavg": [round(value, 2) for value in os.getloadavg()]}
            repeats_by_model[model].append(record)
            timings = record["timings"]
            if record["max_relative_difference_to_evaluate"] > CONSISTENCY_TOLERANCE:
                console.print(f"[red]{data} {model}: the stages' metrics differ from evaluate's by "
                              f"{record['max_relative_difference_to_evaluate']:.1e} (relative)[/red]")
            console.print(f"  {data} {model} repeat {index + 1}/{repeats}: evaluate {timings['evaluate_cold']['seconds']:.1f} s "
                          f"cold, {timings['evaluate_cached']['seconds']:.1f} s cached; other processes "
                          f"{record['load']['other_cpu_fraction']:.0%} of the CPU")
    results = {}
    for model, records in repeats_by_model.items():
        stages = {stage: summarise([record["timings"][stage]["seconds"] for record in records]) for stage in STAGES}
        load = [record["load"]["other_cpu_fraction"] for record in records]
        results[model] = {
            "train_steps": TRAIN_STEPS[model],
            "n_samples": n,
            "n_real": records[0]["n_real"],
            "stages": stages,
            "other_cpu_fraction": summarise(load),
            "target_seconds": TARGET_SECONDS,
            "target_met": stages["evaluate_cold"]["median"] < TARGET_SECONDS,
            "repeats": records,
        }
    return results


def cell(summary: dict[str, float]) -> str:
    return f"{summary['median']:.2f}\n({summary['min']:.2f}-{summary['max']:.2f})"


def print_report(results: dict[str, Any], console: Console) -> None:
    """One column per dataset and model, one row per stage; then the target verdicts and the load."""
    settings = results["settings"]
    table = Table(title=f"Evaluation of {settings['n']:,} samples, seconds: median (min-max) over {settings['repeats']} "
                        f"repeats, {results['machine']['torch_threads']} torch threads")
    table.add_column("stage")
    columns = [(data, model) for data, by_model in results["datasets"].items() for model in by_model]
    for data, model in columns:
        n_real = results["datasets"][data][model]["n_real"]
        table.add_column(f"{data}\n{model}\n({n_real:,} real)", justify="right")
    for stage, label in STAGES.items():
        table.add_row(label, *(cell(results["datasets"][data][model]["stages"][stage]) for data, model in columns))
    shares = [results["datasets"][data][model]["other_cpu_fraction"] for data, model in columns]
    table.add_row("other processes' CPU share",
                  *(f"{share['median']:.0%}\n({share['min']:.0%}-{share['max']:.0%})" for share in shares))
    console.print(table)
    for data, model in columns:
        result = results["datasets"][data][model]
        verdict = "[green]MET[/green]" if result["target_met"] else "[red]NOT MET[/red]"
        values = result["repeats"][0]["values"]
        console.print(f"{data} {model}: evaluate with cold reference {result['stages']['evaluate_cold']['median']:.1f} s "
                      f"(target < {TARGET_SECONDS:.0f} s) {verdict}; FID {values['fid']:.3f}, KID {values['kid_mean']:.4f}, "
                      f"precision {values['precision']:.3f}, recall {values['recall']:.3f}, density {values['density']:.3f}, "
                      f"coverage {values['coverage']:.3f}")
    load = results["load"]
    console.print(f"load average before {load['loadavg_before']} after {load['loadavg_after']}; other processes used "
                  f"{load['other_cpu_fraction_median']:.0%} of the machine's CPU in the median repeat (max "
                  f"{load['other_cpu_fraction_max']:.0%}) on {results['machine']['usable_cpus']} usable cores")


def main() -> None:
    """Parse the options, train the runs, time the stages, print the report and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=None, choices=DATASETS, help="default: both (fashion-mnist with --quick)")
    parser.add_argument("--models", nargs="+", default=None, choices=tuple(TRAIN_STEPS), help="default: vae and dcgan (vae with --quick)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per model (default 3; 1 with --quick)")
    parser.add_argument("--n", type=int, default=10000, help="samples to evaluate (default 10,000)")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="torch threads (default: the usable cores)")
    parser.add_argument("--quick", action="store_true", help="fashion-mnist, vae, one repeat")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    args = parser.parse_args()
    datasets = args.datasets or (["fashion-mnist"] if args.quick else list(DATASETS))
    models = args.models or (["vae"] if args.quick else list(TRAIN_STEPS))
    repeats = args.repeats or (1 if args.quick else 3)
    if repeats < 1 or args.n < 10:
        parser.error("--repeats must be at least 1 and --n at least 10")

    # A pipe or a log file gets a wide table instead of rich's 80-column default.
    console = Console() if sys.stdout.isatty() else Console(width=160)
    torch.set_num_threads(args.threads)
    loadavg_before = os.getloadavg()
    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="genlab-eval-speed-"))
    previous_cache = os.environ.get("GENLAB_CACHE")
    try:
        os.environ["GENLAB_CACHE"] = str(private_cache(datasets, scratch, console))
        results: dict[str, Any] = {
            "benchmark": "eval_speed",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "settings": {"datasets": datasets, "models": models, "repeats": repeats, "n": args.n, "metrics": METRICS,
                         "train_steps": {model: TRAIN_STEPS[model] for model in models}, "target_seconds": TARGET_SECONDS,
                         "kid": {"subsets": fid.KID_SUBSETS, "subset_size": fid.KID_SUBSET_SIZE},
                         "prdc": {"precision_recall_k": prdc.PRECISION_RECALL_K, "density_coverage_k": prdc.DENSITY_COVERAGE_K}},
            "machine": machine_info(args.threads),
            "datasets": {data: benchmark(data, models, repeats, args.n, args.threads, scratch, console) for data in datasets},
        }
    finally:
        if previous_cache is None:
            os.environ.pop("GENLAB_CACHE", None)
        else:
            os.environ["GENLAB_CACHE"] = previous_cache
        shutil.rmtree(scratch, ignore_errors=True)
    measured = [result for by_model in results["datasets"].values() for result in by_model.values()]
    results["load"] = load_summary(
        loadavg_before, [result["other_cpu_fraction"]["median"] for result in measured],
        "other = machine busy CPU time (/proc/stat) minus this process and its children, per stage and per repeat",
        maxima=[result["other_cpu_fraction"]["max"] for result in measured])
    results["wall_seconds"] = time.perf_counter() - started
    print_report(results, console)
    write_results(results, args.out, console)


if __name__ == "__main__":
    main()
