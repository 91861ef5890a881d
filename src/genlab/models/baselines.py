"""Classic baselines with independent pixels, fitted in one pass: naive-bayes and gaussian-bayes.

- `naive-bayes`: independent pixels, each a categorical over the 256 grey levels (or over `bins`
  equal bins, spread uniformly over the levels inside a bin) or a Bernoulli on binarised pixels,
  estimated from (expected) counts with a Dirichlet / Laplace smoothing prior. A *probability*.
- `gaussian-bayes`: independent Gaussian pixels, a mean and a std per pixel and class, the variance
  floored. A *density* of pixels in [0, 1]; samples are clipped to [0, 1].

What every fitted baseline shares (class prior, exact likelihood, sampling) is in fitted.py; the
Gaussian mixtures are in gmm.py, the plain autoencoder in autoencoder.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch

from genlab.data.batches import to_float
from genlab.errors import GenlabError
from genlab.likelihood import DISCRETE_LEVELS, LOG_2PI, ExactLikelihood, check_binary  # noqa: F401  (ExactLikelihood: re-exported)
from genlab.models.fitted import SCORE_CHUNK, FittedModel, to_levels  # noqa: F401  (re-exported)
from genlab.models.registry import register


# --- naive Bayes -----------------------------------------------------------------------------------
@dataclass
class NaiveBayesConfig:
    """Independent pixels per class: `categorical` over `bins` grey-level bins (256: every level), or
    `bernoulli` on binarised pixels; `binarization` stochastic (each pixel 1 with probability its
    intensity, counted in expectation: the fit sees the mean intensity) or threshold (pixel > 0.5).

    Frequencies are smoothed by a symmetric Dirichlet prior whose pseudo-counts total `smoothing` per
    pixel, spread evenly over its outcomes: 1/256 per grey level, or 1/2 per Bernoulli outcome (the
    Krichevsky-Trofimov estimator). Laplace's one pseudo-count per outcome would give the 256 levels of
    a pixel that is always black a 39% chance of being grey with 400 images per class."""

    pixel_model: Literal["categorical", "bernoulli"] = "categorical"
    bins: int = 256
    smoothing: float = 1.0
    binarization: Literal["stochastic", "threshold"] = "stochastic"

    def validate(self) -> None:
        if not 2 <= self.bins <= 256:
            raise GenlabError(f"bins must be between 2 and 256, got {self.bins}")
        if self.smoothing <= 0:
            raise GenlabError(f"smoothing (the prior's pseudo-count) must be positive, got {self.smoothing}")


@register("naive-bayes")
class NaiveBayes(FittedModel):
    """Per-class independent categorical (or Bernoulli) pixels from smoothed frequencies."""

    config_class = NaiveBayesConfig
    tiny_config = {"bins": 16}
    measure = "probability"

    @property
    def needs_binary(self) -> bool:
        return self.bernoulli

    def __init__(self, config: NaiveBayesConfig, data_shape: tuple[int, ...], num_classes: int = 0) -> None:
        super().__init__(config, data_shape, num_classes)
        self.bernoulli = config.pixel_model == "bernoulli"
        outcomes = 2 if self.bernoulli else config.bins
        # Which bin each grey level falls in, and how many levels share each bin (not saved: from the config).
        level_bins = torch.arange(DISCRETE_LEVELS) * outcomes // DISCRETE_LEVELS
        self.register_buffer("level_bins", level_bins, persistent=False)
        self.register_buffer("bin_widths", torch.bincount(level_bins, minlength=outcomes).float(), persistent=False)
        self.register_buffer("log_probs", torch.full((self.classes, self.dims, outcomes), -math.log(outcomes)))

    def fit_classes(self, x: torch.Tensor, labels: torch.Tensor) -> None:
        classes, dims, outcomes = self.log_probs.shape
        if self.bernoulli:
            # Expected counts of ones: the intensities themselves (stochastic binarisation) or thresholded pixels.
            flat = to_float(x).flatten(1).double()
            ones = flat if self.config.binarization == "stochastic" else (flat > 0.5).double()
            ones_per_class = torch.zeros(classes, dims, dtype=torch.float64, device=self.device).index_add_(0, labels, ones)
            items = torch.bincount(labels, minlength=classes).double().unsqueeze(1)
            counts = torch.stack([items - ones_per_class, ones_per_class], dim=-1)
        else:
            # One bincount over (class, pixel, bin) cells.
            bins = self.level_bins[to_levels(x.flatten(1))]  # (N, D)
            cells = (labels.view(-1, 1) * dims + torch.arange(dims, device=self.device)) * outcomes + bins
            counts = torch.bincount(cells.flatten(), minlength=classes * dims * outcomes).view(classes, dims, outcomes).double()
        # A symmetric Dirichlet prior of total concentration `smoothing` per pixel, spread over its outcomes.
        smoothed = counts + self.config.smoothing / outcomes
        self.log_probs.copy_((smoothed / smoothed.sum(-1, keepdim=True)).log().float())

    def check_scorable(self, x: torch.Tensor) -> None:
        if self.bernoulli:
            check_binary(x, self.registry_name)

    def scored_input(self, x: torch.Tensor) -> torch.Tensor:
        return (x > 0.5).float() if self.bernoulli else x

    def class_log_likelihood(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        if self.bernoulli:
            ones = flat.unsqueeze(0)  # (1, N, D)
            log_p0, log_p1 = self.log_probs[..., 0].unsqueeze(1), self.log_probs[..., 1].unsqueeze(1)  # (K, 1, D)
            return (ones * log_p1 + (1 - ones) * log_p0).sum(-1).T
        bins = self.level_bins[to_levels(flat)]  # (N, D)
        # A level's probability is its bin's, shared evenly by the levels in the bin.
        log_width = self.bin_widths.log()[bins].sum(1)  # (N,)
        per_class = [self.log_probs[c].gather(1, bins.T).sum(0) for c in range(self.classes)]  # each (N,)
        return torch.stack(per_class, dim=1) - log_width.unsqueeze(1)

    def sample_classes(self, labels: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        probabilities = self.log_probs[labels].exp()  # (n, D, outcomes)
        bins = self.draw_from(probabilities, generator)  # (n, D)
        if self.bernoulli:
            values = bins.float()
        else:
            # A level drawn uniformly inside the bin: the first level of a bin plus an offset below its width.
            first_level = torch.searchsorted(self.level_bins, bins)
            offset = (self.uniforms(bins.shape, generator) * self.bin_widths[bins]).floor().long()
            values = (first_level + offset).float() / (DISCRETE_LEVELS - 1)
        return values.view(-1, *self.data_shape)


# --- Gaussian naive Bayes ------------------------------------------------------------------------
@dataclass
class GaussianBayesConfig:
    """Independent Gaussian pixels per class; every variance at least `variance_floor` (pixels in [0, 1])."""

    variance_floor: float = 0.0025  # a std of 0.05: constant pixels (MNIST's borders) keep a finite density

    def validate(self) -> None:
        if self.variance_floor <= 0:
            raise GenlabError(f"variance_floor must be positive, got {self.variance_floor}")


@register("gaussian-bayes")
class GaussianBayes(FittedModel):
    """Per-class independent Gaussian pixels: a mean and a std per pixel, maximum likelihood, floored variance."""

    config_class = GaussianBayesConfig
    tiny_config: ClassVar[dict[str, Any]] = {}

    def __init__(self, config: GaussianBayesConfig, data_shape: tuple[int, ...], num_classes: int = 0) -> None:
        super().__init__(config, data_shape, num_classes)
        self.register_buffer("means", torch.full((self.classes, self.dims), 0.5))
        self.register_buffer("variances", torch.full((self.classes, self.dims), 0.25))

    def fit_classes(self, x: torch.Tensor, labels: torch.Tensor) -> None:
        flat = to_float(x).flatten(1).double()
        counts = torch.bincount(labels, minlength=self.classes).double().unsqueeze(1)
        sums = torch.zeros(self.classes, self.dims, dtype=torch.float64, device=self.device).index_add_(0, labels, flat)
        squares = torch.zeros_like(sums).index_add_(0, labels, flat.pow(2))
        overall_mean, overall_variance = flat.mean(0), flat.var(0, unbiased=False)
        seen = counts > 0
        # A class absent from the data keeps the pooled estimate (its prior is then one pseudo-count).
        means = torch.where(seen, sums / counts.clamp_min(1), overall_mean)
        variances = torch.where(seen, squares / counts.clamp_min(1) - means.pow(2), overall_variance)
        self.means.copy_(means.float())
        self.variances.copy_(variances.clamp_min(self.config.variance_floor).float())

    def class_log_likelihood(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1).double()  # (N, D)
        means, variances = self.means.double(), self.variances.double()
        # sum_d (x - m)^2 / v expanded so no (N, K, D) tensor is built.
        inverse = 1.0 / variances  # (K, D)
        quadratic = flat.pow(2) @ inverse.T - 2 * flat @ (means * inverse).T + (means.pow(2) * inverse).sum(1)
        return -0.5 * (quadratic + variances.log().sum(1) + self.dims * LOG_2PI)

    def sample_classes(self, labels: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        noise = self.normals((labels.shape[0], self.dims), generator)
        values = self.means[labels] + self.variances[labels].sqrt() * noise
        return values.clamp(0, 1).view(-1, *self.data_shape)


