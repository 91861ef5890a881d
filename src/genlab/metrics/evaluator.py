"""A dataset's evaluator: the feature space in which genlab measures samples.

Standard Inception weights cannot be downloaded here, and Inception features fit 28-pixel greyscale
digits poorly anyway. So genlab trains, once per dataset, a small CNN on the train split
(deterministic seed, a few CPU minutes at most), records its test accuracy and caches it as
safetensors + JSON under `<cache>/evaluators/` (`$GENLAB_CACHE`, else `~/.cache/genlab`), keyed by
the dataset, its size and options, a fingerprint of its training images and the genlab version.
Features are the classifier's penultimate layer (128 ReLU units).

- Labelled images: `classifier` (the CNN above; class probabilities feed the classifier metrics).
- Unlabelled or single-class images: `autoencoder`, the same trunk trained to reconstruct its input
  (MSE); features are its 128-d code. There are no class probabilities then.
- Points (toy2d): `identity`, the raw coordinates are the features.
- Stacked MNIST (3 digits as channels): `per-channel`, the digit classifier applied to each
  channel; features are concatenated and the 1,000 class probabilities are their products.
- `inception`: torchmetrics' InceptionV3 (2048-d pool features), only when torch-fidelity and its
  weights file are on disk; genlab never downloads them.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

import torch

from genlab._version import __version__
from genlab.data.batches import to_float
from genlab.data.registry import DataConfig, Dataset, load_dataset
from genlab.errors import GenlabError
from genlab.metrics.evaluator_cache import (
    cached_evaluator_path,
    canonical_data_config,
    clean_data_config,
    data_fingerprint,
    evaluator_key,
    evaluators_dir,
    load_network_evaluator,
    save_evaluator,
)
from genlab.metrics.evaluator_nets import FEATURE_DIM, TRUNK_WIDTHS, AutoencoderNet, ClassifierNet, ConvTrunk, build_network
from genlab.metrics.evaluator_training import EVALUATOR_SEED, held_out_scores, train_evaluator, train_network
from genlab.metrics.features import Evaluator, network_evaluator
from genlab.metrics.inception import inception_evaluator, inception_weights_path

# The pieces live in modules of their own (networks, training, cache, the Evaluator object, Inception);
# their names are re-exported here, where they used to live.
__all__ = [
    "FEATURE_DIM", "TRUNK_WIDTHS", "EVALUATOR_SEED", "AutoencoderNet", "ClassifierNet", "ConvTrunk", "Evaluator",
    "build_network", "cached_evaluator_path", "canonical_data_config", "clean_data_config", "data_fingerprint",
    "evaluator_for_dataset", "evaluator_key", "evaluators_dir", "get_evaluator", "held_out_scores",
    "inception_evaluator", "inception_weights_path", "load_network_evaluator", "network_evaluator",
    "per_channel_evaluator", "save_evaluator", "train_evaluator", "train_network",
]


def get_evaluator(
    data: str | DataConfig | dict[str, Any] = "mnist-5k",
    *,
    build: bool = True,
    rebuild: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Evaluator:
    """The evaluator of a dataset: loaded from the cache, else trained now (and cached).

    `data` is a dataset name or a data config (a run's `config.yaml` `data` section works).
    `build=False` raises instead of training; `rebuild=True` trains afresh.
    """
    config = canonical_data_config(data)
    dataset = load_dataset(config)
    return evaluator_for_dataset(dataset, config, build=build, rebuild=rebuild, progress=progress)


def evaluator_for_dataset(dataset: Dataset, config: DataConfig, *, build: bool = True, rebuild: bool = False,
                          progress: Callable[[str], None] | None = None) -> Evaluator:
    """Like `get_evaluator`, for a dataset already loaded from the canonical `config`."""
    if dataset.kind == "points":
        return Evaluator("identity", lambda x: (x.float(), None), dataset.shape[0], 0, {"dataset": dataset.name})
    stacked = dataset.info.get("stacked")
    if stacked:
        return per_channel_evaluator(dataset, stacked, build=build, rebuild=rebuild, progress=progress)
    path, fields = cached_evaluator_path(config, dataset)
    if path.with_suffix(".json").is_file() and not rebuild:
        try:
            return load_network_evaluator(path)
        except GenlabError:
            if not build:
                raise
            # A damaged cache entry is rebuilt below.
    if not build:
        raise GenlabError(f"no evaluator for '{dataset.name}' in {evaluators_dir()}; build it with `genlab evaluator {dataset.name}`")
    network, record = train_evaluator(dataset, progress)
    metadata = {
        "dataset": dataset.name,
        "kind": record.pop("kind"),
        "key": fields,
        "data_config": dataclasses.asdict(config),
        "num_classes": dataset.num_classes,
        "class_names": list(dataset.class_names),
        "feature_dim": FEATURE_DIM,
        "genlab_version": __version__,
        "torch_version": str(torch.__version__),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **record,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_evaluator(path, network, metadata)
    return load_network_evaluator(path)


# --- stacked data: one digit classifier per channel ------------------------------------------------
def per_channel_evaluator(dataset: Dataset, stacked: dict[str, Any], *, build: bool, rebuild: bool,
                          progress: Callable[[str], None] | None) -> Evaluator:
    """The base dataset's classifier on each channel; features concatenated, class = digits in base 10."""
    channels = dataset.shape[0]
    base = get_evaluator(stacked["base_config"], build=build, rebuild=rebuild, progress=progress)
    if base.kind != "classifier" or dataset.shape[0] != stacked["channels"]:
        raise GenlabError(f"'{dataset.name}' needs {stacked['channels']} channels and a digit classifier per channel")
    per_channel = base.num_classes

    def run(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = to_float(images)
        outputs = [base.feature_fn(x[:, index : index + 1]) for index in range(channels)]
        features = torch.cat([output[0] for output in outputs], dim=1)  # (B, channels * D)
        joint = outputs[0][1]
        for _, probabilities in outputs[1:]:
            # p(a, b) = p(a) p(b): the first channel is the most significant digit.
            joint = (joint[:, :, None] * probabilities[:, None, :]).flatten(1)
        return features, joint  # joint: (B, per_channel ** channels)

    metadata = {
        "dataset": dataset.name,
        "base_dataset": base.metadata["dataset"],
        "base_accuracy": base.metadata["test_accuracy"],
        "base_path": str(base.path),
        "channels": channels,
    }
    return Evaluator("per-channel", run, base.feature_dim * channels, per_channel**channels, metadata, base.path)
