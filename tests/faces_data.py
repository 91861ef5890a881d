"""Small on-disk face collections in the layouts `lfw` and `celeba` read, made from real faces
(scikit-image's bundled LFW crops), so their tests need no network."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

LFW_PAIRS = ("pairsDevTrain.txt", "pairsDevTest.txt", "pairs.txt")
PEOPLE = ("Ada_Lovelace", "Alan_Turing", "Grace_Hopper", "Karen_Jones", "Tim_Berners-Lee")


def lfw_pictures(count: int) -> list[Image.Image]:
    """`count` 250x250 colour pictures, each a real 25x25 LFW face enlarged and tinted, like LFW's JPEGs."""
    from skimage.data import lfw_subset

    faces = lfw_subset()[:count]  # (count, 25, 25) floats in [0, 1]
    pictures = []
    for face in faces:
        rgb = np.stack([face, 0.85 * face, 0.7 * face], axis=2)  # colour that greyscale cannot fake
        picture = Image.fromarray((rgb * 255).round().astype(np.uint8)).resize((250, 250), Image.Resampling.BICUBIC)
        pictures.append(picture)
    return pictures


def lfw_funneled_tree(root: Path, count: int = 12) -> dict[Path, Image.Image]:
    """lfw_funneled/<person>/<person>_NNNN.jpg under `root` (people with 1-3 pictures each); {path: picture}."""
    written = {}
    for index, picture in enumerate(lfw_pictures(count)):
        person = PEOPLE[index % len(PEOPLE)]
        folder = root / "lfw_funneled" / person
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{person}_{index // len(PEOPLE) + 1:04d}.jpg"
        picture.save(path, quality=95)
        written[path] = picture
    return written


def write_lfw_home(data_home: Path, count: int = 12) -> dict[Path, Image.Image]:
    """A scikit-learn data home as fetch_lfw_people leaves it: lfw_home/ with the pairs files and lfw_funneled/."""
    lfw_home = data_home / "lfw_home"
    written = lfw_funneled_tree(lfw_home, count)
    for name in LFW_PAIRS:
        (lfw_home / name).write_text("10\n")
    return written


def lfw_funneled_archive(count: int = 12) -> bytes:
    """lfw-funneled.tgz as LFW serves it: the lfw_funneled/ tree, gzipped."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        lfw_funneled_tree(Path(folder), count)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            archive.add(Path(folder) / "lfw_funneled", arcname="lfw_funneled")
        return buffer.getvalue()


def write_celeba_folder(folder: Path, count: int = 12) -> list[Path]:
    """`count` aligned-CelebA-like JPEGs of 178x218: a real face filling the centre 140x140 square, pure red
    outside it (so a wrong crop shows)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, picture in enumerate(lfw_pictures(count), start=1):
        canvas = Image.new("RGB", (178, 218), (255, 0, 0))
        canvas.paste(picture.resize((140, 140), Image.Resampling.BICUBIC), ((178 - 140) // 2, (218 - 140) // 2))
        path = folder / f"{index:06d}.jpg"
        canvas.save(path, quality=95)
        paths.append(path)
    return paths
