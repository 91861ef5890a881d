"""Every image model's quality after a fixed CPU budget at its default settings: the README's recipe table.

`python benchmarks/time_to_quality.py --models ...` runs this. Each model is trained by `genlab.train`
with its defaults (the "fast" recipe on a CPU: what `genlab train MODEL --data fashion-mnist --minutes 3`
trains) in this process with `--threads` torch threads, then `genlab.evaluate` scores `--samples`
samples against the test split: FID, KID, precision, recall, classes covered and the recognised
sharpness, beside the calibration references (real, blurred real, one class, noise) at the same
sample count. The issue's targets:

- dcgan, acgan, wgan-gp, sngan: FID below the blurred-real reference;
- gan, cgan: recall above 0.3 and all 10 classes;
- vae, cvae, conv-vae (and every other model): pass the quality gate (they learned the data).

Models run one after another (never two at once: they would share the cores); each row records the
other processes' CPU use over its training. Writes JSON, a PNG of every model's samples (8 per row),
and prints a markdown table for the README.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

import genlab
from machine import CpuSnapshot

FID_TARGET_MODELS = ("dcgan", "acgan", "wgan-gp", "sngan")
RECALL_TARGET_MODELS = ("gan", "cgan")
RECALL_TARGET = 0.3
DEFAULT_MODELS = ("vae", "cvae", "conv-vae", "gan", "cgan", "dcgan", "acgan", "wgan-gp", "sngan")


def target_of(model: str, metrics: dict[str, Any], blurred_fid: float | None, gate: dict[str, Any]) -> tuple[str, bool | None]:
    """The issue's target for `model` and whether it was met (None: no target could be judged)."""
    if model in FID_TARGET_MODELS:
        if blurred_fid is None or metrics.get("fid") is None:
            return "FID < blurred real", None
        return f"FID < blurred real ({blurred_fid:.0f})", metrics["fid"] < blurred_fid
    if model in RECALL_TARGET_MODELS:
        met = (metrics.get("recall") or 0) > RECALL_TARGET and metrics.get("classes_covered") == 10
        return f"recall > {RECALL_TARGET:g} and 10 classes", met
    return "passes the quality gate", gate.get("passed")


def train_and_score(model: str, data: str, minutes: float, samples: int, seed: int, folder: Path,
                    console: Console) -> tuple[dict[str, Any], dict[str, Any]]:
    """One row: train `model` for `minutes` at its defaults, evaluate, and keep 8 samples."""
    before = CpuSnapshot.take()
    started = time.perf_counter()
    run = genlab.train(model, data=data, out=folder / model, minutes=minutes, steps=10**9, seed=seed, progress=False,
                       sample_every=0, checkpoint_every=0, eval_every=0)
    wall = time.perf_counter() - started
    load = CpuSnapshot.take().other_load_since(before, wall)
    evaluation = genlab.evaluate(run.path, metrics="fid,kid,prdc,classifier,sharpness", n=samples, write=False)
    metrics, references = evaluation["metrics"], (evaluation.get("calibration") or {}).get("references", {})
    blurred = references.get("blurred", {}).get("fid")
    target, met = target_of(model, metrics, blurred, evaluation["quality_gate"])
    labels = (torch.arange(8) % run.model.num_classes) if run.model.conditional else None
    row = {
        "model": model, "recipe": run.config["model"].get("recipe"), "config": run.config["model"]["config"],
        "batch_size": run.config["train"].get("batch_size") or run.config["model"]["config"].get("batch_size"),
        "steps": run.step, "training_seconds": run.config.get("training_seconds"),
        "images_per_second": run.step * int(run.config["model"]["config"].get("batch_size", 0) or 0) / max(wall, 1e-9),
        "metrics": {key: metrics.get(key) for key in ("fid", "kid_mean", "precision", "recall", "coverage",
                                                       "classes_covered", "recognised_share", "sharpness_ratio")},
        "quality_gate": evaluation["quality_gate"], "target": target, "target_met": met,
        "other_cpu_fraction": load["other_cpu_fraction"], "samples": run.sample(8, labels=labels, seed=seed),
    }
    console.print(f"{model}: {row['steps']} steps, FID {metrics.get('fid', float('nan')):.1f}, precision "
                  f"{metrics.get('precision', float('nan')):.2f}, recall {metrics.get('recall', float('nan')):.2f}, "
                  f"classes {metrics.get('classes_covered')}; target {target}: {met}; gate "
                  f"{evaluation['quality_gate'].get('passed')}; other processes {load['other_cpu_fraction']:.0%} of the CPU")
    return row, references


def sample_sheet(rows: list[dict[str, Any]], path: Path) -> None:
    """One row of 8 samples per model, labelled, as a PNG."""
    from PIL import Image, ImageDraw

    from genlab.images import grid_image

    pictures = [(row["model"], grid_image(row["samples"], 8, scale=2)) for row in rows]
    label_width = 90
    width = label_width + max(picture.width for _, picture in pictures)
    sheet = Image.new("RGB", (width, sum(picture.height for _, picture in pictures)), "white")
    draw = ImageDraw.Draw(sheet)
    top = 0
    for name, picture in pictures:
        sheet.paste(picture.convert("RGB"), (label_width, top))
        draw.text((6, top + picture.height // 2 - 6), name, fill="black")
        top += picture.height
    sheet.save(path)


def markdown(rows: list[dict[str, Any]], references: dict[str, dict[str, float]], minutes: float, threads: int) -> str:
    """The README's table: one line per model, then the references."""
    lines = [f"| model ({minutes:g} min, {threads} threads) | steps | FID | precision | recall | classes | sharpness / real | gate | target |",
             "|---|--:|--:|--:|--:|--:|--:|---|---|"]

    def number(value: Any, template: str) -> str:
        return "n/a" if value is None else template.format(value)

    for row in rows:
        metrics = row["metrics"]
        verdict = {True: "met", False: "NOT met", None: "n/a"}[row["target_met"]]
        lines.append(f"| {row['model']} | {row['steps']:,} | {number(metrics['fid'], '{:.0f}')} | "
                     f"{number(metrics['precision'], '{:.2f}')} | {number(metrics['recall'], '{:.2f}')} | "
                     f"{number(metrics['classes_covered'], '{}')} | {number(metrics['sharpness_ratio'], '{:.2f}')} | "
                     f"{'passed' if row['quality_gate'].get('passed') else 'FAILED'} | {row['target']}: {verdict} |")
    for name in ("real", "blurred", "noisy", "one_class", "uniform_noise"):
        values = references.get(name)
        if values:
            lines.append(f"| *{name.replace('_', ' ')} (reference)* | | {number(values.get('fid'), '{:.0f}')} | "
                         f"{number(values.get('precision'), '{:.2f}')} | {number(values.get('recall'), '{:.2f}')} | "
                         f"{number(values.get('classes_covered'), '{:.0f}')} | {number(values.get('sharpness_ratio'), '{:.2f}')} | | |")
    return "\n".join(lines)


def run_table(models: list[str], data: str, minutes: float, samples: int, seed: int, threads: int, out: Path,
              console: Console) -> dict[str, Any]:
    """Train and score every model in turn; write the JSON's rows, the sample sheet and the markdown."""
    rows, references = [], {}
    folder = Path(tempfile.mkdtemp(prefix="genlab-quality-table-"))
    try:
        for model in models:
            row, found = train_and_score(model, data, minutes, samples, seed, folder, console)
            rows.append(row)
            references = references or found
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    sheet = out.with_name(out.stem + "_samples.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    sample_sheet(rows, sheet)
    table = Table(title=f"{data}: every model after {minutes:g} min of training at its defaults ({threads} threads)")
    for column in ("model", "recipe", "steps", "FID", "precision", "recall", "classes", "sharp/real", "gate", "target"):
        table.add_column(column)
    for row in rows:
        metrics = row["metrics"]
        table.add_row(row["model"], str(row["recipe"]), f"{row['steps']:,}", f"{metrics['fid']:.1f}",
                      f"{metrics['precision']:.2f}", f"{metrics['recall']:.2f}", str(metrics["classes_covered"]),
                      "n/a" if metrics["sharpness_ratio"] is None else f"{metrics['sharpness_ratio']:.2f}",
                      "passed" if row["quality_gate"].get("passed") else "FAILED",
                      f"{row['target']}: {row['target_met']}")
    console.print(table)
    text = markdown(rows, references, minutes, threads)
    console.print(text, soft_wrap=True)
    for row in rows:
        del row["samples"]
    return {"mode": "models", "data": data, "minutes": minutes, "samples": samples, "seed": seed, "rows": rows,
            "references": references, "markdown": text, "sample_sheet": str(sheet),
            "other_cpu_fraction_median": statistics.median(row["other_cpu_fraction"] for row in rows)}
