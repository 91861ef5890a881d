"""`FittedModel`: the classic baselines' shared shape, a class-conditional density fitted in one pass.

Each is a class-conditional density p(x | y) with a class prior p(y) estimated from label
frequencies, so it samples a chosen class (`sample(n, labels=...)`) or draws the class from the prior,
and gives an exact log-likelihood (genlab.likelihood.ExactLikelihood): log p(x) = logsumexp_y
[log p(y) + log p(x | y)] (or log p(x | y) when labels are passed). Unlabelled data is one class.

Densities follow the VAE family's convention (genlab.likelihood): bits/dim of a density of pixels in
[0, 1] counts each of the 256 levels as a bin of width 1/256, -(log p(x) - D log 256) / (D log 2).

Every estimate lives in buffers, so a fitted model is saved and loaded as safetensors; scikit-learn
objects are only used inside `fit` and never stored. The members: baselines.py (naive-bayes,
gaussian-bayes) and gmm.py.
"""

from __future__ import annotations

import math
from abc import ABCMeta, abstractmethod
from typing import Any, ClassVar, Literal

import torch

from genlab.data.batches import Batch, to_float
from genlab.errors import GenlabError
from genlab.likelihood import ExactLikelihood
from genlab.models.base import GenerativeModel


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
