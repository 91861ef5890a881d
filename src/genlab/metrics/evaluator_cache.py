"""Where evaluators are cached and under which key: the canonical (clean, whole) dataset an evaluator
is trained on, a fingerprint of its training images, and the safetensors + JSON files of a network."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genlab._version import __version__
from genlab.config import from_dict
from genlab.data.paths import cache_dir
from genlab.data.registry import DataConfig, Dataset
from genlab.io import atomic_write_json, load_tensors, save_tensors
from genlab.metrics.evaluator_nets import FEATURE_DIM, TRUNK_WIDTHS, build_network
from genlab.metrics.evaluator_training import EVALUATOR_SEED
from genlab.metrics.features import Evaluator, network_evaluator


def evaluators_dir() -> Path:
    """Where evaluators and reference statistics are cached: `<cache_dir()>/evaluators`."""
    return cache_dir() / "evaluators"


def canonical_data_config(data: str | DataConfig | dict[str, Any]) -> DataConfig:
    """The dataset an evaluator is trained on: the run's data, clean, with its full splits and seed 0.

    `subset`/`test_subset`/`corruption` only say what a model trained on; the evaluator sees the
    whole clean train split (and seed 0 for datasets drawn at random), so every run on a dataset
    shares it.
    """
    if isinstance(data, str):
        config = DataConfig(name=data)
    elif isinstance(data, DataConfig):
        config = data
    else:
        config = from_dict(DataConfig, data)
    root = str(Path(config.root).expanduser().resolve()) if config.root else None
    return dataclasses.replace(clean_data_config(config), root=root, seed=0, options=dict(config.options))


def clean_data_config(config: DataConfig) -> DataConfig:
    """The whole, uncorrupted dataset of `config`: no subset, no test subset, no training-split corruption.

    Models may train on a subset or on corrupted images; they are always judged against clean data.
    """
    changes: dict[str, Any] = {"subset": None, "test_subset": None}
    if "corruption" in {f.name for f in dataclasses.fields(DataConfig)}:
        changes["corruption"] = None
    return dataclasses.replace(config, **changes)


def data_fingerprint(x: torch.Tensor, y: torch.Tensor) -> str:
    """A short content hash of a split, so a cache entry never outlives the data it was built from."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(str((tuple(x.shape), str(x.dtype))).encode())
    digest.update(x.contiguous().numpy().tobytes())
    digest.update(y.contiguous().numpy().tobytes())
    return digest.hexdigest()


def evaluator_key(config: DataConfig, dataset: Dataset) -> tuple[str, dict[str, Any]]:
    """(file stem, key fields): dataset, shape, options, data fingerprint and genlab version."""
    fields = {
        "dataset": config.name,
        "shape": list(dataset.shape),
        "resize": config.resize,
        "channels": config.channels,
        "options": {k: config.options[k] for k in sorted(config.options)},
        "train_fingerprint": data_fingerprint(dataset.train_x, dataset.train_y),
        "genlab_version": __version__,
        "architecture": {"widths": list(TRUNK_WIDTHS), "feature_dim": FEATURE_DIM, "seed": EVALUATOR_SEED},
    }
    digest = hashlib.blake2b(json.dumps(fields, sort_keys=True).encode(), digest_size=6).hexdigest()
    shape = "x".join(str(s) for s in dataset.shape)
    return f"{config.name}-{shape}-{digest}", fields


def cached_evaluator_path(config: DataConfig, dataset: Dataset) -> tuple[Path, dict[str, Any]]:
    stem, fields = evaluator_key(config, dataset)
    return evaluators_dir() / stem, fields


def save_evaluator(path: Path, network: nn.Module, metadata: dict[str, Any]) -> None:
    """safetensors weights + a JSON record, both written atomically (the JSON last marks completion)."""
    save_tensors(path.with_suffix(".safetensors"), network.state_dict(), metadata={"kind": metadata["kind"]})
    atomic_write_json(path.with_suffix(".json"), metadata)


def load_network_evaluator(path: Path) -> Evaluator:
    """Rebuild a cached evaluator from its JSON record and safetensors weights."""
    metadata = json.loads(path.with_suffix(".json").read_text())
    network = build_network(metadata["kind"], tuple(metadata["key"]["shape"]), max(metadata["num_classes"], 1))
    network.load_state_dict(load_tensors(path.with_suffix(".safetensors")))
    network.to(memory_format=torch.channels_last)
    num_classes = metadata["num_classes"] if metadata["kind"] == "classifier" else 0
    return network_evaluator(metadata["kind"], network, num_classes, metadata, path)
