"""Likelihood: a model's own log p(x) where it has one, and a Parzen-window estimate for any sampler.

- `model_likelihood`: calls `model.log_likelihood(x, k=...)` (the VAE family's importance-sampled
  bound, or an exact likelihood) and reports NLL in nats per image and bits per dimension, saying
  whether the number is exact or a bound, as the model's own estimate says. Models with a
  Bernoulli decoder score binary pixels only; they are then scored on the split binarised once
  with a fixed seed (the usual "stochastically binarised test set"), and the report says so.
- For a class-conditional model the number above is -log p(x | y), which is not comparable with an
  unconditional model's -log p(x): knowing the class helps. `nll_unlabelled_nats` puts both on one
  scale, the NLL of the image alone. An unconditional model's is its `nll_nats`; a model with its own
  class prior (the fitted baselines) scores log p(x) = log sum_y p(x | y) p(y) exactly; otherwise (the
  CVAE, which draws classes uniformly) it is -log p(x | y) + log K, an upper bound on -log p(x) since
  p(x) >= p(x | y) p(y) with p(y) = 1/K (the "- log 10" correction for MNIST's ten classes).
- `parzen_log_likelihood`: Goodfellow et al. 2014's protocol (after Breuleux et al. 2011): a
  Gaussian kernel density on the generated samples, its bandwidth chosen by the mean log-likelihood
  of a validation set, reported on a disjoint test set. It is a weak estimate — biased, very
  sensitive to the bandwidth and to the dimension, and known to rank models unreliably (Theis
  et al. 2016) — reported because the literature reports it, and labelled as such.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from genlab.errors import GenlabError
from genlab.likelihood import DISCRETE_LEVELS

PARZEN_SIGMAS = torch.logspace(-3, 0.5, 12, dtype=torch.float64)  # 0.001 ... 3.16, a factor ~2.1 apart
PARZEN_REFINE = 9  # then this many between the best coarse value's neighbours (a factor ~1.2 apart)
PARZEN_BLOCK = 256
PARZEN_NOTE = ("weak estimate: Gaussian Parzen window on the samples (Goodfellow et al. 2014 protocol), "
               "biased and bandwidth-sensitive in high dimension (Theis et al. 2016); do not rank models by it alone")


def model_likelihood(model: Any, x: torch.Tensor, labels: torch.Tensor | None = None, k: int = 100,
                     seed: int = 0) -> dict[str, Any]:
    """The model's own log-likelihood estimate on images `x` in [0, 1]: NLL (nats) and bits/dim.

    Returns `nll_nats`, `bits_per_dim`, `exact` (False for a bound), `estimator`, `description`,
    and `binarized` when the model scores only binary pixels.
    """
    arguments: dict[str, Any] = {"k": k, "generator": torch.Generator().manual_seed(seed)}
    if model.conditional:
        arguments["labels"] = labels
    # A model that scores binary pixels only (`needs_binary`) gets grey images binarised once, with a fixed seed.
    binarized = model.needs_binary and not bool(((x == 0) | (x == 1)).all())
    if binarized:
        x = (torch.rand(x.shape, generator=torch.Generator().manual_seed(seed + 1)) < x).to(x.dtype)
    estimate = model.log_likelihood(x, **arguments)
    result = describe_estimate(estimate, x, binarized)
    result.update(unlabelled_nll(model, x, result, k, seed, conditional=arguments.get("labels") is not None))
    return result


def unlabelled_nll(model: Any, x: torch.Tensor, result: dict[str, Any], k: int, seed: int,
                   conditional: bool) -> dict[str, Any]:
    """`nll_unlabelled_nats`, the NLL of the images without their labels (see the module docstring), and
    `unlabelled_kind` saying how it was obtained. `result` is `describe_estimate`'s answer for `x`."""
    if not conditional:
        return {"nll_unlabelled_nats": result["nll_nats"], "unlabelled_kind": "scored without labels: nll_nats"}
    if hasattr(model, "class_log_prior"):
        # A model with its own p(y) gives log p(x) exactly when asked without labels.
        marginal = describe_estimate(model.log_likelihood(x, k=k, generator=torch.Generator().manual_seed(seed)),
                                     x, result["binarized"])
        return {"nll_unlabelled_nats": marginal["nll_nats"],
                "unlabelled_kind": "-log p(x) = -log sum_y p(x|y) p(y) with the model's class prior"}
    classes = int(getattr(model, "num_classes", 0) or 0)
    if classes < 2:
        raise GenlabError(f"{type(model).__name__} is conditional but names no classes (num_classes={classes}); "
                          "give it num_classes >= 2")
    return {"nll_unlabelled_nats": result["nll_nats"] + math.log(classes),
            "unlabelled_kind": f"-log p(x|y) + log {classes}: an upper bound on -log p(x) with a uniform class prior"}


def describe_estimate(estimate: Any, x: torch.Tensor, binarized: bool) -> dict[str, Any]:
    """Read a model's likelihood answer: an object with `to_dict()` (the VAE family's estimate) or a
    per-item tensor of log p(x) (then exact unless the model sets `log_likelihood_is_bound`)."""
    dims = math.prod(x.shape[1:])
    if isinstance(estimate, torch.Tensor):
        log_likelihood = float(estimate.double().mean())
        summary: dict[str, Any] = {"log_likelihood": log_likelihood, "nll": -log_likelihood, "is_lower_bound": False,
                                   "bits_per_dim": -log_likelihood / (dims * math.log(2)), "estimator": "exact",
                                   "description": "the model's exact log-likelihood"}
    else:
        summary = estimate.to_dict() if hasattr(estimate, "to_dict") else dict(estimate)
    exact = not summary.get("is_lower_bound", True)
    result = {
        "nll_nats": summary["nll"],
        "bits_per_dim": summary["bits_per_dim"],
        "exact": exact,
        "kind": "exact" if exact else "lower bound on log p(x) (NLL is an upper bound)",
        "estimator": summary.get("estimator"),
        "importance_samples": summary.get("num_samples"),
        "items": int(x.shape[0]),
        "standard_error": summary.get("standard_error"),
        "elbo_nats": summary.get("elbo"),
        "measure": summary.get("measure"),
        "description": summary.get("description"),
        "binarized": binarized,
    }
    if binarized:
        result["description"] = f"{result['description']}; on the split stochastically binarised once (fixed seed)"
    return result


def gaussian_log_density_mean(dims: int) -> float:
    """E[log N(x; 0, I)] for x ~ N(0, I) in `dims` dimensions: -dims/2 (1 + log 2 pi)."""
    return -0.5 * dims * (1 + math.log(2 * math.pi))


def parzen_log_densities(samples: torch.Tensor, points: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """log p_sigma(x) for each point under the Parzen window on `samples`, for every sigma: (len(sigmas), N).

    Distances in float64; the log-sum-exp over samples in float32 (its relative error, ~1e-7, is far
    below the estimate's own spread, and it halves the time of the exponentials that dominate).
    """
    samples = samples.flatten(1).double()
    points = points.flatten(1).double()
    dims = samples.shape[1]
    sample_norms = samples.square().sum(1)
    out = torch.empty(len(sigmas), points.shape[0], dtype=torch.float64)
    log_count = math.log(samples.shape[0])
    for start in range(0, points.shape[0], PARZEN_BLOCK):
        block = points[start : start + PARZEN_BLOCK]
        squared = (block.square().sum(1)[:, None] + sample_norms[None, :] - 2 * block @ samples.T).clamp_(min=0)
        half_squared = (squared / 2).float()  # (block, n_samples)
        nearest = half_squared.min(1, keepdim=True).values
        for index, sigma in enumerate(sigmas.tolist()):
            # log-sum-exp by hand: terms more than e^-80 below the largest are clamped there, which
            # changes the sum by < n e^-80 but keeps exp() out of float32's (very slow) denormal range.
            shifted = ((nearest - half_squared) / sigma**2).clamp_(min=-80.0)
            kernel = shifted.exp_().sum(1).log().double() - nearest[:, 0].double() / sigma**2
            out[index, start : start + PARZEN_BLOCK] = kernel - log_count - 0.5 * dims * math.log(2 * math.pi * sigma**2)
    return out


def choose_bandwidth(samples: torch.Tensor, validation: torch.Tensor, sigmas: torch.Tensor) -> tuple[float, bool]:
    """The sigma with the best mean validation log-likelihood: a coarse grid, then a finer one around
    its best value. Returns (sigma, whether the best was at an end of the coarse grid)."""
    coarse = parzen_log_densities(samples, validation, sigmas).mean(1)
    best = int(coarse.argmax())
    low, high = sigmas[max(best - 1, 0)], sigmas[min(best + 1, len(sigmas) - 1)]
    fine = torch.logspace(math.log10(low), math.log10(high), PARZEN_REFINE, dtype=torch.float64)
    fine_scores = parzen_log_densities(samples, validation, fine).mean(1)
    return float(fine[int(fine_scores.argmax())]), best in (0, len(sigmas) - 1)


def parzen_log_likelihood(samples: torch.Tensor, validation: torch.Tensor, test: torch.Tensor,
                          sigmas: torch.Tensor = PARZEN_SIGMAS, images: bool = True) -> dict[str, Any]:
    """Goodfellow et al.'s Parzen estimate: bandwidth by validation log-likelihood, mean log p on `test`.

    Returns the test mean log-likelihood (nats), its standard error, the chosen sigma, and for
    images bits/dim with the 8-bit convention of a density on [0, 1] (-(LL - D log 256) / (D log 2)).
    """
    if validation.shape[0] == 0 or test.shape[0] == 0:
        raise GenlabError("the Parzen estimate needs validation and test items")
    sigma, at_edge = choose_bandwidth(samples, validation, sigmas)
    per_item = parzen_log_densities(samples, test, torch.tensor([sigma], dtype=torch.float64))[0]
    dims = math.prod(test.shape[1:])
    mean = float(per_item.mean())
    result: dict[str, Any] = {
        "log_likelihood_nats": mean,
        "standard_error": float(per_item.std() / math.sqrt(per_item.numel())) if per_item.numel() > 1 else None,
        "sigma": sigma,
        "sigma_at_grid_edge": at_edge,
        "samples": int(samples.shape[0]),
        "validation_items": int(validation.shape[0]),
        "test_items": int(test.shape[0]),
        "note": PARZEN_NOTE,
    }
    if images:
        result["bits_per_dim"] = -(mean - dims * math.log(DISCRETE_LEVELS)) / (dims * math.log(2))
    return result
