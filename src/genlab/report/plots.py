"""Training curves from a run's metrics.jsonl, written as PNG with matplotlib."""

from __future__ import annotations

import json
from pathlib import Path

from genlab.errors import GenlabError

NON_METRIC_KEYS = {"step", "epoch", "time", "images_per_second"}


def read_metrics(run_dir: str | Path) -> list[dict]:
    """Every logged row of a run (one dict per logged step)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise GenlabError(f"no metrics.jsonl in {run_dir}: is it a genlab run folder?")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_metrics(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """One panel per logged quantity against the step; validation values drawn as markers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(run_dir)
    names = sorted({k.removeprefix("val/") for row in rows for k in row if k not in NON_METRIC_KEYS})
    if not names:
        raise GenlabError(f"{run_dir} has no logged metrics yet")
    columns = min(3, len(names))
    panel_rows = -(-len(names) // columns)
    figure, axes = plt.subplots(panel_rows, columns, figsize=(4.2 * columns, 3 * panel_rows), squeeze=False)
    for axis, name in zip(axes.flat, names):
        for key, style, label in ((name, "-", "train"), (f"val/{name}", "o-", "test")):
            points = [(row["step"], row[key]) for row in rows if key in row]
            if points:
                steps, values = zip(*points)
                axis.plot(steps, values, style, label=label, markersize=3)
        axis.set_title(name)
        axis.set_xlabel("step")
        axis.legend(fontsize=7)
    for axis in list(axes.flat)[len(names):]:
        axis.axis("off")
    figure.tight_layout()
    out = Path(out) if out else Path(run_dir) / "loss_curves.png"
    figure.savefig(out, dpi=90)
    plt.close(figure)
    return out
