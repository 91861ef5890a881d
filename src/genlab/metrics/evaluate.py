"""`evaluate(run)`: every metric that applies to a run, as a dict, `eval.json` and a printed table.

The flow: load the run and the real split of its dataset (full split: `subset` only says what the
model trained on), draw `n` samples (timed: sampling speed), compute the evaluator's features and
class probabilities of samples and real images once (the real ones cached), then each metric.
A metric that does not apply (no encoder, no classes, not toy2d...) is listed under `skipped`
with the reason, never silently left out.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any, Callable

import torch

from genlab._version import __version__
from genlab.config import from_dict
from genlab.data.registry import DataConfig, Dataset, load_dataset
from genlab.errors import GenlabError
from genlab.io import atomic_write_json
from genlab.metrics import calibration, classifier, fid
from genlab.metrics.evaluator import (
    Evaluator,
    canonical_data_config,
    clean_data_config,
    evaluator_for_dataset,
    inception_evaluator,
)
from genlab.metrics.metric_groups import MetricGroups, choose_items
from genlab.metrics.reference import real_features
from genlab.models.sampling import draw_samples
from genlab.runfolder import RunFolder
from genlab.train.run import Run, load_run

METRICS = ("fid", "kid", "prdc", "classifier", "likelihood", "parzen", "modes", "reconstruction", "sharpness", "spectrum",
           "pixels", "latent", "latent_control", "memorisation", "speed")
# What `metrics=None` computes: every group but those that cost seconds more per evaluation (ask for them):
# `latent` takes ~0.5 s at 2,000 samples plus ~2 s to import scikit-learn in a fresh process.
# `latent_control` decodes 2 x 192 codes per latent coordinate (38,400 images for a 100-D GAN, ~5 CPU-seconds
# for a DCGAN).
OPT_IN_METRICS = ("latent", "latent_control")
DEFAULT_METRICS = tuple(name for name in METRICS if name not in OPT_IN_METRICS)
FEATURES = ("evaluator", "inception")


@dataclasses.dataclass
class EvaluationOptions:
    """Knobs of `evaluate` beyond the metric list, recorded in eval.json."""

    n: int = 10000  # samples drawn; real images: up to n from the split
    split: str = "test"
    features: str = "evaluator"  # evaluator | inception
    seed: int = 0
    likelihood_k: int = 100  # importance samples for the model's own log-likelihood
    likelihood_items: int = 2000  # real items scored by the model's log-likelihood
    parzen_items: int = 2000  # real items for the Parzen estimate: half choose the bandwidth, half are scored
    kid_subsets: int = fid.KID_SUBSETS
    kid_subset_size: int = fid.KID_SUBSET_SIZE

    def validate(self) -> None:
        if self.n < 10:
            raise GenlabError(f"--n must be at least 10 samples, got {self.n}")
        if self.split not in ("train", "test"):
            raise GenlabError(f"--split must be 'train' or 'test', got {self.split!r}")
        if self.features not in FEATURES:
            raise GenlabError(f"--features must be one of {', '.join(FEATURES)}, got {self.features!r}")
        for key in ("likelihood_k", "likelihood_items", "parzen_items", "kid_subsets", "kid_subset_size"):
            if getattr(self, key) < 1:
                raise GenlabError(f"evaluation option '{key}' must be positive")


# The numbers each metric group reports, so asking for "recall" or "inception_score" works too.
ALIASES = {
    "precision": "prdc", "recall": "prdc", "density": "prdc", "coverage": "prdc",
    "kid_mean": "kid", "is": "classifier", "inception_score": "classifier", "classes_covered": "classifier",
    "class_kl": "classifier", "conditional_accuracy": "classifier", "nll": "likelihood", "nll_nats": "likelihood",
    "nll_unlabelled_nats": "likelihood",
    "modes_covered": "modes", "high_quality_share": "modes", "sharpness_ratio": "sharpness",
    "sampling_images_per_second": "speed", "training_seconds": "speed", "fid_normalised": "fid",
    "spectrum_low_error": "spectrum", "spectrum_high_error": "spectrum", "checkerboard_energy": "spectrum",
    "pixel_entropy": "pixels", "pixel_mean": "pixels", "latent_knn_accuracy": "latent", "latent_silhouette": "latent",
    "midpoint_entropy": "latent", "endpoint_entropy": "latent",
    "midpoint_entropy_gain": "latent", "path_length": "latent", "path_confidence_min": "latent",
    "memorisation_ratio": "memorisation", "copy_share": "memorisation",
    "latent_control_ratio": "latent_control", "latent_axis_alignment": "latent_control",
}


def parse_metrics(metrics: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """The metric groups asked for (`DEFAULT_METRICS` when None); 'a,b' strings and lists both work, and so
    do the names of the numbers a group reports ("recall" -> prdc)."""
    if metrics is None:
        return list(DEFAULT_METRICS)
    names = metrics.split(",") if isinstance(metrics, str) else [part for item in metrics for part in str(item).split(",")]
    names = [ALIASES.get(name.strip().lower(), name.strip().lower()) for name in names if name.strip()]
    unknown = [name for name in names if name not in METRICS]
    if unknown:
        raise GenlabError(f"unknown metric '{unknown[0]}'; choose from {', '.join(METRICS)}")
    if not names:
        raise GenlabError(f"no metrics given; choose from {', '.join(METRICS)}")
    return [name for name in METRICS if name in names]


def finite_or_none(value: Any) -> Any:
    """JSON cannot hold NaN/inf: such values become None (recursively)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(item) for item in value]
    return value


class Evaluation(MetricGroups):
    """The state of one evaluation: run, data, samples, features, and the results as they come."""

    def __init__(self, run: Any, metric_names: list[str], options: EvaluationOptions,
                 progress: Callable[[str], None] | None) -> None:
        self.run = run
        self.model = run.model
        self.options = options
        self.metric_names = metric_names
        self.say = progress or (lambda message: None)
        self.metrics: dict[str, Any] = {}
        self.details: dict[str, Any] = {}
        self.reference: dict[str, Any] = {}
        self.skipped: dict[str, str] = {}
        self.seconds: dict[str, float] = {}
        self.calibration: dict[str, Any] | None = None

    # --- set-up -------------------------------------------------------------------------------------
    def load_data(self) -> None:
        saved = self.run.config.get("data")
        if not saved:
            raise GenlabError(f"{self.run.path} has no data section in config.yaml; cannot tell what to compare with")
        # The whole, clean dataset the run trained on (same size, channels and options).
        self.data_config = clean_data_config(from_dict(DataConfig, saved))
        self.dataset: Dataset = load_dataset(self.data_config)
        if tuple(self.dataset.shape) != tuple(self.run.config.get("data_shape", self.dataset.shape)):
            raise GenlabError(f"the data now loads with shape {self.dataset.shape}, but the run was trained on "
                              f"{tuple(self.run.config['data_shape'])}; the dataset on disk has changed")
        x, y = self.dataset.split(self.options.split)
        if x.shape[0] < 10:
            raise GenlabError(f"the {self.options.split} split of '{self.dataset.name}' has only {x.shape[0]} items")
        keep = choose_items(x.shape[0], self.options.n, self.options.seed)
        self.real_x, self.real_y = x[keep], y[keep]
        self.is_points = self.dataset.kind == "points"

    def load_evaluator(self) -> None:
        started = time.perf_counter()
        if self.options.features == "inception":
            if self.is_points:
                raise GenlabError("--features inception is for images; toy2d points are compared as coordinates")
            self.evaluator: Evaluator = inception_evaluator()
        else:
            canonical = canonical_data_config(self.data_config)
            dataset = self.dataset if canonical == self.data_config else load_dataset(canonical)
            self.evaluator = evaluator_for_dataset(dataset, canonical, progress=self.say)
        self.seconds["evaluator"] = time.perf_counter() - started

    def class_distribution(self) -> torch.Tensor:
        declared = self.dataset.info.get("class_probabilities")
        if declared is not None:
            return torch.as_tensor(declared, dtype=torch.float64)
        return classifier.data_class_distribution(self.dataset.train_y, self.evaluator.num_classes)

    def sample(self) -> None:
        n = self.options.n
        self.requested_labels = None
        if self.model.conditional:
            # Ask for classes in the data's proportions, with their own seeded draw.
            distribution = classifier.data_class_distribution(self.dataset.train_y, self.dataset.num_classes)
            generator = torch.Generator().manual_seed(self.options.seed + 7)
            self.requested_labels = torch.multinomial(distribution.float(), n, replacement=True, generator=generator)
        self.say(f"drawing {n} samples")
        device = self.model.device
        generator = torch.Generator(device=device) if device.type != "cpu" else torch.Generator()
        started = time.perf_counter()
        self.samples = draw_samples(self.model, n, self.requested_labels, generator.manual_seed(self.options.seed))
        self.sample_seconds = time.perf_counter() - started
        if not self.is_points:
            self.samples = self.samples.clamp(0, 1)

    def compute_features(self) -> None:
        started = time.perf_counter()
        self.say("computing features of samples and real images")
        self.fake_features, self.fake_probabilities = self.evaluator.features_and_probabilities(self.samples)
        self.real_features, self.real_probabilities, cached = real_features(self.evaluator, self.real_x)
        self.details["real_features_cached"] = cached
        self.seconds["features"] = time.perf_counter() - started

    def calibrate(self) -> None:
        """The references (real, blurred, noisy, one class, mean image, noise) at this sample count, cached."""
        if self.is_points or not {"fid", "kid", "prdc", "sharpness"} & set(self.metric_names):
            return
        started = time.perf_counter()
        self.say("calibration references (cached after the first time)")
        other = "train" if self.options.split == "test" else "test"
        other_x, other_y = self.dataset.split(other)
        if other_x.shape[0] < 2:
            return
        distribution = self.class_distribution() if self.fake_probabilities is not None else None
        self.calibration = calibration.calibrate(self.evaluator, self.real_x, other_x, other_y, int(self.samples.shape[0]),
                                                 distribution, seed=self.options.seed)
        self.seconds["calibration"] = time.perf_counter() - started

    # --- the metric groups: metric_<name> methods inherited from MetricGroups (metric_groups.py) ---
    # --- the whole evaluation -----------------------------------------------------------------------
    def run_all(self) -> dict[str, Any]:
        started = time.perf_counter()
        self.load_data()
        self.load_evaluator()
        self.sample()
        self.compute_features()
        self.calibrate()
        for name in self.metric_names:
            begun = time.perf_counter()
            self.say(f"{name}")
            getattr(self, f"metric_{name}")()
            self.seconds[name] = time.perf_counter() - begun
        self.seconds["total"] = time.perf_counter() - started
        evaluator_info = {"kind": self.evaluator.kind, "description": self.evaluator.description,
                          "feature_dim": self.evaluator.feature_dim, "path": str(self.evaluator.path) if self.evaluator.path else None}
        for key in ("test_accuracy", "test_mse", "train_seconds", "base_dataset", "base_accuracy"):
            if key in self.evaluator.metadata:
                evaluator_info[key] = self.evaluator.metadata[key]
        return finite_or_none({
            "run": str(self.run.path),
            "model": self.run.config["model"]["name"],
            "step": self.run.step,
            "dataset": self.dataset.name,
            "data": dataclasses.asdict(self.data_config),
            "split": self.options.split,
            "n_samples": int(self.samples.shape[0]),
            "n_real": int(self.real_x.shape[0]),
            "options": dataclasses.asdict(self.options),
            "features": evaluator_info,
            "metrics": self.metrics,
            "reference": self.reference,
            "calibration": self.calibration,
            "quality_gate": calibration.quality_gate(self.metrics, self.calibration),
            "details": self.details,
            "skipped": self.skipped,
            "seconds": self.seconds,
            "genlab_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        })


def evaluate(
    run_or_path: Any,
    metrics: str | list[str] | None = None,
    n: int = 10000,
    split: str = "test",
    *,
    features: str = "evaluator",
    seed: int = 0,
    write: bool = True,
    progress: Callable[[str], None] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Evaluate a trained run: FID, KID, PRDC, classifier metrics, likelihoods, modes, reconstruction,
    sharpness, power spectrum, pixel statistics, memorisation and speed (each where it applies; `metrics`
    also takes the opt-in group `latent`). Writes `eval.json` into the run folder (unless
    `write=False`) and returns the same dict. `options` are further `EvaluationOptions` fields
    (likelihood_k, likelihood_items, parzen_items, kid_subsets, kid_subset_size).
    """
    evaluation_options = from_dict(EvaluationOptions, {"n": n, "split": split, "features": features, "seed": seed, **options})
    metric_names = parse_metrics(metrics)
    run = run_or_path if isinstance(run_or_path, Run) else load_run(Path(run_or_path))
    with run.model.inference(), torch.random.fork_rng(devices=[]):  # evaluation never moves the caller's RNG
        result = Evaluation(run, metric_names, evaluation_options, progress).run_all()
    eval_path = RunFolder(run.path).eval
    result["eval_json"] = str(eval_path) if write else None
    if write:
        atomic_write_json(eval_path, result)
    return result
