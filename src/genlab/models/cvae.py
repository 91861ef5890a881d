"""`cvae`: the conditional VAE of Sohn et al. 2015, with an MLP or a conv encoder/decoder.

The one-hot label enters the encoder (concatenated to the flattened image, or as one constant
plane per class for the conv encoder) and is concatenated to z for the decoder, so that
q(z | x, y) and p(x | z, y) are both conditioned and the latent is left to carry style.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from genlab.errors import GenlabError
from genlab.models.registry import register
from genlab.models.vae import VAE, ConvOptions, MLPOptions, VAEObjectiveOptions


@dataclass
class CVAEConfig(VAEObjectiveOptions, ConvOptions, MLPOptions):
    """The MNIST VAE's sizes (784-400-20) conditioned on the class. `hidden_dims`/`activation` apply to
    architecture=mlp, `channels`/`fc_dim` to architecture=conv."""

    architecture: Literal["mlp", "conv"] = "mlp"
    batch_norm: bool = False

    def validate(self) -> None:
        self.validate_objective()
        self.validate_mlp()
        self.validate_conv()


@register("cvae")
class CVAE(VAE):
    """Conditional VAE (Sohn et al. 2015): q(z|x,y), p(x|z,y) with a one-hot label; sample(n, labels=...)."""

    config_class = CVAEConfig
    tiny_config = {"hidden_dims": [32], "latent_dim": 4, "batch_size": 16, "channels": [4, 4, 8, 8], "fc_dim": 16}
    supported_data = ("image", "points")
    conditional = True

    def __init__(self, config: CVAEConfig, data_shape: tuple[int, ...], num_classes: int = 0) -> None:
        if num_classes < 2:
            raise GenlabError(f"cvae needs labelled data with at least 2 classes; this data has {num_classes}")
        if config.architecture == "conv" and len(data_shape) != 3:
            raise GenlabError("cvae with architecture=conv needs images; use architecture=mlp for points")
        super().__init__(config, data_shape, num_classes)

    @property
    def architecture(self) -> str:  # type: ignore[override]
        return self.config.architecture

    def condition_dim(self) -> int:
        return self.num_classes

    def condition(self, labels: torch.Tensor | None) -> torch.Tensor:
        if labels is None:
            raise GenlabError("cvae is conditional: pass the class labels of the images (labels=...)")
        return F.one_hot(labels.long(), self.num_classes).float()
