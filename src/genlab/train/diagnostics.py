"""Training diagnostics: the measurements that show why a run fails, cheap enough to log while it trains.

- `TrainingDiagnostics` is handed to the model by the trainer (`model.attach_diagnostics`). On the
  steps where `due(step)` holds, a model calls `gradient_norms(network_name, module)` after its
  backward pass: the gradient norm of every layer (vanishing generator gradients, an exploding
  critic) and, when asked, a histogram of log10 |gradient| per layer, which the trainer appends to
  `gradient_histograms.jsonl`. Other steps cost nothing. `gradient_norm_summary` reduces the logged
  norms of a whole run to one number per network (e.g. `generator_grad_norm_median`) for studies.
- Sample monitors read nothing but `model.sample`, so they work for every family: on data with
  known modes (toy2d) `ModeCoverage` counts the modes covered by 2,000 samples and the share of
  high-quality samples; on labelled images `LabelEntropy` classifies 1,000 samples with a small
  classifier fitted once on the training split and logs the entropy of the label histogram (a
  collapsed generator draws few classes, so the entropy falls below log(classes)).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from genlab.data.batches import to_float
from genlab.data.registry import Dataset
from genlab.data.toy2d import toy2d_modes
from genlab.models.base import unwrap
from genlab.models.sampling import draw_samples
from genlab.runfolder import RunFolder

# Fixed bins of log10 |gradient| so histograms of different steps and layers share one axis.
HISTOGRAM_RANGE = (-10.0, 2.0)
HISTOGRAM_BINS = 48


def layer_name(parameter_name: str) -> str:
    """The layer a parameter belongs to: 'net.3.weight' -> 'net.3'; spectral norm's
    'net.0.parametrizations.weight.original' -> 'net.0'."""
    if ".parametrizations." in parameter_name:
        return parameter_name.split(".parametrizations.")[0]
    return parameter_name.rsplit(".", 1)[0] if "." in parameter_name else parameter_name


def log_gradient_histogram(gradients: list[torch.Tensor]) -> list[float]:
    """Share of a layer's gradient entries in each log10 |g| bin (values outside the range go to the end bins)."""
    low, high = HISTOGRAM_RANGE
    magnitudes = torch.cat([g.detach().flatten().abs().float() for g in gradients])
    logs = magnitudes.clamp_min(10.0**low).log10().clamp(low, high)
    counts = torch.histc(logs, bins=HISTOGRAM_BINS, min=low, max=high)
    return [round(v, 5) for v in (counts / max(magnitudes.numel(), 1)).tolist()]


class TrainingDiagnostics:
    """What a model may measure about its own updates every `every` steps (0: never)."""

    def __init__(self, every: int = 50, histograms: bool = False) -> None:
        self.every = every
        self.histograms = histograms
        self._pending: dict[str, list[float]] = {}

    def due(self, step: int) -> bool:
        return bool(self.every) and step % self.every == 0

    def gradient_norms(self, network: str, module: nn.Module) -> dict[str, float]:
        """L2 norm of the current gradient of every layer of `module`, and of the whole network.

        Keys are `grad_norm/<network>/<layer>` and `grad_norm/<network>/total`.
        """
        layers: dict[str, list[torch.Tensor]] = {}
        for name, parameter in unwrap(module).named_parameters():  # layer names without DDP's "module.
            if parameter.grad is not None:
                layers.setdefault(layer_name(name), []).append(parameter.grad)
        if not layers:
            return {}
        # One stacked tensor and one transfer, not a device sync per layer.
        norms = torch.stack([torch.linalg.vector_norm(torch.stack([g.detach().float().norm() for g in grads]))
                             for grads in layers.values()])
        values = dict(zip((f"grad_norm/{network}/{name}" for name in layers), norms.tolist()))
        values[f"grad_norm/{network}/total"] = torch.linalg.vector_norm(norms).item()
        if self.histograms:
            for name, grads in layers.items():
                self._pending[f"{network}/{name}"] = log_gradient_histogram(grads)
        return values

    def take_histograms(self) -> dict[str, list[float]]:
        """The histograms recorded since the last call (empty when none), by `<network>/<layer>`."""
        pending, self._pending = self._pending, {}
        return pending


def gradient_norm_summary(rows: Iterable[dict[str, Any]]) -> dict[str, float]:
    """Run-level gradient sizes from the rows of a run's metrics.jsonl: for each network (generator,
    discriminator), `<network>_grad_norm_median`, the median over the logged rows and the network's layers
    of a layer's gradient L2 norm (the per-layer `grad_norm/<network>/<layer>` values; the totals are left
    out). Free to compute: the trainer logs these norms every `diagnostics_every` steps anyway. Empty when
    no norms were logged (diagnostics off, or a model that logs none)."""
    per_network: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            parts = key.split("/")
            if len(parts) == 3 and parts[0] == "grad_norm" and parts[2] != "total" and isinstance(value, (int, float)) \
                    and math.isfinite(value):
                per_network.setdefault(parts[1], []).append(float(value))
    return {f"{network}_grad_norm_median": statistics.median(values) for network, values in sorted(per_network.items())}


def read_gradient_norm_summary(run_dir: str | Path) -> dict[str, float]:
    """`gradient_norm_summary` of the run folder's metrics.jsonl ({} when the file is missing)."""
    folder = RunFolder(run_dir)
    return gradient_norm_summary(folder.read_metrics()) if folder.metrics.is_file() else {}


# --- mode-collapse signals from samples ----------------------------------------------------------
class SampleMonitor(Protocol):
    def measure(self, model: Any) -> dict[str, float]: ...


def draw_labelled_samples(model: Any, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """`count` samples drawn from a fixed seed (conditional models: classes in turn), and their labels."""
    labels = torch.arange(count) % model.num_classes if model.conditional else None
    return draw_samples(model, count, labels, torch.Generator().manual_seed(seed)), labels


def mode_statistics(points: torch.Tensor, modes: torch.Tensor, std: float) -> dict[str, float]:
    """Mode coverage of 2-D samples by the rule of the evaluation metric `modes` (genlab.data.toy2d's
    `toy2d_modes`: within 3 standard deviations of a mode; covered with 20 of every 2,500 samples),
    under the names the training log has always used."""
    statistics = toy2d_modes(points.detach().flatten(1), modes, std)
    return {"modes_covered": float(statistics["modes_covered"]), "high_quality_fraction": statistics["high_quality_share"]}


class ModeCoverage:
    """toy2d: modes covered by, and the share of high-quality among, `count` samples."""

    def __init__(self, modes: torch.Tensor, std: float, count: int = 2000, seed: int = 0) -> None:
        self.modes, self.std, self.count, self.seed = modes, std, count, seed

    def measure(self, model: Any) -> dict[str, float]:
        points, _ = draw_labelled_samples(model, self.count, self.seed)
        return mode_statistics(points, self.modes, self.std)


class LabelClassifier:
    """Multinomial logistic regression on average-pooled, standardised pixels.

    Cheap by design (about a second to fit on 10,000 images; ~90 % test accuracy on MNIST digits,
    ~80 % on Fashion-MNIST): it only needs to tell classes apart well enough for a label histogram.
    The evaluation metrics' domain classifier is the stronger judge for final numbers.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor, pool: int) -> None:
        self.weight, self.bias, self.mean, self.scale, self.pool = weight, bias, mean, scale, pool

    @staticmethod
    def pooling_for(side: int) -> int:
        return max(1, math.ceil(side / 16))  # at most ~16x16 per channel: 28 -> 14, 32 -> 16, 64 -> 16

    @staticmethod
    def _pooled(images: torch.Tensor, pool: int) -> torch.Tensor:
        images = to_float(images)
        if pool > 1:
            images = F.avg_pool2d(images, pool, ceil_mode=True)
        return images.flatten(1)

    @classmethod
    def fit(cls, images: torch.Tensor, labels: torch.Tensor, num_classes: int, max_items: int = 10000,
            l2: float = 1e-3, iterations: int = 100) -> "LabelClassifier":
        """Fit on (up to `max_items` of) uint8 or [0, 1] images (N, C, H, W) with full-batch L-BFGS."""
        images, labels = images[:max_items].cpu(), labels[:max_items].cpu()
        pool = cls.pooling_for(images.shape[-1])
        features = cls._pooled(images, pool)
        mean, scale = features.mean(0), features.std(0).clamp_min(1e-3)
        features = (features - mean) / scale
        weight = torch.zeros(features.shape[1], num_classes, requires_grad=True)
        bias = torch.zeros(num_classes, requires_grad=True)
        optimizer = torch.optim.LBFGS([weight, bias], max_iter=iterations, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = F.cross_entropy(features @ weight + bias, labels) + l2 * weight.pow(2).sum()
            loss.backward()
            return loss

        with torch.enable_grad():
            optimizer.step(closure)
        return cls(weight.detach(), bias.detach(), mean, scale, pool)

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Class indices for images (uint8 or floats in [0, 1]), (N,)."""
        features = (self._pooled(images.cpu(), self.pool) - self.mean) / self.scale
        return (features @ self.weight + self.bias).argmax(1)

    def accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        return (self.predict(images) == labels.cpu()).float().mean().item()


def label_entropy(predicted: torch.Tensor, num_classes: int) -> float:
    """Entropy (nats) of the histogram of predicted labels: log(classes) when all are equally drawn."""
    shares = torch.bincount(predicted, minlength=num_classes).float() / max(predicted.numel(), 1)
    shares = shares[shares > 0]
    return float(-(shares * shares.log()).sum().item())


class LabelEntropy:
    """Labelled images: the entropy of the classifier's label histogram of `count` samples.

    For conditional models (asked for every class in turn) it also logs how often the classifier
    agrees with the requested class (`sample_label_accuracy`).
    """

    def __init__(self, classifier: LabelClassifier, num_classes: int, count: int = 1000, seed: int = 0) -> None:
        self.classifier, self.num_classes, self.count, self.seed = classifier, num_classes, count, seed

    def measure(self, model: Any) -> dict[str, float]:
        images, labels = draw_labelled_samples(model, self.count, self.seed)
        predicted = self.classifier.predict(images)
        values = {"sample_label_entropy": label_entropy(predicted, self.num_classes)}
        if labels is not None:
            values["sample_label_accuracy"] = (predicted == labels).float().mean().item()
        return values


def sample_monitor_for(dataset: Dataset, seed: int = 0) -> SampleMonitor | None:
    """The mode-collapse signal this dataset allows, or None (unlabelled images)."""
    if "modes" in dataset.info and "std" in dataset.info:
        return ModeCoverage(dataset.info["modes"], float(dataset.info["std"]), seed=seed)
    if dataset.kind == "image" and dataset.num_classes >= 2:
        classifier = LabelClassifier.fit(dataset.train_x, dataset.train_y, dataset.num_classes)
        return LabelEntropy(classifier, dataset.num_classes, seed=seed)
    return None
