"""LSGAN (Mao et al. 2017): a GAN whose discriminator is a least-squares regressor instead of a classifier.

D regresses real data to b and generated data to a; G pulls D's output on its samples toward c:

    min_D  1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2]        min_G  1/2 E[(D(G(z)) - c)^2]

With a = 0, b = c = 1 (the paper's 0-1 coding, used in its experiments) the loss penalises samples
by their distance from the decision boundary even when D classifies them correctly, so the
generator's gradients do not vanish as the sigmoid cross-entropy's do. Networks: DCGAN's conv stacks
for images (the paper's LSUN networks are wider variants of them), Goodfellow's MLPs for points;
Adam(2e-4, beta1 = 0.5) and batch 64, as in the paper.

This model is one file: discovery registers it, and the conformance suite tests it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from genlab.errors import GenlabError
from genlab.models.gan import AdversarialModel
from genlab.models.gan_config import AdamGANConfig
from genlab.models.gan_losses import AdversarialLoss
from genlab.models.registry import register


class LeastSquaresLoss(AdversarialLoss):
    """The a-b-c least-squares objectives on the discriminator's raw (linear) outputs."""

    def __init__(self, fake_target: float = 0.0, real_target: float = 1.0, generator_target: float = 1.0) -> None:
        self.fake_target, self.real_target, self.generator_target = fake_target, real_target, generator_target
        self.name = f"least squares (a={fake_target:g}, b={real_target:g}, c={generator_target:g})"

    def discriminator_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return 0.5 * (real_scores - self.real_target).square().mean() + 0.5 * (fake_scores - self.fake_target).square().mean()

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return 0.5 * (fake_scores - self.generator_target).square().mean()


@dataclass
class LSGANConfig(AdamGANConfig):
    """The paper's 0-1 coding (a = 0 for generated, b = 1 for real, c = 1 for the generator's target);
    DCGAN-style conv networks with batch norm in D on images, MLPs on points; Adam(2e-4, 0.5), batch 64."""

    discriminator_batch_norm: bool | None = None  # conv: yes (as in the paper); MLP: no
    batch_size: int = 64
    fake_target: float = 0.0  # a
    real_target: float = 1.0  # b
    generator_target: float = 1.0  # c
    architecture: Literal["auto", "mlp", "conv"] = "auto"

    def validate(self) -> None:
        super().validate()
        if self.fake_target == self.real_target:
            raise GenlabError("lsgan needs fake_target (a) and real_target (b) to differ, or D learns nothing")


@register("lsgan")
class LSGAN(AdversarialModel):
    """Least-squares GAN: D regresses real to b and generated to a; G pulls D(G(z)) toward c."""

    config_class = LSGANConfig
    tiny_config = {"latent_dim": 8, "generator_features": 8, "discriminator_features": 8,
                   "generator_hidden": [32], "discriminator_hidden": [32], "batch_size": 16}

    def make_loss(self) -> AdversarialLoss:
        return LeastSquaresLoss(self.config.fake_target, self.config.real_target, self.config.generator_target)
