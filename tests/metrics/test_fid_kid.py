"""FID and KID against answers known in advance, and against torchmetrics' implementations."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genlab.metrics.fid import (
    feature_statistics,
    fid_from_features,
    frechet_distance,
    kernel_inception_distance,
    unbiased_mmd2,
)


def random_covariance(dims: int, generator: torch.Generator) -> torch.Tensor:
    factor = torch.randn(dims, dims, generator=generator, dtype=torch.float64)
    return factor @ factor.T / dims + 0.1 * torch.eye(dims, dtype=torch.float64)


def test_fid_of_gaussians_matches_the_closed_form():
    # Commuting (diagonal) covariances: the distance is |m1 - m2|^2 + sum (sqrt(a) - sqrt(b))^2.
    mean_1, mean_2 = torch.tensor([0.0, 1.0, -2.0]), torch.tensor([1.0, 1.0, 0.0])
    var_1, var_2 = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([9.0, 1.0, 0.25])
    expected = 5.0 + (1 - 3) ** 2 + (2 - 1) ** 2 + 0.0
    assert frechet_distance(mean_1, torch.diag(var_1), mean_2, torch.diag(var_2)) == pytest.approx(expected, rel=1e-10)

    # Full covariances: the trace term equals the one computed with scipy's matrix square root.
    import scipy.linalg

    generator = torch.Generator().manual_seed(0)
    cov_1, cov_2 = random_covariance(6, generator), random_covariance(6, generator)
    mean = torch.randn(6, generator=generator, dtype=torch.float64)
    root = scipy.linalg.sqrtm(cov_1.numpy() @ cov_2.numpy()).real
    expected = float(mean.square().sum() + cov_1.trace() + cov_2.trace()) - 2 * float(root.trace())
    assert frechet_distance(mean, cov_1, torch.zeros(6), cov_2) == pytest.approx(expected, rel=1e-8)

    # Estimated from samples of the two Gaussians, it converges to the same number.
    count = 200_000
    chol_1, chol_2 = torch.linalg.cholesky(cov_1), torch.linalg.cholesky(cov_2)
    samples_1 = mean + torch.randn(count, 6, generator=generator, dtype=torch.float64) @ chol_1.T
    samples_2 = torch.randn(count, 6, generator=generator, dtype=torch.float64) @ chol_2.T
    assert fid_from_features(samples_1, samples_2) == pytest.approx(expected, rel=0.02)


def test_fid_is_symmetric_and_zero_on_identical_sets():
    generator = torch.Generator().manual_seed(1)
    a = torch.randn(500, 16, generator=generator)
    b = torch.randn(400, 16, generator=generator) * 1.5 + 0.3
    assert fid_from_features(a, b) == pytest.approx(fid_from_features(b, a), rel=1e-9)
    assert fid_from_features(a, a) == pytest.approx(0.0, abs=1e-8)
    assert fid_from_features(a, b) > 1.0


def test_fid_in_evaluator_space_is_small_between_real_splits_and_large_for_noise_or_one_image(mnist_evaluator, mnist5k, mnist_features):
    train_features, test_features = mnist_features
    real_vs_real = fid_from_features(train_features[:1000], test_features)
    noise = torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    noise_fid = fid_from_features(mnist_evaluator.features(noise), test_features)
    repeated = mnist_evaluator.features(mnist5k.train_x[:1].repeat(1000, 1, 1, 1))
    repeated_fid = fid_from_features(repeated, test_features)
    assert real_vs_real * 50 < repeated_fid and real_vs_real * 100 < noise_fid, (real_vs_real, repeated_fid, noise_fid)


def test_fid_matches_torchmetrics_with_the_evaluator_as_its_feature_network(mnist_evaluator, mnist5k, mnist_features):
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import poly_mmd

    class EvaluatorFeatures(nn.Module):
        num_features = mnist_evaluator.feature_dim

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return mnist_evaluator.features(images)

    metric = FrechetInceptionDistance(feature=EvaluatorFeatures())
    metric.update(mnist5k.train_x[:1000], real=True)
    metric.update(mnist5k.test_x, real=False)
    train_features, test_features = mnist_features
    ours = fid_from_features(train_features[:1000], test_features)
    assert ours == pytest.approx(float(metric.compute()), rel=1e-3)
    # KID's per-subset estimate: the same unbiased MMD^2 with the cubic kernel.
    x, y = train_features[:300].double(), test_features[:300].double()
    assert float(unbiased_mmd2(x, y)) == pytest.approx(float(poly_mmd(x, y)), rel=1e-6)


def test_kid_is_unbiased_near_zero_for_two_halves_of_the_same_data_and_large_for_noise(mnist_evaluator, mnist_features):
    train_features, _ = mnist_features
    # Subsets of 500 from halves of 2,000 overlap little, so their spread is KID's own uncertainty.
    halves = kernel_inception_distance(train_features[:2000], train_features[2000:], subsets=100, subset_size=500)
    assert abs(halves["kid_mean"]) < halves["kid_std"], halves
    noise = mnist_evaluator.features(torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(0)))
    far = kernel_inception_distance(train_features[:1000], noise, subsets=5, subset_size=500)
    assert far["kid_mean"] > 100 * halves["kid_std"]
    again = kernel_inception_distance(train_features[:2000], train_features[2000:], subsets=100, subset_size=500)
    assert again == halves  # the default generator is seeded: reproducible


def test_feature_statistics_are_the_unbiased_moments():
    values = torch.tensor([[1.0, 2.0], [3.0, 6.0], [5.0, 4.0]])
    mean, cov = feature_statistics(values)
    torch.testing.assert_close(mean, torch.tensor([3.0, 4.0], dtype=torch.float64))
    torch.testing.assert_close(cov, torch.tensor([[4.0, 2.0], [2.0, 4.0]], dtype=torch.float64))
    assert math.isclose(frechet_distance(mean, cov, mean, cov), 0.0, abs_tol=1e-9)


def test_kid_in_batches_of_subsets_equals_one_subset_at_a_time(monkeypatch):
    monkeypatch.setattr("genlab.metrics.fid.KID_SUBSETS_PER_BATCH", 4)
    generator = torch.Generator().manual_seed(2)
    a = torch.randn(700, 24, generator=generator)
    b = torch.randn(500, 24, generator=generator) * 1.1 + 0.2
    # The subsets as drawn one pair at a time (x then y), each scored alone in float64.
    draws = torch.Generator().manual_seed(5)
    one_at_a_time = torch.stack([
        unbiased_mmd2(a[torch.randperm(700, generator=draws)[:300]].double(), b[torch.randperm(500, generator=draws)[:300]].double())
        for _ in range(11)])  # 11 subsets: two full batches of 4 and a short one
    batched = kernel_inception_distance(a, b, subsets=11, subset_size=300, generator=torch.Generator().manual_seed(5))
    assert batched["kid_mean"] == pytest.approx(float(one_at_a_time.mean()), rel=1e-5)
    assert batched["kid_std"] == pytest.approx(float(one_at_a_time.std(unbiased=False)), rel=1e-4)
