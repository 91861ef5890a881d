"""The Inception feature space: torchmetrics' FID InceptionV3, only when torch-fidelity and its weights
file are on disk (genlab never downloads them)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch

from genlab.errors import GenlabError
from genlab.metrics.features import Evaluator

INCEPTION_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's release asset


def inception_weights_path() -> Path:
    """Where torch-fidelity keeps its InceptionV3 weights, or `$GENLAB_INCEPTION_WEIGHTS`."""
    override = os.environ.get("GENLAB_INCEPTION_WEIGHTS")
    if override:
        return Path(override).expanduser()
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE


def inception_evaluator() -> Evaluator:
    """torchmetrics' FID InceptionV3 when torch-fidelity and its weights are on disk, else a clear error.

    Nothing is downloaded: the weights path is passed explicitly, so torch-fidelity never reaches
    for the network.
    """
    weights = inception_weights_path()
    missing = []
    if importlib.util.find_spec("torch_fidelity") is None:
        missing.append("the torch-fidelity package (pip install torch-fidelity)")
    if not weights.is_file():
        missing.append(f"the InceptionV3 weights file {weights} (torch-fidelity's {INCEPTION_WEIGHTS_FILE}; "
                       "or point $GENLAB_INCEPTION_WEIGHTS at it)")
    if missing:
        raise GenlabError(
            "--features inception needs " + " and ".join(missing) + "; genlab never downloads them. "
            "Use --features evaluator (the default) instead"
        )
    from torchmetrics.image.fid import NoTrainInceptionV3

    network = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048", "logits_unbiased"],
                                 feature_extractor_weights_path=str(weights))

    def run(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = images if images.dtype == torch.uint8 else (images.clamp(0, 1) * 255).round().to(torch.uint8)
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        pooled, logits = network._torch_fidelity_forward(x)
        return pooled, torch.softmax(logits, dim=1)

    return Evaluator("inception", run, 2048, 1008, {"dataset": "imagenet", "weights": str(weights)}, weights)
