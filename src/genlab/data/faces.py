"""Real faces: `lfw` (scikit-learn's Labeled Faces in the Wild, ~13k faces) and `celeba` (a user's
`img_align_celeba` folder, ~200k aligned celebrity faces).

`lfw` is read by `sklearn.datasets.fetch_lfw_people` from a scikit-learn data home holding
`lfw_home/lfw_funneled/<person>/<person>_NNNN.jpg` (and the three `pairs*.txt` files): `--data-root`,
`$GENLAB_DATA/lfw`, or genlab's cache, where it is downloaded (~200 MB) when downloads are allowed.
`celeba` cannot be downloaded by script (it is shared from Google Drive): it reads the user's folder.
Both are one class, "face" (the evaluator then learns an autoencoder's features, as for `faces-lfw`).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from genlab.data.bundled import split_fixed
from genlab.data.download import downloads_allowed
from genlab.data.folder import split_indices
from genlab.data.options import dataset_options
from genlab.data.paths import DataNotFoundError, cache_dir, search_folders
from genlab.data.registry import DataConfig, Dataset, register_dataset
from genlab.errors import GenlabError

DEFAULT_SIZE = 64

# --- LFW --------------------------------------------------------------------------------------------
LFW_PAIRS = ("pairsDevTrain.txt", "pairsDevTest.txt", "pairs.txt")  # fetch_lfw_people insists on them
LFW_FACE_ROWS, LFW_FACE_COLUMNS = (70, 195), (63, 188)  # scikit-learn's face rows, its columns widened to a square
LFW_FACE_SIDE = 125
LFW_TEST_FRACTION = 0.1
LFW_FETCH = "`python -c \"from sklearn.datasets import fetch_lfw_people as f; f(data_home='DIR')\"`"
LFW_HOW = f"on a machine with internet run {LFW_FETCH} and copy DIR to $GENLAB_DATA/lfw (or pass --data-root DIR)"


def lfw_data_home(folder: Path) -> Path | None:
    """The scikit-learn data home at `folder` (or `folder` = its lfw_home) holding lfw_funneled, else None."""
    for home in (folder, folder.parent if folder.name == "lfw_home" else None):
        if home is not None and (home / "lfw_home" / "lfw_funneled").is_dir():
            return home
    return None


def read_lfw(home: Path, size: int, color: bool, download: bool) -> tuple[np.ndarray, int]:
    """fetch_lfw_people's faces under data home `home`, cropped square and resized to `size`: uint8
    (N, size, size) or (N, size, size, 3), and the number of people."""
    from sklearn.datasets import fetch_lfw_people

    # fetch_lfw_people scales by a ratio and truncates: half a pixel more gives exactly `size`.
    ratio = (size + 0.5) / LFW_FACE_SIDE
    bunch = fetch_lfw_people(data_home=str(home), funneled=True, resize=ratio, color=color,
                             slice_=(slice(*LFW_FACE_ROWS), slice(*LFW_FACE_COLUMNS)), download_if_missing=download)
    faces = np.clip(np.rint(np.asarray(bunch.images) * 255.0), 0, 255).astype(np.uint8)
    return faces, len(bunch.target_names)


@register_dataset("lfw", description="Labeled Faces in the Wild via scikit-learn, ~13k faces, 64x64 (~200 MB download)")
def load_lfw(config: DataConfig) -> Dataset:
    """LFW's funneled faces, the face square of each picture resized to `resize` (default 64) pixels;
    greyscale, or colour with channels=3. A fixed-seed 10% is the test split."""
    dataset_options(config, {})
    size = min(config.resize or DEFAULT_SIZE, LFW_FACE_SIDE)  # larger sizes are upsampled by apply_transforms
    color = config.channels == 3
    searched = search_folders("lfw", config.root, include_system=False)
    home = next((found for found in map(lfw_data_home, searched) if found is not None), None)
    source = "downloaded"
    if home is None:
        if config.root is not None:
            raise GenlabError(f"lfw: {config.root} holds no lfw_home/lfw_funneled/ (scikit-learn's LFW data home); "
                              f"fill it with {LFW_FETCH} (DIR = that folder), or drop the data root")
        home = cache_dir() / "lfw"
        if not downloads_allowed():
            raise DataNotFoundError(
                f"lfw: not found in {', '.join(map(str, searched))} and downloads are off (GENLAB_OFFLINE); "
                f"unset GENLAB_OFFLINE to download it (~200 MB) into {home}, or {LFW_HOW}",
                summary="not found; would download ~200 MB with scikit-learn's fetch_lfw_people",
            )
        print(f"lfw: downloading Labeled Faces in the Wild (~200 MB) into {home} ...", file=sys.stderr, flush=True)
        home.mkdir(parents=True, exist_ok=True)
    else:
        source = "found"
    try:
        faces, people = read_lfw(home, size, color, download=downloads_allowed())
    except (OSError, tarfile.TarError, EOFError, ValueError, RuntimeError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        if source == "downloaded":
            raise GenlabError(f"lfw: could not download it into {home} ({reason}); check the network, or {LFW_HOW}") from None
        raise GenlabError(f"lfw: cannot read {home / 'lfw_home'} ({reason}); delete it to download again, or {LFW_HOW}") from None
    images = torch.from_numpy(faces)
    images = images.permute(0, 3, 1, 2) if color else images.unsqueeze(1)  # (N, C, size, size)
    labels = torch.zeros(images.shape[0], dtype=torch.int64)
    test_count = max(1, round(LFW_TEST_FRACTION * images.shape[0])) if images.shape[0] > 1 else 0
    train_x, train_y, test_x, test_y = split_fixed(images.contiguous(), labels, test_count)
    return Dataset(
        name="lfw",
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        class_names=["face"],
        source=f"{home / 'lfw_home' / 'lfw_funneled'} ({source}; {images.shape[0]} faces of {people} people, "
               "sklearn.datasets.fetch_lfw_people)",
    )


# --- CelebA -----------------------------------------------------------------------------------------
CELEBA_FOLDER = "img_align_celeba"
CELEBA_URL = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"
CELEBA_HOW = (f"download img_align_celeba.zip (Align&Cropped Images) from {CELEBA_URL}, unzip it and pass "
              f"--data-root PATH/{CELEBA_FOLDER} (or put the folder in $GENLAB_DATA/celeba/)")
CELEBA_SUFFIXES = (".jpg", ".jpeg", ".png")
PROGRESS_ABOVE = 2000


def celeba_folder(folder: Path) -> Path | None:
    """`folder` or its img_align_celeba/ sub-folder, whichever holds the pictures, else None."""
    for candidate in (folder / CELEBA_FOLDER, folder):
        if candidate.is_dir() and any(path.suffix.lower() in CELEBA_SUFFIXES for path in candidate.iterdir()):
            return candidate
    return None


def celeba_face(path: Path, crop: int, size: int) -> np.ndarray:
    """The centre `crop` x `crop` square of an aligned CelebA picture (178x218), resized to `size`: uint8 (size, size, 3)."""
    try:
        with Image.open(path) as picture:
            width, height = picture.size
            if width < crop or height < crop:
                raise GenlabError(f"{path}: {width}x{height} is smaller than the {crop}-pixel centre crop; "
                                  "pass a smaller --data-option crop=N or remove the file")
            left, top = (width - crop) // 2, (height - crop) // 2
            face = picture.convert("RGB").crop((left, top, left + crop, top + crop))
            return np.asarray(face.resize((size, size), Image.Resampling.LANCZOS), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as error:
        raise GenlabError(f"{path}: cannot read this image ({error}); remove or replace the file") from None


def read_celeba(paths: list[Path], crop: int, size: int) -> np.ndarray:
    """Every picture's face, decoded on a few threads (Pillow releases the GIL while decoding): (N, size, size, 3)."""
    faces = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool, tqdm(total=len(paths), desc="reading celeba",
                                                   disable=len(paths) <= PROGRESS_ABOVE) as bar:
        for index, face in enumerate(pool.map(lambda path: celeba_face(path, crop, size), paths, chunksize=64)):
            faces[index] = face
            bar.update()
    return faces


def cached_faces(folder: Path, paths: list[Path], crop: int, size: int) -> np.ndarray:
    """The decoded faces, kept in genlab's cache so that a second load skips ~200k JPEG decodes."""
    key = hashlib.sha256(f"{folder.resolve()}|{crop}|{size}|".encode() + "\n".join(p.name for p in paths).encode())
    path = cache_dir() / "celeba" / f"faces-{crop}-{size}-{len(paths)}-{key.hexdigest()[:16]}.npy"
    if path.is_file():
        try:
            faces = np.load(path)
            if faces.shape == (len(paths), size, size, 3) and faces.dtype == np.uint8:
                return faces
        except (OSError, ValueError):
            pass  # unreadable: decode again and replace it
    faces = read_celeba(paths, crop, size)
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".npy")
        with os.fdopen(handle, "wb") as file:
            np.save(file, faces)
        os.replace(temporary, path)
    except OSError:  # a read-only cache only costs the next load its decoding time
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
    return faces


@register_dataset("celeba", description="CelebA aligned faces from your img_align_celeba folder (--data-root), 64x64 RGB")
def load_celeba(config: DataConfig) -> Dataset:
    """Aligned CelebA pictures (178x218), each cut to its centre `crop` square (default 140, the usual
    choice; 108 is the other) and resized to `resize` (default 64). Options: `crop`, `test_fraction`
    (default 0.1, a fixed-seed random choice)."""
    options = dataset_options(config, {"crop": 140, "test_fraction": 0.1})
    crop, size = options["crop"], config.resize or DEFAULT_SIZE
    if not 1 <= crop <= 178:
        raise GenlabError(f"celeba option 'crop' must be between 1 and 178 (the pictures' width), got {crop}")
    if not 0.0 <= options["test_fraction"] < 1.0:
        raise GenlabError(f"celeba option 'test_fraction' must be in [0, 1), got {options['test_fraction']}")
    searched = search_folders("celeba", config.root)
    folder = next((found for found in map(celeba_folder, searched) if found is not None), None)
    if folder is None:
        if config.root is not None:
            raise GenlabError(f"celeba: no pictures in {config.root} or its {CELEBA_FOLDER}/; {CELEBA_HOW}")
        raise DataNotFoundError(f"celeba: not found in {', '.join(map(str, searched))}; {CELEBA_HOW}",
                                summary=f"not found: --data-root PATH/{CELEBA_FOLDER}")
    paths = sorted(path for path in folder.iterdir() if path.suffix.lower() in CELEBA_SUFFIXES and path.is_file())
    images = torch.from_numpy(cached_faces(folder, paths, crop, size)).permute(0, 3, 1, 2).contiguous()  # (N, 3, H, W)
    labels = torch.zeros(images.shape[0], dtype=torch.int64)
    train, test = split_indices(len(paths), options["test_fraction"])
    return Dataset(
        name="celeba",
        train_x=images[train],
        train_y=labels[train],
        test_x=images[test],
        test_y=labels[test],
        class_names=["face"],
        source=f"{folder} ({len(paths)} pictures, centre {crop}x{crop} crop)",
    )
