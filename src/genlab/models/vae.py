"""The VAE family: Kingma & Welling's MLP VAE (reparameterisation, analytic KL)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from genlab.data.batches import Batch
from genlab.errors import GenlabError
from genlab.models.base import GenerativeModel
from genlab.models.nets import flat_size, mlp
from genlab.models.optim import adam
from genlab.models.registry import register


@dataclass
class VAEConfig:
    """Kingma & Welling 2014's MNIST VAE defaults (784-400-20), Adam(1e-3)."""

    hidden_dims: tuple[int, ...] = (400,)
    latent_dim: int = 20
    batch_norm: bool = False
    likelihood: Literal["bernoulli", "gaussian", "laplace"] = "bernoulli"
    # Fixed std (Gaussian) or scale (Laplace) of the decoder's pixel distribution; it sets how much
    # reconstruction weighs against the KL term, and keeps the ELBO a true bound in nats.
    output_scale: float = 0.1
    kl_weight: float = 1.0
    lr: float = 1e-3
    batch_size: int = 128

    def validate(self) -> None:
        if self.latent_dim < 1:
            raise GenlabError(f"latent_dim must be at least 1, got {self.latent_dim}")
        if self.output_scale <= 0:
            raise GenlabError(f"output_scale must be positive, got {self.output_scale}")
        if self.kl_weight < 0:
            raise GenlabError(f"kl_weight must be non-negative, got {self.kl_weight}")


def reconstruction_nll(logits: torch.Tensor, target: torch.Tensor, likelihood: str, scale: float) -> torch.Tensor:
    """-log p(x | z) per item, summed over dimensions (nats). `logits` are pre-sigmoid means."""
    if likelihood == "bernoulli":
        return F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(1)
    mean = torch.sigmoid(logits)
    dims = target.shape[1]
    if likelihood == "gaussian":
        return 0.5 * ((target - mean) / scale).pow(2).sum(1) + dims * (math.log(scale) + 0.5 * math.log(2 * math.pi))
    return ((target - mean).abs() / scale).sum(1) + dims * math.log(2 * scale)  # laplace


@register("vae")
class VAE(GenerativeModel):
    """MLP VAE: Gaussian encoder q(z|x), standard normal prior, Bernoulli/Gaussian/Laplace decoder."""

    config_class = VAEConfig
    tiny_config = {"hidden_dims": [32], "latent_dim": 4, "batch_size": 16}
    supported_data = ("image", "points")

    def __init__(self, config: VAEConfig, data_shape: tuple[int, ...], num_classes: int = 0) -> None:
        super().__init__(config, data_shape, num_classes)
        self.latent_dim = config.latent_dim
        data_dim = flat_size(data_shape)
        self.encoder = mlp([data_dim, *config.hidden_dims, 2 * config.latent_dim], batch_norm=config.batch_norm)
        self.decoder = mlp([config.latent_dim, *reversed(config.hidden_dims), data_dim], batch_norm=config.batch_norm)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": adam(self.parameters(), lr=self.config.lr)}

    def encode_distribution(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z | x), each (B, latent_dim)."""
        mean, log_var = self.encoder(x.flatten(1)).chunk(2, dim=1)
        return mean, log_var

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The posterior mean of z for each input."""
        return self.encode_distribution(x)[0]

    def decoder_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)  # (B, data_dim)

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's mean image for each code, in [0, 1]."""
        return torch.sigmoid(self.decoder_logits(z)).view(z.shape[0], *self.data_shape)

    def loss_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-item reconstruction NLL and KL(q(z|x) || N(0, I)), in nats."""
        target = x.flatten(1)
        mean, log_var = self.encode_distribution(target)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)  # reparameterisation
        reconstruction = reconstruction_nll(self.decoder_logits(z), target, self.config.likelihood, self.config.output_scale)
        kl = 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var).sum(1)
        return {"reconstruction": reconstruction, "kl": kl}

    def train_step(self, batch: Batch, step: int) -> dict[str, float]:
        optimizer = self.optimizers["adam"]
        terms = self.loss_terms(batch.x)
        reconstruction, kl = terms["reconstruction"].mean(), terms["kl"].mean()
        loss = reconstruction + self.config.kl_weight * kl
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": loss.item(), "reconstruction": reconstruction.item(), "kl": kl.item(), "elbo": -(reconstruction + kl).item()}

    @torch.no_grad()
    def validation_metrics(self, batch: Batch) -> dict[str, float]:
        was_training = self.training
        self.eval()
        terms = self.loss_terms(batch.x)
        self.train(was_training)
        elbo = -(terms["reconstruction"] + terms["kl"]).mean().item()
        return {"elbo": elbo, "reconstruction": terms["reconstruction"].mean().item(), "kl": terms["kl"].mean().item()}

    @torch.no_grad()
    def sample(self, n: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        self.check_labels(n, labels)
        was_training = self.training
        self.eval()
        images = self.decode(self.sample_latent(n, generator))
        self.train(was_training)
        return images
