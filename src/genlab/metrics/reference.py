"""Cached features of real images: the reference side of FID, KID, PRDC and the classifier metrics.

The real split's features depend only on the evaluator and the images, so they are computed once
and kept (safetensors) under `<cache>/evaluators/reference/`, keyed by the evaluator and a content
hash of the exact images; FID's mean and covariance come from them in milliseconds. PRDC's k-NN radii
of the real set (a pass over N x N distances) are added to the same file the first time PRDC asks.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from genlab.io import load_tensors, save_tensors
from genlab.metrics import prdc
from genlab.metrics.evaluator import Evaluator, data_fingerprint, evaluators_dir


def evaluator_cache_id(evaluator: Evaluator) -> str | None:
    """A stable name for the evaluator's weights, or None when its features need no caching (points)."""
    if evaluator.kind == "identity":
        return None
    if evaluator.path is None:
        return None
    return f"{evaluator.kind}-{Path(evaluator.path).stem}"


def reference_path(evaluator: Evaluator, images: torch.Tensor) -> Path | None:
    cache_id = evaluator_cache_id(evaluator)
    if cache_id is None:
        return None
    labels = torch.zeros(0, dtype=torch.int64)
    digest = hashlib.blake2b(f"{cache_id}:{data_fingerprint(images, labels)}".encode(), digest_size=8).hexdigest()
    return evaluators_dir() / "reference" / f"{cache_id}-{images.shape[0]}-{digest}.safetensors"


def real_features(evaluator: Evaluator, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, bool]:
    """(features, probabilities or None, from_cache) of real `images`, read from or written to the cache."""
    path = reference_path(evaluator, images)
    if path is not None and path.is_file():
        try:
            tensors = load_tensors(path)
        except Exception:  # a damaged cache file is recomputed below
            tensors = None
        if tensors is not None and tensors["features"].shape[0] == images.shape[0]:
            return tensors["features"], tensors.get("probabilities"), True
    features, probabilities = evaluator.features_and_probabilities(images)
    if path is not None:
        tensors = {"features": features}
        if probabilities is not None:
            tensors["probabilities"] = probabilities
        save_tensors(path, tensors, metadata=reference_metadata(evaluator, images))
    return features, probabilities, False


def reference_metadata(evaluator: Evaluator, images: torch.Tensor) -> dict[str, str]:
    """What a reference file records about its origin (safetensors string metadata)."""
    return {"evaluator": str(evaluator.path), "items": str(images.shape[0])}


def real_prdc_radii(evaluator: Evaluator, images: torch.Tensor, features: torch.Tensor) -> dict[int, torch.Tensor]:
    """PRDC's k-NN radii of real `features` (those of `images`): read from the reference cache file when it
    holds them for exactly these features, else computed and added to it."""
    names = {k: f"prdc_radii_k{k}" for k in sorted({prdc.PRECISION_RECALL_K, prdc.DENSITY_COVERAGE_K})}
    path = reference_path(evaluator, images)
    tensors = None
    if path is not None and path.is_file():
        try:
            tensors = load_tensors(path)
        except Exception:  # a damaged cache file: compute, and leave it to real_features to rewrite
            tensors = None
        if tensors is not None and not torch.equal(tensors.get("features", torch.zeros(0)), features):
            tensors = None  # radii of other features would be wrong; never mix them
    if tensors is not None and all(name in tensors for name in names.values()):
        return {k: tensors[name] for k, name in names.items()}
    radii = prdc.real_radii(features)
    if tensors is not None:
        save_tensors(path, {**tensors, **{name: radii[k] for k, name in names.items()}},
                     metadata=reference_metadata(evaluator, images))
    return radii
