"""The study report: results.csv, results.json and a self-contained report.html (images embedded).

Everything in the report comes from the runs' folders and their result.json files: tables of the
measured values, plots over training time, sample grids side by side, GIFs, latent interpolations
and the claims table.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import platform
import statistics
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from genlab._version import __version__
from genlab.data.batches import to_float
from genlab.data.registry import load_dataset
from genlab.images import grid_image, points_image
from genlab.io import atomic_write_bytes, atomic_write_json
from genlab.metrics.calibration import CALIBRATED_METRICS, REFERENCES
from genlab.runfolder import RunFolder
from genlab.plots.study import bar_plots, dataset_calibration, over_training_plots
from genlab.studies.claims import check_claims, lower_is_better, metric_value
from genlab.studies.spec import Budget, StudySpec
from genlab.train.run import load_run

TEMPLATE_DIR = Path(__file__).parent / "templates"


def png_data_uri(picture: Any) -> str:
    """A PIL image or a PNG/GIF file as a data: URI for a self-contained page."""
    if isinstance(picture, (str, Path)):
        path = Path(picture)
        kind = "image/gif" if path.suffix == ".gif" else "image/png"
        return f"data:{kind};base64," + base64.b64encode(path.read_bytes()).decode()
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


SPEARMAN_MIN_CHECKPOINTS = 4
COLLAPSE_RISE = 0.5  # a checkpoint whose FID is more than 50% above the previous one's is a collapse event
# The logged loss set against FID: the generator's (GANs) when logged, else the total loss (VAEs and others).
SPEARMAN_LOSSES = ("loss.loss_g", "loss.loss")


def loss_fid_spearman(history: list[dict[str, Any]], loss: str) -> float | None:
    """Spearman rho between the logged `loss` (over_training's loss.<name>) and FID over the checkpoints
    having both; None with fewer than `SPEARMAN_MIN_CHECKPOINTS` of them or a constant series."""
    import warnings

    from scipy.stats import spearmanr

    pairs = [(p[loss], p["fid"]) for p in history if isinstance(p.get(loss), float) and isinstance(p.get("fid"), float)]
    if len(pairs) < SPEARMAN_MIN_CHECKPOINTS:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant series: scipy warns and returns nan, reported as absent
        rho = float(spearmanr([loss_value for loss_value, _ in pairs], [fid for _, fid in pairs]).statistic)
    return rho if rho == rho else None


def curve_measures(history: list[dict[str, Any]]) -> dict[str, float]:
    """Measures of a run's checkpoints (its over_training list), each only where it can be computed:

    - loss_fid_spearman: Spearman rho of the generator loss (`loss.loss_g`) against FID, or of the total loss
      (`loss.loss`) for models without one; loss_d_fid_spearman: the same for the discriminator / critic loss.
      Needs at least 4 checkpoints with both values.
    - collapse_events: the number of checkpoints whose FID rose more than 50% over the previous checkpoint's
      (needs at least 2 checkpoints with an FID).
    """
    measures: dict[str, float] = {}
    generator_or_total = next((name for name in SPEARMAN_LOSSES if any(name in p for p in history)), None)
    for key, loss in (("loss_fid_spearman", generator_or_total), ("loss_d_fid_spearman", "loss.loss_d")):
        rho = loss_fid_spearman(history, loss) if loss else None
        if rho is not None:
            measures[key] = rho
    fids = [p["fid"] for p in history if isinstance(p.get("fid"), float)]
    if len(fids) >= 2:
        measures["collapse_events"] = float(sum(after > (1 + COLLAPSE_RISE) * before for before, after in zip(fids, fids[1:])))
    return measures


def derived_measures(result: dict[str, Any], thresholds: dict[str, float | str]) -> dict[str, float]:
    """Stability (spread of a metric over the second half of training), time to a quality threshold (a
    number, or the name of a calibration reference such as "blurred": that reference's value of the metric),
    and the checkpoint curve's loss-FID correlation and collapse events (`curve_measures`)."""
    derived: dict[str, float] = {}
    history = result.get("over_training") or []
    derived.update(curve_measures(history))
    names = {k for point in history for k, v in point.items()
             if isinstance(v, float) and k != "training_seconds" and not k.startswith("loss.")}
    for name in sorted(names):
        values = [p[name] for p in history[len(history) // 2:] if isinstance(p.get(name), float)]
        if len(values) >= 2:
            derived[f"{name}_std_over_training"] = statistics.pstdev(values)
    for name, threshold in thresholds.items():
        label = threshold if isinstance(threshold, str) else f"{threshold:g}"
        if isinstance(threshold, str):  # a calibration reference by name: "blurred" is the blurred real images' value
            threshold = ((result.get("calibration") or {}).get(threshold) or {}).get(name)
            if not isinstance(threshold, (int, float)):
                continue
        reached = [p["training_seconds"] for p in history
                   if isinstance(p.get(name), float) and (p[name] <= threshold if lower_is_better(name) else p[name] >= threshold)]
        derived[f"seconds_to_{name}_{label}"] = min(reached) if reached else float("nan")
    return derived


def results_table(results: list[dict[str, Any]], thresholds: dict[str, float]) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns and rows: one row per run, its metrics and derived measures."""
    rows = []
    for result in results:
        gate = result.get("quality_gate") or {}
        row = {"model": result.get("model_key"), "dataset": result.get("dataset"), "seed": result.get("seed"),
               "status": result.get("status"), "quality gate": gate_text(gate), "steps": result.get("steps"),
               "training_seconds": result.get("training_seconds")}
        if result.get("status") == "done":
            row.update(result.get("metrics", {}))
        else:
            row["error"] = result.get("error", "")
        rows.append(row)
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    return columns, rows


def gate_text(gate: dict[str, Any]) -> str:
    """'passed', 'FAILED: <why>' or 'n/a' for a run's quality gate."""
    if gate.get("passed") is None:
        return "n/a"
    return "passed" if gate["passed"] else f"FAILED: {gate.get('reason', '')}"


def calibration_tables(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per dataset: each reference's value of every calibrated metric the runs report."""
    tables = []
    for dataset in dict.fromkeys(r.get("dataset") for r in results):
        references = dataset_calibration(results, dataset)
        if not references:
            continue
        columns = [m for m in CALIBRATED_METRICS if any(m in values for values in references.values())]
        rows = [{"reference": name.replace("_", " "), "description": REFERENCES.get(name, ""),
                 **{m: values.get(m) for m in columns}} for name, values in references.items()]
        tables.append({"dataset": dataset, "columns": columns, "rows": rows})
    return tables


def seed_spread(results: list[dict[str, Any]], metrics: list[str]) -> list[dict[str, Any]]:
    """Per (model, dataset): mean and std across seeds of the headline metrics (stability over seeds)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for result in results:
        groups.setdefault((result.get("model_key"), result.get("dataset")), []).append(result)
    rows = []
    for (model, dataset), members in groups.items():
        row: dict[str, Any] = {"model": model, "dataset": dataset, "runs": len(members),
                               "failed": sum(m.get("status") != "done" for m in members)}
        for metric in metrics:
            values = [v for v in (metric_value(m, metric) for m in members) if v is not None]
            if values:
                row[metric] = f"{statistics.fmean(values):.4g} ± {statistics.pstdev(values):.2g}" if len(values) > 1 else f"{values[0]:.4g}"
        rows.append(row)
    return rows


def headline_metrics(spec: StudySpec, results: list[dict[str, Any]]) -> list[str]:
    """Every numeric metric the runs measured (evaluation metrics, then derived ones), plus training time."""
    available: list[str] = []
    for result in results:
        available += [k for k, v in result.get("metrics", {}).items() if isinstance(v, float) and k not in available]
    derived = [k for k in available if "_over_training" in k or k.startswith("seconds_to_")]
    measured = [k for k in available if k not in derived and k != "training_seconds"][:16]
    return measured + derived + ["training_seconds"]


def sample_panels(results: list[dict[str, Any]], spec: StudySpec) -> list[dict[str, Any]]:
    """Per dataset: real test images beside each model's samples (first seed), and latent interpolations."""
    panels = []
    for entry in spec.datasets:
        members = [r for r in results if r.get("dataset") == entry.key and r.get("status") == "done"]
        if not members:
            continue
        clean = {k: v for k, v in entry.data_config().items() if k != "corruption"}
        dataset = load_dataset(**{**clean, "test_subset": 36})
        images = []
        if dataset.kind == "image":
            images.append({"label": "real (clean test split)", "uri": png_data_uri(grid_image(to_float(dataset.test_x[:36]), 6, scale=2))})
        interpolations = []
        seen = set()
        for result in members:
            if result["model_key"] in seen:
                continue
            seen.add(result["model_key"])
            run = load_run(result["run_dir"])
            samples = run.sample(36, labels=(torch.arange(36) % run.model.num_classes) if run.model.conditional else None, seed=0)
            if samples.dim() != 4:
                images.append({"label": result["model_key"], "uri": png_data_uri(points_image(samples))})
                continue
            gif = RunFolder(result["run_dir"]).progress_gif
            images.append({"label": result["model_key"], "uri": png_data_uri(grid_image(samples, 6, scale=2)),
                           "gif": png_data_uri(gif) if gif.is_file() else None})
            strip = latent_interpolation(run)
            if spec.interpolations and strip is not None:
                interpolations.append({"label": result["model_key"], "uri": png_data_uri(strip)})
        panels.append({"dataset": entry.key, "images": images, "interpolations": interpolations})
    return panels


def latent_interpolation(run: Any, pairs: int = 4, steps: int = 9):
    """Decodings along straight lines between pairs of prior draws (None for models without a latent)."""
    model = run.model
    if not model.has_latent:
        return None
    generator = torch.Generator().manual_seed(1)
    try:
        start, end = model.sample_latent(pairs, generator), model.sample_latent(pairs, generator)
        weights = torch.linspace(0, 1, steps, device=start.device).view(1, steps, 1)
        codes = (start.unsqueeze(1) * (1 - weights) + end.unsqueeze(1) * weights).reshape(pairs * steps, *start.shape[1:])
        labels = (torch.arange(pairs).repeat_interleave(steps) % model.num_classes).to(start.device) if model.conditional else None
        with torch.no_grad():
            model.eval()
            images = model.decode(codes, labels)
    except NotImplementedError:
        return None
    if images.dim() != 4:
        return None
    return grid_image(images, steps, scale=2)


def machine_description() -> dict[str, Any]:
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "torch": str(torch.__version__), "genlab": __version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def write_report(spec: StudySpec, budget: Budget, results: list[dict[str, Any]], out: Path,
                 wall_seconds: float = 0.0, executor: str = "local", budget_name: str | None = None) -> Path:
    """Write results.csv, results.json and report.html into `out`; returns the report's path."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    out.mkdir(parents=True, exist_ok=True)
    for result in results:  # stability and time-to-quality join the measured metrics (claims may use them)
        if result.get("status") == "done":
            result.setdefault("metrics", {}).update(derived_measures(result, spec.quality_threshold))
    columns, rows = results_table(results, spec.quality_threshold)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(out / "results.csv", buffer.getvalue().encode())
    claims = check_claims(spec.claims, results)
    metadata = {"study": spec.name, "description": spec.description, "budget": asdict(budget), "budget_name": budget_name,
                "own_budgets": sorted(m.key for m in spec.models if budget_name in m.budgets), "executor": executor,
                "seeds": spec.seeds, "wall_seconds": round(wall_seconds, 1), "machine": machine_description(),
                "written": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    atomic_write_json(out / "results.json", {"metadata": metadata, "claims": claims,
                                            "runs": [{k: v for k, v in r.items() if k != "traceback"} for r in results]})
    headline = headline_metrics(spec, results)
    environment = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=select_autoescape(["html", "j2"]))
    environment.filters["fmt"] = lambda v: (f"{v:.4g}" if isinstance(v, float) else ("" if v is None else str(v)))
    html = environment.get_template("report.html.j2").render(
        spec=spec, metadata=metadata, claims=claims, columns=columns, rows=rows,
        spread=seed_spread(results, headline), spread_columns=["model", "dataset", "runs", "failed", *headline],
        failed=[r for r in results if r.get("status") != "done"],
        calibration=calibration_tables(results),
        gate_rule=next(((r.get("quality_gate") or {}).get("rule") for r in results if (r.get("quality_gate") or {}).get("rule")), None),
        plots=bar_plots(results, headline) + over_training_plots(results, spec.checkpoint_metrics),
        panels=sample_panels(results, spec),
        loss_curves=[{"label": r["key"], "uri": png_data_uri(RunFolder(r["run_dir"]).loss_curves)}
                     for r in results if RunFolder(r["run_dir"]).loss_curves.is_file()],
        models=[{"key": m.key, "name": m.name, "config": json.dumps(m.config),
                 "budget": ", ".join(f"{k}: {v}" for k, v in asdict(m.budgets[budget_name]).items() if v)
                 if budget_name in m.budgets else "the study's"} for m in spec.models],
        datasets=[{"key": d.key, "config": json.dumps(d.data_config())} for d in spec.datasets],
    )
    path = out / "report.html"
    atomic_write_bytes(path, html.encode())
    return path
