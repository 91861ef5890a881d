"""The GAN family: DCGAN (Radford et al. 2016) with the non-saturating generator loss."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genlab.data.batches import Batch
from genlab.errors import GenlabError
from genlab.models.base import GenerativeModel
from genlab.models.nets import DCGANDiscriminator, DCGANGenerator, conv_plan, dcgan_init
from genlab.models.optim import adam
from genlab.models.registry import register


@dataclass
class DCGANConfig:
    """The DCGAN paper's defaults: nz=100, Adam(2e-4, beta1=0.5), batch 128."""

    latent_dim: int = 100
    generator_features: int = 64
    discriminator_features: int = 64
    discriminator_batch_norm: bool = True
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 128

    def validate(self) -> None:
        if self.latent_dim < 1 or self.generator_features < 1 or self.discriminator_features < 1:
            raise GenlabError("latent_dim and feature widths must be positive")


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    for parameter in module.parameters():
        parameter.requires_grad_(flag)


@register("dcgan")
class DCGAN(GenerativeModel):
    """Transposed-conv generator, strided-conv discriminator; alternating D then G updates."""

    config_class = DCGANConfig
    tiny_config = {"latent_dim": 8, "generator_features": 8, "discriminator_features": 8, "batch_size": 16}

    def __init__(self, config: DCGANConfig, data_shape: tuple[int, ...], num_classes: int = 0) -> None:
        super().__init__(config, data_shape, num_classes)
        if len(data_shape) != 3 or data_shape[1] != data_shape[2]:
            raise GenlabError(f"dcgan needs square images (C, S, S), got data of shape {data_shape}; use --set resize=...")
        channels, size = data_shape[0], data_shape[1]
        try:
            conv_plan(size)
        except ValueError as error:
            raise GenlabError(f"dcgan: {error}; resize the data (e.g. resize=32)") from None
        self.latent_dim = config.latent_dim
        self.generator = DCGANGenerator(config.latent_dim, channels, size, config.generator_features)
        self.discriminator = DCGANDiscriminator(channels, size, config.discriminator_features, config.discriminator_batch_norm)
        self.apply(dcgan_init)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        betas = (self.config.beta1, self.config.beta2)
        return {
            "discriminator": adam(self.discriminator.parameters(), lr=self.config.lr, betas=betas),
            "generator": adam(self.generator.parameters(), lr=self.config.lr, betas=betas),
        }

    def train_step(self, batch: Batch, step: int) -> dict[str, float]:
        real = batch.x * 2 - 1  # the generator's tanh range
        z = torch.randn(real.shape[0], self.latent_dim, device=real.device)
        fake = self.generator(z)

        # Discriminator: real -> 1, fake -> 0 (BCE on logits is the paper's sigmoid + BCE, stably).
        set_requires_grad(self.discriminator, True)
        d_optimizer = self.optimizers["discriminator"]
        d_optimizer.zero_grad(set_to_none=True)
        logits_real = self.discriminator(real)
        logits_fake = self.discriminator(fake.detach())
        loss_d = F.binary_cross_entropy_with_logits(logits_real, torch.ones_like(logits_real)) + \
            F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake))
        loss_d.backward()
        d_optimizer.step()

        # Generator: the non-saturating loss -log D(G(z)); D's weights are frozen to skip their grads.
        set_requires_grad(self.discriminator, False)
        g_optimizer = self.optimizers["generator"]
        g_optimizer.zero_grad(set_to_none=True)
        logits_generated = self.discriminator(fake)
        loss_g = F.binary_cross_entropy_with_logits(logits_generated, torch.ones_like(logits_generated))
        loss_g.backward()
        g_optimizer.step()
        set_requires_grad(self.discriminator, True)

        return {
            "loss_d": loss_d.item(),
            "loss_g": loss_g.item(),
            "d_real": torch.sigmoid(logits_real).mean().item(),
            "d_fake": torch.sigmoid(logits_fake).mean().item(),
        }

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Generated images in [0, 1] for codes z of shape (B, latent_dim)."""
        return (self.generator(z) + 1) / 2

    @torch.no_grad()
    def sample(self, n: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        self.check_labels(n, labels)
        was_training = self.training
        self.eval()  # batch-norm running statistics: samples do not depend on the batch they share
        images = self.decode(self.sample_latent(n, generator))
        self.train(was_training)
        return images
