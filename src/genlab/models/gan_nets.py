"""The GAN family's networks: MLP or DCGAN conv players, class conditioning, spectral norm, EMA.

Everything here is a plain `nn.Module` or a function on one; the models in gan.py and
gan_critics.py choose and combine them.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from genlab.models.nets import DCGANDiscriminator, DCGANGenerator, activation_layer, mlp


class MLPNetwork(nn.Module):
    """An MLP on flattened inputs whose output is reshaped to `output_shape` ((): one score per item)."""

    def __init__(self, sizes: list[int], output_shape: tuple[int, ...], activation: type[nn.Module] | functools.partial,
                 batch_norm: bool = False, dropout: float = 0.0, final_activation: nn.Module | None = None) -> None:
        super().__init__()
        self.net = mlp(sizes, activation=activation, batch_norm=batch_norm, dropout=dropout,
                       final_activation=final_activation)
        self.output_shape = tuple(output_shape)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.net(inputs.flatten(1)).view(inputs.shape[0], *self.output_shape)


def mlp_generator(latent_inputs: int, hidden: tuple[int, ...], data_shape: tuple[int, ...], images: bool,
                  batch_norm: bool = False, activation: str = "relu") -> MLPNetwork:
    """Goodfellow et al.'s generator: ReLU (or `activation`) hidden layers, batch norm after each when asked;
    tanh pixels for images, a linear output for points (toy2d's modes lie at up to +-4, outside tanh's range)."""
    return MLPNetwork([latent_inputs, *hidden, math.prod(data_shape)], data_shape,
                      functools.partial(activation_layer, activation, inplace=False), batch_norm=batch_norm,
                      final_activation=nn.Tanh() if images else None)


def mlp_discriminator(data_shape: tuple[int, ...], label_inputs: int, hidden: tuple[int, ...], outputs: int,
                      batch_norm: bool, dropout: float, activation: str = "leaky_relu") -> MLPNetwork:
    """Goodfellow et al.'s discriminator: LeakyReLU(0.2) (or `activation`) hidden layers with dropout; raw
    scores out."""
    return MLPNetwork([math.prod(data_shape) + label_inputs, *hidden, outputs], () if outputs == 1 else (outputs,),
                      functools.partial(activation_layer, activation, inplace=False), batch_norm=batch_norm, dropout=dropout)


def conv_generator(latent_inputs: int, data_shape: tuple[int, ...], features: int, upsampling: str,
                   batch_norm: bool = True, activation: str = "relu", extra_layers: int = 0) -> DCGANGenerator:
    """DCGAN's generator with the family's options (upsampling, batch norm, activation, extra 3x3 layers)."""
    return DCGANGenerator(latent_inputs, data_shape[0], data_shape[1], features, upsampling=upsampling,
                          batch_norm=batch_norm, activation=activation, extra_layers=extra_layers)


def conv_discriminator(data_shape: tuple[int, ...], label_inputs: int, features: int, outputs: int,
                       batch_norm: bool, activation: str = "leaky_relu", extra_layers: int = 0) -> DCGANDiscriminator:
    """DCGAN's discriminator; a conditional one takes `label_inputs` extra constant one-hot planes."""
    return DCGANDiscriminator(data_shape[0] + label_inputs, data_shape[1], features, batch_norm, outputs=outputs,
                              activation=activation, extra_layers=extra_layers)


def append_labels(inputs: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Mirza & Osindero's conditioning: the one-hot class joins the input.

    Vectors (B, D) get K more entries; images (B, C, H, W) get K constant planes, one per class.
    """
    one_hot = F.one_hot(labels, num_classes).to(inputs.dtype)  # (B, K)
    if inputs.dim() == 2:
        return torch.cat([inputs, one_hot], dim=1)
    planes = one_hot[:, :, None, None].expand(-1, -1, inputs.shape[2], inputs.shape[3])
    return torch.cat([inputs, planes], dim=1)


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Miyato et al. 2018: divide every conv/linear weight by its largest singular value (one power
    iteration per forward pass in training), making each layer 1-Lipschitz."""
    for child_name, child in list(module.named_children()):
        if isinstance(child, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            setattr(module, child_name, nn.utils.parametrizations.spectral_norm(child))
        else:
            apply_spectral_norm(child)
    return module


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    for parameter in module.parameters():
        parameter.requires_grad_(flag)
