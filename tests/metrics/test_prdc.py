"""Precision, recall, density and coverage on cases with known answers."""

from __future__ import annotations

import pytest
import torch

from genlab.metrics.prdc import kth_neighbour_radii, prdc, real_radii
from tests.metrics.conftest import degrade


def test_identical_sets_give_precision_recall_coverage_one_and_density_about_one():
    features = torch.randn(600, 32, generator=torch.Generator().manual_seed(0))
    result = prdc(features, features.clone())
    assert result["precision"] == 1.0 and result["recall"] == 1.0 and result["coverage"] == 1.0
    assert result["density"] == pytest.approx(1.0, abs=0.1)


def test_two_samples_of_one_distribution_score_high_and_a_shifted_one_low():
    generator = torch.Generator().manual_seed(1)
    real = torch.randn(1000, 8, generator=generator)
    same = prdc(real, torch.randn(1000, 8, generator=generator))
    shifted = prdc(real, torch.randn(1000, 8, generator=generator) + 3.0)
    assert min(same["precision"], same["recall"], same["coverage"]) > 0.7 and 0.7 < same["density"] < 1.3
    assert max(shifted.values()) < 0.1


def test_kth_neighbour_radius_excludes_the_point_itself():
    points = torch.tensor([[0.0], [1.0], [3.0], [6.0]])
    radii = kth_neighbour_radii(points, (1, 3))
    torch.testing.assert_close(radii[1], torch.tensor([1.0, 1.0, 4.0, 9.0]))  # squared distances
    torch.testing.assert_close(radii[3], torch.tensor([36.0, 25.0, 9.0, 36.0]))


def test_mode_dropping_keeps_precision_and_loses_recall_while_a_blur_noise_mix_does_the_reverse(
        mnist_evaluator, mnist5k, mnist_features):
    _, test_features = mnist_features
    ones = mnist5k.train_x[mnist5k.train_y == 1][:1000]  # real images of one class only
    dropped = prdc(test_features, mnist_evaluator.features(ones))
    assert dropped["precision"] > 0.8 and dropped["recall"] < 0.3, dropped
    assert dropped["coverage"] < 0.3

    mixed_images = degrade(mnist5k.train_x[:1000].float() / 255)  # every class, but blurred or noisy
    mixed = prdc(test_features, mnist_evaluator.features(mixed_images))
    assert mixed["recall"] > 0.65 and mixed["precision"] < 0.7, mixed
    assert mixed["recall"] - mixed["precision"] > 0.1
    assert mixed["precision"] < dropped["precision"] - 0.2 and mixed["recall"] > dropped["recall"] + 0.4


def reference_prdc(real: torch.Tensor, fake: torch.Tensor, k_pr: int = 3, k_dc: int = 5) -> dict[str, float]:
    """The authors' formulas (clovaai/generative-evaluation-prdc) on whole float64 distance matrices."""
    real, fake = real.double(), fake.double()
    real_real, fake_fake, real_fake = torch.cdist(real, real), torch.cdist(fake, fake), torch.cdist(real, fake)
    # The k-th smallest of each row, the point itself (distance 0) being the first.
    real_pr, real_dc = real_real.sort(1).values[:, k_pr], real_real.sort(1).values[:, k_dc]
    fake_pr = fake_fake.sort(1).values[:, k_pr]
    return {
        "precision": float((real_fake < real_pr[:, None]).any(0).double().mean()),
        "recall": float((real_fake < fake_pr[None, :]).any(1).double().mean()),
        "density": float((real_fake < real_dc[:, None]).sum(0).double().mean() / k_dc),
        "coverage": float((real_fake.min(1).values < real_dc).double().mean()),
    }


def test_blocked_prdc_and_cached_real_radii_equal_the_formulas_on_whole_distance_matrices(monkeypatch):
    # Blocks of 64 rows leave a short last block; the sets overlap partly, so every score is strictly
    # between 0 and 1 and a wrong block offset or a stale buffer row would change it.
    generator = torch.Generator().manual_seed(3)
    real = torch.randn(300, 12, generator=generator) + 5.0
    fake = torch.randn(230, 12, generator=generator) * 1.3 + 5.4
    monkeypatch.setattr("genlab.metrics.prdc.BLOCK_ROWS", 64)
    expected = reference_prdc(real, fake)
    assert all(0.05 < value < 0.98 for value in expected.values()), expected
    blocked = prdc(real, fake)
    assert blocked == pytest.approx(expected, abs=1e-12)
    with_radii = prdc(real, fake, real_radii_by_k=real_radii(real))
    assert with_radii == blocked
    with pytest.raises(ValueError, match="radii"):
        prdc(real, fake, real_radii_by_k=real_radii(real[:100]))
