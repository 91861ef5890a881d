"""Classic baselines: naive-bayes, gaussian-bayes and gmm (fitted in one pass), and a plain autoencoder.

Each is a class-conditional density p(x | y) with a class prior p(y) estimated from label
frequencies, so it samples a chosen class (`sample(n, labels=...)`) or draws the class from the prior,
and gives an exact log-likelihood: log p(x) = logsumexp_y [log p(y) + log p(x | y)] (or log p(x | y)
when labels are passed). Unlabelled data is one class.

- `naive-bayes`: independent pixels, each a categorical over the 256 grey levels (or over `bins`
  equal bins, spread uniformly over the levels inside a bin) or a Bernoulli on binarised pixels,
  estimated from (expected) counts with a Dirichlet / Laplace smoothing prior. A *probability*.
- `gaussian-bayes`: independent Gaussian pixels, a mean and a std per pixel and class, the variance
  floored. A *density* of pixels in [0, 1].
- `gmm`: per-class Gaussian mixtures fitted by EM (scikit-learn's `GaussianMixture`), diagonal or full
  covariance, optionally in a PCA space: then x = mean + W z + residual, z ~ the class's mixture and
  the residual an isotropic Gaussian in the discarded directions (variance = the mean discarded
  eigenvalue, as probabilistic PCA), which keeps log p(x) an exact density on pixels. A *density*.

Densities follow the VAE family's convention (genlab.likelihood): bits/dim of a density of pixels in
[0, 1] counts each of the 256 levels as a bin of width 1/256, -(log p(x) - D log 256) / (D log 2).
Samples of the Gaussian models are clipped to [0, 1].

`autoencoder` is trained step by step on the mean squared error; it samples by decoding codes from
N(0, I) or from a Gaussian fitted to its training codes, to show why an autoencoder whose code space
was never shaped toward a prior is a poor generator.

Every estimate lives in buffers, so a fitted model is saved and loaded as safetensors; scikit-learn
objects are only used inside `fit` and never stored.
"""

from __future__ import annotations

import math
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch

from genlab.data.batches import Batch, to_float
from genlab.errors import GenlabError
from genlab.likelihood import DISCRETE_LEVELS, LOG_2PI, check_binary
from genlab.models.base import GenerativeModel
from genlab.models.nets import mlp
from genlab.models.optim import adam
from genlab.models.registry import register
from genlab.models.vae import ACTIVATIONS, ConvOptions, MLPOptions, check_conv_image_shape
from genlab.models.vae_nets import ConvDecoder, ConvEncoder


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


SCORE_CHUNK = 1024  # items scored at once


def to_levels(x: torch.Tensor) -> torch.Tensor:
    """8-bit grey levels (long, 0..255) of uint8 images or floats in [0, 1]."""
    if x.dtype == torch.uint8:
        return x.long()
    return (x.float() * 255).round().clamp(0, 255).long()


class FittedModel(GenerativeModel, metaclass=ABCMeta):
    """A class-conditional density fitted in closed form or by EM (`fit`), not by gradient steps.

    The trainer calls `fit(train_x, train_y)` on the whole training split instead of its step loop
    (`fitted = True`); `train_step` fits the batch it is given, so that the model still answers the
    step interface. Subclasses implement `fit_classes`, `class_log_likelihood` and `sample_classes`.
    """

    fitted: ClassVar[bool] = True
    has_likelihood = True
    exact_likelihood = True  # log p(x) = logsumexp_y [log p(y) + log p(x | y)], in closed form
    measure: ClassVar[Literal["probability", "density"]] = "density"
    supported_data = ("image",)

    def __init__(self, config: Any, data_shape: tuple[int, ...], num_classes: int = 0) -> None:
        super().__init__(config, data_shape, num_classes)
        self.conditional = num_classes >= 2
        self.classes = max(num_classes, 1)
        self.dims = math.prod(self.data_shape)
        # Uniform until fitted, so an unfitted model still samples and scores.
        self.register_buffer("class_log_prior", torch.full((self.classes,), -math.log(self.classes)))

    @property
    def device(self) -> torch.device:
        return self.class_log_prior.device

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {}  # nothing is trained by gradients

    # --- fitting --------------------------------------------------------------------------
    def class_indices(self, y: torch.Tensor | None, count: int) -> torch.Tensor:
        if y is None or not self.conditional:
            return torch.zeros(count, dtype=torch.long, device=self.device)
        return y.to(self.device).long()

    @torch.no_grad()
    def fit(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, float]:
        """Estimate every parameter from images `x` (uint8, or floats in [0, 1]) and labels `y`.

        Returns the training log-likelihood (nats per image, and bits/dim) of the fitted model.
        """
        x = x.to(self.device)
        labels = self.class_indices(y, x.shape[0])
        counts = torch.bincount(labels, minlength=self.classes).double()
        # The class prior: label frequencies with one pseudo-count per class (Laplace), so no class is impossible.
        prior = (counts + 1.0) / (counts.sum() + self.classes)
        self.class_log_prior.copy_(prior.log().float())
        self.fit_classes(x, labels)
        estimate = self.log_likelihood(self.scored_input(to_float(x)), labels=None)
        return {"log_likelihood": estimate.log_likelihood, "bits_per_dim": estimate.bits_per_dim}

    @abstractmethod
    def fit_classes(self, x: torch.Tensor, labels: torch.Tensor) -> None:
        """Estimate each class's density from its images (float in [0, 1]) and `labels`."""

    def scored_input(self, x: torch.Tensor) -> torch.Tensor:
        """The images the likelihood of training data is measured on (binarised ones for a Bernoulli model)."""
        return x

    def train_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """Fit on this batch alone (the trainer fits the whole training split through `fit` instead)."""
        return {key: torch.tensor(value) for key, value in self.fit(batch.x, batch.y).items()}

    @torch.no_grad()
    def validation_metrics(self, batch: Batch) -> dict[str, float]:
        """Exact held-out log-likelihood (nats per image) and bits/dim."""
        estimate = self.log_likelihood(self.scored_input(batch.x))
        return {"log_likelihood": estimate.log_likelihood, "bits_per_dim": estimate.bits_per_dim}

    # --- likelihood ---------------------------------------------------------------------
    @abstractmethod
    def class_log_likelihood(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x | y) for every item and class, (N, classes), images float in [0, 1]."""

    def check_scorable(self, x: torch.Tensor) -> None:
        """Raise a GenlabError for data this model cannot score (grey pixels under a Bernoulli model)."""

    @torch.no_grad()
    def log_likelihood(self, x: torch.Tensor, k: int | None = None, labels: torch.Tensor | None = None,
                       generator: torch.Generator | None = None) -> ExactLikelihood:
        """Exact log p(x) per image (log p(x | y) when `labels` are given), in nats and bits/dim.

        `k` and `generator` are accepted for the VAE family's signature and unused: nothing is sampled.
        """
        if x.shape[0] == 0:
            raise GenlabError("no items to score: pass at least one image")
        x = to_float(x.to(self.device))
        if tuple(x.shape[1:]) != self.data_shape:
            raise GenlabError(f"{self.registry_name} was fitted on items of shape {self.data_shape}, got {tuple(x.shape[1:])}")
        self.check_scorable(x)
        labels = self.check_labels(x.shape[0], labels)
        # In chunks, so that per-component intermediate tensors stay small for any number of items.
        per_class = torch.cat([self.class_log_likelihood(x[start : start + SCORE_CHUNK]).double()
                               for start in range(0, x.shape[0], SCORE_CHUNK)])  # (N, classes)
        if labels is not None:
            per_item = per_class.gather(1, labels.view(-1, 1)).squeeze(1)
        else:
            per_item = torch.logsumexp(per_class + self.class_log_prior.double(), dim=1)
        return ExactLikelihood(per_item.cpu(), self.dims, self.measure, conditional_on_labels=labels is not None)

    # --- sampling ---------------------------------------------------------------------------
    @abstractmethod
    def sample_classes(self, labels: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """One image in [0, 1] per class index in `labels`, (n, *data_shape)."""

    def draw_from(self, probabilities: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """One categorical draw per row of `probabilities` (..., K), by inverting the CDF with `generator`."""
        uniforms = self.uniforms(probabilities.shape[:-1], generator)
        cdf = probabilities.cumsum(-1)
        return (cdf < uniforms.unsqueeze(-1) * cdf[..., -1:]).sum(-1).clamp_(max=probabilities.shape[-1] - 1)

    def uniforms(self, shape: tuple[int, ...] | torch.Size, generator: torch.Generator | None) -> torch.Tensor:
        device = generator.device if generator is not None else "cpu"
        return torch.rand(tuple(shape), generator=generator, device=device).to(self.device)

    def normals(self, shape: tuple[int, ...] | torch.Size, generator: torch.Generator | None) -> torch.Tensor:
        device = generator.device if generator is not None else "cpu"
        return torch.randn(tuple(shape), generator=generator, device=device).to(self.device)

    @torch.no_grad()
    def sample(self, n: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """`n` images in [0, 1]: of the given classes, or with classes drawn from the class prior."""
        labels = self.check_labels(n, labels)
        if labels is None:
            prior = self.class_log_prior.exp().expand(n, -1)
            labels = self.draw_from(prior, generator)
        return self.sample_classes(labels, generator).float()


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


# --- Gaussian mixtures ------------------------------------------------------------------------------
MAX_FULL_COVARIANCE_DIMS = 1024


@dataclass
class GMMConfig:
    """Per-class Gaussian mixtures of up to 10 components fitted by EM, in a PCA space of `pca_dim`
    dimensions (0: on the pixels themselves). `reg_covar` is added to every covariance's diagonal and
    floors the residual variance of the discarded PCA directions."""

    components: int = 10
    covariance: Literal["full", "diag"] = "full"
    pca_dim: int = 50
    reg_covar: float = 1e-3
    max_iter: int = 100

    def validate(self) -> None:
        if not 1 <= self.components <= 10:
            raise GenlabError(f"components must be between 1 and 10 per class, got {self.components}")
        if self.pca_dim < 0 or self.reg_covar <= 0 or self.max_iter < 1:
            raise GenlabError("pca_dim must be >= 0 (0: no PCA), reg_covar positive and max_iter at least 1")


@register("gmm")
class GMM(FittedModel):
    """Per-class Gaussian mixtures (scikit-learn's EM), optionally in a PCA space with a PPCA residual."""

    config_class = GMMConfig
    tiny_config = {"components": 2, "pca_dim": 3}

    def __init__(self, config: GMMConfig, data_shape: tuple[int, ...], num_classes: int = 0) -> None:
        super().__init__(config, data_shape, num_classes)
        if config.pca_dim >= self.dims:
            raise GenlabError(f"pca_dim must be below the data's {self.dims} dimensions, got {config.pca_dim}")
        self.space_dim = config.pca_dim or self.dims
        if config.covariance == "full" and self.space_dim > MAX_FULL_COVARIANCE_DIMS:
            raise GenlabError(f"full covariances in {self.space_dim} dimensions are too large; "
                              f"set pca_dim (e.g. 50) or covariance=diag")
        components, dims = config.components, self.space_dim
        self.register_buffer("weights", torch.full((self.classes, components), 1.0 / components))
        self.register_buffer("means", torch.zeros(self.classes, components, dims))
        shape = (self.classes, components, dims, dims) if config.covariance == "full" else (self.classes, components, dims)
        self.register_buffer("covariances", torch.eye(dims).expand(shape).clone() if config.covariance == "full"
                             else torch.ones(shape))
        if config.pca_dim:
            self.register_buffer("pca_mean", torch.full((self.dims,), 0.5))
            self.register_buffer("pca_components", torch.eye(self.dims)[: config.pca_dim].clone())  # (d, D), orthonormal rows
            self.register_buffer("residual_variance", torch.tensor(0.25))

    # --- the PCA space -------------------------------------------------------------------------
    def to_space(self, flat: torch.Tensor) -> torch.Tensor:
        return (flat - self.pca_mean) @ self.pca_components.T if self.config.pca_dim else flat

    def fit_pca(self, flat: torch.Tensor) -> None:
        mean = flat.mean(0)
        # Right singular vectors of the centred data: the principal directions, largest first.
        _, singular_values, directions = torch.linalg.svd(flat - mean, full_matrices=False)
        eigenvalues = singular_values.pow(2) / flat.shape[0]
        d = self.config.pca_dim
        kept = directions[:d]
        if kept.shape[0] < d:  # fewer items than dimensions asked for: complete with orthonormal directions
            basis = torch.linalg.qr(torch.cat([kept, torch.eye(self.dims, dtype=flat.dtype, device=flat.device)]).T).Q.T
            kept = basis[:d]
        discarded = eigenvalues[d:].sum() / (self.dims - d)  # the zero eigenvalues beyond the data's rank count too
        self.pca_mean.copy_(mean.float())
        self.pca_components.copy_(kept.float())
        self.residual_variance.fill_(max(float(discarded), self.config.reg_covar))

    def fit_classes(self, x: torch.Tensor, labels: torch.Tensor) -> None:
        from sklearn.mixture import GaussianMixture

        flat = to_float(x).flatten(1).double()
        if self.config.pca_dim:
            self.fit_pca(flat)
        codes = self.to_space(flat.float()).double().cpu().numpy()
        labels_numpy = labels.cpu().numpy()
        seed = int(torch.randint(2**31 - 1, ()).item())  # follows the run's seed
        components = self.config.components
        weights = torch.zeros_like(self.weights, dtype=torch.float64)
        means = torch.zeros_like(self.means, dtype=torch.float64)
        covariances = torch.zeros_like(self.covariances, dtype=torch.float64)
        for label in range(self.classes):
            members = codes[labels_numpy == label]
            if members.shape[0] < 2:  # an (almost) absent class: model it with the pooled data
                members = codes
            used = min(components, members.shape[0])
            mixture = GaussianMixture(used, covariance_type=self.config.covariance, reg_covar=self.config.reg_covar,
                                      max_iter=self.config.max_iter, random_state=seed + label).fit(members)
            # Components beyond `used` keep weight 0: they never sample and add nothing to the density.
            weights[label, :used] = torch.from_numpy(mixture.weights_)
            means[label, :used] = torch.from_numpy(mixture.means_)
            covariances[label, :used] = torch.from_numpy(mixture.covariances_)
            covariances[label, used:] = covariances[label, :1]  # valid (positive definite) placeholders
        self.weights.copy_(weights.float())
        self.means.copy_(means.float())
        self.covariances.copy_(covariances.float())

    # --- density and sampling ------------------------------------------------------------------
    def class_log_likelihood(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1).double()
        if self.config.pca_dim:
            codes = (flat - self.pca_mean.double()) @ self.pca_components.double().T  # (N, d)
        else:
            codes = flat
        means = self.means.double()  # (K, M, d)
        difference = codes[:, None, None, :] - means[None]  # (N, K, M, d)
        if self.config.covariance == "full":
            cholesky = torch.linalg.cholesky(self.covariances.double())  # (K, M, d, d)
            identity = torch.eye(self.space_dim, dtype=torch.float64, device=self.device).expand_as(cholesky)
            whitening = torch.linalg.solve_triangular(cholesky, identity, upper=False)  # L^-1, (K, M, d, d)
            solved = torch.einsum("kmij,nkmj->nkmi", whitening, difference)  # L^-1 (x - mean)
            log_det = 2 * cholesky.diagonal(dim1=-2, dim2=-1).log().sum(-1)  # (K, M)
            quadratic = solved.pow(2).sum(-1)
        else:
            variances = self.covariances.double()
            quadratic = (difference.pow(2) / variances).sum(-1)
            log_det = variances.log().sum(-1)
        log_components = -0.5 * (quadratic + log_det + self.space_dim * LOG_2PI)  # (N, K, M)
        log_weights = torch.where(self.weights > 0, self.weights.double().log(), torch.tensor(-math.inf, dtype=torch.float64,
                                                                                                device=self.device))
        per_class = torch.logsumexp(log_components + log_weights, dim=-1)  # (N, K)
        if self.config.pca_dim:
            # The discarded directions: an isotropic Gaussian on the residual (orthonormal basis, unit Jacobian).
            residual = flat - self.pca_mean.double() - codes @ self.pca_components.double()
            variance, free_dims = self.residual_variance.double(), self.dims - self.config.pca_dim
            per_class = per_class - 0.5 * (residual.pow(2).sum(1, keepdim=True) / variance
                                           + free_dims * (variance.log() + LOG_2PI))
        return per_class

    def sample_classes(self, labels: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        count = labels.shape[0]
        component = self.draw_from(self.weights[labels], generator)  # (n,)
        means = self.means[labels, component]  # (n, d)
        noise = self.normals((count, self.space_dim), generator)
        if self.config.covariance == "full":
            cholesky = torch.linalg.cholesky(self.covariances[labels, component].double()).float()
            codes = means + (cholesky @ noise.unsqueeze(-1)).squeeze(-1)
        else:
            codes = means + self.covariances[labels, component].sqrt() * noise
        if self.config.pca_dim:
            residual = self.normals((count, self.dims), generator)
            residual = residual - (residual @ self.pca_components.T) @ self.pca_components  # orthogonal to the kept space
            flat = self.pca_mean + codes @ self.pca_components + self.residual_variance.sqrt() * residual
        else:
            flat = codes
        return flat.clamp(0, 1).view(-1, *self.data_shape)


# --- the deterministic autoencoder -----------------------------------------------------------------
@dataclass
class AutoencoderConfig(ConvOptions, MLPOptions):
    """A deterministic autoencoder trained on the mean squared error, with the VAE family's networks
    (`architecture` mlp: `hidden_dims`, `activation`; conv: `channels`, `fc_dim`).

    `prior` is what `sample` decodes: `normal` codes z ~ N(0, I), which a plain autoencoder was never
    asked to use, or `fitted-gaussian` codes from a Gaussian with the training codes' mean and
    covariance, tracked during training as exponential moving averages (`code_momentum` per batch).
    """

    architecture: Literal["mlp", "conv"] = "mlp"
    latent_dim: int = 20
    prior: Literal["normal", "fitted-gaussian"] = "normal"
    code_momentum: float = 0.01
    batch_norm: bool = False
    lr: float = 1e-3
    batch_size: int = 128

    def validate(self) -> None:
        self.validate_mlp()
        self.validate_conv()
        if self.latent_dim < 1 or self.lr <= 0 or self.batch_size < 1:
            raise GenlabError("latent_dim, lr and batch_size must be positive")
        if not 0 < self.code_momentum <= 1:
            raise GenlabError(f"code_momentum must be in (0, 1], got {self.code_momentum}")


class DeterministicAutoencoder(GenerativeModel):
    """Encoder to a code, decoder back to the image; `sample` decodes codes from the configured prior."""

    config_class: ClassVar[type] = AutoencoderConfig
    has_latent = True
    has_encoder = True

    def __init__(self, config: Any, data_shape: tuple[int, ...], num_classes: int = 0) -> None:
        super().__init__(config, data_shape, num_classes)
        self.latent_dim = config.latent_dim
        self.encoder, self.decoder = self.build_networks(config.latent_dim, self.condition_dim())

    def condition_dim(self) -> int:
        return 0

    def build_networks(self, code_dim: int, condition_dim: int) -> tuple[torch.nn.Module, torch.nn.Module]:
        """(encoder, decoder) from the VAE family's blocks: image -> code_dim, code (+ condition) -> logits."""
        config = self.config
        if config.architecture == "conv":
            check_conv_image_shape(self.registry_name, self.data_shape)
            channels, size = self.data_shape[0], self.data_shape[1]
            return (ConvEncoder(channels, size, config.channels, config.fc_dim, code_dim, config.batch_norm),
                    ConvDecoder(code_dim + condition_dim, channels, size, config.channels, config.fc_dim, config.batch_norm))
        data_dim, activation = math.prod(self.data_shape), ACTIVATIONS[config.activation]
        return (mlp([data_dim, *config.hidden_dims, code_dim], activation, config.batch_norm),
                mlp([code_dim + condition_dim, *reversed(config.hidden_dims), data_dim], activation, config.batch_norm))

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": adam([*self.encoder.parameters(), *self.decoder.parameters()], lr=self.config.lr)}

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The code of each image, (B, latent_dim)."""
        return self.encoder(x if self.config.architecture == "conv" else x.flatten(1))

    def decoder_logits(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Pre-sigmoid decoder output (B, *data_shape); a conditional decoder also takes the one-hot label."""
        if self.condition_dim():
            if labels is None:
                raise GenlabError(f"{self.registry_name} is conditional: pass the class labels (labels=...)")
            z = torch.cat([z, torch.nn.functional.one_hot(labels.long(), self.num_classes).to(z.dtype)], dim=1)
        return self.decoder(z).view(z.shape[0], *self.data_shape)

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The decoded image of each code, in [0, 1]."""
        return torch.sigmoid(self.decoder_logits(z, labels))

    def train_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        codes = self.encode(batch.x)
        error = (self.decode(codes) - batch.x).pow(2).mean()
        self.update("adam", error)
        self.after_step(codes.detach())
        return {"loss": error.detach(), "mse": error.detach()}

    def after_step(self, codes: torch.Tensor) -> None:
        """Called with each training batch's codes after the update."""

    @torch.no_grad()
    def validation_metrics(self, batch: Batch) -> dict[str, float]:
        """Held-out reconstruction mean squared error per pixel."""
        return {"mse": (self.reconstruct(batch.x) - batch.x).pow(2).mean().item()}

    def reconstruct(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        with self.inference():
            labels = self.check_labels(x.shape[0], labels)
            return self.decode(self.encode(x.to(self.device)), labels)

    def sample(self, n: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        self.check_labels(n, labels)
        z = self.sample_latent(n, generator)  # before the labels: their draws follow z's
        with self.inference():
            return self.decode(z, self.sample_labels(n, labels, generator))


@register("autoencoder")
class Autoencoder(DeterministicAutoencoder):
    """A plain autoencoder (MSE): a reference for how poorly decoding prior codes generates images."""

    tiny_config = {"hidden_dims": [32], "latent_dim": 4, "batch_size": 16, "channels": [4, 4, 8, 8], "fc_dim": 16}
    supported_data = ("image",)

    def __init__(self, config: AutoencoderConfig, data_shape: tuple[int, ...], num_classes: int = 0) -> None:
        super().__init__(config, data_shape, num_classes)
        # Running statistics of the training codes: the `fitted-gaussian` prior.
        self.register_buffer("code_mean", torch.zeros(config.latent_dim))
        self.register_buffer("code_covariance", torch.eye(config.latent_dim))

    def after_step(self, codes: torch.Tensor) -> None:
        self.track_codes(codes)

    @torch.no_grad()
    def track_codes(self, codes: torch.Tensor) -> None:
        """Move the running mean and covariance of the codes toward this batch's."""
        momentum = self.config.code_momentum
        # The statistics stay float32 under bf16 autocast (--precision bf16): bf16 codes, or a bf16
        # product, could not be blended into the float32 buffers.
        with torch.autocast(codes.device.type, enabled=False):
            codes = codes.float()
            centred = codes - codes.mean(0)
            batch_covariance = centred.T @ centred / max(codes.shape[0] - 1, 1)
            self.code_mean.lerp_(codes.mean(0), momentum)
            self.code_covariance.lerp_(batch_covariance, momentum)

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Codes from the configured prior: N(0, I), or the Gaussian fitted to the training codes."""
        z = super().sample_latent(n, generator)
        if self.config.prior == "fitted-gaussian":
            jitter = 1e-5 * torch.eye(self.latent_dim, device=self.device)
            z = self.code_mean + z @ torch.linalg.cholesky(self.code_covariance + jitter).T
        return z
