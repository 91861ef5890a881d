"""Networks of the VAE family: conv encoders/decoders sized from the image, and a gated PixelCNN, with
the config options that shape them (`MLPOptions`, `ConvOptions`).

Plain `nn.Module`s that know nothing about objectives; the models in vae.py, conv_vae.py, cvae.py,
pixel_vae.py and vq_vae.py wrap them, and the autoencoders (autoencoder.py, hybrid.py) reuse them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from genlab.errors import GenlabError
from genlab.models.nets import conv_plan

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh}



@dataclass
class MLPOptions:
    """Fully connected encoder and (mirrored) decoder."""

    hidden_dims: tuple[int, ...] = (400,)
    activation: Literal["relu", "tanh"] = "relu"
    batch_norm: bool = False

    def validate_mlp(self) -> None:
        if any(width < 1 for width in self.hidden_dims):
            raise GenlabError(f"hidden_dims must be positive widths, got {list(self.hidden_dims)}")


@dataclass
class ConvOptions:
    """Conv encoder (one layer per entry of `channels`) and a transposed-conv decoder, FC layers between."""

    channels: tuple[int, ...] = (32, 32, 64, 64)
    fc_dim: int = 256
    batch_norm: bool = True

    def validate_conv(self) -> None:
        if not self.channels or any(width < 1 for width in self.channels) or self.fc_dim < 1:
            raise GenlabError(f"channels must be a non-empty list of positive widths and fc_dim positive, got {list(self.channels)}")


def check_conv_image_shape(name: str, data_shape: tuple[int, ...]) -> None:
    """Conv models need square images whose side is b·2^k with 4 <= b < 8 (28, 32, 48, 64, ...)."""
    if len(data_shape) != 3 or data_shape[1] != data_shape[2]:
        raise GenlabError(f"{name} needs square images (C, S, S), got data of shape {data_shape}; use --data-option resize=32")
    try:
        conv_plan(data_shape[1])
    except ValueError as error:
        raise GenlabError(f"{name}: {error}; resize the data (e.g. --data-option resize=32)") from None


def conv_strides(image_size: int, layers: int) -> tuple[list[int], int]:
    """Strides of `layers` conv layers that bring `image_size` down to 4-7 pixels, and that final side.

    28 -> [2, 2, 1, 1] and 7; 32 -> [2, 2, 2, 1] and 4; 64 -> [2, 2, 2, 2] and 4 (with four layers).
    """
    base, doublings = conv_plan(image_size)
    downsampling = min(doublings, layers)
    strides = [2] * downsampling + [1] * (layers - downsampling)
    return strides, image_size // 2**downsampling


def _conv_geometry(stride: int) -> tuple[int, int]:
    # (kernel, padding): 4x4 stride-2 convs halve the side exactly; 3x3 stride-1 convs keep it.
    return (4, 1) if stride == 2 else (3, 1)


class ConvEncoder(nn.Module):
    """Conv layers (each halving the side while it is above 7 pixels) -> FC -> `out_dim` numbers.

    (B, in_channels, S, S) -> (B, out_dim). With the default four layers of (32, 32, 64, 64)
    channels this is the encoder of Burgess et al. 2018's β-VAE, sized for 28, 32 or 64 pixels.
    """

    def __init__(self, in_channels: int, image_size: int, channels: tuple[int, ...], fc_dim: int, out_dim: int,
                 batch_norm: bool = True) -> None:
        super().__init__()
        strides, self.final_size = conv_strides(image_size, len(channels))
        layers: list[nn.Module] = []
        width = in_channels
        for out_channels, stride in zip(channels, strides):
            kernel, padding = _conv_geometry(stride)
            layers.append(nn.Conv2d(width, out_channels, kernel, stride, padding, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU(inplace=True))
            width = out_channels
        self.convs = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(width * self.final_size**2, fc_dim), nn.ReLU(inplace=True), nn.Linear(fc_dim, out_dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.convs(x))


class ConvDecoder(nn.Module):
    """The mirror of `ConvEncoder`: FC -> transposed convs -> a final 3x3 conv to `out_channels` maps.

    (B, in_dim) -> (B, out_channels, S, S) (logits or features; no output activation).
    """

    def __init__(self, in_dim: int, out_channels: int, image_size: int, channels: tuple[int, ...], fc_dim: int,
                 batch_norm: bool = True) -> None:
        super().__init__()
        strides, self.final_size = conv_strides(image_size, len(channels))
        self.start_channels = channels[-1]
        self.head = nn.Sequential(
            nn.Linear(in_dim, fc_dim), nn.ReLU(inplace=True),
            nn.Linear(fc_dim, self.start_channels * self.final_size**2), nn.ReLU(inplace=True),
        )
        # Walk the encoder backwards: layer i maps channels[i] -> channels[i - 1] with the stride of layer i.
        widths = [channels[0], *channels]
        layers: list[nn.Module] = []
        for index in reversed(range(len(channels))):
            kernel, padding = _conv_geometry(strides[index])
            fan_in, fan_out = widths[index + 1], widths[index]
            layers.append(nn.ConvTranspose2d(fan_in, fan_out, kernel, strides[index], padding, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(fan_out))
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.Conv2d(channels[0], out_channels, 3, 1, 1))
        self.convs = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        features = self.head(z).view(z.shape[0], self.start_channels, self.final_size, self.final_size)
        return self.convs(features)


# --- autoregressive pieces ----------------------------------------------------------------------
class MaskedConv2d(nn.Conv2d):
    """A 'same' conv that only sees pixels above, and to the left in the same row (van den Oord et al. 2016).

    Type "A" also hides the centre pixel (the first layer: a pixel never sees itself); type "B"
    shows it (later layers: the centre holds features computed from earlier pixels only). For
    one colour channel this makes the output at (i, j) a function of the pixels before (i, j)
    in raster order.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, mask_type: str) -> None:
        if mask_type not in ("A", "B") or kernel_size % 2 == 0:
            raise ValueError(f"mask_type must be 'A' or 'B' and the kernel odd, got {mask_type!r}, {kernel_size}")
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        centre = kernel_size // 2
        mask = torch.ones_like(self.weight)
        mask[:, :, centre, centre + (mask_type == "B"):] = 0
        mask[:, :, centre + 1:, :] = 0
        self.register_buffer("mask", mask, persistent=False)  # rebuilt from the config, never saved

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, self.stride, self.padding)

    def valid_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The conv without padding, using only the kernel rows down to the centre (the rest are masked).

        (N, C, h, w) -> (N, out, h - reach, w - 2 * reach): output (a, b) is the 'same' conv's output
        at input position (a + reach, b + reach).
        """
        reach = self.kernel_size[0] // 2
        return F.conv2d(x, (self.weight * self.mask)[:, :, : reach + 1], self.bias)


def gate(features: torch.Tensor) -> torch.Tensor:
    """The gated activation tanh(a) * sigmoid(b) over the two halves of the channels."""
    value, gate_logits = features.chunk(2, dim=1)
    return torch.tanh(value) * torch.sigmoid(gate_logits)


class GatedMaskedBlock(nn.Module):
    """Residual block: masked (type B) conv -> + conditioning -> gated activation -> 1x1 conv."""

    def __init__(self, channels: int, kernel_size: int, condition_channels: int) -> None:
        super().__init__()
        self.conv = MaskedConv2d(channels, 2 * channels, kernel_size, "B")
        self.condition = nn.Conv2d(condition_channels, 2 * channels, 1, bias=False) if condition_channels else None
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, h: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        features = self.conv(h)
        if self.condition is not None:
            features = features + self.condition(condition)
        return h + self.out(gate(features))

    def valid_forward(self, h: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        """`forward` without padding: the output shrinks by `reach` rows (top) and columns (each side);
        `condition` is already cropped to the output's positions."""
        reach = self.conv.kernel_size[0] // 2
        features = self.conv.valid_forward(h)
        if self.condition is not None:
            features = features + self.condition(condition)
        return h[:, :, reach:, reach : h.shape[3] - reach] + self.out(gate(features))


class GatedPixelCNN(nn.Module):
    """A small gated PixelCNN: a 7x7 type-A masked conv, then gated type-B residual blocks, then 1x1 convs.

    forward(x (B, in_channels, H, W), condition (B, condition_channels, H, W) or None) returns logits
    (B, out_channels, H, W) where the logits at (i, j) depend only on pixels before (i, j) in raster
    order (and on the condition anywhere). The plain masked stack has the blind spot that the two-stack
    gated PixelCNN removes; with the few layers used here the conditioning carries the global shape.
    """

    def __init__(self, in_channels: int, out_channels: int, channels: int, layers: int, condition_channels: int = 0,
                 first_kernel: int = 7, kernel: int = 3) -> None:
        super().__init__()
        self.input = MaskedConv2d(in_channels, 2 * channels, first_kernel, "A")
        self.input_condition = nn.Conv2d(condition_channels, 2 * channels, 1, bias=False) if condition_channels else None
        self.blocks = nn.ModuleList(GatedMaskedBlock(channels, kernel, condition_channels) for _ in range(layers))
        self.output = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(), nn.Conv2d(channels, out_channels, 1))
        # How many rows above a pixel can reach it: sampling recomputes only that band of rows.
        self.receptive_rows = first_kernel // 2 + layers * (kernel // 2)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        features = self.input(x)
        if self.input_condition is not None:
            features = features + self.input_condition(condition)
        h = gate(features)
        for block in self.blocks:
            h = block(h, condition)
        return self.output(h)

    def logits_at(self, window: torch.Tensor, condition: torch.Tensor | None, inside: torch.Tensor) -> torch.Tensor:
        """The logits at one position from the window of inputs that can reach it: (N, out_channels).

        `window` (N, C, R + 1, 2R + 1) holds the inputs in the R = `receptive_rows` rows above the
        position and R columns either side (the position at the bottom centre); `condition` likewise;
        `inside` (R + 1, 2R + 1) is 1 where the window lies inside the image. Each layer is computed
        only where later layers need it, and features outside the image are zeroed as the 'same'
        padding of `forward` would, so the result equals `forward`'s logits at that position.
        """
        def crop(tensor: torch.Tensor, top: int, side: int) -> torch.Tensor:
            return tensor[..., top:, side : tensor.shape[-1] - side]

        reach = self.input.kernel_size[0] // 2
        features = self.input.valid_forward(window * inside)
        offset = reach
        if self.input_condition is not None:
            features = features + self.input_condition(crop(condition, offset, offset))
        h = gate(features) * crop(inside, offset, offset)
        for block in self.blocks:
            offset += block.conv.kernel_size[0] // 2
            block_condition = None if condition is None else crop(condition, offset, offset)
            h = block.valid_forward(h, block_condition) * crop(inside, offset, offset)
        return self.output(h)[:, :, -1, 0]


def inverse_cdf_draw(logits: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """Categorical draws by inverting the CDF: logits (N, K), uniforms (N,) in [0, 1) -> indices (N,).

    Taking the uniforms from the caller's generator keeps draws reproducible on any device.
    """
    cdf = torch.softmax(logits.float(), dim=1).cumsum(dim=1)
    index = (cdf < uniforms.unsqueeze(1)).sum(dim=1)
    return index.clamp_(max=logits.shape[1] - 1)  # guards the rounding of the last cdf entry below 1


def autoregressive_sample(network: GatedPixelCNN, shape: tuple[int, int, int], draw_pixel, embed_input,
                          condition: torch.Tensor | None, uniforms: torch.Tensor) -> torch.Tensor:
    """Fill a (N, H, W) grid pixel by pixel in raster order with a masked network.

    `embed_input(values (N, h, w))` turns drawn values into the network's input; `draw_pixel(logits
    (N, K), uniforms (N,))` turns the logits at one position into values. Each position's logits
    come from `network.logits_at` on the window that can reach it, which gives the logits of a pass
    over the whole image at a small fraction of the cost.
    """
    count, height, width = shape
    reach = network.receptive_rows
    # Canvases padded by `reach` rows on top and columns on both sides, so every window is a slice.
    values = torch.zeros(count, height + reach, width + 2 * reach, device=uniforms.device)
    inside = torch.zeros(height + reach, width + 2 * reach, device=uniforms.device)
    inside[reach:, reach : reach + width] = 1
    if condition is not None:
        condition = F.pad(condition, (reach, reach, reach, 0))
    for row in range(height):
        for column in range(width):
            rows, columns = slice(row, row + reach + 1), slice(column, column + 2 * reach + 1)
            window_condition = None if condition is None else condition[:, :, rows, columns]
            logits = network.logits_at(embed_input(values[:, rows, columns]), window_condition, inside[rows, columns])
            values[:, row + reach, column + reach] = draw_pixel(logits, uniforms[:, row, column])
    return values[:, reach:, reach : reach + width]
