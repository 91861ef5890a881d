"""VAE-GAN hybrids: `vae-gan` (Larsen et al. 2016) and `aae` (Makhzani et al. 2016).

Both are built from the other families' parts: the VAE family's conv/MLP encoders and decoders
(vae_nets.py, the autoencoder of autoencoder.py) and reconstruction likelihoods (vae.py), and the GAN
family's discriminators, cross-entropy loss and helpers (nets.py, gan_nets.py, gan_losses.py).

- `vae-gan`: a VAE whose decoder is also a GAN generator, and whose reconstruction error is measured
  in the features of a hidden layer of the discriminator instead of pixel by pixel. Three players with
  three optimizers (RMSProp, as the paper): the encoder minimises KL + L_llike^Dis, the decoder
  γ·L_llike^Dis + its GAN loss on reconstructions and on prior samples, the discriminator the GAN loss
  on real images, reconstructions and prior samples (the paper's Algorithm 1).
- `aae`: a deterministic autoencoder whose code distribution q(z) is matched to the prior p(z) = N(0, I)
  by a discriminator on codes: each step a reconstruction phase (encoder + decoder) and a
  regularisation phase (the discriminator learns prior draws from codes, then the encoder fools it).
  `conditional: true` is the paper's supervised AAE: the one-hot label also enters the decoder, so the
  code is left to carry the style and `sample(n, labels=...)` draws a chosen class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from genlab.data.batches import Batch
from genlab.errors import GenlabError
from genlab.likelihood import kl_to_standard_normal
from genlab.models.autoencoder import DeterministicAutoencoder
from genlab.models.base import GenerativeModel
from genlab.models.gan_losses import CrossEntropyLoss
from genlab.models.gan_nets import mlp_discriminator, set_requires_grad
from genlab.models.nets import DCGANDiscriminator, dcgan_init
from genlab.models.optim import adam
from genlab.models.registry import register
from genlab.models.vae import reconstruction_nll
from genlab.models.vae_nets import ConvDecoder, ConvEncoder, ConvOptions, MLPOptions, check_conv_image_shape


# --- adversarial autoencoder -------------------------------------------------------------------------
@dataclass
class AAEConfig(ConvOptions, MLPOptions):
    """Makhzani et al. 2016's MNIST AAE: a deterministic 784-1000-1000-8 encoder, the mirrored decoder, a
    1000-1000 discriminator on the 8-d codes, a N(0, I) prior. Adam replaces the paper's SGD with momentum
    (`lr` for the reconstruction phase, `adversarial_lr` with β1 = 0.5 for the regularisation phase).
    `likelihood` is the reconstruction loss: bernoulli (cross-entropy) or gaussian (squared error / 2σ²)."""

    architecture: Literal["mlp", "conv"] = "mlp"
    hidden_dims: tuple[int, ...] = (1000, 1000)
    latent_dim: int = 8
    discriminator_hidden: tuple[int, ...] = (1000, 1000)
    likelihood: Literal["bernoulli", "gaussian"] = "bernoulli"
    output_scale: float = 0.1
    conditional: bool = False  # the supervised AAE: the decoder also gets the one-hot label
    batch_norm: bool = False
    lr: float = 1e-3
    adversarial_lr: float = 2e-4
    batch_size: int = 100

    def validate(self) -> None:
        self.validate_mlp()
        self.validate_conv()
        if self.latent_dim < 1 or not self.discriminator_hidden or min(self.discriminator_hidden) < 1:
            raise GenlabError("latent_dim and the discriminator_hidden widths must be positive")
        if self.lr <= 0 or self.adversarial_lr <= 0 or self.output_scale <= 0 or self.batch_size < 1:
            raise GenlabError("lr, adversarial_lr, output_scale and batch_size must be positive")


@register("aae")
class AAE(DeterministicAutoencoder):
    """Adversarial autoencoder: reconstruction, then a GAN on codes that matches q(z) to N(0, I)."""

    config_class = AAEConfig
    tiny_config = {"hidden_dims": [32], "latent_dim": 4, "discriminator_hidden": [16], "batch_size": 16,
                   "channels": [4, 4, 8, 8], "fc_dim": 16}
    supported_data = ("image",)

    def __init__(self, config: AAEConfig, data_shape: tuple[int, ...], num_classes: int = 0) -> None:
        if config.conditional and num_classes < 2:
            raise GenlabError(f"aae with conditional=true needs labelled data with 2+ classes; this data has {num_classes}")
        super().__init__(config, data_shape, num_classes)
        self.conditional = config.conditional
        self.code_discriminator = mlp_discriminator((config.latent_dim,), 0, config.discriminator_hidden, 1,
                                                    batch_norm=False, dropout=0.0)
        self.adversarial_loss = CrossEntropyLoss("non-saturating")

    def condition_dim(self) -> int:
        return self.num_classes if self.config.conditional else 0

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        betas = (0.5, 0.999)
        return {"autoencoder": adam([*self.encoder.parameters(), *self.decoder.parameters()], lr=self.config.lr),
                "discriminator": adam(self.code_discriminator.parameters(), lr=self.config.adversarial_lr, betas=betas),
                "encoder": adam(self.encoder.parameters(), lr=self.config.adversarial_lr, betas=betas)}

    def reconstruction_loss(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Mean per-image reconstruction NLL (nats) of the decoded codes."""
        logits = self.decoder_logits(self.encode(x), labels)
        return reconstruction_nll(logits, x, self.config.likelihood, self.config.output_scale).mean()

    def train_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        x, labels = batch.x, (batch.y if self.conditional else None)
        # Reconstruction phase: encoder and decoder.
        reconstruction = self.reconstruction_loss(x, labels)
        self.update("autoencoder", reconstruction)
        # Regularisation phase: the discriminator tells prior draws (real) from codes (generated) ...
        codes = self.encode(x)
        prior = torch.randn_like(codes)
        real_scores, fake_scores = self.code_discriminator(prior), self.code_discriminator(codes.detach())
        loss_d = self.adversarial_loss.discriminator_loss(real_scores, fake_scores)
        self.update("discriminator", loss_d)
        # ... then the encoder, as the generator, makes its codes pass for prior draws.
        set_requires_grad(self.code_discriminator, False)
        loss_g = self.adversarial_loss.generator_loss(self.code_discriminator(codes))
        self.update("encoder", loss_g)
        set_requires_grad(self.code_discriminator, True)
        reconstruction = reconstruction.detach()
        return {"loss": reconstruction, "reconstruction": reconstruction, "loss_d": loss_d.detach(),
                "loss_g": loss_g.detach(), **self.adversarial_loss.describe(real_scores, fake_scores)}

    @torch.no_grad()
    def validation_metrics(self, batch: Batch) -> dict[str, float]:
        """Held-out reconstruction NLL and pixel MSE, and how far the codes' moments are from the prior's."""
        with self.inference():
            labels = batch.y if self.conditional else None
            codes = self.encode(batch.x)
            reconstruction = self.reconstruction_loss(batch.x, labels).item()
            mse = (self.decode(codes, labels) - batch.x).pow(2).mean().item()
        return {"reconstruction": reconstruction, "mse": mse, "code_mean_abs": codes.mean(0).abs().mean().item(),
                "code_std": codes.std(0).mean().item()}


# --- VAE/GAN -------------------------------------------------------------------------------------------
@dataclass
class VAEGANConfig(ConvOptions):
    """Larsen et al. 2016's VAE/GAN on the conv-vae networks (encoder and decoder of `channels`, `fc_dim`)
    and a DCGAN discriminator of `discriminator_features` whose last hidden layer gives the features of
    the reconstruction error. RMSProp(3e-4) for the three players, as in the paper.

    `gamma` weighs the feature reconstruction error (a sum over the features of a unit-variance
    Gaussian's squared error / 2) against the GAN loss in the decoder's update: the paper's γ. Its
    default of 1 is genlab's choice, not a value taken from the paper. `kl_weight` scales the
    encoder's KL term. Real images and reconstructions share one discriminator batch when the
    feature error is measured, so batch norm treats them alike (measured on mnist-5k: pixel MSE of
    test reconstructions 0.025 after 300 steps against 0.067 for the mean image; 0.088 at 200 steps
    when they went through separate batches).
    """

    latent_dim: int = 32
    discriminator_features: int = 32
    gamma: float = 1.0
    kl_weight: float = 1.0
    lr: float = 3e-4
    batch_size: int = 64

    def validate(self) -> None:
        self.validate_conv()
        if self.latent_dim < 1 or self.discriminator_features < 1:
            raise GenlabError("latent_dim and discriminator_features must be positive")
        if self.gamma < 0 or self.kl_weight < 0 or self.lr <= 0 or self.batch_size < 1:
            raise GenlabError("gamma and kl_weight must be >= 0, lr and batch_size positive")


@register("vae-gan")
class VAEGAN(GenerativeModel):
    """VAE/GAN: the reconstruction error of a VAE measured in a discriminator layer's features (Larsen et al.)."""

    # Its encoder and decoder take their gradients from two losses on one graph (`backward(inputs=...)`,
    # each player its own loss), which DistributedDataParallel does not synchronise across processes.
    distributed_unsupported = "it backpropagates two losses into its encoder and decoder separately"

    config_class = VAEGANConfig
    tiny_config = {"channels": [4, 4, 8, 8], "fc_dim": 16, "latent_dim": 4, "discriminator_features": 8, "batch_size": 16}
    supported_data = ("image",)
    has_latent = True
    has_encoder = True

    def __init__(self, config: VAEGANConfig, data_shape: tuple[int, ...], num_classes: int = 0) -> None:
        super().__init__(config, data_shape, num_classes)
        check_conv_image_shape(self.registry_name, self.data_shape)
        channels, size = self.data_shape[0], self.data_shape[1]
        self.latent_dim = config.latent_dim
        self.encoder = ConvEncoder(channels, size, config.channels, config.fc_dim, 2 * config.latent_dim, config.batch_norm)
        self.decoder = ConvDecoder(config.latent_dim, channels, size, config.channels, config.fc_dim, config.batch_norm)
        self.discriminator = DCGANDiscriminator(channels, size, config.discriminator_features, batch_norm=True)
        self.discriminator.apply(dcgan_init)
        self.adversarial_loss = CrossEntropyLoss("non-saturating")

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        def rmsprop(parameters) -> torch.optim.Optimizer:
            return torch.optim.RMSprop(parameters, lr=self.config.lr)

        return {"encoder": rmsprop(self.encoder.parameters()), "decoder": rmsprop(self.decoder.parameters()),
                "discriminator": rmsprop(self.discriminator.parameters())}

    # --- the players ---------------------------------------------------------------------------
    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z | x), each (B, latent_dim)."""
        mean, log_var = self.encoder(x).chunk(2, dim=1)
        return mean, log_var

    def discriminate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(features of the discriminator's last hidden layer (B, F), real/fake logits (B,)) for images in [0, 1]."""
        hidden = self.discriminator.net[:-1](x * 2 - 1)  # the GAN family's [-1, 1] image space
        return hidden.flatten(1), self.discriminator.net[-1](hidden).flatten()

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The posterior mean of z for each image."""
        return self.posterior(x)[0]

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's (generator's) image for each code, in [0, 1]."""
        return torch.sigmoid(self.decoder(z))

    # --- the update rule -------------------------------------------------------------------------
    def train_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        x = batch.x
        mean, log_var = self.posterior(x)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
        reconstructed = self.decode(z)
        generated = self.decode(torch.randn_like(mean))  # from the prior
        kl = kl_to_standard_normal(mean, log_var).mean()

        # The discriminator: real images against reconstructions and prior samples.
        _, real_scores = self.discriminate(x)
        _, reconstructed_scores = self.discriminate(reconstructed.detach())
        _, generated_scores = self.discriminate(generated.detach())
        loss_d = (self.adversarial_loss.discriminator_loss(real_scores, reconstructed_scores)
                  + self.adversarial_loss.discriminator_loss(real_scores, generated_scores)) / 2
        self.update("discriminator", loss_d)

        # Encoder and decoder against the updated discriminator, which they do not train.
        set_requires_grad(self.discriminator, False)
        # Real images and their reconstructions go through the discriminator in one batch, so its batch
        # norm compares them under the same statistics (two passes would each be normalised by their own
        # batch and the feature error would not see shifts of brightness or contrast).
        paired_features, paired_scores = self.discriminate(torch.cat([x, reconstructed]))
        real_features, reconstructed_features = paired_features.detach()[: x.shape[0]], paired_features[x.shape[0]:]
        reconstructed_scores = paired_scores[x.shape[0]:]
        _, generated_scores = self.discriminate(generated)
        # L_llike^Dis: -log N(Dis_l(x); Dis_l(x~), I) up to a constant, per image.
        feature_error = 0.5 * (reconstructed_features - real_features).pow(2).sum(1).mean()
        loss_gan = self.adversarial_loss.generator_loss(reconstructed_scores) + self.adversarial_loss.generator_loss(generated_scores)
        encoder_loss = self.config.kl_weight * kl + feature_error
        decoder_loss = self.config.gamma * feature_error + loss_gan
        # Each player's gradients from its own loss only: both backward passes fill just their inputs.
        self.optimizers["encoder"].zero_grad(set_to_none=True)
        self.optimizers["decoder"].zero_grad(set_to_none=True)
        self.manual_backward(encoder_loss, "encoder", inputs=list(self.encoder.parameters()), retain_graph=True)
        self.manual_backward(decoder_loss, "decoder", inputs=list(self.decoder.parameters()))
        self.optimizer_step("encoder")
        self.optimizer_step("decoder")
        set_requires_grad(self.discriminator, True)
        values = {"loss": (encoder_loss + decoder_loss).detach(), "kl": kl.detach(), "feature_error": feature_error.detach(),
                  "loss_g": loss_gan.detach(), "loss_d": loss_d.detach()}
        values.update(self.adversarial_loss.describe(real_scores, generated_scores))
        return values

    @torch.no_grad()
    def validation_metrics(self, batch: Batch) -> dict[str, float]:
        """Held-out KL, feature-space reconstruction error and pixel MSE of the reconstructions."""
        with self.inference():
            mean, log_var = self.posterior(batch.x)
            reconstructed = self.decode(mean)
            real_features, _ = self.discriminate(batch.x)
            reconstructed_features, _ = self.discriminate(reconstructed)
        return {"kl": kl_to_standard_normal(mean, log_var).mean().item(),
                "feature_error": (0.5 * (reconstructed_features - real_features).pow(2).sum(1)).mean().item(),
                "mse": (reconstructed - batch.x).pow(2).mean().item()}

    # --- generation --------------------------------------------------------------------------------
    def sample(self, n: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        self.check_labels(n, labels)
        z = self.sample_latent(n, generator)
        with self.inference():
            return self.decode(z)

    def reconstruct(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's image for each input's posterior mean, in [0, 1]."""
        with self.inference():
            return self.decode(self.encode(x.to(self.device)))

