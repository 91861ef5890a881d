"""Likelihood estimates for latent-variable models: the importance-sampled (IWAE) bound and the ELBO.

For a model with a prior p(z), a decoder p(x|z) and an encoder q(z|x),

    log p(x) >= IWAE_k(x) = E[ log (1/k) sum_i p(x, z_i) / q(z_i | x) ],   z_i ~ q(z | x),

which is the ELBO for k = 1, grows with k and reaches log p(x) as k -> infinity (Burda et al. 2015).
`importance_sampled_log_likelihood` is a plain function over four model methods, so any model that
answers them can be scored:

- `posterior(x, labels)` -> (mean, log_var) of a diagonal Gaussian q(z | x), each (B, latent_dim);
- `log_prior(z)` -> (N,) log p(z);
- `log_px_given_z(x, z, labels)` -> (N,) log p(x | z), summed over the dimensions of x;
- `likelihood_measure(x)` -> "probability" or "density": what log p(x | z) is for this data (and a
  one-line GenlabError when the data cannot be scored, e.g. grey pixels under a Bernoulli decoder).

Results come back as a `LikelihoodEstimate`: nats per image and bits per dimension, for the bound
and for the ELBO, saying which estimator made them and whether they are probabilities or densities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from genlab.errors import GenlabError
from genlab.models.base import inference

# 8-bit images: bits/dim of a density over [0, 1] counts each of the 256 levels as a bin of width 1/256.
DISCRETE_LEVELS = 256
LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class LikelihoodEstimate:
    """An estimate of log p(x), averaged over items, with the ELBO from the same posterior draws.

    `log_likelihood` is the IWAE bound with `num_samples` importance samples: a stochastic lower bound
    on log p(x) (its expectation is below log p(x) and rises to it as k grows); `elbo` is the mean
    of the same log-weights (k = 1's bound, estimated with k draws). Both are in nats per item.

    `measure` says what they are: "probability" for discrete data (binary pixels under a Bernoulli
    decoder, 8-bit levels under a categorical one) or "density" for a continuous decoder (Gaussian
    or Laplace) on pixels in [0, 1]. A density is not a probability: it can exceed 1 (positive log),
    and its bits/dim use the usual 8-bit convention, -(log p(x) - D log 256) / (D log 2), which is
    comparable to discrete models' bits/dim only under that convention.
    """

    estimator: Literal["iwae", "elbo-point-mass"]
    num_samples: int
    num_items: int
    dims: int
    log_likelihood: float
    elbo: float
    standard_error: float  # of `log_likelihood`'s mean over items (item-to-item spread / sqrt(n))
    measure: Literal["probability", "density"]
    per_item: torch.Tensor = field(repr=False, compare=False)  # (num_items,) float64
    per_item_elbo: torch.Tensor = field(repr=False, compare=False)

    is_lower_bound: bool = True

    @property
    def nll(self) -> float:
        """-log p(x) in nats per item (an upper bound on the true NLL, in expectation)."""
        return -self.log_likelihood

    def _bits_per_dim(self, log_value: float) -> float:
        if self.measure == "density":
            log_value -= self.dims * math.log(DISCRETE_LEVELS)
        return -log_value / (self.dims * math.log(2))

    @property
    def bits_per_dim(self) -> float:
        return self._bits_per_dim(self.log_likelihood)

    @property
    def elbo_bits_per_dim(self) -> float:
        return self._bits_per_dim(self.elbo)

    @property
    def description(self) -> str:
        bound = (f"IWAE bound with k={self.num_samples} importance samples" if self.estimator == "iwae"
                 else "ELBO of a deterministic (point-mass) encoder, equal to the IWAE bound for every k")
        what = ("log-probability of the discrete data" if self.measure == "probability"
                else "log-density of pixels in [0, 1] (not a probability; bits/dim adds D·log 256)")
        return f"{bound}; a lower bound on log p(x); {what}; {self.num_items} items of {self.dims} dims"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly summary (no per-item tensors)."""
        return {
            "estimator": self.estimator, "num_samples": self.num_samples, "num_items": self.num_items,
            "dims": self.dims, "measure": self.measure, "log_likelihood": self.log_likelihood, "nll": self.nll,
            "standard_error": self.standard_error, "elbo": self.elbo, "bits_per_dim": self.bits_per_dim,
            "elbo_bits_per_dim": self.elbo_bits_per_dim, "is_lower_bound": self.is_lower_bound,
            "description": self.description,
        }


def summarise(per_item: torch.Tensor, per_item_elbo: torch.Tensor, dims: int, num_samples: int,
              measure: Literal["probability", "density"],
              estimator: Literal["iwae", "elbo-point-mass"] = "iwae") -> LikelihoodEstimate:
    """Average per-item log-likelihood and ELBO values into a `LikelihoodEstimate`."""
    per_item, per_item_elbo = per_item.double().cpu(), per_item_elbo.double().cpu()
    count = per_item.numel()
    spread = per_item.std().item() / math.sqrt(count) if count > 1 else float("nan")
    return LikelihoodEstimate(estimator=estimator, num_samples=num_samples, num_items=count, dims=dims,
                              log_likelihood=per_item.mean().item(), elbo=per_item_elbo.mean().item(),
                              standard_error=spread, measure=measure, per_item=per_item, per_item_elbo=per_item_elbo)


def gaussian_log_density(z: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, diag(exp(log_var))) summed over the last dimension."""
    return -0.5 * ((z - mean).pow(2) * torch.exp(-log_var) + log_var + LOG_2PI).sum(-1)


def kl_to_standard_normal(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, diag(exp(log_var))) || N(0, I)) in nats, summed over dimension 1: (B,)."""
    return 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var).sum(1)


def standard_normal_log_density(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dimension."""
    return -0.5 * (z.pow(2) + LOG_2PI).sum(-1)


def _repeat(tensor: torch.Tensor | None, times: int) -> torch.Tensor | None:
    """(B, ...) -> (times * B, ...), sample-major, matching z of shape (times, B, d) flattened."""
    if tensor is None:
        return None
    return tensor.unsqueeze(0).expand(times, *tensor.shape).reshape(times * tensor.shape[0], *tensor.shape[1:])


@torch.no_grad()
def importance_sampled_log_likelihood(model: Any, x: torch.Tensor, num_samples: int = 1000,
                                      labels: torch.Tensor | None = None, generator: torch.Generator | None = None,
                                      pairs_per_pass: int | None = None) -> LikelihoodEstimate:
    """The IWAE-k estimate of log p(x) (and the ELBO from the same draws) for each item of `x`.

    The k samples are drawn and scored in passes of at most `pairs_per_pass` (item, z) pairs
    (default: the model's `likelihood_pairs_per_pass`), accumulating a running log-sum-exp, so
    k = 1000 or more needs no more memory than one pass. `generator` makes the draws reproducible.
    The model is put in eval mode (batch-norm running statistics) for the estimate.
    """
    if num_samples < 1:
        raise GenlabError(f"the number of importance samples k must be at least 1, got {num_samples}")
    if x.shape[0] == 0:
        raise GenlabError("no items to score: pass at least one image")
    measure = model.likelihood_measure(x)
    pairs = pairs_per_pass or getattr(model, "likelihood_pairs_per_pass", 4096)
    device = model.device
    x = x.to(device)
    labels = None if labels is None else labels.to(device)
    noise_device = generator.device if generator is not None else device
    log_k = math.log(num_samples)
    per_item, per_item_elbo = [], []
    with inference(model):  # any module with a posterior, not only a GenerativeModel
        items_per_group = max(1, min(x.shape[0], pairs))
        for start in range(0, x.shape[0], items_per_group):
            group = x[start : start + items_per_group]
            group_labels = None if labels is None else labels[start : start + items_per_group]
            count = group.shape[0]
            mean, log_var = model.posterior(group, group_labels)  # (B, d) each
            std = torch.exp(0.5 * log_var)
            samples_per_pass = max(1, pairs // count)
            log_sum = torch.full((count,), -math.inf, dtype=torch.float64, device=device)
            weight_sum = torch.zeros(count, dtype=torch.float64, device=device)
            for first in range(0, num_samples, samples_per_pass):
                draws = min(samples_per_pass, num_samples - first)
                noise = torch.randn(draws, *mean.shape, generator=generator, device=noise_device).to(device)
                z = mean + std * noise  # (draws, B, d)
                log_q = gaussian_log_density(z, mean, log_var)  # (draws, B)
                flat_z = z.reshape(draws * count, -1)
                log_prior = model.log_prior(flat_z).view(draws, count)
                log_px = model.log_px_given_z(_repeat(group, draws), flat_z, _repeat(group_labels, draws)).view(draws, count)
                log_weights = (log_px + log_prior - log_q).double()
                log_sum = torch.logaddexp(log_sum, torch.logsumexp(log_weights, dim=0))
                weight_sum += log_weights.sum(dim=0)
            per_item.append(log_sum - log_k)
            per_item_elbo.append(weight_sum / num_samples)
    dims = math.prod(x.shape[1:])
    return summarise(torch.cat(per_item), torch.cat(per_item_elbo), dims, num_samples, measure)


def check_binary(x: torch.Tensor, model_name: str) -> None:
    """A Bernoulli decoder scores only 0/1 pixels: grey levels would give a cross-entropy, not a probability."""
    if not bool(((x == 0) | (x == 1)).all()):
        raise GenlabError(
            f"{model_name} has a Bernoulli decoder, which gives probabilities only for binary pixels; "
            f"binarise the images first (genlab.likelihood.binarize(x, generator) or x > 0.5)"
        )


def binarize(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Stochastic binarisation: each pixel becomes 1 with probability equal to its intensity.

    With a fixed generator this gives the fixed binarised test set that likelihoods are reported on.
    """
    noise_device = generator.device if generator is not None else x.device
    uniforms = torch.rand(x.shape, generator=generator, device=noise_device).to(x.device)
    return (uniforms < x).to(x.dtype)


@dataclass(frozen=True)
class ExactLikelihood:
    """An exact log p(x) per item (nats), averaged, with bits per dimension; answers like `LikelihoodEstimate`."""

    per_item: torch.Tensor = field(repr=False, compare=False)  # (N,) float64
    dims: int
    measure: Literal["probability", "density"]
    conditional_on_labels: bool = False
    is_lower_bound: bool = False
    estimator: str = "exact"

    @property
    def log_likelihood(self) -> float:
        return float(self.per_item.mean())

    @property
    def nll(self) -> float:
        return -self.log_likelihood

    @property
    def elbo(self) -> None:
        """No bound is involved: None where the VAE family's estimates give their ELBO."""
        return None

    @property
    def bits_per_dim(self) -> float:
        value = self.log_likelihood
        if self.measure == "density":
            value -= self.dims * math.log(DISCRETE_LEVELS)
        return -value / (self.dims * math.log(2))

    @property
    def standard_error(self) -> float:
        count = self.per_item.numel()
        return float(self.per_item.std()) / math.sqrt(count) if count > 1 else float("nan")

    @property
    def description(self) -> str:
        what = ("log-probability of the discrete data" if self.measure == "probability"
                else "log-density of pixels in [0, 1] (not a probability; bits/dim adds D·log 256)")
        given = "log p(x | y) given the labels" if self.conditional_on_labels else "log p(x), summed over the classes"
        return f"exact {given}; {what}; {self.per_item.numel()} items of {self.dims} dims"

    def to_dict(self) -> dict[str, Any]:
        return {"estimator": self.estimator, "num_samples": None, "num_items": self.per_item.numel(), "dims": self.dims,
                "measure": self.measure, "log_likelihood": self.log_likelihood, "nll": self.nll,
                "standard_error": self.standard_error, "elbo": self.elbo, "bits_per_dim": self.bits_per_dim,
                "is_lower_bound": False, "description": self.description}
