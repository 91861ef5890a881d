"""The evaluator networks: a small conv trunk ending in a 128-d feature layer, and the classifying
and autoencoding networks built on it (genlab.metrics.evaluator trains, caches and loads them)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genlab.errors import GenlabError

FEATURE_DIM = 128
TRUNK_WIDTHS = (16, 32, 64)


def pooled_sides(side: int, blocks: int = 3) -> list[bool]:
    """Which conv blocks halve the image: every block while the side is above 8 (28 -> 14 -> 7)."""
    plan = []
    for _ in range(blocks):
        pool = side > 8
        plan.append(pool)
        side = side // 2 if pool else side
    return plan


class ConvTrunk(nn.Module):
    """Three 3x3 conv blocks (conv, optional 2x max-pool, batch norm, ReLU), then a 128-d ReLU layer.

    Pooling before batch norm and ReLU does the elementwise work on a quarter of the pixels; this
    is what keeps training within CPU minutes.
    """

    def __init__(self, shape: tuple[int, int, int], widths: tuple[int, ...] = TRUNK_WIDTHS,
                 feature_dim: int = FEATURE_DIM) -> None:
        super().__init__()
        channels, height, width = shape
        if height != width:
            raise GenlabError(f"evaluator networks need square images, got {height}x{width}; resize the data")
        layers: list[nn.Module] = []
        side, fan_in = height, channels
        self.sides = [side]
        for fan_out, pool in zip(widths, pooled_sides(height, len(widths))):
            layers.append(nn.Conv2d(fan_in, fan_out, 3, padding=1, bias=False))
            if pool:
                layers.append(nn.MaxPool2d(2))
                side //= 2
            layers += [nn.BatchNorm2d(fan_out), nn.ReLU(inplace=True)]
            fan_in = fan_out
            self.sides.append(side)
        self.convs = nn.Sequential(*layers)
        self.map_shape = (fan_in, side, side)
        self.project = nn.Linear(fan_in * side * side, feature_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.convs(x)  # (B, widths[-1], side, side)
        return F.relu(self.project(maps.flatten(1)))  # (B, feature_dim)


class ClassifierNet(nn.Module):
    """The classifying evaluator: trunk -> dropout -> linear class logits."""

    def __init__(self, shape: tuple[int, int, int], num_classes: int, feature_dim: int = FEATURE_DIM) -> None:
        super().__init__()
        self.trunk = ConvTrunk(shape, feature_dim=feature_dim)
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.trunk(x)))


class AutoencoderNet(nn.Module):
    """The autoencoding evaluator for unlabelled data: trunk -> 128-d code -> upsampling conv decoder."""

    def __init__(self, shape: tuple[int, int, int], feature_dim: int = FEATURE_DIM) -> None:
        super().__init__()
        self.trunk = ConvTrunk(shape, feature_dim=feature_dim)
        width, side, _ = self.trunk.map_shape
        self.expand = nn.Linear(feature_dim, width * side * side)
        self.decoder_sides = list(reversed(self.trunk.sides[:-1]))  # the sizes to climb back through
        layers: list[nn.Module] = []
        widths = list(reversed(TRUNK_WIDTHS))
        for fan_in, fan_out in zip(widths, widths[1:] + [widths[-1]]):
            layers.append(nn.Sequential(nn.Conv2d(fan_in, fan_out, 3, padding=1), nn.BatchNorm2d(fan_out), nn.ReLU(inplace=True)))
        self.blocks = nn.ModuleList(layers)
        self.out = nn.Conv2d(widths[-1], shape[0], 3, padding=1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        width, side, _ = self.trunk.map_shape
        maps = self.expand(self.trunk(x)).view(x.shape[0], width, side, side)
        for block, target_side in zip(self.blocks, self.decoder_sides):
            maps = block(maps)
            if maps.shape[-1] != target_side:
                maps = F.interpolate(maps, size=(target_side, target_side), mode="nearest")
        return torch.sigmoid(self.out(maps))  # (B, C, H, W) in [0, 1]


def build_network(kind: str, shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    if kind == "classifier":
        return ClassifierNet(shape, num_classes)
    return AutoencoderNet(shape)
