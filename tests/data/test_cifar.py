"""cifar10: the official python batches, read by a restricted unpickler; download of the tar.gz."""

import hashlib
import io
import os
import pickle
import tarfile

import numpy as np
import pytest
import torch

from genlab.data import cifar, load_dataset
from genlab.data.cifar import BatchUnpickler
from genlab.errors import GenlabError


def test_reads_official_format_from_data_dir(isolated_env, write_cifar):
    batches = write_cifar(isolated_env / "data" / "cifar10" / "cifar-10-batches-py", per_batch=4)
    dataset = load_dataset("cifar10")
    assert dataset.train_x.shape == (20, 3, 32, 32) and dataset.test_x.shape == (4, 3, 32, 32)
    assert dataset.train_y.dtype == torch.int64 and dataset.class_names[0] == "airplane"
    # rows are 1024 red, then 1024 green, then 1024 blue values, each row-major
    first = batches["data_batch_1"][0]
    assert torch.equal(dataset.train_x[0, 1, 2], torch.from_numpy(first[1024 + 64 : 1024 + 96]))
    assert dataset.source.endswith("cifar-10-batches-py")


def test_root_may_be_the_batches_folder_itself(tmp_path, write_cifar):
    write_cifar(tmp_path / "batches")
    assert load_dataset("cifar10", root=str(tmp_path / "batches")).num_classes == 10
    with pytest.raises(GenlabError, match="holds no CIFAR-10 python batches"):
        load_dataset("cifar10", root=str(tmp_path))


def make_archive(served, write_cifar, tmp_path) -> str:
    """The batches packed as cifar-10-python.tar.gz in the served folder; returns its SHA-256."""
    write_cifar(tmp_path / "build" / "cifar-10-batches-py", per_batch=2)
    archive = served / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "build" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    return hashlib.sha256(archive.read_bytes()).hexdigest()


def test_downloads_and_extracts_archive(tmp_path, isolated_env, http_folder, write_cifar, monkeypatch):
    base_url, served = http_folder
    monkeypatch.setattr(cifar, "CIFAR10_SHA256", make_archive(served, write_cifar, tmp_path))
    monkeypatch.setenv("GENLAB_CIFAR10_URL", base_url + "cifar-10-python.tar.gz")
    monkeypatch.delenv("GENLAB_OFFLINE")
    dataset = load_dataset("cifar10")
    assert dataset.train_x.shape == (10, 3, 32, 32) and "downloaded" in dataset.source
    cache = isolated_env / "cache" / "cifar10"
    assert [path.name for path in cache.iterdir()] == ["cifar-10-batches-py"]  # the archive is removed


def test_download_with_wrong_hash_leaves_nothing(tmp_path, isolated_env, http_folder, write_cifar, monkeypatch):
    base_url, served = http_folder
    make_archive(served, write_cifar, tmp_path)
    monkeypatch.setenv("GENLAB_CIFAR10_URL", base_url + "cifar-10-python.tar.gz")
    monkeypatch.delenv("GENLAB_OFFLINE")
    with pytest.raises(GenlabError, match="does not match the expected.*by hand"):
        load_dataset("cifar10")
    assert not (isolated_env / "cache" / "cifar10").exists()


def test_archive_escaping_its_folder_is_refused(tmp_path, isolated_env, http_folder, monkeypatch):
    base_url, served = http_folder
    archive = served / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../../escaped.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"oops!"))
    monkeypatch.setattr(cifar, "CIFAR10_SHA256", hashlib.sha256(archive.read_bytes()).hexdigest())
    monkeypatch.setenv("GENLAB_CIFAR10_URL", base_url + "cifar-10-python.tar.gz")
    monkeypatch.delenv("GENLAB_OFFLINE")
    with pytest.raises(GenlabError, match="cannot extract"):
        load_dataset("cifar10")
    assert not any(path.name == "escaped.txt" for path in tmp_path.rglob("*"))


class RunsShellCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_malicious_pickle_is_refused(isolated_env, write_cifar, tmp_path):
    folder = isolated_env / "data" / "cifar10"
    write_cifar(folder)
    marker = tmp_path / "pwned"
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": RunsShellCommand(marker)}, protocol=4))
    refused = r"data_batch_3: not a valid CIFAR-10 batch \(refused to load (os|posix)\.system"
    with pytest.raises(GenlabError, match=refused):
        load_dataset("cifar10")
    assert not marker.exists()


def test_unpickler_allows_exactly_the_numpy_names():
    unpickler = BatchUnpickler(io.BytesIO(b""))
    assert unpickler.find_class("numpy", "ndarray") is np.ndarray
    assert unpickler.find_class("numpy", "dtype") is np.dtype
    assert callable(unpickler.find_class("numpy.core.multiarray", "_reconstruct"))
    for module, name in [("builtins", "eval"), ("numpy", "load"), ("_codecs", "encode"), ("subprocess", "Popen")]:
        with pytest.raises(pickle.UnpicklingError, match="refused"):
            unpickler.find_class(module, name)


def test_offline_and_absent_names_the_url():
    with pytest.raises(GenlabError, match="GENLAB_OFFLINE") as caught:
        load_dataset("cifar10")
    assert caught.value.summary == "not found; would download from " + cifar.CIFAR10_URL
