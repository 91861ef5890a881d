"""GANs with a critic instead of a classifier: wgan (weight clipping), wgan-gp (gradient penalty) and
sngan (spectral norm + hinge loss).

They share `AdversarialModel`'s alternation (gan.py); each adds only what its paper changes. By
default they use DCGAN conv networks on images and MLPs on points (`architecture=auto`), as their
papers did for images and 2-D toy data.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from genlab.errors import GenlabError
from genlab.models.gan import AdversarialModel
from genlab.models.gan_config import AdamGANConfig, GANConfig
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
    """Gulrajani et al. 2017: Adam(1e-4, beta2=0.9), 5 critic steps, batch 64, no batch norm in the critic
    (the penalty is per sample); the penalty weight and beta1 depend on the data (None picks them):

    - images: penalty weight 10 and beta1 = 0, the paper's Algorithm 1;
    - points (toy2d): penalty weight 0.1 and beta1 = 0.5, the settings of the authors' 2-D toy code
      (gan_toy.py in igul222/improved_wgan_training: LAMBDA = .1, Adam(1e-4, beta1=0.5, beta2=0.9); its
      other settings, 512-wide ReLU MLPs with 3 hidden layers, 2-D noise and batch 256, are the
      shared MLP options `generator_hidden`, `discriminator_hidden`, `latent_dim` and `batch_size`).
      The code's comment: "Smaller lambda makes things faster for toy tasks". Measured on toy2d grid-25
      (64-wide nets, lr 1e-3, 1k-4k steps): with weight 10 the critic is no higher at the modes than
      between them (-0.1 to +0.2) and the samples wander over the grid as a cloud; with 0.1 its slope
      grows to ~2, it peaks at the modes (+0.25 to +0.8) and pulls the samples onto them.
    """

    lr: float = 1e-4
    beta1: float | None = None  # None: 0 on images, 0.5 on points
    beta2: float = 0.9
    critic_steps: int = 5
    gradient_penalty: float | None = None  # None: 10 on images, 0.1 on points

    def validate(self) -> None:
        super().validate()
        if self.gradient_penalty is not None and self.gradient_penalty < 0:
            raise GenlabError(f"gradient_penalty must be non-negative, got {self.gradient_penalty}")

    def for_data(self, points: bool) -> WGANGPConfig:
        """This config with the data-dependent defaults (None) filled in: the image or the toy-code values."""
        penalty, beta1 = (0.1, 0.5) if points else (10.0, 0.0)
        return replace(self, gradient_penalty=penalty if self.gradient_penalty is None else self.gradient_penalty,
                       beta1=beta1 if self.beta1 is None else self.beta1)


@register("wgan-gp")
class WGANGP(AdversarialModel):
    """Gulrajani et al. 2017: Wasserstein critic kept 1-Lipschitz by a gradient penalty on interpolates."""

    config_class = WGANGPConfig
    tiny_config = CRITIC_TINY

    @classmethod
    def fast_recipe(cls, data_shape: tuple[int, ...]) -> dict:
        """The GANs' CPU sizes (conv widths 32, batch 64) and a learning rate of 3e-4 instead of 1e-4: on
        Fashion-MNIST, 90 s on 2 CPU threads reach FID 267 (recall 0.17) against 350 (recall 0.03) at 1e-4,
        and 297 with 2 critic steps instead of 5 at 2e-4. Points keep the authors' toy settings."""
        recipe = super().fast_recipe(data_shape)
        return {**recipe, "lr": 3e-4} if recipe else recipe

    def __init__(self, config: WGANGPConfig, data_shape: tuple[int, ...], num_classes: int = 0) -> None:
        # Resolved before the networks and optimizers exist, so the saved run config holds the values used.
        super().__init__(config.for_data(points=len(data_shape) == 1), data_shape, num_classes)

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
