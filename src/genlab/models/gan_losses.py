"""Adversarial objectives shared by the GAN family, as small pluggable objects.

A loss turns the discriminator's raw outputs (`scores`: logits for the cross-entropy GANs, unbounded
critic values for the Wasserstein and hinge GANs) into the two players' losses, and says which
diagnostics its scores mean (probabilities D(x), or a Wasserstein estimate).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable

import torch
import torch.nn.functional as F


class AdversarialLoss(ABC):
    """The discriminator's and the generator's objectives over real and generated scores.

    An abstract base: each concrete loss below (cross-entropy, Wasserstein, hinge) defines both.
    """

    name = ""

    @abstractmethod
    def discriminator_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        """The discriminator's (critic's) loss, averaged over the batch."""

    @abstractmethod
    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        """The generator's loss on the scores of its samples, averaged over the batch."""

    @torch.no_grad()
    def describe(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> dict[str, torch.Tensor]:
        """Mean discriminator output on real and generated data (raw critic values by default)."""
        return {"d_real": real_scores.mean(), "d_fake": fake_scores.mean()}


class CrossEntropyLoss(AdversarialLoss):
    """Goodfellow et al. 2014: D is a classifier of real (1) vs generated (0), trained by cross-entropy.

    The generator either minimises the original minimax term log(1 - D(G(z))), whose gradient
    vanishes when D confidently rejects samples (early in training), or maximises log D(G(z)),
    the paper's "non-saturating" alternative with the same fixed point and strong early gradients.
    `label_smoothing` s is one-sided (Salimans et al. 2016): real targets become 1 - s, fake stay 0,
    so D is never rewarded for pushing generated samples toward an overconfident 1.
    """

    def __init__(self, generator_loss: str = "non-saturating", label_smoothing: float = 0.0) -> None:
        if generator_loss not in ("non-saturating", "minimax"):
            raise ValueError(f"unknown generator loss {generator_loss!r}")
        self.generator_loss_kind = generator_loss
        self.label_smoothing = label_smoothing
        self.name = f"cross-entropy ({generator_loss})"

    def discriminator_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        # BCE on logits is sigmoid + log, computed stably: -log D(x) - log(1 - D(G(z))).
        real_target = torch.full_like(real_scores, 1.0 - self.label_smoothing)
        return F.binary_cross_entropy_with_logits(real_scores, real_target) + \
            F.binary_cross_entropy_with_logits(fake_scores, torch.zeros_like(fake_scores))

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        if self.generator_loss_kind == "minimax":
            # log(1 - sigmoid(l)) = -softplus(l): minimised by the generator, it saturates at 0 as D(G(z)) -> 0.
            return -F.softplus(fake_scores).mean()
        return F.softplus(-fake_scores).mean()  # -log sigmoid(l) = -log D(G(z))

    @torch.no_grad()
    def describe(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"d_real": torch.sigmoid(real_scores).mean(), "d_fake": torch.sigmoid(fake_scores).mean()}


class WassersteinLoss(AdversarialLoss):
    """Arjovsky et al. 2017: the critic maximises E[f(x)] - E[f(G(z))]; the generator maximises E[f(G(z))].

    With f kept (approximately) 1-Lipschitz, by clipping or a gradient penalty, the critic's gap is an
    estimate of the Wasserstein-1 distance up to a constant, logged as `wasserstein`.
    """

    name = "wasserstein"

    def discriminator_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return fake_scores.mean() - real_scores.mean()

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return -fake_scores.mean()

    @torch.no_grad()
    def describe(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> dict[str, torch.Tensor]:
        real, fake = real_scores.mean(), fake_scores.mean()
        return {"d_real": real, "d_fake": fake, "wasserstein": real - fake}


class HingeLoss(AdversarialLoss):
    """The hinge loss of Lim & Ye 2017 / Miyato et al. 2018: max(0, 1 - D(x)) + max(0, 1 + D(G(z)))."""

    name = "hinge"

    def discriminator_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return -fake_scores.mean()


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Gulrajani et al. 2017: E[(||grad_x f(x_hat)||_2 - 1)^2] at random points x_hat between real and fake.

    The penalty is per sample, so it is only the intended one when the critic treats samples
    independently (no batch norm in the critic).
    """
    mix = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    between = (mix * real + (1 - mix) * fake.detach()).requires_grad_(True)
    scores = critic(between)
    (gradients,) = torch.autograd.grad(scores.sum(), between, create_graph=True)
    return (gradients.flatten(1).norm(2, dim=1) - 1.0).pow(2).mean()
