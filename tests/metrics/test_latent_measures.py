"""Latent-space measures: class clusters of codes and decodings along paths, on cases with known answers."""

from __future__ import annotations

import math

import pytest
import torch

import genlab
from genlab.metrics.latent_measures import (class_cluster_measures, pairs_of_different_classes, path_codes,
                                            path_measures)
from tests.metrics.test_evaluate import sampler_run


def three_clusters(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """300 codes in 4-d: three Gaussian clusters (std 1) ten units apart, labelled by cluster."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(3).repeat_interleave(100)
    centres = 10.0 * torch.eye(3, 4)
    return centres[labels] + torch.randn(300, 4, generator=generator), labels


def test_codes_in_well_separated_class_clusters_score_high():
    codes, labels = three_clusters()
    measures = class_cluster_measures(codes, labels)
    assert measures["latent_knn_accuracy"] == 1.0
    assert measures["latent_silhouette"] > 0.7


def test_codes_whose_labels_say_nothing_score_at_chance():
    codes, labels = three_clusters()
    shuffled = labels[torch.randperm(300, generator=torch.Generator().manual_seed(1))]
    measures = class_cluster_measures(codes, shuffled)
    assert measures["latent_knn_accuracy"] == pytest.approx(1 / 3, abs=0.12)
    assert abs(measures["latent_silhouette"]) < 0.1


def test_one_class_gives_no_cluster_measures():
    codes, _ = three_clusters()
    assert class_cluster_measures(codes, torch.zeros(300, dtype=torch.long)) == {}


def test_path_codes_run_linearly_from_start_to_end():
    starts, ends = torch.zeros(2, 3), torch.tensor([[10.0, 0, 0], [0, 0, 20.0]])
    codes = path_codes(starts, ends).reshape(2, 11, 3)
    assert torch.equal(codes[:, 0], starts) and torch.allclose(codes[:, -1], ends)
    assert codes[1, 5].tolist() == pytest.approx([0, 0, 10.0])


def test_a_jump_along_a_path_is_ten_times_longer_than_a_smooth_change():
    # Features moving from 0 to (3, 4) (distance 5): evenly, or all at once between two points.
    t = torch.linspace(0, 1, 11)[:, None]
    smooth = t * torch.tensor([3.0, 4.0])
    jump = (t > 0.55).float() * torch.tensor([3.0, 4.0])
    # Evenly: 10 steps of 0.5^2 / 0.1^2 = 25, summed 250; at once: one step of 5^2 / 0.1^2 = 2500.
    assert path_measures(smooth, None)["path_length"] == pytest.approx(250.0)
    assert path_measures(jump, None)["path_length"] == pytest.approx(2500.0)


def test_entropy_and_confidence_along_a_path_through_an_unsure_midpoint():
    # One path of 11 decodings over 4 classes: sure of class 0 at t = 0, sure of class 1 at t = 1,
    # uniform at the midpoint, in between sure of class 0 / 1.
    probabilities = torch.zeros(11, 4)
    probabilities[:5, 0] = 1.0
    probabilities[6:, 1] = 1.0
    probabilities[5] = 0.25
    measures = path_measures(torch.zeros(11, 2), probabilities)
    assert measures["midpoint_entropy"] == pytest.approx(math.log(4))
    assert measures["endpoint_entropy"] == pytest.approx(0.0)
    assert measures["midpoint_entropy_gain"] == pytest.approx(math.log(4))
    assert measures["path_confidence_min"] == pytest.approx(0.25)
    assert measures["path_length"] == 0.0


def test_pairs_join_items_of_different_classes():
    labels = torch.tensor([0, 0, 1, 2, 2, 2])
    first, second = pairs_of_different_classes(labels, 50, torch.Generator().manual_seed(0))
    assert (labels[first] != labels[second]).all()
    assert pairs_of_different_classes(torch.zeros(5, dtype=torch.long), 3, torch.Generator()) is None


def test_evaluate_latent_on_a_trained_vae_and_on_a_model_without_a_latent(evaluator_env, mnist5k, tmp_path):
    run = genlab.train("vae", data={"name": "mnist-5k", "subset": 1000}, out=tmp_path / "vae", steps=200,
                       config={"hidden_dims": [64], "latent_dim": 4}, progress=False, sample_every=0, eval_every=0,
                       log_every=20)
    result = genlab.evaluate(run.path, metrics="latent", n=300, write=False)
    metrics = result["metrics"]
    assert metrics["latent_knn_accuracy"] > 0.3  # ten classes: chance is 0.1; codes of digits cluster by class
    assert -1 <= metrics["latent_silhouette"] <= 1
    for key in ("midpoint_entropy", "endpoint_entropy", "path_length", "path_confidence_min"):
        assert key in metrics, key
    assert 0 <= metrics["endpoint_entropy"] <= math.log(10) and 0.1 <= metrics["path_confidence_min"] <= 1
    no_latent = genlab.evaluate(sampler_run(tmp_path / "sampler", mnist5k.test_x), metrics="latent", n=100, write=False)
    assert "latent" in no_latent["skipped"] and "path_length" not in no_latent["metrics"]
