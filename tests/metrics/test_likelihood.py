"""Likelihood: the Parzen-window estimate against an analytic density, and a model's own estimate."""

from __future__ import annotations

import math

import pytest
import torch

import genlab
from genlab.metrics.likelihood import gaussian_log_density_mean, model_likelihood, parzen_log_likelihood


def test_parzen_estimate_of_gaussian_data_approaches_the_analytic_log_density():
    generator = torch.Generator().manual_seed(0)
    dims = 2
    samples = torch.randn(10000, dims, generator=generator, dtype=torch.float64)
    validation = torch.randn(500, dims, generator=generator, dtype=torch.float64)
    test = torch.randn(2000, dims, generator=generator, dtype=torch.float64)
    result = parzen_log_likelihood(samples, validation, test, images=False)
    analytic = gaussian_log_density_mean(dims)  # -2.838 nats
    assert result["log_likelihood_nats"] == pytest.approx(analytic, abs=0.05)
    assert not result["sigma_at_grid_edge"] and 0.05 < result["sigma"] < 0.5
    assert "weak estimate" in result["note"]
    # With few samples the estimate is worse (it is a biased estimator), never better than the truth by much.
    few = parzen_log_likelihood(samples[:100], validation, test, images=False)
    assert few["log_likelihood_nats"] < result["log_likelihood_nats"]


def test_parzen_bits_per_dim_follow_the_8_bit_convention():
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(300, 1, 4, 4, generator=generator)
    result = parzen_log_likelihood(images[:200], images[200:250], images[250:])
    dims = 16
    expected = -(result["log_likelihood_nats"] - dims * math.log(256)) / (dims * math.log(2))
    assert result["bits_per_dim"] == pytest.approx(expected)


def test_model_likelihood_reads_the_vae_bound_in_nats_and_bits(mnist5k, isolated_env):
    torch.manual_seed(0)
    model = genlab.create_model("vae", data_shape=(1, 28, 28), num_classes=10, hidden_dims=[64], latent_dim=4)
    if not hasattr(model, "log_likelihood"):
        pytest.skip("this vae has no log_likelihood yet")
    x = mnist5k.test_x[:40].float() / 255
    result = model_likelihood(model, x, mnist5k.test_y[:40], k=8)
    assert result["exact"] is False and "bound" in result["kind"]
    assert result["items"] == 40 and result["importance_samples"] == 8
    assert math.isfinite(result["nll_nats"]) and result["nll_nats"] > 0
    assert result["bits_per_dim"] > 0
