"""`conv-vae`: the VAE with a convolutional encoder (four conv layers) and a transposed-conv decoder."""

from __future__ import annotations

from dataclasses import dataclass

from genlab.models.registry import register
from genlab.models.vae import VAE, ConvOptions, VAEObjectiveOptions


@dataclass
class ConvVAEConfig(VAEObjectiveOptions, ConvOptions):
    """Four conv layers of (32, 32, 64, 64) channels and a 256-unit FC layer (the β-VAE conv net of
    Burgess et al. 2018), 16 latents, Bernoulli decoder, Adam(1e-3)."""

    latent_dim: int = 16

    def validate(self) -> None:
        self.validate_objective()
        self.validate_conv()


@register("conv-vae")
class ConvVAE(VAE):
    """Conv VAE: 4x4 stride-2 convs down to 4-7 pixels, FC to q(z|x); FC, transposed convs and a 3x3 conv back."""

    config_class = ConvVAEConfig
    tiny_config = {"channels": [4, 4, 8, 8], "fc_dim": 16, "latent_dim": 4, "batch_size": 16}
    supported_data = ("image",)
    architecture = "conv"
