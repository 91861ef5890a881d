"""GANs with a critic instead of a classifier: wgan (weight clipping), wgan-gp (gradient penalty) and
sngan (spectral norm + hinge loss).

They share `AdversarialModel`'s alternation (gan.py); each adds only what its paper changes. By
default they use DCGAN conv networks on images and MLPs on points (`architecture=auto`), as their
papers did for images and 2-D toy data.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genlab.errors import GenlabError
from genlab.models.gan import AdamGANConfig, AdversarialModel, GANConfig
from genlab.models.gan_losses import AdversarialLoss, HingeLoss, WassersteinLoss, gradient_penalty
from genlab.models.registry import register

CRITIC_TINY = {"latent_dim": 8, "generator_features": 8, "discriminator_features": 8, "generator_hidden": [16],
               "discriminator_hidden": [16], "batch_size": 16}


@dataclass
class WGANConfig(GANConfig):
    """Arjovsky et al. 2017: RMSprop(5e-5), 5 critic steps per generator step, weights clipped to 0.01,
    batch 64; the paper's DCGAN critic has batch norm, its MLP critic none (None picks that)."""

    discriminator_batch_norm: bool | None = None
    lr: float = 5e-5
    critic_steps: int = 5
    clip_value: float = 0.01

    def validate(self) -> None:
        super().validate()
        if self.clip_value <= 0:
            raise GenlabError(f"clip_value must be positive, got {self.clip_value}")


@register("wgan")
class WGAN(AdversarialModel):
    """Arjovsky et al. 2017: Wasserstein critic (no sigmoid) kept Lipschitz by weight clipping, RMSprop."""

    config_class = WGANConfig
    tiny_config = CRITIC_TINY

    def make_loss(self) -> AdversarialLoss:
        return WassersteinLoss()

    def make_optimizer(self, parameters) -> torch.optim.Optimizer:
        # The paper found momentum-based optimizers unstable with the clipped critic.
        return torch.optim.RMSprop(parameters, lr=self.config.lr)

    @torch.no_grad()
    def after_discriminator_update(self) -> None:
        for parameter in self.discriminator.parameters():
            parameter.clamp_(-self.config.clip_value, self.config.clip_value)


@dataclass
class WGANGPConfig(AdamGANConfig):
    """Gulrajani et al. 2017: penalty weight 10, Adam(1e-4, beta=(0, 0.9)), 5 critic steps, batch 64,
    no batch norm in the critic (the penalty is per sample)."""

    lr: float = 1e-4
    beta1: float = 0.0
    beta2: float = 0.9
    critic_steps: int = 5
    gradient_penalty: float = 10.0

    def validate(self) -> None:
        super().validate()
        if self.gradient_penalty < 0:
            raise GenlabError(f"gradient_penalty must be non-negative, got {self.gradient_penalty}")


@register("wgan-gp")
class WGANGP(AdversarialModel):
    """Gulrajani et al. 2017: Wasserstein critic kept 1-Lipschitz by a gradient penalty on interpolates."""

    config_class = WGANGPConfig
    tiny_config = CRITIC_TINY

    def make_loss(self) -> AdversarialLoss:
        return WassersteinLoss()

    def discriminator_objective(self, real, fake, labels, real_out, fake_out):
        loss, values = super().discriminator_objective(real, fake, labels, real_out, fake_out)
        penalty = gradient_penalty(lambda x: self.score(x, labels), real, fake)
        loss = loss + self.config.gradient_penalty * penalty
        values.update(loss_d=loss.detach(), gradient_penalty=penalty.detach())
        return loss, values


@dataclass
class SNGANConfig(AdamGANConfig):
    """Miyato et al. 2018, setting C of their standard-CNN study: Adam(2e-4, beta=(0.5, 0.999)), one
    critic step per generator step, spectral norm on every critic layer, no batch norm there."""

    discriminator_spectral_norm: bool = True


@register("sngan")
class SNGAN(AdversarialModel):
    """Miyato et al. 2018: spectrally normalised discriminator trained with the hinge loss."""

    config_class = SNGANConfig
    tiny_config = CRITIC_TINY

    def make_loss(self) -> AdversarialLoss:
        return HingeLoss()
