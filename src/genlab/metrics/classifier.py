"""Metrics from the evaluator's class probabilities of samples.

- Inception-Score analogue (Salimans et al. 2016 with the dataset's own classifier):
  exp(E_x KL(p(y|x) || p(y))), the mean and std over 10 splits. High when samples are confidently
  classified (quality) and spread over the classes (diversity); at most the number of classes.
- The class histogram of samples (each sample's most probable class): classes covered, and
  KL(sample class distribution || data class distribution) in nats (PacGAN's "reverse KL").
- For conditional models: the share of samples classified as the class they were asked for.
"""

from __future__ import annotations

import math

import torch

SCORE_SPLITS = 10
# A class counts as covered when it gets at least this fraction of its expected share of samples,
# so a handful of stray samples of a class does not count as generating it.
COVERED_FRACTION_OF_SHARE = 0.1


def inception_score(probabilities: torch.Tensor, splits: int = SCORE_SPLITS) -> dict[str, float]:
    """exp(E KL(p(y|x) || p(y))) over `splits` equal parts of (N, K) class probabilities: mean and std."""
    probabilities = probabilities.double().clamp_min(1e-12)
    splits = max(1, min(splits, probabilities.shape[0]))
    scores = []
    for part in probabilities.chunk(splits):
        marginal = part.mean(0, keepdim=True)
        kl = (part * (part.log() - marginal.log())).sum(1).mean()
        scores.append(math.exp(float(kl)))
    values = torch.tensor(scores, dtype=torch.float64)
    return {"inception_score": float(values.mean()), "inception_score_std": float(values.std(unbiased=False))}


def class_histogram(predicted: torch.Tensor, num_classes: int, data_distribution: torch.Tensor) -> dict[str, object]:
    """Counts of predicted classes, classes covered and KL(samples || data) in nats."""
    counts = torch.bincount(predicted, minlength=num_classes).double()
    sample_distribution = counts / counts.sum()
    data_distribution = data_distribution.double() / data_distribution.sum()
    expected = data_distribution * counts.sum()
    covered = int(((counts >= COVERED_FRACTION_OF_SHARE * expected) & (counts > 0)).sum())
    present = sample_distribution > 0
    kl = float((sample_distribution[present] * (sample_distribution[present] / data_distribution[present]).log()).sum())
    return {
        "classes_covered": covered,
        "classes_total": num_classes,
        "class_kl": kl,
        "class_counts": [int(c) for c in counts],
    }


def data_class_distribution(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The class frequencies of a labelled split, (K,)."""
    counts = torch.bincount(labels, minlength=num_classes).double()
    return counts / counts.sum()


def conditional_accuracy(probabilities: torch.Tensor, requested: torch.Tensor) -> float:
    """Share of samples whose most probable class is the one requested."""
    return float((probabilities.argmax(1) == requested.cpu()).double().mean())
