"""The options every GAN shares: GANConfig, AdamGANConfig and CrossEntropyGANConfig.

Each registered GAN's own config subclasses one of these with its paper's defaults (gan.py,
gan_critics.py, lsgan.py). No model is registered here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from genlab.errors import GenlabError


@dataclass
class GANConfig:
    """Options every GAN shares; each model's config subclass sets its paper's defaults."""

    latent_dim: int = 100
    # "mlp": Goodfellow et al.'s fully connected players; "conv": DCGAN's conv stacks; "auto": conv for
    # images, MLP for points.
    architecture: Literal["auto", "mlp", "conv"] = "auto"
    generator_hidden: tuple[int, ...] = (256, 512, 1024)  # MLP generator
    discriminator_hidden: tuple[int, ...] = (1024, 512, 256)  # MLP discriminator
    discriminator_dropout: float = 0.0  # MLP discriminator
    # Batch norm after each hidden layer of the MLP generator (the conv generator's is conv_generator_batch_norm).
    generator_batch_norm: bool = False
    # Batch norm after each hidden conv of the conv generator (DCGAN's; off: the convs get biases instead).
    # A key of its own because saved runs record generator_batch_norm: false for conv generators with it.
    conv_generator_batch_norm: bool = True
    generator_features: int = 64  # conv generator width at the last upsampling
    discriminator_features: int = 64  # conv discriminator width at the first layer
    generator_upsampling: Literal["transposed", "nearest"] = "transposed"  # conv generator
    # Hidden-layer activations (MLP and conv): the generator's output stays tanh (images) or linear (points).
    generator_activation: Literal["relu", "leaky_relu", "elu"] = "relu"
    discriminator_activation: Literal["leaky_relu", "relu"] = "leaky_relu"
    # Depth of the conv networks: extra 3x3 stride-1 conv blocks at the generator's last hidden resolution
    # and after the discriminator's first layer (the WGAN authors' n_extra_layers). The MLPs' depth is the
    # length of generator_hidden / discriminator_hidden.
    generator_extra_layers: int = 0
    discriminator_extra_layers: int = 0
    # Batch norm in the discriminator; None: the architecture's usual choice (conv: yes, MLP: no).
    discriminator_batch_norm: bool | None = False
    discriminator_spectral_norm: bool = False
    lr: float = 2e-4
    batch_size: int = 64
    critic_steps: int = 1  # discriminator updates per generator update
    # Exponential moving average of the generator's weights, used for sampling; 0 turns it off.
    ema_decay: float = 0.0

    def validate(self) -> None:
        if self.latent_dim < 1 or self.generator_features < 1 or self.discriminator_features < 1:
            raise GenlabError("latent_dim and feature widths must be positive")
        if not self.generator_hidden or not self.discriminator_hidden or \
                min(*self.generator_hidden, *self.discriminator_hidden) < 1:
            raise GenlabError("generator_hidden and discriminator_hidden need at least one positive width")
        if not 0 <= self.discriminator_dropout < 1:
            raise GenlabError(f"discriminator_dropout must be in [0, 1), got {self.discriminator_dropout}")
        if self.architecture == "conv" and self.discriminator_dropout > 0:
            raise GenlabError("discriminator_dropout applies to the MLP discriminator; set it to 0 with architecture=conv")
        if self.lr <= 0:
            raise GenlabError(f"lr must be positive, got {self.lr}")
        if self.batch_size < 1 or self.critic_steps < 1:
            raise GenlabError("batch_size and critic_steps must be at least 1")
        if self.generator_extra_layers < 0 or self.discriminator_extra_layers < 0:
            raise GenlabError(f"generator_extra_layers and discriminator_extra_layers must be 0 or more, got "
                              f"{self.generator_extra_layers} and {self.discriminator_extra_layers}")
        if not 0 <= self.ema_decay < 1:
            raise GenlabError(f"ema_decay must be in [0, 1) (0 turns the average off), got {self.ema_decay}")
        if self.architecture == "mlp":
            self.check_mlp_options()

    def check_mlp_options(self) -> None:
        """Refuse the conv-only options on MLP networks (they would be silently ignored)."""
        if self.generator_extra_layers or self.discriminator_extra_layers:
            raise GenlabError("generator_extra_layers and discriminator_extra_layers deepen the conv networks; "
                              "with MLPs list more widths in generator_hidden / discriminator_hidden")
        if not self.conv_generator_batch_norm:
            raise GenlabError("conv_generator_batch_norm applies to the conv generator; "
                              "the MLP generator's batch norm is generator_batch_norm")


@dataclass
class AdamGANConfig(GANConfig):
    """GANConfig with Adam's moment coefficients."""

    beta1: float = 0.5
    beta2: float = 0.999

    def validate(self) -> None:
        super().validate()
        # None: a subclass that picks the value per kind of data (wgan-gp's beta1) resolves it when built.
        if not all(beta is None or 0 <= beta < 1 for beta in (self.beta1, self.beta2)):
            raise GenlabError(f"beta1 and beta2 must be in [0, 1), got {self.beta1}, {self.beta2}")


@dataclass
class CrossEntropyGANConfig(AdamGANConfig):
    """GANs whose discriminator is a real/fake classifier trained by cross-entropy."""

    generator_loss: Literal["non-saturating", "minimax"] = "non-saturating"
    label_smoothing: float = 0.0  # one-sided: real targets become 1 - label_smoothing

    def validate(self) -> None:
        super().validate()
        if not 0 <= self.label_smoothing < 0.5:
            raise GenlabError(f"label_smoothing must be in [0, 0.5), got {self.label_smoothing}")
