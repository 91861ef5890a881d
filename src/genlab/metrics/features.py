"""The `Evaluator` object: a frozen feature extractor for one dataset, with class probabilities where
it has classes, computed in batches sized to the torch threads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from genlab.data.batches import to_float
from genlab.errors import GenlabError
from genlab.metrics.evaluator_nets import FEATURE_DIM

# Images per forward pass when computing features, per torch thread (at most FEATURE_BATCH_MAX): each
# thread's activations stay in its cache, while every call still gives each thread enough work. Measured
# on 10,000 Fashion-MNIST images, interleaved runs on the busy 2-core machine: at 1 thread batches of 500
# took 1.1 s and 1,000 1.7 s; at 2 threads 1,000 took 2.9 s and 500 3.7 s.
FEATURE_BATCH_PER_THREAD = 500
FEATURE_BATCH_MAX = 4000


@dataclass
class Evaluator:
    """A frozen feature extractor for one dataset, with class probabilities where it has classes.

    `features(images)` -> (N, D) float32 on the CPU; `probabilities(images)` -> (N, K) or None.
    Images are float in [0, 1] or uint8, (N, C, H, W) (or (N, D) points for `identity`).
    """

    kind: str  # classifier | autoencoder | identity | per-channel | inception
    feature_fn: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]
    feature_dim: int
    num_classes: int  # 0 when the evaluator has no classes
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def features_and_probabilities(self, images: torch.Tensor, batch_size: int | None = None
                                   ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Both outputs in one pass over `images`, batched; features (N, D), probabilities (N, K) or None.

        `batch_size` None: `FEATURE_BATCH_PER_THREAD` images per torch thread. It sets only the work per
        call: in eval mode each image is computed on its own (500 and 1,000 give identical bits here).
        """
        if batch_size is None:
            batch_size = min(FEATURE_BATCH_PER_THREAD * torch.get_num_threads(), FEATURE_BATCH_MAX)
        feature_parts, probability_parts = [], []
        with torch.inference_mode():
            for start in range(0, images.shape[0], batch_size):
                features, probabilities = self.feature_fn(images[start : start + batch_size])
                feature_parts.append(features.float().cpu())
                if probabilities is not None:
                    probability_parts.append(probabilities.float().cpu())
        features = torch.cat(feature_parts) if feature_parts else torch.zeros(0, self.feature_dim)
        return features, (torch.cat(probability_parts) if probability_parts else None)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.features_and_probabilities(images)[0]

    def probabilities(self, images: torch.Tensor) -> torch.Tensor | None:
        return self.features_and_probabilities(images)[1]

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """The most probable class of each image, (N,) int64."""
        probabilities = self.probabilities(images)
        if probabilities is None:
            raise GenlabError(f"the {self.kind} evaluator has no classes to predict")
        return probabilities.argmax(1)

    @property
    def description(self) -> str:
        """One line for tables: what the features are and how good the network is."""
        meta = self.metadata
        if self.kind == "classifier":
            return f"classifier CNN, {self.feature_dim}-d penultimate features, test accuracy {meta['test_accuracy']:.2%}"
        if self.kind == "autoencoder":
            return f"autoencoder (unlabelled data), {self.feature_dim}-d code, test MSE {meta['test_mse']:.4f}"
        if self.kind == "per-channel":
            return f"digit classifier per channel ({meta['base_accuracy']:.2%} on {meta['base_dataset']}), {self.feature_dim}-d"
        if self.kind == "identity":
            return "raw coordinates (points)"
        return f"InceptionV3 pool features ({self.feature_dim}-d), weights {meta.get('weights')}"


def network_evaluator(kind: str, network: nn.Module, num_classes: int, metadata: dict[str, Any],
                      path: Path | None) -> Evaluator:
    """Wrap a trained ClassifierNet/AutoencoderNet as an Evaluator (eval mode, no gradients)."""
    network.eval()
    for parameter in network.parameters():
        parameter.requires_grad_(False)

    def run(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = to_float(images).contiguous(memory_format=torch.channels_last)
        features = network.features(x)
        if kind == "classifier":
            return features, torch.softmax(network.head(features), dim=1)
        return features, None

    return Evaluator(kind, run, FEATURE_DIM, num_classes, metadata, path)
