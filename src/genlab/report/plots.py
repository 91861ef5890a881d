"""Training curves from a run's metrics.jsonl, and gradient histograms over training, as PNG (matplotlib).

Related values share a panel: keys of the form `group/name` (per-layer gradient norms) and keys
that differ only after their last underscore (`loss_d` and `loss_g`, `d_real` and `d_fake`).
"""

from __future__ import annotations

import json
from pathlib import Path

from genlab.errors import GenlabError

NON_METRIC_KEYS = {"step", "epoch", "time", "images_per_second"}
HISTOGRAM_FILE = "gradient_histograms.jsonl"
PANEL_TITLES = {
    "loss": "losses (D and G)",
    "d": "mean D(x) (real) and D(G(z)) (fake)",
    "grad_norm/generator": "gradient norm per generator layer",
    "grad_norm/discriminator": "gradient norm per discriminator layer",
}


def read_metrics(run_dir: str | Path) -> list[dict]:
    """Every logged row of a run (one dict per logged step)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise GenlabError(f"no metrics.jsonl in {run_dir}: is it a genlab run folder?")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def panel_groups(names: list[str]) -> dict[str, list[str]]:
    """Group metric names into panels, in first-seen order of the panels."""
    prefix_counts: dict[str, int] = {}
    for name in names:
        if "/" not in name and "_" in name:
            prefix = name.rsplit("_", 1)[0]
            prefix_counts[prefix] = prefix_counts.get(prefix, 0) + 1
    groups: dict[str, list[str]] = {}
    for name in names:
        if "/" in name:
            group = name.rsplit("/", 1)[0]
        elif "_" in name and prefix_counts.get(name.rsplit("_", 1)[0], 0) > 1:
            group = name.rsplit("_", 1)[0]
        else:
            group = name
        groups.setdefault(group, []).append(name)
    return groups


def plot_metrics(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """One panel per logged quantity (or group of related ones) against the step; validation values
    drawn as markers; gradient norms on a log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(run_dir)
    names = sorted({k.removeprefix("val/") for row in rows for k in row if k not in NON_METRIC_KEYS})
    if not names:
        raise GenlabError(f"{run_dir} has no logged metrics yet")
    groups = panel_groups(names)
    columns = min(3, len(groups))
    panel_rows = -(-len(groups) // columns)
    figure, axes = plt.subplots(panel_rows, columns, figsize=(4.2 * columns, 3 * panel_rows), squeeze=False)
    for axis, (group, members) in zip(axes.flat, groups.items()):
        for name in members:
            # A lone quantity is labelled train/test; grouped ones by their own name.
            label_name = name.rsplit("/", 1)[-1] if len(members) > 1 else "train"
            test_label = f"{label_name} (test)" if len(members) > 1 else "test"
            for key, style, label in ((name, "-", label_name), (f"val/{name}", "o-", test_label)):
                points = [(row["step"], row[key]) for row in rows if key in row]
                if points:
                    steps, values = zip(*points)
                    axis.plot(steps, values, style, label=label, markersize=3, linewidth=1)
        if group.startswith("grad_norm"):
            axis.set_yscale("log")
        axis.set_title(PANEL_TITLES.get(group, group), fontsize=9)
        axis.set_xlabel("step")
        axis.legend(fontsize=6, ncol=2 if len(members) > 6 else 1)
    for axis in list(axes.flat)[len(groups):]:
        axis.axis("off")
    figure.tight_layout()
    out = Path(out) if out else Path(run_dir) / "loss_curves.png"
    figure.savefig(out, dpi=90)
    plt.close(figure)
    return out


def read_gradient_histograms(run_dir: str | Path) -> list[dict]:
    """The rows of gradient_histograms.jsonl: {"step": N, "layers": {"<network>/<layer>": [shares per bin]}}."""
    path = Path(run_dir) / HISTOGRAM_FILE
    if not path.is_file():
        raise GenlabError(f"{run_dir} has no gradient histograms; train with --gradient-histograms to record them")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        raise GenlabError(f"{path} is empty: no diagnostic step has run yet")
    return rows


def plot_gradient_histograms(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """One image per layer: x the step, y log10 |gradient|, colour the share of the layer's gradient
    entries in that bin. Networks side by side (generator | discriminator), layers top to bottom."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import LogNorm

    from genlab.train.diagnostics import HISTOGRAM_RANGE

    rows = read_gradient_histograms(run_dir)
    networks: dict[str, list[str]] = {}
    for row in rows:
        for key in row["layers"]:
            network = key.split("/", 1)[0]
            if key not in networks.setdefault(network, []):
                networks[network].append(key)
    steps = [row["step"] for row in rows]
    depth = max(len(layers) for layers in networks.values())
    figure, axes = plt.subplots(depth, len(networks), figsize=(4.5 * len(networks), 1.6 * depth + 0.6),
                                squeeze=False, sharex=True)
    low, high = HISTOGRAM_RANGE
    image = None
    for column, (network, layers) in enumerate(networks.items()):
        for index in range(depth):
            axis = axes[index][column]
            if index >= len(layers):
                axis.axis("off")
                continue
            bins = len(next(row["layers"][layers[index]] for row in rows if layers[index] in row["layers"]))
            shares = np.full((bins, len(rows)), np.nan)
            for position, row in enumerate(rows):
                if layers[index] in row["layers"]:
                    shares[:, position] = row["layers"][layers[index]]
            shares[shares <= 0] = np.nan  # empty bins stay blank on the log colour scale
            image = axis.imshow(shares, aspect="auto", origin="lower", cmap="viridis",
                                norm=LogNorm(vmin=1e-4, vmax=1.0), interpolation="nearest",
                                extent=(steps[0], steps[-1] if len(steps) > 1 else steps[0] + 1, low, high))
            axis.set_title(layers[index], fontsize=8)
            axis.set_ylabel("log10 |grad|", fontsize=7)
            axis.tick_params(labelsize=6)
        axes[-1][column].set_xlabel("step")
    if image is not None:
        figure.colorbar(image, ax=axes, shrink=0.6, label="share of the layer's gradient entries")
    out = Path(out) if out else Path(run_dir) / "gradient_histograms.png"
    figure.savefig(out, dpi=90)
    plt.close(figure)
    return out
