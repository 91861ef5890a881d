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


def test_unlabelled_nll_puts_conditional_and_unconditional_models_on_one_scale(mnist5k, isolated_env):
    x, labels = mnist5k.test_x[:30].float() / 255, mnist5k.test_y[:30]
    torch.manual_seed(0)
    cvae = genlab.create_model("cvae", data_shape=(1, 28, 28), num_classes=10, hidden_dims=[32], latent_dim=4)
    conditional = model_likelihood(cvae, x, labels, k=4)
    # -log p(x|y) + log 10 bounds -log p(x) from above with the uniform class prior the CVAE samples from.
    assert conditional["nll_unlabelled_nats"] == pytest.approx(conditional["nll_nats"] + math.log(10))
    assert "upper bound" in conditional["unlabelled_kind"] and "log 10" in conditional["unlabelled_kind"]
    vae = genlab.create_model("vae", data_shape=(1, 28, 28), num_classes=10, hidden_dims=[32], latent_dim=4)
    unconditional = model_likelihood(vae, x, labels, k=4)
    assert unconditional["nll_unlabelled_nats"] == unconditional["nll_nats"]


def test_unlabelled_nll_of_a_model_with_a_class_prior_is_its_exact_marginal():
    # Every 2x2 binary image, a naive Bayes fitted on five of them with two classes.
    images = torch.tensor([[int(bit) for bit in f"{code:04b}"] for code in range(16)], dtype=torch.float32).view(16, 1, 2, 2)
    model = genlab.create_model("naive-bayes", data_shape=(1, 2, 2), num_classes=2, pixel_model="bernoulli")
    model.fit(images[[1, 3, 7, 12, 14]], torch.tensor([0, 0, 1, 1, 1]))
    labels = torch.tensor([0, 1] * 8)
    result = model_likelihood(model, images, labels)
    per_class = torch.stack([model.log_likelihood(images, labels=torch.full((16,), c)).per_item for c in (0, 1)], 1)
    marginal = torch.logsumexp(per_class + model.class_log_prior.double(), dim=1)  # prior 2/5, 3/5
    assert result["nll_nats"] == pytest.approx(-float(per_class.gather(1, labels.view(-1, 1)).mean()))
    assert result["nll_unlabelled_nats"] == pytest.approx(-float(marginal.mean()))
    assert result["nll_unlabelled_nats"] != pytest.approx(result["nll_nats"])
