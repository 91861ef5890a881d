"""MNIST and Fashion-MNIST from their four IDX files: found on disk, or downloaded with SHA-256 checks."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genlab.data.download import downloads_allowed, fetch_first
from genlab.data.idx import read_idx_images, read_idx_labels
from genlab.data.options import dataset_options
from genlab.data.paths import DataNotFoundError, cache_dir, search_folders, user_data_dir
from genlab.data.registry import DataConfig, Dataset, register_dataset
from genlab.errors import GenlabError

FILE_STEMS = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# SHA-256 of the upstream .gz files; checked only for files genlab downloads itself
# (Debian's dataset-fashion-mnist recompresses them, so local copies have other hashes).
CHECKSUMS = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
}


@dataclass(frozen=True)
class IdxDatasetSpec:
    """One MNIST-style dataset: its name, classes, download mirrors and how to get it by hand."""

    name: str
    class_names: tuple[str, ...]
    mirrors: tuple[str, ...]
    mirror_env: str  # an environment variable that replaces `mirrors` (comma-separated base URLs)
    debian_package: str | None = None  # installs the files under /usr/share/datasets/<name>/


MNIST = IdxDatasetSpec(
    name="mnist",
    class_names=tuple(str(digit) for digit in range(10)),
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    mirror_env="GENLAB_MNIST_MIRROR",
)
FASHION_MNIST = IdxDatasetSpec(
    name="fashion-mnist",
    class_names=(
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    mirror_env="GENLAB_FASHION_MNIST_MIRROR",
    debian_package="dataset-fashion-mnist",
)


def find_idx_files(folder: Path) -> dict[str, Path] | None:
    """The four IDX files in `folder` (gzipped or raw names), or None unless all four are there."""
    found = {}
    for role, stem in FILE_STEMS.items():
        candidates = [folder / f"{stem}.gz", folder / stem]
        existing = [path for path in candidates if path.is_file()]
        if not existing:
            return None
        found[role] = existing[0]
    return found


def mirrors_of(spec: IdxDatasetSpec) -> list[str]:
    """The download base URLs: `$<mirror_env>` (comma-separated) when set, else the public mirrors."""
    override = os.environ.get(spec.mirror_env, "").strip()
    if override:
        return [url.strip() for url in override.split(",") if url.strip()]
    return list(spec.mirrors)


def how_to_get(spec: IdxDatasetSpec) -> str:
    """What a user can do by hand when genlab cannot download `spec`."""
    data_dir = user_data_dir()
    target = (data_dir if data_dir is not None else cache_dir()) / spec.name  # both are searched
    by_hand = f"download the four train-*/t10k-* .gz files from {mirrors_of(spec)[0]} into {target}"
    if spec.debian_package:
        return f"run `apt-get install {spec.debian_package}`, or {by_hand}"
    return by_hand


def download_idx_files(spec: IdxDatasetSpec, searched: list[Path]) -> Path:
    """Download the missing .gz files into the cache and return that folder."""
    mirrors = mirrors_of(spec)
    if not downloads_allowed():
        raise DataNotFoundError(
            f"{spec.name}: not found in {', '.join(map(str, searched))} and downloads are off (GENLAB_OFFLINE); "
            f"{how_to_get(spec)}, or unset GENLAB_OFFLINE to download it",
            summary=f"not found; would download from {mirrors[0]}",
        )
    folder = cache_dir() / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for stem in FILE_STEMS.values():
            if (folder / stem).is_file() or (folder / f"{stem}.gz").is_file():
                continue
            filename = f"{stem}.gz"
            fetch_first(mirrors, filename, folder / filename, CHECKSUMS[spec.name][filename], hint=how_to_get(spec))
    finally:
        if not any(folder.iterdir()):
            folder.rmdir()
    return folder


def load_idx_dataset(spec: IdxDatasetSpec, config: DataConfig) -> Dataset:
    """Find (or download) and parse the four IDX files of `spec`."""
    dataset_options(config, {})
    searched = search_folders(spec.name, config.root)
    for folder in searched:
        files = find_idx_files(folder)
        if files is not None:
            source = str(folder)
            break
    else:
        if config.root is not None:
            raise GenlabError(
                f"{spec.name}: {config.root} lacks the four IDX files ({', '.join(FILE_STEMS.values())}, "
                f".gz or not); put them there or drop the data root"
            )
        folder = download_idx_files(spec, searched)
        files = find_idx_files(folder)
        assert files is not None
        source = f"{folder} (downloaded)"
    splits = {}
    for split in ("train", "test"):
        images = read_idx_images(files[f"{split}_images"])  # (N, H, W) uint8
        labels = read_idx_labels(files[f"{split}_labels"])  # (N,) uint8
        if images.shape[0] != labels.shape[0]:
            raise GenlabError(
                f"{spec.name}: {files[f'{split}_images']} holds {images.shape[0]} images but "
                f"{files[f'{split}_labels']} holds {labels.shape[0]} labels; replace the mismatched files"
            )
        if labels.size and int(labels.max()) >= len(spec.class_names):
            raise GenlabError(
                f"{spec.name}: {files[f'{split}_labels']} has label {int(labels.max())}, but there are only "
                f"{len(spec.class_names)} classes; replace the file"
            )
        splits[split] = (torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)))
    return Dataset(
        name=spec.name,
        train_x=splits["train"][0],
        train_y=splits["train"][1],
        test_x=splits["test"][0],
        test_y=splits["test"][1],
        class_names=list(spec.class_names),
        source=source,
    )


@register_dataset("mnist", description="MNIST handwritten digits, 28x28 greyscale, 60k train / 10k test")
def load_mnist(config: DataConfig) -> Dataset:
    """The full MNIST, from disk or downloaded into the cache."""
    return load_idx_dataset(MNIST, config)


@register_dataset("fashion-mnist", description="Fashion-MNIST clothing, 28x28 greyscale, 10 classes, 60k / 10k")
def load_fashion_mnist(config: DataConfig) -> Dataset:
    """Fashion-MNIST, from disk (e.g. Debian's dataset-fashion-mnist) or downloaded into the cache."""
    return load_idx_dataset(FASHION_MNIST, config)
