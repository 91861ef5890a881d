"""CIFAR-10 from the official python batches, read by an unpickler that refuses any code.

The batches are pickles, so they are read only through `BatchUnpickler`, which resolves the three
numpy names an array needs and refuses every other global (a crafted pickle cannot run code).
"""

from __future__ import annotations

import os
import pickle
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab.data.download import download_file, downloads_allowed
from genlab.data.options import dataset_options
from genlab.data.paths import DataNotFoundError, cache_dir, search_folders
from genlab.data.registry import DataConfig, Dataset, register_dataset
from genlab.errors import GenlabError

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
ARCHIVE_FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{index}" for index in range(1, 6))
BATCH_FILES = (*TRAIN_BATCHES, "test_batch", "batches.meta")
_FIX = "delete it and download CIFAR-10 again"

# The only globals an official batch refers to (numpy arrays); numpy 2 writes `numpy._core`.
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class BatchUnpickler(pickle.Unpickler):
    """An unpickler that resolves only `ALLOWED_GLOBALS` and refuses everything else."""

    def find_class(self, module: str, name: str) -> Any:
        allowed = ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}: not part of the CIFAR-10 format")
        return allowed


def read_batch(path: Path) -> dict:
    """One CIFAR-10 batch file (a pickled dict with bytes keys)."""
    try:
        with open(path, "rb") as file:
            content = BatchUnpickler(file, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as error:
        raise GenlabError(f"{path}: not a valid CIFAR-10 batch ({error}); {_FIX}") from None
    if not isinstance(content, dict):
        raise GenlabError(f"{path}: not a valid CIFAR-10 batch (holds {type(content).__name__}, not a dict); {_FIX}")
    return content


def read_images_and_labels(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (N, 3, 32, 32) and int64 labels (N,) of one batch file."""
    batch = read_batch(path)
    data, labels = batch.get(b"data"), batch.get(b"labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise GenlabError(f"{path}: b'data' is not a uint8 (N, 3072) array; {_FIX}")
    if labels is None or len(labels) != data.shape[0]:
        raise GenlabError(f"{path}: b'labels' is missing or does not match the {data.shape[0]} images; {_FIX}")
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise GenlabError(f"{path}: labels outside 0..9; {_FIX}")
    images = torch.from_numpy(np.ascontiguousarray(data).reshape(-1, 3, 32, 32).copy())
    return images, torch.from_numpy(labels)


def find_batches(folder: Path) -> Path | None:
    """`folder` or its `cifar-10-batches-py/` subfolder, whichever holds every batch file, else None."""
    for candidate in (folder, folder / ARCHIVE_FOLDER):
        if all((candidate / name).is_file() for name in BATCH_FILES):
            return candidate
    return None


def download_cifar10(searched: list[Path]) -> Path:
    """Download the official archive into the cache, extract it safely and return the batches folder."""
    url = os.environ.get("GENLAB_CIFAR10_URL", "").strip() or CIFAR10_URL
    if not downloads_allowed():
        raise DataNotFoundError(
            f"cifar10: not found in {', '.join(map(str, searched))} and downloads are off (GENLAB_OFFLINE); "
            f"extract {CIFAR10_URL} into $GENLAB_DATA/cifar10/, or unset GENLAB_OFFLINE to download it",
            summary=f"not found; would download from {url}",
        )
    folder = cache_dir() / "cifar10"
    archive = folder / "cifar-10-python.tar.gz"
    if not archive.is_file():
        try:
            download_file(url, archive, CIFAR10_SHA256)
        except GenlabError as error:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
            raise GenlabError(
                f"{str(error).split('; ')[0]}; download {CIFAR10_URL} by hand and extract it into $GENLAB_DATA/cifar10/"
            ) from None
    if not hasattr(tarfile, "data_filter"):  # added in Python 3.10.12 / 3.11.4
        raise GenlabError(f"this Python cannot extract archives safely; extract {archive} by hand or upgrade Python")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(folder, filter="data")  # "data" refuses absolute paths, links out, devices
    except (tarfile.TarError, OSError, EOFError) as error:
        raise GenlabError(f"{archive}: cannot extract ({error}); delete it and download again") from None
    found = find_batches(folder)
    if found is None:
        raise GenlabError(f"{archive}: the archive lacks the CIFAR-10 batch files; delete it and download again")
    archive.unlink()  # the extracted batches are all genlab reads
    return found


@register_dataset("cifar10", description="CIFAR-10 colour photos, 32x32 RGB, 10 classes, 50k train / 10k test")
def load_cifar10(config: DataConfig) -> Dataset:
    """CIFAR-10 from the python batches on disk, or downloaded into the cache."""
    dataset_options(config, {})
    searched = search_folders("cifar10", config.root, include_system=False)
    folder = next((found for found in map(find_batches, searched) if found is not None), None)
    source = str(folder)
    if folder is None:
        if config.root is not None:
            raise GenlabError(
                f"cifar10: {config.root} holds no CIFAR-10 python batches ({', '.join(BATCH_FILES)}); "
                f"extract cifar-10-python.tar.gz there or drop the data root"
            )
        folder = download_cifar10(searched)
        source = f"{folder} (downloaded)"
    train = [read_images_and_labels(folder / name) for name in TRAIN_BATCHES]
    test_x, test_y = read_images_and_labels(folder / "test_batch")
    names = read_batch(folder / "batches.meta").get(b"label_names")
    if not isinstance(names, list) or len(names) != 10:
        raise GenlabError(f"{folder / 'batches.meta'}: b'label_names' is not a list of 10 names; {_FIX}")
    return Dataset(
        name="cifar10",
        train_x=torch.cat([images for images, _ in train]),
        train_y=torch.cat([labels for _, labels in train]),
        test_x=test_x,
        test_y=test_y,
        class_names=[name.decode() if isinstance(name, bytes) else str(name) for name in names],
        source=source,
    )
