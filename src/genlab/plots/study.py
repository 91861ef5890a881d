"""The plots of a study report: headline metrics as bars per model, metrics over training time, with
the calibration references (real, blurred, one-class, noise images) drawn as lines; PNG data URIs."""

from __future__ import annotations

import base64
import io
import statistics
from typing import Any

from genlab.studies.claims import lower_is_better, metric_value


def figure_uri(figure: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


# The references drawn as lines on plots (all six are in the calibration table).
REFERENCE_LINES = {"real": ("real data", "black", "-"), "blurred": ("blurred real", "tab:blue", "--"),
                   "one_class": ("one class", "tab:orange", "-."), "uniform_noise": ("uniform noise", "tab:red", ":")}


def dataset_calibration(results: list[dict[str, Any]], dataset: str) -> dict[str, dict[str, float]]:
    """The calibration references measured with a dataset's runs ({} when none has them)."""
    for result in results:
        if result.get("dataset") == dataset and result.get("calibration"):
            return result["calibration"]
    return {}


def draw_reference_lines(axis: Any, references: dict[str, dict[str, float]], metric: str, legend: bool) -> None:
    """Horizontal lines at what real, blurred, one-class and noise images score on `metric`."""
    for name, (label, colour, style) in REFERENCE_LINES.items():
        value = references.get(name, {}).get(metric)
        if isinstance(value, (int, float)):
            axis.axhline(value, color=colour, linestyle=style, linewidth=1, label=label if legend else None)


def over_training_plots(results: list[dict[str, Any]], metric_names: list[str]) -> list[dict[str, str]]:
    """Per dataset and metric: the metric against training time, one line per run (colour per model)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = []
    datasets = list(dict.fromkeys(r.get("dataset") for r in results))
    for dataset in datasets:
        members = [r for r in results if r.get("dataset") == dataset and r.get("over_training")]
        names = [n for n in metric_names if any(n in p for r in members for p in r["over_training"])]
        for name in names:
            figure, axis = plt.subplots(figsize=(6, 3.6))
            colours: dict[str, Any] = {}
            for result in members:
                points = [(p["training_seconds"], p[name]) for p in result["over_training"] if isinstance(p.get(name), float)]
                if not points:
                    continue
                model = result["model_key"]
                colour = colours.setdefault(model, f"C{len(colours) % 10}")
                xs, ys = zip(*points)
                axis.plot(xs, ys, "o-", color=colour, label=model if model not in axis.get_legend_handles_labels()[1] else None)
            draw_reference_lines(axis, dataset_calibration(results, dataset), name, legend=True)
            axis.set_xlabel("training time (s)")
            axis.set_ylabel(name)
            axis.set_title(f"{name} over training — {dataset}")
            axis.legend(fontsize=7)
            plots.append({"title": f"{name} over training time, {dataset}", "uri": figure_uri(figure)})
    return plots


def bar_plots(results: list[dict[str, Any]], metric_names: list[str]) -> list[dict[str, str]]:
    """Per dataset: one panel per headline metric, a bar per model (mean over seeds, std as error bar)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = []
    for dataset in dict.fromkeys(r.get("dataset") for r in results):
        members = [r for r in results if r.get("dataset") == dataset and r.get("status") == "done"]
        references = dataset_calibration(results, dataset)
        models = list(dict.fromkeys(r["model_key"] for r in members))
        names = [n for n in metric_names if any(metric_value(r, n) is not None for r in members)]
        if not names or not models:
            continue
        columns = min(4, len(names))
        rows = -(-len(names) // columns)
        figure, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 2.8 * rows), squeeze=False)
        for axis, name in zip(axes.flat, names):
            means, spreads = [], []
            for model in models:
                values = [v for v in (metric_value(r, name) for r in members if r["model_key"] == model) if v is not None]
                means.append(statistics.fmean(values) if values else float("nan"))
                spreads.append(statistics.pstdev(values) if len(values) > 1 else 0.0)
            axis.bar(range(len(models)), means, yerr=spreads, color=[f"C{i % 10}" for i in range(len(models))])
            draw_reference_lines(axis, references, name, legend=axis is axes.flat[0])
            if axis is axes.flat[0] and axis.get_legend_handles_labels()[1]:
                axis.legend(fontsize=6, title="references", title_fontsize=6)
            axis.set_xticks(range(len(models)), models, rotation=45, ha="right", fontsize=7)
            axis.set_title(name + (" (lower is better)" if lower_is_better(name) else ""), fontsize=8)
        for axis in list(axes.flat)[len(names):]:
            axis.axis("off")
        figure.tight_layout()
        plots.append({"title": f"headline metrics, {dataset}", "uri": figure_uri(figure)})
    return plots
