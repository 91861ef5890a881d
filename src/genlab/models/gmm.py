"""`gmm`: per-class Gaussian mixtures fitted by EM (scikit-learn's `GaussianMixture`), a fitted baseline.

Diagonal or full covariance, optionally in a PCA space: then x = mean + W z + residual, z ~ the
class's mixture and the residual an isotropic Gaussian in the discarded directions (variance = the
mean discarded eigenvalue, as probabilistic PCA), which keeps log p(x) an exact density on pixels.
Samples are clipped to [0, 1]. See fitted.py for what every fitted baseline shares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from genlab.data.batches import to_float
from genlab.errors import GenlabError
from genlab.likelihood import LOG_2PI
from genlab.models.fitted import FittedModel
from genlab.models.registry import register


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
