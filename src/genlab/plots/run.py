"""Training curves from a run's metrics.jsonl, and gradient histograms over training, as PNG (matplotlib).

Related values share a panel: keys of the form `group/name` (per-layer gradient norms) and keys
that differ only after their last underscore (`loss_d` and `loss_g`, `d_real` and `d_fake`). Panels
are titled by what they hold; layers are named by their position and kind ("3 ConvTranspose2d
128→64 4×4/2"), read from the run's model, not by their attribute paths (`net.3`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from genlab.errors import GenlabError
from genlab.io import read_yaml
from genlab.runfolder import RunFolder
from genlab.train.diagnostics import HISTOGRAM_RANGE, layer_name
from genlab.train.run import build_model_from_config

NON_METRIC_KEYS = {"step", "epoch", "time", "images_per_second"}
# Titles of panels whose members need more words than their names.
SPECIAL_TITLES = {
    frozenset({"d_real", "d_fake"}): "mean D(x) (real) and D(G(z)) (fake)",
}


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


def panel_title(group: str, members: list[str]) -> str:
    """The title of a panel, from what it plots: 'loss' for a lone loss, 'losses (D and G)' for
    `loss_d` and `loss_g`, 'gradient norm per generator layer'."""
    if group.startswith("grad_norm/"):
        return f"gradient norm per {group.split('/', 1)[1]} layer"
    special = SPECIAL_TITLES.get(frozenset(members))
    if special:
        return special
    if len(members) == 1:
        return members[0]
    suffixes = [name[len(group) + 1:] if name.startswith(group + "_") else name for name in members]
    suffixes = [suffix.upper() if len(suffix) == 1 else suffix for suffix in suffixes]
    words = ", ".join(suffixes[:-1]) + " and " + suffixes[-1]
    return f"{'losses' if group == 'loss' else group} ({words})"


def _natural_key(text: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def describe_layer(module: Any) -> str:
    """'ConvTranspose2d 128→64 4×4/2', 'Linear 784→400', 'BatchNorm2d 128', or the class name."""
    kind = type(module).__name__.removeprefix("Parametrized")  # spectral norm wraps the class
    if hasattr(module, "in_features") and hasattr(module, "out_features"):
        return f"{kind} {module.in_features}→{module.out_features}"
    if hasattr(module, "in_channels") and hasattr(module, "out_channels"):
        text = f"{kind} {module.in_channels}→{module.out_channels}"
        kernel = getattr(module, "kernel_size", None)
        if kernel:
            text += " " + "×".join(str(k) for k in kernel)
            stride = getattr(module, "stride", (1,))
            if any(s != 1 for s in stride):
                text += "/" + "×".join(str(s) for s in dict.fromkeys(stride))
        return text
    if hasattr(module, "num_embeddings"):
        return f"{kind} {module.num_embeddings}×{module.embedding_dim}"
    if hasattr(module, "num_features"):
        return f"{kind} {module.num_features}"
    return kind


class LayerNames:
    """Readable names of a run's layers ('generator', 'net.3') -> '2 ConvTranspose2d 128→64 4×4/2': the
    layer's position among the network's layers with weights, and its kind, read from the model the
    run's config.yaml describes. Without it (no config, an unknown network) the position alone is given."""

    def __init__(self, run_dir: str | Path) -> None:
        self.model: Any = None
        try:
            self.model = build_model_from_config(read_yaml(RunFolder(run_dir).config))
        except (GenlabError, OSError, KeyError, TypeError, ValueError):
            pass  # a folder without a usable config: positions only
        self._orders: dict[str, list[str]] = {}

    def order(self, network: str) -> list[str]:
        """The network's layers with parameters, in the model's order ([] when unknown)."""
        if network not in self._orders:
            module = getattr(self.model, network, None) if self.model is not None else None
            layers: list[str] = []
            if module is not None and hasattr(module, "named_parameters"):
                for name, _ in module.named_parameters():
                    if layer_name(name) not in layers:
                        layers.append(layer_name(name))
            self._orders[network] = layers
        return self._orders[network]

    def sort(self, network: str, layers: list[str]) -> list[str]:
        """`layers` in the model's order (unknown ones after, in natural order; 'total' last)."""
        known = self.order(network)
        return sorted(layers, key=lambda name: (name == "total", known.index(name) if name in known else len(known),
                                                _natural_key(name)))

    def name(self, network: str, layer: str) -> str:
        if layer == "total":
            return "whole network"
        known = self.order(network)
        if layer not in known:
            return layer
        try:
            module = getattr(self.model, network).get_submodule(layer)
        except AttributeError:
            return f"layer {known.index(layer) + 1}"
        return f"{known.index(layer) + 1} {describe_layer(module)}"


def plot_metrics(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the run's curves (`metrics_figure`) as PNG: RUN/loss_curves.png unless `out` is given."""
    figure = metrics_figure(run_dir)
    import matplotlib.pyplot as plt  # after metrics_figure chose the Agg backend

    out = Path(out) if out else RunFolder(run_dir).loss_curves
    figure.savefig(out, dpi=90)
    plt.close(figure)
    return out


def metrics_figure(run_dir: str | Path) -> Any:
    """One panel per logged quantity (or group of related ones) against the step; validation values
    drawn as markers; gradient norms on a log scale. Returns the matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = RunFolder(run_dir).read_metrics()
    names = sorted({k.removeprefix("val/") for row in rows for k in row if k not in NON_METRIC_KEYS})
    if not names:
        raise GenlabError(f"{run_dir} has no logged metrics yet")
    groups = panel_groups(names)
    layer_names = LayerNames(run_dir) if any(group.startswith("grad_norm/") for group in groups) else None
    if layer_names is not None:
        for group in groups:
            if group.startswith("grad_norm/"):
                network = group.split("/", 1)[1]
                by_layer = {name.rsplit("/", 1)[-1]: name for name in groups[group]}
                groups[group] = [by_layer[layer] for layer in layer_names.sort(network, list(by_layer))]
    columns = min(3, len(groups))
    panel_rows = -(-len(groups) // columns)
    figure, axes = plt.subplots(panel_rows, columns, figsize=(4.2 * columns, 3 * panel_rows), squeeze=False)
    for axis, (group, members) in zip(axes.flat, groups.items()):
        for name in members:
            # A lone quantity is labelled train/test; grouped ones by their own name.
            label_name = name.rsplit("/", 1)[-1] if len(members) > 1 else "train"
            if group.startswith("grad_norm/") and layer_names is not None and len(members) > 1:
                label_name = layer_names.name(group.split("/", 1)[1], label_name)
            test_label = f"{label_name} (test)" if len(members) > 1 else "test"
            for key, style, label in ((name, "-", label_name), (f"val/{name}", "o-", test_label)):
                points = [(row["step"], row[key]) for row in rows if key in row]
                if points:
                    steps, values = zip(*points)
                    # A lone point draws no line: give it a marker so the panel is never empty.
                    axis.plot(steps, values, "o" if len(points) == 1 else style, label=label,
                              markersize=4 if len(points) == 1 else 3, linewidth=1)
        if group.startswith("grad_norm"):
            axis.set_yscale("log")
        axis.set_title(panel_title(group, members), fontsize=9)
        axis.set_xlabel("step")
        axis.legend(fontsize=6, ncol=2 if len(members) > 6 else 1)
    for axis in list(axes.flat)[len(groups):]:
        axis.axis("off")
    figure.tight_layout()
    return figure


def read_gradient_histograms(run_dir: str | Path) -> list[dict]:
    """The rows of gradient_histograms.jsonl: {"step": N, "layers": {"<network>/<layer>": [shares per bin]}}."""
    path = RunFolder(run_dir).histograms
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

    rows = read_gradient_histograms(run_dir)
    networks: dict[str, list[str]] = {}
    for row in rows:
        for key in row["layers"]:
            network = key.split("/", 1)[0]
            if key not in networks.setdefault(network, []):
                networks[network].append(key)
    layer_names = LayerNames(run_dir)
    for network, keys in networks.items():
        ordered = layer_names.sort(network, [key.split("/", 1)[1] for key in keys])
        networks[network] = [f"{network}/{layer}" for layer in ordered]
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
            network_name, layer = layers[index].split("/", 1)
            axis.set_title(f"{network_name}: {layer_names.name(network_name, layer)}", fontsize=8)
            axis.set_ylabel("log10 |grad|", fontsize=7)
            axis.tick_params(labelsize=6)
        axes[-1][column].set_xlabel("step")
    if image is not None:
        figure.colorbar(image, ax=axes, shrink=0.6, label="share of the layer's gradient entries")
    out = Path(out) if out else RunFolder(run_dir).histogram_plot
    figure.savefig(out, dpi=90)
    plt.close(figure)
    return out
