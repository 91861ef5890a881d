"""Fixtures for the data tests: an isolated environment, a loopback HTTP server, IDX and CIFAR writers."""

from __future__ import annotations

import functools
import gzip
import http.server
import pickle
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

GENLAB_ENV_VARS = (
    "GENLAB_DATA",
    "GENLAB_CACHE",
    "GENLAB_OFFLINE",
    "GENLAB_MNIST_MIRROR",
    "GENLAB_FASHION_MNIST_MIRROR",
    "GENLAB_CIFAR10_URL",
)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """Point the data folder and the cache into tmp_path and forbid downloads unless a test allows them."""
    for name in GENLAB_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GENLAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GENLAB_OFFLINE", "1")
    return tmp_path


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep test output clean
        pass


@pytest.fixture
def http_folder(tmp_path):
    """A folder served over HTTP on 127.0.0.1: yields (base_url, folder)."""
    folder = tmp_path / "served"
    folder.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", folder
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes: magic 0x000008<dims>, big-endian sizes, then the data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


@pytest.fixture
def write_idx():
    """write_idx(path, array, compress): write an IDX file, gzipped when `compress`."""

    def write(path: Path, array: np.ndarray, compress: bool = True) -> Path:
        data = idx_bytes(array)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
        return path

    return write


@pytest.fixture
def small_mnist_arrays():
    """Tiny MNIST-shaped splits: 12 train and 6 test 28x28 images with labels 0..9."""
    generator = np.random.default_rng(0)
    return {
        "train-images-idx3-ubyte": generator.integers(0, 256, (12, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(12) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": generator.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(6) % 10).astype(np.uint8),
    }


class Python2Pickler(pickle._Pickler):
    """Writes bytes and str as Python 2 strings (BINSTRING), as the official CIFAR-10 batches do."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_python2_string(self, obj):
        data = obj.encode("latin-1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = save_python2_string
    dispatch[str] = save_python2_string


def official_pickle(content) -> bytes:
    """`content` pickled like the official CIFAR-10 files: protocol 2, Python 2 strings, numpy.core."""
    import io

    buffer = io.BytesIO()
    Python2Pickler(buffer, protocol=2).dump(content)
    return buffer.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")


CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture
def write_cifar():
    """write_cifar(folder, per_batch): the 7 official CIFAR-10 python files with `per_batch` images each."""

    def write(folder: Path, per_batch: int = 4) -> dict[str, np.ndarray]:
        folder.mkdir(parents=True, exist_ok=True)
        generator = np.random.default_rng(1)
        batches = {}
        for name in [f"data_batch_{index}" for index in range(1, 6)] + ["test_batch"]:
            data = generator.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
            labels = [int(label) for label in generator.integers(0, 10, per_batch)]
            content = {b"batch_label": b"test", b"labels": labels, b"data": data, b"filenames": [b"x.png"] * per_batch}
            (folder / name).write_bytes(official_pickle(content))
            batches[name] = data
        meta = {
            b"label_names": [name.encode() for name in CIFAR_NAMES],
            b"num_cases_per_batch": per_batch,
            b"num_vis": 3072,
        }
        (folder / "batches.meta").write_bytes(official_pickle(meta))
        return batches

    return write
