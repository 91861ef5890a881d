"""mnist / fashion-mnist: found on disk, downloaded from a loopback mirror, or refused with a clear error."""

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from genlab.data import load_dataset, mnist
from genlab.data.paths import DataNotFoundError
from genlab.errors import GenlabError

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def mnist_mirror(http_folder, write_idx, small_mnist_arrays, monkeypatch):
    """A loopback mirror serving the tiny MNIST .gz files, with their hashes as the expected checksums."""
    base_url, served = http_folder
    for stem, array in small_mnist_arrays.items():
        path = write_idx(served / f"{stem}.gz", array)
        monkeypatch.setitem(mnist.CHECKSUMS["mnist"], path.name, hashlib.sha256(path.read_bytes()).hexdigest())
    monkeypatch.delenv("GENLAB_OFFLINE")
    monkeypatch.setenv("GENLAB_MNIST_MIRROR", base_url)
    return served


def test_downloads_from_mirror_into_cache_then_reuses_it(mnist_mirror, small_mnist_arrays, isolated_env, monkeypatch):
    dataset = load_dataset("mnist")
    assert dataset.train_x.shape == (12, 1, 28, 28) and dataset.test_x.shape == (6, 1, 28, 28)
    assert dataset.train_x.dtype == torch.uint8 and dataset.train_y.dtype == torch.int64
    np.testing.assert_array_equal(dataset.train_x[:, 0].numpy(), small_mnist_arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(dataset.test_y.numpy(), small_mnist_arrays["t10k-labels-idx1-ubyte"])
    assert dataset.class_names == [str(digit) for digit in range(10)]
    cache = isolated_env / "cache" / "mnist"
    assert "downloaded" in dataset.source and str(cache) in dataset.source
    assert sorted(path.name for path in cache.iterdir()) == sorted(f"{stem}.gz" for stem in mnist.FILE_STEMS.values())
    monkeypatch.setenv("GENLAB_OFFLINE", "1")
    assert load_dataset("mnist").source == str(cache)


def test_wrong_checksum_leaves_nothing_in_cache(mnist_mirror, isolated_env, monkeypatch):
    monkeypatch.setitem(mnist.CHECKSUMS["mnist"], "train-images-idx3-ubyte.gz", "0" * 64)
    with pytest.raises(GenlabError, match="does not match the expected") as caught:
        load_dataset("mnist")
    assert "\n" not in str(caught.value) and str(isolated_env / "data" / "mnist") in str(caught.value)
    cache = isolated_env / "cache"
    assert [path for path in cache.rglob("*") if path.is_file()] == []


def test_offline_and_absent_says_where_it_looked(isolated_env):
    with pytest.raises(DataNotFoundError, match="not found in .*GENLAB_OFFLINE") as caught:
        load_dataset("mnist")
    assert str(isolated_env / "data" / "mnist") in str(caught.value)
    assert caught.value.summary.startswith("not found; would download from https://")


def test_raw_files_in_data_dir(isolated_env, write_idx, small_mnist_arrays):
    for stem, array in small_mnist_arrays.items():
        write_idx(isolated_env / "data" / "mnist" / stem, array, compress=False)
    dataset = load_dataset("mnist")
    assert dataset.source == str(isolated_env / "data" / "mnist")
    assert dataset.train_x.shape[0] == 12


def test_root_overrides_the_search(tmp_path, write_idx, small_mnist_arrays):
    for stem, array in small_mnist_arrays.items():
        write_idx(tmp_path / "mine" / f"{stem}.gz", array)
    assert load_dataset("mnist", root=str(tmp_path / "mine")).test_x.shape[0] == 6
    with pytest.raises(GenlabError, match="lacks the four IDX files"):
        load_dataset("mnist", root=str(tmp_path / "empty"))


def test_mismatched_counts_are_rejected(isolated_env, write_idx, small_mnist_arrays):
    small_mnist_arrays["t10k-labels-idx1-ubyte"] = small_mnist_arrays["t10k-labels-idx1-ubyte"][:5]
    for stem, array in small_mnist_arrays.items():
        write_idx(isolated_env / "data" / "mnist" / f"{stem}.gz", array)
    with pytest.raises(GenlabError, match="holds 6 images but .* holds 5 labels"):
        load_dataset("mnist")


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="Debian package dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_debian_package():
    dataset = load_dataset("fashion-mnist")
    assert dataset.source == str(DEBIAN_FASHION)
    assert dataset.train_x.shape == (60000, 1, 28, 28) and dataset.test_x.shape == (10000, 1, 28, 28)
    assert dataset.class_names[0] == "T-shirt/top" and dataset.num_classes == 10
    assert torch.bincount(dataset.train_y).tolist() == [6000] * 10
    assert dataset.train_x.dtype == torch.uint8 and int(dataset.train_x.max()) == 255


def test_fashion_mnist_local_copy_is_not_hash_checked(isolated_env, write_idx, small_mnist_arrays):
    for stem, array in small_mnist_arrays.items():
        path = isolated_env / "data" / "fashion-mnist" / f"{stem}.gz"
        write_idx(path, array)
        path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=1))  # "recompressed"
    assert load_dataset("fashion-mnist").class_names[-1] == "Ankle boot"
