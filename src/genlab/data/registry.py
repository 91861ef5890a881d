"""The dataset registry: every dataset is a function that returns a `Dataset` held in memory.

Images are uint8 tensors (N, C, H, W) so that a whole dataset sits on the device and batches are
made by indexing, never by per-item Python work. `toy2d` holds float points (N, 2) instead.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import torch

from genlab.discovery import DATASET_ENTRY_POINTS, discover
from genlab.errors import GenlabError


@dataclass
class Dataset:
    """A dataset in memory: a train and a test split, labels and class names."""

    name: str
    train_x: torch.Tensor  # uint8 (N, C, H, W) for images, float32 (N, D) for points
    train_y: torch.Tensor  # int64 (N,)
    test_x: torch.Tensor
    test_y: torch.Tensor
    class_names: list[str]
    source: str  # where the data was found, for `genlab datasets` and run metadata
    kind: Literal["image", "points"] = "image"
    info: dict[str, Any] = field(default_factory=dict)  # extras, e.g. toy2d's true modes

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
            if x.shape[0] != y.shape[0]:
                raise ValueError(f"{self.name}: {split} has {x.shape[0]} inputs but {y.shape[0]} labels")
            if self.kind == "image" and (x.dtype != torch.uint8 or x.dim() != 4):
                raise ValueError(f"{self.name}: {split} images must be uint8 (N, C, H, W), got {x.dtype} {tuple(x.shape)}")

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one item: (C, H, W) for images, (D,) for points."""
        return tuple(self.train_x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def split(self, name: Literal["train", "test"]) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, labels) of the `train` or `test` split."""
        if name not in ("train", "test"):
            raise GenlabError(f"unknown split {name!r}; use 'train' or 'test'")
        return getattr(self, f"{name}_x"), getattr(self, f"{name}_y")

    def replace(self, **changes: Any) -> "Dataset":
        return dataclasses.replace(self, **changes)


@dataclass
class DataConfig:
    """How to load a dataset: its name and the options every dataset accepts."""

    name: str = "mnist-5k"
    root: str | None = None  # a folder for image-folder / cifar10, or to override the search path
    subset: int | None = None  # keep this many training items (a seeded random choice)
    test_subset: int | None = None  # keep this many test items
    resize: int | None = None  # square side in pixels
    channels: int | None = None  # 1 (greyscale) or 3 (RGB)
    seed: int = 0  # for the subset choice and for datasets drawn at random (toy2d, textures)
    # A corruption of the training split only (e.g. "awgn:high", "warp:medium"): models learn from
    # corrupted images and are judged against the clean test split.
    corruption: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # dataset-specific, e.g. toy2d layout

    def validate(self) -> None:
        for key in ("subset", "test_subset", "resize"):
            value = getattr(self, key)
            if value is not None and value <= 0:
                raise GenlabError(f"data option '{key}' must be positive, got {value}")
        if self.channels not in (None, 1, 3):
            raise GenlabError(f"data option 'channels' must be 1 or 3, got {self.channels}")
        if self.corruption is not None:
            from genlab.data.corruptions import parse_corruption

            parse_corruption(self.corruption)


@dataclass
class DatasetEntry:
    name: str
    loader: Callable[..., Dataset]
    description: str


_DATASETS: dict[str, DatasetEntry] = {}


def register_dataset(name: str, description: str) -> Callable[[Callable[..., Dataset]], Callable[..., Dataset]]:
    """Register a loader `loader(config: DataConfig) -> Dataset` under `name`."""

    def decorate(loader: Callable[..., Dataset]) -> Callable[..., Dataset]:
        if name in _DATASETS:
            raise ValueError(f"dataset {name!r} registered twice")
        _DATASETS[name] = DatasetEntry(name, loader, description)
        return loader

    return decorate


def list_datasets() -> list[DatasetEntry]:
    """Every registered dataset, in registration order."""
    _import_builtin_loaders()
    return list(_DATASETS.values())


def _import_builtin_loaders() -> None:
    # Importing a module runs its @register_dataset decorators: every module of genlab.data, then plugins
    # (an installed package's `genlab.datasets` entry point).
    discover("genlab.data", DATASET_ENTRY_POINTS)


def load_dataset(name: str | DataConfig = "mnist-5k", **options: Any) -> Dataset:
    """Load a registered dataset by name, then apply subset / resize / channels.

    `load_dataset("fashion-mnist", subset=10000, resize=32)`; dataset-specific options
    (e.g. `layout="grid-25"` for toy2d) go to `options`.
    """
    from genlab.config import from_dict
    from genlab.data.transforms import apply_transforms

    if isinstance(name, DataConfig):
        config = name
    else:
        known = {f.name for f in dataclasses.fields(DataConfig)}
        extra = {k: v for k, v in options.items() if k not in known}
        common = {k: v for k, v in options.items() if k in known}
        common.setdefault("options", {})
        common["options"] = {**common["options"], **extra}
        config = from_dict(DataConfig, {"name": name, **common})
    _import_builtin_loaders()
    if config.name not in _DATASETS:
        raise GenlabError(f"unknown dataset '{config.name}'; run `genlab datasets` to see them: {', '.join(_DATASETS)}")
    dataset = _DATASETS[config.name].loader(config)
    return apply_transforms(dataset, config)
