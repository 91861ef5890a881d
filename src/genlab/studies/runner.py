"""Run a study: every run trained (or resumed, or skipped when finished), evaluated, then reported.

Runs go to local worker processes (bounded by the cores, each with its torch thread count set) or
to Ray tasks. A run that fails is recorded as failed with its error and never stops the others.
Each run leaves `result.json` in its folder, which is what makes a re-invocation skip it.
"""

from __future__ import annotations

import json
import math
import os
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Literal

import genlab
from genlab.errors import GenlabError
from genlab.io import atomic_write_json
from genlab.runfolder import RunFolder
from genlab.studies.fallback import resolve_datasets
from genlab.studies.spec import RunSpec, StudySpec, budget_name, choose_budget, expand_runs, load_spec
from genlab.train.budget import UNBOUNDED_STEPS
from genlab.train.checkpoint import list_checkpoints, load_checkpoint
from genlab.train.diagnostics import gradient_norm_summary
from genlab.train.run import load_run


def flatten(values: Any, prefix: str = "") -> dict[str, float | str]:
    """Nested dicts of metrics to flat `a.b` keys, keeping numbers and short strings."""
    flat: dict[str, float | str] = {}
    if isinstance(values, dict):
        for key, value in values.items():
            flat.update(flatten(value, f"{prefix}{key}."))
    elif isinstance(values, bool):
        flat[prefix[:-1]] = float(values)
    elif isinstance(values, (int, float)):
        flat[prefix[:-1]] = float(values)
    elif isinstance(values, str) and len(values) < 80:
        flat[prefix[:-1]] = values
    return flat


def task_for(run: RunSpec, threads: int) -> dict[str, Any]:
    """A plain, picklable description of one run for a worker process or a Ray task."""
    return {
        "key": run.key,
        "study": run.study,
        "model": run.model.name,
        "model_key": run.model.key,
        "model_config": run.model.config,
        "dataset": run.dataset.key,
        "data": run.dataset.data_config(),
        "seed": run.seed,
        "budget": asdict(run.budget),
        "run_dir": str(run.run_dir),
        "metrics": run.metrics,
        "eval_samples": run.eval_samples,
        "evaluate_options": run.evaluate_options,
        "checkpoint_metrics": run.checkpoint_metrics,
        "threads": threads,
    }


def _checkpoint_plan(budget: dict[str, Any]) -> dict[str, Any]:
    """Trainer options that leave `budget['checkpoints']` checkpoints along training."""
    count = max(1, int(budget.get("checkpoints") or 1))
    options: dict[str, Any] = {"keep_checkpoints": 0, "checkpoint_every": 0, "sample_every": 0}
    if budget.get("steps"):
        every = max(1, math.ceil(budget["steps"] / count))
        options.update(checkpoint_every=every, sample_every=every)
        # At least ~4 loss rows per checkpoint interval, so each checkpoint has its mean logged losses.
        options["log_every"] = max(1, min(50, every // 4))
    if budget.get("minutes"):
        options["checkpoint_minutes"] = budget["minutes"] / count
    return options


def evaluate_run(target: Any, metrics: list[str] | None, samples: int, write: bool = True,
                 options: dict[str, Any] | None = None) -> dict[str, float | str]:
    """The flat metrics of `genlab.evaluate` on a run folder or a Run (eval.json written when `write`)."""
    return flatten(full_evaluation(target, metrics, samples, write, options).get("metrics", {}))


def full_evaluation(target: Any, metrics: list[str] | None, samples: int, write: bool = True,
                    options: dict[str, Any] | None = None) -> dict[str, Any]:
    """`genlab.evaluate` on a run folder or a Run (eval.json written when `write`), with the study's options."""
    return genlab.evaluate(target, metrics=metrics or None, n=samples, write=write, **(options or {}))


# Logged values that are not losses: bookkeeping and the trainer's sample monitor (train/diagnostics.py).
LOG_NOT_LOSSES = ("step", "epoch", "time", "images_per_second", "modes_covered", "high_quality_fraction")


def logged_rows(run_dir: Path) -> list[dict[str, Any]]:
    """The rows the trainer logged to the run's metrics.jsonl ([] when it logged none)."""
    folder = RunFolder(run_dir)
    return folder.read_metrics() if folder.metrics.is_file() else []


def logged_loss_means(run_dir: Path, steps: list[int]) -> list[dict[str, float]]:
    """`loss_means` of the run folder's logged rows."""
    return loss_means(logged_rows(run_dir), steps)


def loss_means(rows: list[dict[str, Any]], steps: list[int]) -> list[dict[str, float]]:
    """Per checkpoint step, {"loss.<name>": mean} of each value the trainer logged since the previous
    checkpoint: the losses (GANs: loss_d, loss_g, d_real, d_fake...; VAEs: loss, reconstruction, kl, elbo),
    not bookkeeping, sample monitors ("sample_...") nor grouped diagnostics ("grad_norm/...", "val/...")."""
    means, previous = [], -math.inf
    for step in steps:
        logged: dict[str, list[float]] = {}
        for row in rows:
            if not previous < row.get("step", -1) <= step:
                continue
            for key, value in row.items():
                if key not in LOG_NOT_LOSSES and not key.startswith("sample_") and "/" not in key \
                        and isinstance(value, (int, float)) \
                        and not isinstance(value, bool) and math.isfinite(value):
                    logged.setdefault(key, []).append(float(value))
        means.append({f"loss.{key}": sum(values) / len(values) for key, values in logged.items()})
        previous = step
    return means


def prepare_evaluators(runs: list[RunSpec], say: Callable[[str], None]) -> None:
    """Build each dataset's evaluator once in the driver, so parallel runs never train it twice."""
    from genlab.metrics.evaluator import get_evaluator

    seen = set()
    for run in runs:
        clean = {k: v for k, v in run.dataset.data_config().items() if k != "corruption"}
        key = repr(sorted(clean.items()))
        if key in seen:
            continue
        seen.add(key)
        try:
            get_evaluator(clean, progress=say)
        except GenlabError as error:  # the runs on this dataset will fail and say why
            say(f"no evaluator for {run.dataset.key}: {error}")


def run_settings(task: dict[str, Any]) -> dict[str, Any]:
    """What decides a run's outcome: a finished run is reused only while these are unchanged."""
    return {"model": task["model"], "model_config": task["model_config"], "data": task["data"],
            "budget": task["budget"], "metrics": task["metrics"], "eval_samples": task["eval_samples"],
            "checkpoint_metrics": task["checkpoint_metrics"]} | (
                {"evaluate_options": task["evaluate_options"]} if task.get("evaluate_options") else {})


def settings_changed(previous: dict[str, Any], task: dict[str, Any]) -> bool:
    """True when a finished run was made with other settings than the task's (runs from before settings
    were recorded count as unchanged)."""
    recorded = previous.get("settings")
    return recorded is not None and json.loads(json.dumps(recorded)) != json.loads(json.dumps(run_settings(task)))


def set_aside(run_dir: Path) -> Path:
    """Rename a run folder to `<name>.old-<n>` (the first free n), so a rerun starts empty and loses nothing."""
    index = 1
    while (aside := run_dir.with_name(f"{run_dir.name}.old-{index}")).exists():
        index += 1
    run_dir.rename(aside)
    return aside


def execute_run(task: dict[str, Any]) -> dict[str, Any]:
    """Train (resuming where a previous attempt stopped), evaluate, and write result.json. Never raises."""
    import torch

    torch.set_num_threads(max(1, int(task.get("threads") or 1)))
    run_dir = Path(task["run_dir"])
    result_path = RunFolder(run_dir).result
    if result_path.is_file():
        previous = json.loads(result_path.read_text())
        if previous.get("status") == "done" and not settings_changed(previous, task):
            previous["skipped"] = True
            return previous
        if previous.get("status") == "done":
            # The spec changed since this run finished (a new budget, config or data): keep the old run
            # beside it, never overwrite it, and train this one afresh.
            set_aside(run_dir)
    started = time.perf_counter()
    result: dict[str, Any] = {key: task[key] for key in ("key", "model", "model_key", "dataset", "seed")}
    result["run_dir"] = str(run_dir)
    result["data"] = task["data"]  # the data it used (a dataset's fallback, where one was taken)
    result["settings"] = run_settings(task)
    try:
        budget = task["budget"]
        options = {"steps": budget.get("steps") or UNBOUNDED_STEPS, "minutes": budget.get("minutes"), "seed": task["seed"],
                   "progress": False, **_checkpoint_plan(budget)}
        if budget.get("steps") is None and budget.get("minutes") is None:
            raise GenlabError("a study budget needs steps or minutes")
        run = genlab.train(task["model"], data=task["data"], out=run_dir, config=task["model_config"],
                           resume=bool(list_checkpoints(run_dir)), **options)
        result["steps"] = run.step
        result["training_seconds"] = float(run.config.get("training_seconds", 0.0))
        eval_options = task.get("evaluate_options") or {}
        evaluation = full_evaluation(run.path, task["metrics"], task["eval_samples"], options=eval_options)
        result["metrics"] = flatten(evaluation.get("metrics", {}))
        # Run-level gradient sizes (generator_grad_norm_median ...) from the norms the trainer logged (C36).
        rows = logged_rows(run_dir)
        result["metrics"].update(gradient_norm_summary(rows))
        result["quality_gate"] = evaluation.get("quality_gate")
        result["calibration"] = (evaluation.get("calibration") or {}).get("references")
        # Quality along training, from the checkpoints (each knows its own training time).
        over_training = []
        for step in list_checkpoints(run_dir):
            _, state = load_checkpoint(run_dir, step)
            checkpoint_run = load_run(run_dir, step=step)
            values = evaluate_run(checkpoint_run, task["checkpoint_metrics"], max(500, task["eval_samples"] // 2), write=False,
                                  options=eval_options)
            over_training.append({"step": step, "training_seconds": state.get("elapsed_seconds", 0.0), **values})
        for point, losses in zip(over_training, loss_means(rows, [point["step"] for point in over_training])):
            point.update(losses)
        result["over_training"] = over_training
        result["status"] = "done"
    except Exception as error:  # a failed run is reported, never allowed to stop the study
        result["status"] = "failed"
        result["error"] = f"{type(error).__name__}: {error}".splitlines()[0]
        result["traceback"] = traceback.format_exc()
    result["wall_seconds"] = time.perf_counter() - started
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(result_path, result)
    return result


# --- executors ----------------------------------------------------------------------------------
def run_local(tasks: list[dict[str, Any]], workers: int, on_result: Callable[[dict[str, Any], int], None]) -> list[dict[str, Any]]:
    """A pool of `workers` spawned processes; `on_result(result, running)` after each finished run."""
    results = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        pending = {pool.submit(execute_run, task): task for task in tasks}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                task = pending.pop(future)
                try:
                    result = future.result()
                except Exception as error:  # the worker process itself died (killed, out of memory)
                    result = {"key": task["key"], "model": task["model"], "model_key": task["model_key"],
                              "dataset": task["dataset"], "seed": task["seed"], "run_dir": task["run_dir"],
                              "status": "failed", "error": f"worker died: {type(error).__name__}: {error}"}
                results.append(result)
                on_result(result, min(len(pending), workers))
    return results


def run_ray(tasks: list[dict[str, Any]], workers: int, address: str | None,
            on_result: Callable[[dict[str, Any], int], None]) -> list[dict[str, Any]]:
    """Each run a Ray task, on the cluster at `address` or on a local Ray instance."""
    try:
        import ray
    except ImportError:
        raise GenlabError("the ray executor needs Ray: pip install 'ray>=2.9' (or use --executor local)") from None
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
    try:
        threads = max(1, int(tasks[0]["threads"])) if tasks else 1
        remote = ray.remote(num_cpus=threads)(execute_run)
        pending = {remote.remote(task): task for task in tasks}
        results = []
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for reference in done:
                task = pending.pop(reference)
                try:
                    result = ray.get(reference)
                except Exception as error:  # the task's worker died
                    result = {"key": task["key"], "model": task["model"], "model_key": task["model_key"],
                              "dataset": task["dataset"], "seed": task["seed"], "run_dir": task["run_dir"],
                              "status": "failed", "error": f"ray task failed: {type(error).__name__}: {error}".splitlines()[0]}
                results.append(result)
                on_result(result, min(len(pending), workers))
        return results
    finally:
        if started_here:
            ray.shutdown()


def run_study(
    spec: str | Path | StudySpec,
    budget: str | None = None,
    out: str | Path | None = None,
    executor: Literal["local", "ray"] = "local",
    workers: int | None = None,
    address: str | None = None,
    steps: int | None = None,
    minutes: float | None = None,
    progress: bool = True,
) -> Path:
    """Run (or continue) a study and write its report; returns the path of report.html."""
    from genlab.studies.report import write_report

    spec = spec if isinstance(spec, StudySpec) else load_spec(spec)
    chosen = choose_budget(spec, budget, steps, minutes)
    out = Path(out) if out is not None else Path("studies") / spec.name
    runs = expand_runs(spec, chosen, out, budget_name(spec, budget, steps, minutes))
    spec, runs, data_notes = resolve_datasets(spec, runs)  # fallbacks for data not on disk
    cores = os.cpu_count() or 1
    workers = max(1, min(workers or cores, cores, len(runs)))
    threads = max(1, cores // workers)
    tasks = [task_for(run, threads) for run in runs]
    started = time.perf_counter()

    from rich.console import Console

    console = Console(stderr=True, quiet=not progress)
    counts = {"done": 0, "failed": 0, "skipped": 0}

    def on_result(result: dict[str, Any], running: int) -> None:
        state = "skipped" if result.get("skipped") else result["status"]
        counts[state] = counts.get(state, 0) + 1
        finished = counts["done"] + counts["failed"] + counts["skipped"]
        note = f" ({result.get('error')})" if result["status"] == "failed" else ""
        console.print(f"[{finished}/{len(tasks)}] {state:<7} {result['key']}{note}  "
                      f"| done {counts['done']} skipped {counts['skipped']} failed {counts['failed']} running {running}")

    console.print(f"study {spec.name}: {len(tasks)} runs, {workers} {executor} workers x {threads} threads -> {out}")
    for note in data_notes:
        console.print(note)
    prepare_evaluators(runs, lambda message: console.print(f"evaluator: {message}"))
    # Longest budgets first (a stable sort keeps the spec's order otherwise): a 3-minute GAN started last
    # would leave the other workers idle at the end.
    queue = sorted(tasks, key=lambda task: -(task["budget"].get("minutes") or 0))
    if executor == "local":
        results = run_local(queue, workers, on_result)
    elif executor == "ray":
        results = run_ray(queue, workers, address, on_result)
    else:
        raise GenlabError(f"unknown executor '{executor}'; use local or ray")
    order = {task["key"]: index for index, task in enumerate(tasks)}
    results.sort(key=lambda result: order[result["key"]])
    report = write_report(spec, chosen, results, out, wall_seconds=time.perf_counter() - started, executor=executor,
                          budget_name=budget_name(spec, budget, steps, minutes))
    console.print(f"report: {report}")
    return report
