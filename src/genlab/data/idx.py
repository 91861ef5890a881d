"""Read IDX files (the MNIST format), gzipped or not, checking the magic number and declared sizes."""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from genlab.errors import GenlabError

GZIP_MAGIC = b"\x1f\x8b"
UNSIGNED_BYTE = 0x08  # the only IDX data type MNIST-style files use
IMAGES_DIMS = 3  # magic 0x00000803: (N, H, W)
LABELS_DIMS = 1  # magic 0x00000801: (N,)
DEFLATE_MAX_RATIO = 1032  # deflate never expands data more than this, which bounds a gzip file's content
_FIX = "delete it and download again"


def _open(path: Path) -> tuple[BinaryIO, bool]:
    """The file, decompressed on the fly when it starts with the gzip magic bytes (whatever its name)."""
    with open(path, "rb") as probe:
        is_gzip = probe.read(2) == GZIP_MAGIC
    return (gzip.open(path, "rb") if is_gzip else open(path, "rb")), is_gzip


def _read_exactly(stream: BinaryIO, count: int) -> bytes:
    """Up to `count` bytes (fewer only at the end of the stream)."""
    chunks, remaining = [], count
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _read_shape(stream: BinaryIO, path: Path, expected_dims: int) -> tuple[int, ...]:
    """Check the magic number (0x0000 0x08 <dims>) and return the declared sizes."""
    what = {IMAGES_DIMS: "images", LABELS_DIMS: "labels"}.get(expected_dims, "data")
    magic = _read_exactly(stream, 4)
    if len(magic) < 4 or magic[:2] != b"\x00\x00":
        raise GenlabError(f"{path}: not an IDX file (bad magic number {magic.hex() or 'empty'}); {_FIX}")
    if magic[2] != UNSIGNED_BYTE:
        raise GenlabError(f"{path}: IDX data type 0x{magic[2]:02x} is not unsigned bytes (0x08); use MNIST-style files")
    if magic[3] != expected_dims:
        raise GenlabError(
            f"{path}: magic number 0x{magic.hex()} has {magic[3]} dimension(s), but {what} need "
            f"{expected_dims} (0x0000{UNSIGNED_BYTE:02x}{expected_dims:02x}); check the file is not misnamed"
        )
    header = _read_exactly(stream, 4 * expected_dims)
    if len(header) < 4 * expected_dims:
        raise GenlabError(f"{path}: truncated inside the IDX header; {_FIX}")
    return tuple(int(size) for size in np.frombuffer(header, dtype=">u4"))


def _read_payload(stream: BinaryIO, path: Path, shape: tuple[int, ...], is_gzip: bool) -> np.ndarray:
    """Exactly the declared bytes into a new array; fewer (truncated) or more (trailing data) raise."""
    declared = math.prod(shape)
    declared_text = "x".join(str(size) for size in shape)
    # Checked before allocating, so a corrupt header cannot exhaust memory.
    remaining_on_disk = path.stat().st_size - stream.tell() if not is_gzip else None
    if remaining_on_disk is not None and declared > remaining_on_disk:
        raise GenlabError(
            f"{path}: truncated: header declares {declared_text} bytes but only {remaining_on_disk} follow; {_FIX}"
        )
    if is_gzip and declared > path.stat().st_size * DEFLATE_MAX_RATIO:
        raise GenlabError(
            f"{path}: truncated: header declares {declared_text} bytes, far more than the file can hold; {_FIX}"
        )
    data = np.empty(declared, dtype=np.uint8)
    view, received = memoryview(data), 0
    while received < declared:  # a compressed stream may fill the buffer in several reads
        count = stream.readinto(view[received:])
        if not count:
            raise GenlabError(
                f"{path}: truncated: header declares {declared_text} bytes but only {received} follow; {_FIX}"
            )
        received += count
    if stream.read(1):
        raise GenlabError(f"{path}: trailing data after the {declared_text} bytes the header declares; {_FIX}")
    return data.reshape(shape)


def read_idx(path: str | Path, expected_dims: int) -> np.ndarray:
    """An IDX file of unsigned bytes with `expected_dims` dimensions, as a writable uint8 array."""
    path = Path(path)
    if not path.is_file():
        raise GenlabError(f"{path}: file not found; check the path")
    try:
        stream, is_gzip = _open(path)
        with stream:
            shape = _read_shape(stream, path, expected_dims)
            return _read_payload(stream, path, shape, is_gzip)
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise GenlabError(f"{path}: truncated or corrupt gzip stream ({error or 'ended early'}); {_FIX}") from None


def read_idx_images(path: str | Path) -> np.ndarray:
    """uint8 images (N, H, W) from an IDX file with magic 0x00000803."""
    return read_idx(path, IMAGES_DIMS)


def read_idx_labels(path: str | Path) -> np.ndarray:
    """uint8 labels (N,) from an IDX file with magic 0x00000801."""
    return read_idx(path, LABELS_DIMS)
