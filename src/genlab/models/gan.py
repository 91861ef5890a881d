"""The GAN family's shared model and the cross-entropy GANs: gan, cgan, dcgan, cdcgan, acgan.

`AdversarialModel` owns what every GAN does: build a generator and a discriminator (MLP or DCGAN
conv, optionally class-conditioned), alternate their updates, sample from an exponential moving
average of the generator (`ema_decay`; the trainer updates it after each generator step), and report
diagnostics. A variant only picks its loss (gan_losses.py), its
conditioning, its optimizer and, where it has one, a regulariser (gan_critics.py: wgan, wgan-gp,
sngan). The options every GAN shares are in gan_config.py.

Critic steps. The trainer hands one batch per `train_step(batch, step)`; every call is one
discriminator (critic) update on that batch, and the generator is updated on the calls where
`step % critic_steps == 0` (right after that call's critic update). So with `critic_steps=5` a run of
N trainer steps makes N critic updates on N distinct batches and N/5 generator updates, as in the
WGAN papers' algorithms, and a resumed run repeats exactly the updates of an uninterrupted one.
`loss_g` is only reported on the steps that update the generator (the trainer averages each value
over the steps that report it).

Data. Images are mapped to [-1, 1] for the tanh generator and back to [0, 1] by `sample`. Points
(toy2d, whose grid spans +-4: outside tanh's range) get a linear generator output and are
standardised with the first training batch's mean and one overall standard deviation (buffers
`data_shift` and `data_scale`, saved with the weights), as the WGAN-GP authors' toy code divides the
grid by its std; `sample` returns points in the data's own units.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from genlab.data.batches import Batch
from genlab.errors import GenlabError
from genlab.models.base import GenerativeModel, unwrap
from genlab.models.gan_config import (  # noqa: F401  (the shared options, also imported from here, their old home)
    AdamGANConfig,
    CrossEntropyGANConfig,
    GANConfig,
)
from genlab.models.gan_losses import AdversarialLoss, CrossEntropyLoss
from genlab.models.gan_nets import (
    append_labels,
    apply_spectral_norm,
    conv_discriminator,
    conv_generator,
    mlp_discriminator,
    mlp_generator,
    set_requires_grad,
)
from genlab.models.nets import conv_plan, dcgan_init
from genlab.models.optim import adam
from genlab.models.registry import register


class AdversarialModel(GenerativeModel, metaclass=ABCMeta):
    """A generator against a discriminator, updated in turn; samples come from G (or its moving average)."""

    # What the labels do: feed the generator (conditional sampling), feed the discriminator's input,
    # or become targets of a class head on the discriminator (AC-GAN).
    conditions_generator: ClassVar[bool] = False
    conditions_discriminator: ClassVar[bool] = False
    classifies: ClassVar[bool] = False
    supported_data = ("image", "points")
    cheap_sampling = True  # one generator pass
    has_latent = True  # G decodes z; there is no encoder
    averaged_networks = ("generator",)  # samples come from the moving average of G (`ema_decay`)

    def __init__(self, config: GANConfig, data_shape: tuple[int, ...], num_classes: int = 0) -> None:
        super().__init__(config, data_shape, num_classes)
        self.conditional = self.conditions_generator
        uses_labels = self.conditions_generator or self.conditions_discriminator or self.classifies
        if uses_labels and num_classes < 2:
            raise GenlabError(f"{self.registry_name} uses class labels: train it on labelled data (2+ classes)")
        self.latent_dim = config.latent_dim
        self.points = len(self.data_shape) == 1
        self.architecture = self._resolve_architecture()
        self.loss = self.make_loss()
        self.generator, self.discriminator = self._build_networks()
        if config.ema_decay > 0:  # the trainer updates it (see `default_ema_decay`)
            self.attach_moving_average()
        if self.points:
            self.register_buffer("data_shift", torch.zeros(self.data_shape))
            self.register_buffer("data_scale", torch.ones(()))

    # --- construction -----------------------------------------------------------------------
    @classmethod
    def fast_recipe(cls, data_shape: tuple[int, ...]) -> dict[str, Any]:
        """On images: conv stacks half as wide (32 at the last generator layer and the first critic layer)
        and batches of 64. On 2 CPU threads the paper's DCGAN (widths 64, batch 128) makes ~1,000 steps in
        3 minutes and still draws noise; this one makes ~8,000 and draws clothing a person recognises
        (Fashion-MNIST after 90 s: FID 141, precision 0.62, recall 0.51, all 10 classes, against 669 and 5
        classes for the paper's sizes; benchmarks/time_to_quality.py). Points keep the paper's settings."""
        if len(data_shape) != 3:
            return {}
        return {"generator_features": 32, "discriminator_features": 32, "batch_size": 64}

    @abstractmethod
    def make_loss(self) -> AdversarialLoss:
        """The adversarial loss of this variant (cross-entropy, Wasserstein, hinge): each GAN names its own."""

    def _resolve_architecture(self) -> str:
        name, shape = self.registry_name, self.data_shape
        architecture = self.config.architecture
        if architecture == "auto":
            architecture = "mlp" if self.points else "conv"
        if architecture == "conv":
            if len(shape) != 3 or shape[1] != shape[2]:
                raise GenlabError(f"{name}'s conv networks need square images (C, S, S), got data of shape {shape}; "
                                  "use architecture=mlp for points or resize the images")
            try:
                conv_plan(shape[1])
            except ValueError as error:
                raise GenlabError(f"{name}: {error}; resize the data (e.g. resize=32)") from None
        return architecture

    def _build_networks(self) -> tuple[nn.Module, nn.Module]:
        config, shape = self.config, self.data_shape
        generator_labels = self.num_classes if self.conditions_generator else 0
        discriminator_labels = self.num_classes if self.conditions_discriminator else 0
        outputs = 1 + (self.num_classes if self.classifies else 0)
        batch_norm = config.discriminator_batch_norm
        if batch_norm is None:
            batch_norm = self.architecture == "conv"
        if self.architecture == "mlp":
            config.check_mlp_options()  # `auto` resolved to MLPs (points)
            generator = mlp_generator(config.latent_dim + generator_labels, config.generator_hidden, shape, not self.points,
                                      config.generator_batch_norm, config.generator_activation)
            discriminator = mlp_discriminator(shape, discriminator_labels, config.discriminator_hidden, outputs,
                                              batch_norm, config.discriminator_dropout, config.discriminator_activation)
        else:
            generator = conv_generator(config.latent_dim + generator_labels, shape, config.generator_features,
                                       config.generator_upsampling, config.conv_generator_batch_norm,
                                       config.generator_activation, config.generator_extra_layers)
            discriminator = conv_discriminator(shape, discriminator_labels, config.discriminator_features, outputs, batch_norm,
                                               config.discriminator_activation, config.discriminator_extra_layers)
            generator.apply(dcgan_init)
            discriminator.apply(dcgan_init)
        if config.discriminator_spectral_norm:
            apply_spectral_norm(discriminator)
        return generator, discriminator

    def default_ema_decay(self) -> float:
        return self.config.ema_decay

    def averaging_interval(self) -> int:
        return self.config.critic_steps  # the generator's steps

    def make_optimizer(self, parameters: Any) -> torch.optim.Optimizer:
        return adam(parameters, lr=self.config.lr, betas=(self.config.beta1, self.config.beta2))

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"discriminator": self.make_optimizer(self.discriminator.parameters()),
                "generator": self.make_optimizer(self.generator.parameters())}

    # --- the players ------------------------------------------------------------------------
    def generate(self, z: torch.Tensor, labels: torch.Tensor | None, network: nn.Module | None = None) -> torch.Tensor:
        """Generated data in model space ([-1, 1] images or standardised points), (B, *data_shape)."""
        inputs = append_labels(z, labels, self.num_classes) if self.conditions_generator else z
        return (network or self.generator)(inputs)

    def score(self, x: torch.Tensor, labels: torch.Tensor | None, network: nn.Module | None = None) -> torch.Tensor:
        """The discriminator's raw outputs: (B,) scores, or (B, 1 + classes) for a class head."""
        if self.architecture == "mlp":
            x = x.flatten(1)
        if self.conditions_discriminator:
            x = append_labels(x, labels, self.num_classes)
        return (network or self.discriminator)(x)

    def to_model_space(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.data_shift) / self.data_scale if self.points else x * 2 - 1

    def from_model_space(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.data_scale + self.data_shift if self.points else (x + 1) / 2

    # --- objectives (variants override these) -------------------------------------------------
    def discriminator_objective(self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None,
                                real_out: torch.Tensor, fake_out: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The discriminator's loss on one batch and what to log about it."""
        loss = self.loss.discriminator_loss(real_out, fake_out)
        return loss, {"loss_d": loss.detach(), **self.loss.describe(real_out, fake_out)}

    def generator_objective(self, fake_out: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss = self.loss.generator_loss(fake_out)
        return loss, {"loss_g": loss.detach()}

    def after_discriminator_update(self) -> None:
        """Called after every discriminator step (WGAN clips the critic's weights here)."""

    # --- the update rule ------------------------------------------------------------------------
    def train_step(self, batch: Batch, step: int) -> dict[str, float | torch.Tensor]:
        if self.points and step == 0:
            centred = batch.x.float() - batch.x.float().mean(0)
            self.data_shift.copy_(batch.x.float().mean(0))
            self.data_scale.copy_(centred.pow(2).mean().sqrt().clamp_min(1e-6))
        real = self.to_model_space(batch.x)
        labels = batch.y  # generated samples take the real batch's classes: the data's class balance
        diagnose = self.diagnostics is not None and self.diagnostics.due(step)
        generator_turn = step % self.config.critic_steps == 0
        z = self.batch_randn(real.shape[0], self.latent_dim, device=real.device)
        # The generator's graph is only kept when this step also updates the generator.
        with torch.set_grad_enabled(generator_turn):
            fake = self.generate(z, labels)

        set_requires_grad(self.discriminator, True)
        self.optimizers["discriminator"].zero_grad(set_to_none=True)
        real_out, fake_out = self.score(real, labels), self.score(fake.detach(), labels)
        loss_d, values = self.discriminator_objective(real, fake, labels, real_out, fake_out)
        self.manual_backward(loss_d, "discriminator")
        if diagnose:
            values.update(self.diagnostics.gradient_norms("discriminator", self.discriminator))
        self.optimizer_step("discriminator")
        self.after_discriminator_update()

        if generator_turn:
            # D's weights are frozen so the generator's backward pass skips their gradients.
            set_requires_grad(self.discriminator, False)
            self.optimizers["generator"].zero_grad(set_to_none=True)
            # The plain discriminator (not its DDP wrapper): its gradients are not wanted here.
            fake_out = self.score(fake, labels, network=unwrap(self.discriminator))
            loss_g, generator_values = self.generator_objective(fake_out, labels)
            self.manual_backward(loss_g, "generator")
            if diagnose:
                generator_values.update(self.diagnostics.gradient_norms("generator", self.generator))
            self.optimizer_step("generator")
            set_requires_grad(self.discriminator, True)
            values.update(generator_values)
        return values

    # --- generation -----------------------------------------------------------------------------
    @property
    def sampling_network(self) -> nn.Module:
        """The moving average of the generator when there is one, else the generator."""
        return self.averaged("generator")

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Generated data for codes z (B, latent_dim): images in [0, 1], or points."""
        if self.conditional and labels is None:
            raise GenlabError(f"{self.registry_name} is conditional: pass the class labels to decode")
        labels = self.check_labels(z.shape[0], labels)
        return self.from_model_space(self.generate(z, labels, self.sampling_network))

    def sample(self, n: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """`n` samples (images in [0, 1], or points); a conditional model draws classes uniformly when
        `labels` is None, with the same `generator` (after z)."""
        self.check_labels(n, labels)
        z = self.sample_latent(n, generator)
        # Evaluation mode: batch-norm running statistics, so samples do not depend on the batch they share.
        with self.inference():
            return self.decode(z, self.sample_labels(n, labels, generator))


class CrossEntropyGAN(AdversarialModel):
    """Cross-entropy GANs: the minimax or non-saturating generator loss, optional label smoothing."""

    def make_loss(self) -> AdversarialLoss:
        return CrossEntropyLoss(self.config.generator_loss, self.config.label_smoothing)


# --- the registered cross-entropy GANs -----------------------------------------------------------
@dataclass
class GoodfellowGANConfig(CrossEntropyGANConfig):
    """Goodfellow et al. 2014 with MLPs: z(100) -> 256 -> 512 -> 1024 -> data, D 1024 -> 512 -> 256 -> 1,
    LeakyReLU(0.2) and dropout 0.3 in D, Adam(2e-4, beta1=0.5), batch 100, one D step per G step."""

    architecture: Literal["auto", "mlp", "conv"] = "mlp"
    discriminator_dropout: float = 0.3
    batch_size: int = 100


def mlp_gan_fast_recipe(data_shape: tuple[int, ...]) -> dict[str, Any]:
    """The MLP GANs on a CPU, for images: layers half as wide (G 128-256-512, D 512-256-128), batch norm in G,
    batch 64, lr 5e-4 and a moving average of G (0.999) to sample from. Measured on Fashion-MNIST, 90 s on 2
    threads: the paper's sizes make 2,800 steps to FID 387, recall 0.00 and 7 classes (fails the quality gate);
    these make 7,900 steps to FID 172, recall 0.13, 10 classes. The average removes most of the speckle an
    MLP generator leaves in its pixels (FID 207 -> 152 without batch norm), batch norm in G raises recall
    (0.06 -> 0.13). Points keep the paper's settings."""
    if len(data_shape) != 3:
        return {}
    return {"generator_hidden": (128, 256, 512), "discriminator_hidden": (512, 256, 128), "generator_batch_norm": True,
            "batch_size": 64, "lr": 5e-4, "ema_decay": 0.999}


@register("gan")
class GAN(CrossEntropyGAN):
    """Goodfellow et al. 2014: MLP generator and discriminator; minimax or non-saturating generator loss."""

    config_class = GoodfellowGANConfig
    tiny_config = {"latent_dim": 8, "generator_hidden": [16], "discriminator_hidden": [16], "batch_size": 16}

    @classmethod
    def fast_recipe(cls, data_shape: tuple[int, ...]) -> dict[str, Any]:
        return mlp_gan_fast_recipe(data_shape)


@dataclass
class CGANConfig(GoodfellowGANConfig):
    """Mirza & Osindero 2014 on the `gan` networks: the one-hot class joins z and the data."""


@register("cgan")
class CGAN(CrossEntropyGAN):
    """Mirza & Osindero 2014: conditional MLP GAN, the one-hot label concatenated to G's and D's inputs."""

    config_class = CGANConfig
    tiny_config = GAN.tiny_config
    conditions_generator = True
    conditions_discriminator = True

    @classmethod
    def fast_recipe(cls, data_shape: tuple[int, ...]) -> dict[str, Any]:
        return mlp_gan_fast_recipe(data_shape)


@dataclass
class DCGANConfig(CrossEntropyGANConfig):
    """The DCGAN paper's defaults: nz=100, Adam(2e-4, beta1=0.5), batch 128, BN in D after the first layer."""

    architecture: Literal["auto", "mlp", "conv"] = "conv"
    discriminator_batch_norm: bool | None = True
    batch_size: int = 128


DCGAN_TINY = {"latent_dim": 8, "generator_features": 8, "discriminator_features": 8, "batch_size": 16}


@register("dcgan")
class DCGAN(CrossEntropyGAN):
    """Radford et al. 2016: transposed-conv (or nearest-upsampling) generator, strided-conv discriminator."""

    config_class = DCGANConfig
    tiny_config = DCGAN_TINY
    supported_data = ("image",)


@register("cdcgan")
class CDCGAN(CrossEntropyGAN):
    """Conditional DCGAN: one-hot class appended to z, and to D's input as constant planes."""

    config_class = DCGANConfig
    tiny_config = DCGAN_TINY
    supported_data = ("image",)
    conditions_generator = True
    conditions_discriminator = True


@dataclass
class ACGANConfig(DCGANConfig):
    """Odena et al. 2017 on DCGAN networks; `class_loss_weight` scales the class log-likelihood terms."""

    class_loss_weight: float = 1.0

    def validate(self) -> None:
        super().validate()
        if self.class_loss_weight < 0:
            raise GenlabError(f"class_loss_weight must be non-negative, got {self.class_loss_weight}")


@register("acgan")
class ACGAN(CrossEntropyGAN):
    """Odena et al. 2017: class-conditional G; D also predicts the class of real and generated images."""

    config_class = ACGANConfig
    tiny_config = DCGAN_TINY
    supported_data = ("image",)
    conditions_generator = True
    classifies = True

    def discriminator_objective(self, real, fake, labels, real_out, fake_out):
        # Real/fake logit in column 0, class logits after it. D maximises the log-likelihood of the
        # right source and of the right class, for real images and generated ones alike.
        loss, values = super().discriminator_objective(real, fake, labels, real_out[:, 0], fake_out[:, 0])
        class_real = F.cross_entropy(real_out[:, 1:], labels)
        class_fake = F.cross_entropy(fake_out[:, 1:], labels)
        loss = loss + self.config.class_loss_weight * (class_real + class_fake)
        with torch.no_grad():
            values.update(
                loss_d=loss.detach(), class_loss_real=class_real.detach(), class_loss_fake=class_fake.detach(),
                class_accuracy_real=(real_out[:, 1:].argmax(1) == labels).float().mean(),
                class_accuracy_fake=(fake_out[:, 1:].argmax(1) == labels).float().mean(),
            )
        return loss, values

    def generator_objective(self, fake_out, labels):
        # G fools the source head and makes its images recognisable as the class it was asked for.
        loss, values = super().generator_objective(fake_out[:, 0], labels)
        class_loss = F.cross_entropy(fake_out[:, 1:], labels)
        loss = loss + self.config.class_loss_weight * class_loss
        values["loss_g"] = loss.detach()
        return loss, values
