"""`autoencoder`: a deterministic autoencoder trained step by step on the mean squared error.

It samples by decoding codes from N(0, I) or from a Gaussian fitted to its training codes, to show why
an autoencoder whose code space was never shaped toward a prior is a poor generator.
`DeterministicAutoencoder` is also the base of the adversarial autoencoder (hybrid.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch

from genlab.data.batches import Batch
from genlab.errors import GenlabError
from genlab.models.base import GenerativeModel
from genlab.models.nets import mlp
from genlab.models.optim import adam
from genlab.models.registry import register
from genlab.models.vae_nets import ACTIVATIONS, ConvDecoder, ConvEncoder, ConvOptions, MLPOptions, check_conv_image_shape


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
