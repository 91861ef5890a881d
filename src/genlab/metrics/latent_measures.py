"""Measures of a model's latent space: do codes cluster by class, and how do decodings change along paths?

Codes of labelled test images (models with an encoder; the posterior mean for VAEs):
- `latent_knn_accuracy`: 5-nearest-neighbour class accuracy of the codes, 5-fold cross-validated
  (scikit-learn). High when codes of the same class lie together, without the model seeing labels.
- `latent_silhouette`: scikit-learn's silhouette score of the codes grouped by class, in [-1, 1].

Linear paths z(t) = (1 - t) a + t b, t = 0, 0.1, ..., 1 (11 points), between pairs of codes: encoder
codes of two test images of different classes when the model has an encoder, else two draws from its
prior. Each point is decoded and read by the dataset's evaluator:
- `midpoint_entropy` / `endpoint_entropy`: the evaluator classifier's predictive entropy (nats) of the
  decoding at t = 0.5 / at t = 0 and 1, averaged over paths. A midpoint far above the ends is an
  unrecognisable mixture between classes; `midpoint_entropy_gain` is midpoint minus endpoint entropy.
- `path_confidence_min`: per path the lowest top-class probability along it, averaged over paths.
- `path_length`: a perceptual path length (after Karras et al. 2019) in evaluator features:
  mean over paths of sum_{i=0..9} ||f(x(t_i + eps)) - f(x(t_i))||^2 / eps^2, eps = 0.1, with f the
  evaluator's features and x(t) the decoding of z(t). Small for paths that change smoothly; a jump
  (a latent space that is not continuous) adds a large term.

Where a model lacks what a measure needs (no encoder, no decoder, a class-conditional decoder whose
class comes from its label rather than its code), the reason is returned and the measure left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from genlab.latent import common
from genlab.metrics.evaluator import Evaluator

KNN_NEIGHBOURS = 5
CV_FOLDS = 5
PATH_POINTS = 11  # t = 0, 0.1, ..., 1
PATH_EPSILON = 1.0 / (PATH_POINTS - 1)
PATHS = 100
CODE_ITEMS = 1000  # labelled test images encoded for the cluster measures


def class_cluster_measures(codes: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray,
                           seed: int = 0) -> dict[str, float]:
    """latent_knn_accuracy (5-NN, 5-fold stratified cross-validation) and latent_silhouette of codes (N, D)
    by class; classes with fewer than 5 items are left out; {} when fewer than 2 classes remain."""
    from sklearn.metrics import silhouette_score
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    codes = np.asarray(codes, dtype=np.float64).reshape(len(codes), -1)
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    keep = np.isin(labels, classes[counts >= CV_FOLDS])
    codes, labels = codes[keep], labels[keep]
    if np.unique(labels).size < 2:
        return {}
    folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed)
    accuracy = cross_val_score(KNeighborsClassifier(n_neighbors=KNN_NEIGHBOURS), codes, labels, cv=folds)
    return {"latent_knn_accuracy": float(accuracy.mean()),
            "latent_silhouette": float(silhouette_score(codes, labels))}


def path_codes(starts: torch.Tensor, ends: torch.Tensor, points: int = PATH_POINTS) -> torch.Tensor:
    """Codes along the linear paths from each start to its end: (P * points, D), path by path."""
    t = torch.linspace(0, 1, points, dtype=starts.dtype)[None, :, None]  # (1, T, 1)
    return ((1 - t) * starts[:, None, :] + t * ends[:, None, :]).reshape(-1, starts.shape[1])


def entropy_nats(probabilities: torch.Tensor) -> torch.Tensor:
    """Predictive entropy -sum p log p of each row (N,), nats."""
    p = probabilities.double()
    return -torch.special.xlogy(p, p).sum(1)


def path_measures(features: torch.Tensor, probabilities: torch.Tensor | None,
                  points: int = PATH_POINTS) -> dict[str, float]:
    """path_length from evaluator features (P * points, D) of the decodings along P paths, and the entropy
    and confidence measures from their class probabilities (P * points, K) when the evaluator has classes."""
    epsilon = 1.0 / (points - 1)
    steps = features.double().reshape(-1, points, features.shape[1]).diff(dim=1)  # (P, points - 1, D)
    result = {"path_length": float((steps.square().sum(2).sum(1) / epsilon**2).mean())}
    if probabilities is not None:
        p = probabilities.reshape(-1, points, probabilities.shape[1])  # (P, points, K)
        entropy = entropy_nats(p.reshape(-1, p.shape[2])).reshape(p.shape[0], points)
        result["midpoint_entropy"] = float(entropy[:, points // 2].mean())
        result["endpoint_entropy"] = float(entropy[:, [0, -1]].mean())
        # One number for claims ("midpoints are less certain than the ends"): > 0 when they are.
        result["midpoint_entropy_gain"] = result["midpoint_entropy"] - result["endpoint_entropy"]
        result["path_confidence_min"] = float(p.max(2).values.min(1).values.double().mean())
    return result


def pairs_of_different_classes(labels: torch.Tensor, count: int, generator: torch.Generator
                               ) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Indices (first, second) of `count` random pairs whose labels differ; None with fewer than 2 classes."""
    if labels.numel() < 2 or int(labels.unique().numel()) < 2:
        return None
    first = torch.randint(0, labels.numel(), (count,), generator=generator)
    second = torch.empty_like(first)
    for position, index in enumerate(first.tolist()):
        others = torch.nonzero(labels != labels[index]).flatten()
        second[position] = others[torch.randint(0, others.numel(), (1,), generator=generator)]
    return first, second


def latent_measures(model: Any, evaluator: Evaluator, images: torch.Tensor, labels: torch.Tensor,
                    seed: int = 0, paths: int = PATHS, code_items: int = CODE_ITEMS
                    ) -> tuple[dict[str, float], dict[str, str]]:
    """(measures, {measure group: why it was left out}) for a model on labelled test `images` (uint8 or float)."""
    measures: dict[str, float] = {}
    left_out: dict[str, str] = {}
    if not common.has_latent_space(model):
        return measures, {"latent": f"'{common.model_name(model)}' has no latent space (no decode(z))"}
    generator = torch.Generator().manual_seed(seed)
    conditional = bool(getattr(model, "conditional", False))
    codes = None
    if common.has_encoder(model):
        chosen = torch.randperm(images.shape[0], generator=generator)[:code_items]
        codes = common.encode(model, images[chosen], labels[chosen] if conditional else None)
        chosen_labels = labels[chosen]
        measures.update(class_cluster_measures(codes, chosen_labels, seed))
        if "latent_knn_accuracy" not in measures:
            left_out["latent clusters"] = "fewer than 2 classes with 5 labelled test images"
    else:
        left_out["latent clusters"] = common.no_encoder_message(model)
    if conditional:
        left_out["latent paths"] = "the decoder takes its class from the label, not from the code"
        return measures, left_out
    pairs = pairs_of_different_classes(chosen_labels, paths, generator) if codes is not None else None
    if pairs is not None:
        starts, ends = codes[pairs[0]], codes[pairs[1]]
    else:  # no encoder (or no classes): paths between draws from the prior
        drawn = common.draw_codes(model, 2 * paths, generator)
        starts, ends = drawn[:paths], drawn[paths:]
    decoded = common.decode(model, path_codes(starts, ends))
    features, probabilities = evaluator.features_and_probabilities(decoded)
    measures.update(path_measures(features, probabilities))
    return measures, left_out
