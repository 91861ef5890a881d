"""The importance-sampled likelihood estimator: exact on a model with a closed form, ordered on a trained VAE."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import genlab
from genlab.data.batches import Batcher, to_float
from genlab.errors import GenlabError
from genlab.likelihood import (
    LikelihoodEstimate,
    binarize,
    gaussian_log_density,
    importance_sampled_log_likelihood,
    standard_normal_log_density,
    summarise,
)


class ProbabilisticPCA(nn.Module):
    """p(z) = N(0, I), p(x | z) = N(W z + mu, s2 I): log p(x) = log N(x; mu, W W^T + s2 I) exactly.

    Its encoder is deliberately wrong (the exact posterior's mean shifted, its variance inflated),
    so the ELBO falls clearly short of log p(x) and the estimator has real work to do.
    """

    def __init__(self, weight: torch.Tensor, mean: torch.Tensor, noise_variance: float) -> None:
        super().__init__()
        self.register_buffer("weight", weight)  # (D, d)
        self.register_buffer("mu", mean)  # (D,)
        self.noise_variance = noise_variance
        latent = weight.shape[1]
        precision = torch.eye(latent, dtype=weight.dtype) + weight.t() @ weight / noise_variance
        self.register_buffer("posterior_covariance", torch.linalg.inv(precision))

    @property
    def device(self) -> torch.device:
        return self.weight.device

    def exact_log_likelihood(self, x: torch.Tensor) -> torch.Tensor:
        covariance = self.weight @ self.weight.t() + self.noise_variance * torch.eye(self.weight.shape[0], dtype=x.dtype)
        return torch.distributions.MultivariateNormal(self.mu, covariance_matrix=covariance).log_prob(x)

    def posterior(self, x: torch.Tensor, labels=None) -> tuple[torch.Tensor, torch.Tensor]:
        exact_mean = (x - self.mu) @ self.weight @ self.posterior_covariance / self.noise_variance
        exact_var = torch.diagonal(self.posterior_covariance).expand_as(exact_mean)
        return exact_mean + exact_var.sqrt(), torch.log(3.0 * exact_var)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        return standard_normal_log_density(z)

    def log_px_given_z(self, x: torch.Tensor, z: torch.Tensor, labels=None) -> torch.Tensor:
        mean = z @ self.weight.t() + self.mu
        return gaussian_log_density(x, mean, torch.full_like(x, math.log(self.noise_variance)))

    def likelihood_measure(self, x: torch.Tensor) -> str:
        return "density"


def fit_ppca(x: torch.Tensor, latent: int) -> ProbabilisticPCA:
    """Tipping & Bishop's closed-form maximum-likelihood PPCA of the rows of `x`."""
    mean = x.mean(0)
    eigenvalues, eigenvectors = torch.linalg.eigh(torch.cov((x - mean).t()))
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    noise_variance = eigenvalues[latent:].mean().item()
    weight = eigenvectors[:, :latent] * (eigenvalues[:latent] - noise_variance).clamp_min(0).sqrt()
    return ProbabilisticPCA(weight, mean, noise_variance)


def test_estimate_matches_the_closed_form_log_likelihood_of_probabilistic_pca(mnist5k):
    # PPCA of real digits downscaled to 14x14 (196 dims, 8 latents), in float64.
    images = torch.nn.functional.avg_pool2d(to_float(mnist5k.train_x[:2000]), 2).flatten(1).double()
    model = fit_ppca(images, latent=8)
    test = torch.nn.functional.avg_pool2d(to_float(mnist5k.test_x[:40]), 2).flatten(1).double()
    exact = model.exact_log_likelihood(test)
    generator = torch.Generator().manual_seed(0)
    rough = importance_sampled_log_likelihood(model, test, num_samples=1, generator=generator)
    estimate = importance_sampled_log_likelihood(model, test, num_samples=2000, generator=generator, pairs_per_pass=8000)
    assert estimate.measure == "density" and estimate.num_items == 40 and estimate.dims == 196
    # The wrong encoder costs the ELBO several nats; 2000 importance samples recover log p(x).
    assert exact.mean().item() - rough.log_likelihood > 3
    assert abs(estimate.log_likelihood - exact.mean().item()) < 0.5
    assert (estimate.per_item - exact).abs().max().item() < 0.5
    assert estimate.elbo < estimate.log_likelihood - 3


@pytest.fixture(scope="module")
def trained_vae(mnist5k):
    """A small MLP VAE trained for 600 steps on dynamically binarised digits, and 200 binarised test digits."""
    torch.manual_seed(0)
    model = genlab.create_model("vae", data_shape=mnist5k.shape, hidden_dims=[200], latent_dim=16, binarize=True,
                                batch_size=64)
    model.setup_optimizers()
    batcher = Batcher(mnist5k.train_x, mnist5k.train_y, 64, seed=0)
    for step in range(600):
        model.train_step(batcher.batch(step), step)
    test = binarize(to_float(mnist5k.test_x[:200]), torch.Generator().manual_seed(0))
    return model.eval(), test


def test_elbo_is_below_the_iwae_bounds_which_tighten_as_k_grows(trained_vae):
    model, test = trained_vae
    torch.manual_seed(1)
    with torch.no_grad():  # the training objective's ELBO (analytic KL), averaged over 20 draws
        analytic_elbo = torch.stack([-sum(model.loss_terms(test).values()) for _ in range(20)]).mean(0)
    bounds = {k: model.log_likelihood(test, k=k, generator=torch.Generator().manual_seed(k)) for k in (1, 5, 50, 500)}
    assert all(isinstance(b, LikelihoodEstimate) and b.estimator == "iwae" for b in bounds.values())
    # k = 1 is the ELBO; its estimate and the estimator's own ELBO agree with the analytic-KL ELBO.
    assert abs(bounds[1].log_likelihood - analytic_elbo.mean().item()) < 1.0
    assert abs(bounds[500].elbo - analytic_elbo.mean().item()) < 0.5
    # Each bound is above the last, item by item on average, by more than its noise.
    values = [analytic_elbo.double()] + [bounds[k].per_item for k in (5, 50, 500)]
    for lower, upper in zip(values, values[1:]):
        gain = upper - lower
        assert gain.mean() > 0.1 and gain.mean() > 4 * gain.std() / math.sqrt(gain.numel()), gain.mean()
    # Nats per binarised digit (measured: about -135 after this short run; long runs reach about -90).
    assert -160 < bounds[500].log_likelihood < -100
    assert bounds[500].bits_per_dim == pytest.approx(-bounds[500].log_likelihood / (784 * math.log(2)))


def test_reconstructions_are_of_their_own_input(trained_vae, mnist5k):
    model, _ = trained_vae
    originals = to_float(mnist5k.test_x[:16])
    errors = torch.cdist(model.reconstruct(originals).flatten(1), originals.flatten(1)).pow(2)
    own, others = errors.diagonal().mean(), (errors.sum() - errors.diagonal().sum()) / (16 * 15)
    assert own < 0.5 * others  # measured: 0.26


def test_k_1000_runs_in_bounded_passes_with_the_same_answer(trained_vae):
    model, test = trained_vae
    pass_sizes = []
    hook = model.decoder.register_forward_hook(lambda module, inputs, output: pass_sizes.append(inputs[0].shape[0]))
    try:
        small_passes = model.log_likelihood(test[:20], k=1000, generator=torch.Generator().manual_seed(0),
                                            pairs_per_pass=500)
    finally:
        hook.remove()
    # 20 items x 1000 samples scored 500 (x, z) pairs at a time: 40 passes, never more at once.
    assert max(pass_sizes) <= 500 and sum(pass_sizes) == 20 * 1000
    one_pass = model.log_likelihood(test[:20], k=1000, generator=torch.Generator().manual_seed(1), pairs_per_pass=20000)
    assert small_passes.num_samples == one_pass.num_samples == 1000
    difference = small_passes.per_item - one_pass.per_item  # independent draws: only Monte Carlo noise
    assert abs(difference.mean()) < 4 * difference.std() / math.sqrt(20) + 0.05


def test_what_is_reported_is_stated_and_unscorable_data_is_refused(trained_vae, mnist5k):
    model, test = trained_vae
    grey = to_float(mnist5k.test_x[:4])
    with pytest.raises(GenlabError, match="binar"):
        model.log_likelihood(grey, k=2)
    with pytest.raises(GenlabError, match="at least 1"):
        model.log_likelihood(test[:2], k=0)
    estimate = model.log_likelihood(test[:8], k=10)
    assert estimate.measure == "probability" and "lower bound" in estimate.description
    assert estimate.to_dict()["nll"] == pytest.approx(-estimate.log_likelihood)
    assert model.training is False

    torch.manual_seed(0)
    gaussian = genlab.create_model("vae", hidden_dims=[16], latent_dim=2, likelihood="gaussian", output_scale=0.1)
    density = gaussian.log_likelihood(grey, k=4)
    assert density.measure == "density" and "not a probability" in density.description
    # bits/dim of a density over [0, 1] follow the 8-bit convention: -(log p - D log 256) / (D log 2).
    assert density.bits_per_dim == pytest.approx((-density.log_likelihood + 784 * math.log(256)) / (784 * math.log(2)))

    cvae = genlab.create_model("cvae", hidden_dims=[16], latent_dim=2)
    with pytest.raises(GenlabError, match="labels"):
        cvae.log_likelihood(test[:2], k=2)
    assert math.isfinite(cvae.log_likelihood(test[:2], k=2, labels=torch.tensor([0, 1])).log_likelihood)


def test_summary_of_per_item_values():
    estimate = summarise(torch.tensor([-1.0, -3.0]), torch.tensor([-2.0, -4.0]), dims=2, num_samples=7, measure="probability")
    assert estimate.log_likelihood == -2.0 and estimate.elbo == -3.0 and estimate.nll == 2.0
    assert estimate.bits_per_dim == pytest.approx(2.0 / (2 * math.log(2)))
    assert estimate.standard_error == pytest.approx(math.sqrt(2) / math.sqrt(2))
