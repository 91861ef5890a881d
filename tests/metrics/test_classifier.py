"""Classifier-based metrics: the Inception-Score analogue, the class histogram, conditional accuracy."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.metrics.classifier import class_histogram, conditional_accuracy, inception_score


def test_inception_score_is_the_class_count_for_confident_balanced_samples_and_one_for_a_single_class():
    confident = torch.eye(10).repeat(50, 1)  # 500 one-hot predictions, every class equally often
    assert inception_score(confident)["inception_score"] == pytest.approx(10.0, rel=1e-6)
    single = torch.zeros(500, 10)
    single[:, 3] = 1.0
    assert inception_score(single)["inception_score"] == pytest.approx(1.0, rel=1e-6)
    unsure = torch.full((500, 10), 0.1)  # balanced but never confident
    assert inception_score(unsure)["inception_score"] == pytest.approx(1.0, rel=1e-6)


def test_class_histogram_counts_covered_classes_and_kl_to_the_data():
    uniform = torch.full((10,), 0.1)
    balanced = class_histogram(torch.arange(1000) % 10, 10, uniform)
    assert balanced["classes_covered"] == 10 and balanced["class_kl"] == pytest.approx(0.0, abs=1e-6)
    # Half the classes, evenly: KL = log 2; a single stray sample of a class does not cover it.
    half = torch.cat([torch.arange(1000) % 5, torch.tensor([7])])
    result = class_histogram(half, 10, uniform)
    assert result["classes_covered"] == 5
    assert result["class_kl"] == pytest.approx(math.log(2), abs=0.01)


def test_conditional_accuracy_is_the_share_classified_as_requested():
    probabilities = torch.eye(4)[torch.tensor([0, 1, 2, 2])]
    assert conditional_accuracy(probabilities, torch.tensor([0, 1, 2, 3])) == 0.75
