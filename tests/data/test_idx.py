"""IDX parsing: gzip detected by magic bytes, sizes and magic numbers checked."""

import gzip

import numpy as np
import pytest

from genlab.data.idx import read_idx_images, read_idx_labels
from genlab.errors import GenlabError


@pytest.mark.parametrize("compress", [True, False])
def test_reads_images_and_labels(tmp_path, write_idx, compress):
    images = np.arange(5 * 4 * 3, dtype=np.uint8).reshape(5, 4, 3)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    read_images = read_idx_images(write_idx(tmp_path / "images", images, compress))
    read_labels = read_idx_labels(write_idx(tmp_path / "labels", labels, compress))
    assert read_images.dtype == np.uint8 and read_images.shape == (5, 4, 3)
    np.testing.assert_array_equal(read_images, images)
    np.testing.assert_array_equal(read_labels, labels)
    read_images[0, 0, 0] = 7  # writable, so torch.from_numpy does not warn


def test_gzip_is_detected_by_content_not_name(tmp_path, write_idx):
    labels = np.array([1, 2, 3], dtype=np.uint8)
    np.testing.assert_array_equal(read_idx_labels(write_idx(tmp_path / "labels.raw", labels, compress=True)), labels)
    np.testing.assert_array_equal(read_idx_labels(write_idx(tmp_path / "labels.gz", labels, compress=False)), labels)


@pytest.mark.parametrize("compress", [True, False])
def test_truncated_file_is_rejected(tmp_path, write_idx, compress):
    path = tmp_path / "images"
    raw = write_idx(path, np.zeros((10, 28, 28), np.uint8), compress=False).read_bytes()[:-100]
    path.write_bytes(gzip.compress(raw) if compress else raw)
    with pytest.raises(GenlabError, match=r"truncated: header declares 10x28x28 bytes but only 7740 follow") as caught:
        read_idx_images(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_trailing_garbage_is_rejected(tmp_path, write_idx):
    path = write_idx(tmp_path / "labels", np.zeros(10, np.uint8), compress=False)
    path.write_bytes(path.read_bytes() + b"junk")
    with pytest.raises(GenlabError, match="trailing data"):
        read_idx_labels(path)


def test_truncated_gzip_stream_is_rejected(tmp_path, write_idx):
    path = write_idx(tmp_path / "images.gz", np.arange(4000, dtype=np.uint8).reshape(10, 20, 20) % 251)
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(GenlabError, match="truncated or corrupt gzip") as caught:
        read_idx_images(path)
    assert str(path) in str(caught.value)


def test_wrong_magic_is_rejected(tmp_path, write_idx):
    labels_path = write_idx(tmp_path / "labels", np.zeros(10, np.uint8))
    with pytest.raises(GenlabError, match="magic number 0x00000801 has 1 dimension"):
        read_idx_images(labels_path)
    not_idx = tmp_path / "photo.png"
    not_idx.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(GenlabError, match="not an IDX file"):
        read_idx_images(not_idx)


def test_non_byte_data_type_is_rejected(tmp_path):
    path = tmp_path / "floats"
    path.write_bytes(bytes([0, 0, 0x0D, 1]) + (2).to_bytes(4, "big") + bytes(8))
    with pytest.raises(GenlabError, match="data type 0x0d"):
        read_idx_labels(path)


def test_missing_file(tmp_path):
    with pytest.raises(GenlabError, match="file not found"):
        read_idx_labels(tmp_path / "nothing")


def test_absurd_declared_size_is_rejected_before_allocating(tmp_path):
    path = tmp_path / "images.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 3]) + (0xFFFFFFFF).to_bytes(4, "big") * 3))
    with pytest.raises(GenlabError, match="far more than the file can hold"):
        read_idx_images(path)
