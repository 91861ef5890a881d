"""`pixelvae`: a VAE whose decoder is a small gated PixelCNN conditioned on z (after Gulrajani et al. 2017).

The conv encoder gives q(z | x) as in `conv-vae`. The decoder upsamples z to a feature map of the
image's size (the `conv-vae` decoder with `condition_channels` outputs) and a gated PixelCNN
(a 7x7 type-A masked conv, then gated type-B blocks, each adding a 1x1 projection of that map)
models p(x | z) = prod_i p(x_i | x_<i, z) exactly. Training uses teacher forcing (one pass over the
true image); sampling is sequential, pixel by pixel in raster order.

Pixels: `likelihood="bernoulli"` for binary images (training batches are binarised dynamically,
which leaves binary data unchanged) or `likelihood="categorical"` for 8-bit greyscale images, a
256-way softmax per pixel (exact, no ordering assumption between levels, as in PixelCNN). Both
give log p(x) as a probability of the discrete image, so their likelihoods are comparable.
Only greyscale images (one channel) are supported: colour would need masks ordered across channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from genlab.errors import GenlabError
from genlab.likelihood import check_binary
from genlab.models.registry import register
from genlab.models.vae import VAE, ConvOptions, check_conv_image_shape, dynamic_binarize
from genlab.models.vae_nets import ConvDecoder, ConvEncoder, GatedPixelCNN, autoregressive_sample, inverse_cdf_draw

LEVELS = 256


@dataclass
class PixelVAEConfig(ConvOptions):
    """32 latents, the conv-vae encoder/decoder nets, and a 3-block gated PixelCNN of 32 channels
    (a small receptive field keeps the latent in use, Gulrajani et al.'s point); Adam(1e-3), batch 64."""

    latent_dim: int = 32
    likelihood: Literal["bernoulli", "categorical"] = "bernoulli"
    condition_channels: int = 16  # channels of the z feature map fed to every PixelCNN layer
    pixelcnn_channels: int = 32
    pixelcnn_layers: int = 3  # gated type-B blocks after the type-A input conv
    kl_weight: float = 1.0
    reconstruction_weight: float = 1.0
    lr: float = 1e-3
    batch_size: int = 64

    def validate(self) -> None:
        self.validate_conv()
        if self.latent_dim < 1 or self.condition_channels < 1 or self.pixelcnn_channels < 1 or self.pixelcnn_layers < 0:
            raise GenlabError("latent_dim, condition_channels and pixelcnn_channels must be positive, pixelcnn_layers >= 0")
        if self.kl_weight < 0 or self.reconstruction_weight <= 0 or self.lr <= 0 or self.batch_size < 1:
            raise GenlabError("kl_weight must be >= 0; reconstruction_weight, lr and batch_size positive")


@register("pixelvae")
class PixelVAE(VAE):
    """VAE with a gated PixelCNN decoder on z: exact autoregressive p(x|z), binary or 8-bit greyscale."""

    config_class = PixelVAEConfig
    tiny_config = {"channels": [4, 4, 8, 8], "fc_dim": 16, "latent_dim": 4, "condition_channels": 4,
                   "pixelcnn_channels": 8, "pixelcnn_layers": 1, "batch_size": 16}
    supported_data = ("image",)
    supported_channels = (1,)
    architecture = "conv"
    likelihood_pairs_per_pass = 512  # each (x, z) pair is a whole PixelCNN pass

    def __init__(self, config: PixelVAEConfig, data_shape: tuple[int, ...], num_classes: int = 0) -> None:
        if len(data_shape) == 3 and data_shape[0] != 1:
            raise GenlabError(
                f"pixelvae models greyscale images (1 channel), got {data_shape[0]} channels; use --data-option channels=1"
            )
        super().__init__(config, data_shape, num_classes)

    def build_networks(self) -> tuple[nn.Module, nn.Module]:
        config = self.config
        check_conv_image_shape(self.registry_name, self.data_shape)
        size = self.data_shape[1]
        encoder = ConvEncoder(1, size, config.channels, config.fc_dim, 2 * config.latent_dim, config.batch_norm)
        # The decoder's conv net turns z into a feature map that conditions every PixelCNN layer.
        decoder = ConvDecoder(config.latent_dim, config.condition_channels, size, config.channels, config.fc_dim,
                              config.batch_norm)
        outputs = 1 if config.likelihood == "bernoulli" else LEVELS
        self.pixelcnn = GatedPixelCNN(1, outputs, config.pixelcnn_channels, config.pixelcnn_layers,
                                      condition_channels=config.condition_channels)
        return encoder, decoder

    # --- p(x | z) ------------------------------------------------------------------------------
    def pixel_input(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] (the pixels seen so far) as the PixelCNN's input, centred on 0."""
        if self.config.likelihood == "categorical":
            images = torch.round(images * (LEVELS - 1)) / (LEVELS - 1)
        return images * 2 - 1

    def pixel_logits(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits of every pixel given the pixels before it and z: (B, 1 or 256, H, W)."""
        return self.network("pixelcnn")(self.pixel_input(x), self.network("decoder")(z))

    def log_px_given_z(self, x: torch.Tensor, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The exact autoregressive log p(x | z) = sum_i log p(x_i | x_<i, z), nats per item, (B,)."""
        logits = self.pixel_logits(x, z)
        if self.config.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
        levels = torch.round(x * (LEVELS - 1)).long().squeeze(1)  # (B, H, W)
        return -F.cross_entropy(logits, levels, reduction="none").flatten(1).sum(1)

    def likelihood_measure(self, x: torch.Tensor) -> Literal["probability", "density"]:
        if self.config.likelihood == "bernoulli":
            check_binary(x, self.registry_name)
        elif not bool(((x * (LEVELS - 1) - torch.round(x * (LEVELS - 1))).abs() < 1e-3).all()):
            raise GenlabError("pixelvae with likelihood=categorical scores 8-bit images: pixels must be k/255")
        return "probability"

    def training_target(self, x: torch.Tensor) -> torch.Tensor:
        # A Bernoulli PixelCNN must be fed the binary pixels it predicts; binary data passes unchanged.
        return dynamic_binarize(x) if self.config.likelihood == "bernoulli" else x

    # --- sequential sampling -------------------------------------------------------------------
    def _draw_pixel(self, logits: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
        """Pixel values in [0, 1] drawn from the logits at one position, (N,)."""
        if self.config.likelihood == "bernoulli":
            return (uniforms < torch.sigmoid(logits[:, 0])).float()
        return inverse_cdf_draw(logits, uniforms).float() / (LEVELS - 1)

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Images drawn pixel by pixel from p(x | z), in [0, 1].

        The decoder is stochastic: `generator` sets the pixel draws. Without one a fixed seed (0) is
        used, so decoding the same z twice, or nearby z's in an interpolation, shares the same noise.
        """
        with self.inference():
            condition = self.network("decoder")(z)  # (N, condition_channels, H, W)
            count, (height, width) = z.shape[0], self.data_shape[1:]
            generator = generator if generator is not None else torch.Generator().manual_seed(0)
            uniforms = torch.rand(count, height, width, generator=generator, device=generator.device).to(z.device)
            values = autoregressive_sample(self.network("pixelcnn"), (count, height, width), self._draw_pixel,
                                           lambda drawn: self.pixel_input(drawn.unsqueeze(1)), condition, uniforms)
        return values.unsqueeze(1)

    @torch.no_grad()
    def sample(self, n: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        self.check_labels(n, labels)
        return self.decode(self.sample_latent(n, generator), generator=generator)
