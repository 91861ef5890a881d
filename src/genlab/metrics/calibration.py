"""Calibration: what real, degraded and trivial "samplers" score on the metrics a model is scored on.

FID in an evaluator's feature space is a number in the hundreds that nobody can read alone. So for
each dataset and evaluator genlab scores, against the same real split and with the same number of
images as a model's samples, six references whose verdict is known in advance:

- real:          images of the other split (train): what a perfect model scores at this sample count
- blurred:       those images under a Gaussian blur (sigma 1 px at 28 px, scaled with the side)
- noisy:         those images plus Gaussian noise (std 0.25), clipped to [0, 1]
- one_class:     images of a single class (mode collapse)
- mean_image:    the mean training image, repeated
- uniform_noise: uniform random pixels

Each gets FID, KID, precision, recall, density, coverage, the evaluator's class count and the
sharpness ratio. Expected order: real < blurred < one class, mean image and noise. They are
computed once and cached as JSON beside the evaluator, keyed by its weights, the real images and
the count. `quality_gate` uses them to decide whether a run learned the data at all.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from genlab.data.batches import to_float
from genlab.io import atomic_write_json
from genlab.metrics import classifier, fid, prdc, sharpness
from genlab.metrics.evaluator import Evaluator, data_fingerprint, evaluators_dir
from genlab.metrics.reference import evaluator_cache_id, real_features, real_prdc_radii

CALIBRATION_VERSION = 2  # bump when a reference's recipe changes, so old caches are not read
BLUR_SIGMA_AT_28 = 1.0
NOISE_STD = 0.25
REFERENCES = {
    "real": "real images of the other split (the floor of a perfect model at this sample count)",
    "blurred": f"real images blurred (Gaussian, sigma {BLUR_SIGMA_AT_28:g} px at 28 px)",
    "noisy": f"real images plus Gaussian noise (std {NOISE_STD:g})",
    "one_class": "real images of one class only (mode collapse)",
    "mean_image": "the mean training image, repeated",
    "uniform_noise": "uniform random pixels",
}
CALIBRATED_METRICS = ("fid", "kid_mean", "precision", "recall", "density", "coverage", "classes_covered",
                      "recognised_share", "sharpness_ratio")
KID_SCALE = ("KID is an unbiased squared MMD with the cubic kernel (x.y/d + 1)^3 on the evaluator's features; "
             "0 means the same distribution, and values are on the scale of the references beside it")

# The quality gate: a run has learned the data when its FID is clearly better than every trivial
# sampler's (one class, the mean image, noise) and its samples are neither all off the data
# (precision) nor a sliver of it (coverage). Coverage rather than recall: in an evaluator's feature
# space, real images under a 1-px blur keep 0.0-0.2% recall (so a recall floor would fail every
# blurry VAE) but 8-17% coverage, while noise and the mean image cover at most 1.5%.
GATE_FID_FRACTION = 0.8  # FID below 0.8 x the best trivial reference
GATE_PRECISION_FLOOR = 0.05
GATE_COVERAGE_FLOOR = 0.05
TRIVIAL_REFERENCES = ("one_class", "mean_image", "uniform_noise")


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Float images (N, C, H, W) blurred by a separable Gaussian of `sigma` pixels (reflected borders)."""
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    x = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    return F.conv2d(x, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)


def reference_images(train_x: torch.Tensor, train_y: torch.Tensor, count: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """The six reference "samplers": `count` float images in [0, 1] each (one_class only with 2+ classes)."""
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randint(0, train_x.shape[0], (count,), generator=generator) if count > train_x.shape[0] else \
        torch.randperm(train_x.shape[0], generator=generator)[:count]
    real = to_float(train_x[chosen])
    side = real.shape[-1]
    references = {
        "real": real,
        "blurred": gaussian_blur(real, BLUR_SIGMA_AT_28 * side / 28),
        "noisy": (real + NOISE_STD * torch.randn(real.shape, generator=generator)).clamp(0, 1),
    }
    if train_y.numel() and int(train_y.max()) >= 1:
        common = int(torch.bincount(train_y).argmax())
        members = torch.nonzero(train_y == common).flatten()
        references["one_class"] = to_float(train_x[members[torch.randint(0, members.numel(), (count,), generator=generator)]])
    mean = to_float(train_x[: min(train_x.shape[0], 20000)]).mean(0, keepdim=True)
    references["mean_image"] = mean.expand(count, *mean.shape[1:]).contiguous()
    references["uniform_noise"] = torch.rand(real.shape, generator=generator)
    return references


def score_images(images: torch.Tensor, evaluator: Evaluator, real_x: torch.Tensor,
                 class_distribution: torch.Tensor | None = None, seed: int = 0,
                 recognition_radius: float | None = None) -> dict[str, float]:
    """FID, KID, PRDC, classes covered and the recognised sharpness ratio of float `images` against `real_x`."""
    real, _, _ = real_features(evaluator, real_x)
    features, probabilities = evaluator.features_and_probabilities(images)
    scores = {"fid": fid.fid_from_features(real, features)}
    kid = fid.kernel_inception_distance(real, features, 20, min(1000, real.shape[0], features.shape[0]),
                                        torch.Generator().manual_seed(seed))
    scores["kid_mean"] = kid["kid_mean"]
    scores.update(prdc.prdc(real, features, real_radii_by_k=real_prdc_radii(evaluator, real_x, real)))
    if probabilities is not None and class_distribution is not None:
        histogram = classifier.class_histogram(probabilities.argmax(1), evaluator.num_classes, class_distribution)
        scores["classes_covered"] = float(histogram["classes_covered"])
    if recognition_radius is not None:
        mask = recognised(features, probabilities, real, recognition_radius)
        shown = recognised_sharpness(images, real_x, mask)
        scores["recognised_share"] = shown["recognised_share"]
        scores["sharpness_ratio"] = shown["sharpness_ratio"]
    return scores


# --- sharpness on recognised samples ----------------------------------------------------------------
RECOGNISED_CONFIDENCE = 0.9  # the evaluator's top class probability for a sample to count as recognised
RECOGNITION_QUANTILE = 0.9  # ... and its nearest real feature no farther than 90% of real images' are
RECOGNISED_MIN_SHARE = 0.1  # below this share of recognised samples, sharpness is not measured


def nearest_distances(features: torch.Tensor, real_features: torch.Tensor) -> torch.Tensor:
    """Euclidean distance (N,) from each feature vector to its nearest real one (blocked, float32)."""
    real, fake = prdc.centred(real_features, features)
    return torch.cat([block.min(1).values for _, block in prdc.distance_blocks(fake, real)]).sqrt()


def recognition_radius(reference_real_features: torch.Tensor, real_features: torch.Tensor) -> float:
    """The distance within which `RECOGNITION_QUANTILE` of real images (the other split) find a real neighbour."""
    return float(nearest_distances(reference_real_features, real_features).quantile(RECOGNITION_QUANTILE))


def recognised(features: torch.Tensor, probabilities: torch.Tensor | None, real_features: torch.Tensor,
               radius: float) -> torch.Tensor:
    """Which samples the evaluator recognises (N,) bool: near real data in feature space and, where the
    evaluator has classes, confidently of one class. Either test alone lets uniform noise through (a
    classifier is confident on ~45% of it; ~7% of it lands near some real image), both together do not."""
    mask = nearest_distances(features, real_features) <= radius
    if probabilities is not None:
        mask &= probabilities.max(1).values >= RECOGNISED_CONFIDENCE
    return mask


def recognised_sharpness(samples: torch.Tensor, real_x: torch.Tensor, mask: torch.Tensor) -> dict[str, float | None]:
    """Sharpness of the recognised samples (`mask`), as a ratio to the real images' sharpness.

    Noise has a huge Laplacian; counting it as "sharp" is the mistake this avoids: only recognised
    samples are scored, and when fewer than `RECOGNISED_MIN_SHARE` of them are recognised the sharpness
    is not measured (None). `sharpness_log_error` is |log ratio|: 0 when the samples are exactly as sharp
    as the data, the same for twice as blurry as for twice as noisy.
    """
    share = float(mask.double().mean()) if mask.numel() else 0.0
    real_value = float(sharpness.laplacian_variance(real_x).mean())
    result: dict[str, float | None] = {"recognised_share": share, "sharpness_ratio": None, "sharpness_log_error": None,
                                       "sharpness_recognised": None, "sharpness_real": real_value}
    if share < RECOGNISED_MIN_SHARE or int(mask.sum()) < 2 or real_value <= 0:
        return result
    value = float(sharpness.laplacian_variance(samples[mask]).mean())
    ratio = value / real_value
    result.update(sharpness_recognised=value, sharpness_ratio=ratio,
                  sharpness_log_error=abs(math.log(ratio)) if ratio > 0 else None)
    return result


# --- the cached table ---------------------------------------------------------------------------------
def calibration_path(evaluator: Evaluator, real_x: torch.Tensor, count: int, seed: int) -> Path | None:
    cache_id = evaluator_cache_id(evaluator)
    if cache_id is None:
        return None
    fingerprint = data_fingerprint(real_x, torch.zeros(0, dtype=torch.int64))
    digest = hashlib.blake2b(f"{CALIBRATION_VERSION}:{cache_id}:{fingerprint}:{count}:{seed}".encode(),
                             digest_size=8).hexdigest()
    return evaluators_dir() / "calibration" / f"{cache_id}-{count}-{digest}.json"


def calibrate(evaluator: Evaluator, real_x: torch.Tensor, train_x: torch.Tensor, train_y: torch.Tensor,
              count: int, class_distribution: torch.Tensor | None = None, seed: int = 0) -> dict[str, Any]:
    """{reference: {metric: value}} for the six references at `count` images, from the cache when there.

    `real_x` is the real split a run's samples are compared with; `train_x`/`train_y` the other split,
    from which the references are drawn.
    """
    path = calibration_path(evaluator, real_x, count, seed)
    if path is not None and path.is_file():
        try:
            cached = json.loads(path.read_text())
            if cached.get("version") == CALIBRATION_VERSION:
                return cached
        except (OSError, ValueError):
            pass  # a damaged cache file is recomputed
    images = reference_images(train_x, train_y, count, seed)
    real, _, _ = real_features(evaluator, real_x)
    radius = recognition_radius(evaluator.features(images["real"]), real)
    scores = {name: score_images(batch, evaluator, real_x, class_distribution, seed, radius) for name, batch in images.items()}
    table = {"version": CALIBRATION_VERSION, "count": count, "references": scores, "recognition_radius": radius,
             "descriptions": {name: REFERENCES[name] for name in scores}, "kid_scale": KID_SCALE}
    if path is not None:
        atomic_write_json(path, table)
    return table


def trivial_fids(calibration: dict[str, Any] | None) -> dict[str, float]:
    """{reference: FID} of the trivial samplers (one class, mean image, uniform noise) measured in `calibration`."""
    references = (calibration or {}).get("references", {})
    return {name: references[name]["fid"] for name in TRIVIAL_REFERENCES
            if isinstance(references.get(name, {}).get("fid"), (int, float))}


def normalised_fid(value: float, calibration: dict[str, Any] | None) -> float | None:
    """FID / the lowest trivial-sampler FID (the quality gate's denominator): ~0 for real images, >= ~1 for a
    sampler no better than a trivial one; None without calibration references."""
    trivial = trivial_fids(calibration)
    lowest = min(trivial.values(), default=0.0)
    return value / lowest if lowest > 0 else None


def quality_gate(metrics: dict[str, Any], calibration: dict[str, Any] | None) -> dict[str, Any]:
    """Whether a run's samples show it learned the data, judged against the calibration references.

    Passes when FID is below `GATE_FID_FRACTION` x the best trivial reference (one class, mean image,
    uniform noise) and precision and coverage reach their floors (where measured). Returns {passed,
    reason, rule}; passed is None when the metrics or references needed are missing (the gate cannot judge).
    """
    rule = (f"FID < {GATE_FID_FRACTION:g} x min(FID of {', '.join(TRIVIAL_REFERENCES)}), "
            f"precision >= {GATE_PRECISION_FLOOR:g}, coverage >= {GATE_COVERAGE_FLOOR:g}")
    trivial = trivial_fids(calibration)
    value = metrics.get("fid")
    if not isinstance(value, (int, float)) or not trivial:
        return {"passed": None, "reason": "no FID or no calibration references to judge by", "rule": rule}
    nearest_name = min(trivial, key=lambda name: abs(trivial[name] - value))
    best_name = min(trivial, key=trivial.get)
    failures = []
    if value >= GATE_FID_FRACTION * trivial[best_name]:
        failures.append(f"FID {value:.0f} ≈ {nearest_name.replace('_', ' ')} {trivial[nearest_name]:.0f}"
                        if abs(value - trivial[nearest_name]) < 0.25 * trivial[nearest_name] else
                        f"FID {value:.0f} not below {GATE_FID_FRACTION:g} x {best_name.replace('_', ' ')} {trivial[best_name]:.0f}")
    for name, floor in (("precision", GATE_PRECISION_FLOOR), ("coverage", GATE_COVERAGE_FLOOR)):
        if isinstance(metrics.get(name), (int, float)) and metrics[name] < floor:
            failures.append(f"{name} {metrics[name]:.3f} < {floor:g}")
    return {"passed": not failures, "reason": "; ".join(failures) or "learned the data", "rule": rule}
