"""Plain network blocks shared by the model families: MLPs and DCGAN-style conv stacks.

Networks here know nothing about objectives; models wrap them.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def mlp(sizes: list[int], activation: type[nn.Module] = nn.ReLU, batch_norm: bool = False,
        dropout: float = 0.0, final_activation: nn.Module | None = None) -> nn.Sequential:
    """Linear layers through `sizes`, with activation (and optional BN/dropout) between them."""
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if index < len(sizes) - 2:
            if batch_norm:
                layers.append(nn.BatchNorm1d(fan_out))
            layers.append(activation())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    if final_activation is not None:
        layers.append(final_activation)
    return nn.Sequential(*layers)


def conv_plan(image_size: int) -> tuple[int, int]:
    """(base, doublings) with base * 2**doublings == image_size and 4 <= base < 8.

    28 -> (7, 2), 32 -> (4, 3), 64 -> (4, 4): the conv stacks are sized for the data instead of
    upsampling small images to 64 pixels.
    """
    base, doublings = image_size, 0
    while base % 2 == 0 and base // 2 >= 4:
        base //= 2
        doublings += 1
    if doublings == 0 or base >= 8:
        raise ValueError(
            f"conv models need an image side of the form b*2^k with 4 <= b < 8 (28, 32, 48, 64, ...); got {image_size}"
        )
    return base, doublings


ACTIVATIONS = ("relu", "leaky_relu", "elu")


def activation_layer(name: str, inplace: bool = True) -> nn.Module:
    """A hidden-layer activation by name: "relu", "leaky_relu" (slope 0.2, DCGAN's) or "elu"."""
    if name == "relu":
        return nn.ReLU(inplace)
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2, inplace)
    if name == "elu":
        return nn.ELU(inplace=inplace)
    raise ValueError(f"unknown activation {name!r}; use one of {', '.join(ACTIVATIONS)}")


def upsample_conv(fan_in: int, fan_out: int, upsampling: str = "transposed", bias: bool = False) -> list[nn.Module]:
    """Layers that double the side of a feature map.

    "transposed": DCGAN's 4x4 stride-2 transposed conv. "nearest": nearest-neighbour upsampling then
    a 3x3 conv (the resize-convolution of Odena et al. 2016), which avoids checkerboard artefacts
    because every output pixel gets the same number of kernel taps.
    """
    if upsampling == "transposed":
        return [nn.ConvTranspose2d(fan_in, fan_out, 4, 2, 1, bias=bias)]
    if upsampling == "nearest":
        return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(fan_in, fan_out, 3, 1, 1, bias=bias)]
    raise ValueError(f"unknown upsampling {upsampling!r}")


class DCGANGenerator(nn.Module):
    """Radford et al.: z -> transposed convs (or resize-convs) with BN+ReLU -> tanh image of (C, S, S).

    Options beside the paper's: `batch_norm=False` drops the batch norms (the convs then get biases),
    `activation` replaces the hidden ReLUs, and `extra_layers` adds that many 3x3 stride-1 conv blocks
    at the last hidden resolution (the `n_extra_layers` of the WGAN authors' DCGAN code) for depth.
    """

    def __init__(self, latent_dim: int, channels: int, image_size: int, features: int = 64,
                 upsampling: str = "transposed", batch_norm: bool = True, activation: str = "relu",
                 extra_layers: int = 0) -> None:
        super().__init__()
        base, doublings = conv_plan(image_size)
        width = features * 2 ** (doublings - 1)

        def normalised(width: int) -> list[nn.Module]:
            return [nn.BatchNorm2d(width)] if batch_norm else []

        layers: list[nn.Module] = [
            # On a 1x1 input this is a dense projection of z, the same in both upsampling variants.
            nn.ConvTranspose2d(latent_dim, width, base, 1, 0, bias=not batch_norm),  # (B, width, base, base)
            *normalised(width),
            activation_layer(activation),
        ]
        for _ in range(doublings - 1):
            layers += [*upsample_conv(width, width // 2, upsampling, bias=not batch_norm), *normalised(width // 2),
                       activation_layer(activation)]
            width //= 2
        for _ in range(extra_layers):
            layers += [nn.Conv2d(width, width, 3, 1, 1, bias=not batch_norm), *normalised(width),
                       activation_layer(activation)]
        layers += [*upsample_conv(width, channels, upsampling), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.latent_dim = latent_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], self.latent_dim, 1, 1))


class DCGANDiscriminator(nn.Module):
    """Radford et al.: strided convs with LeakyReLU(0.2), BN on all but the first; one logit out.

    `outputs` > 1 gives (B, outputs) instead of (B,), e.g. a real/fake logit plus class logits (AC-GAN).
    `activation` replaces the LeakyReLUs; `extra_layers` adds that many 3x3 stride-1 conv blocks after
    the first layer (the `n_extra_layers` of the WGAN authors' DCGAN code).
    """

    def __init__(self, channels: int, image_size: int, features: int = 64, batch_norm: bool = True,
                 outputs: int = 1, activation: str = "leaky_relu", extra_layers: int = 0) -> None:
        super().__init__()
        base, doublings = conv_plan(image_size)
        layers: list[nn.Module] = [nn.Conv2d(channels, features, 4, 2, 1, bias=False), activation_layer(activation)]
        width = features
        for _ in range(extra_layers):
            layers.append(nn.Conv2d(width, width, 3, 1, 1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(activation_layer(activation))
        for _ in range(doublings - 1):
            layers.append(nn.Conv2d(width, width * 2, 4, 2, 1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width * 2))
            layers.append(activation_layer(activation))
            width *= 2
        layers.append(nn.Conv2d(width, outputs, base, 1, 0, bias=False))  # (B, outputs, 1, 1)
        self.net = nn.Sequential(*layers)
        self.outputs = outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.net(x).flatten(1)  # (B, outputs)
        return scores.squeeze(1) if self.outputs == 1 else scores


def dcgan_init(module: nn.Module) -> None:
    """The DCGAN paper's initialisation: conv weights N(0, 0.02); BN weights N(1, 0.02), bias 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def flat_size(shape: tuple[int, ...]) -> int:
    return math.prod(shape)
