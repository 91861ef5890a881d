"""image-folder: class sub-folders or one class, centre crop and resize, errors naming the file."""

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.data import load_dataset
from genlab.data.paths import DataNotFoundError
from genlab.errors import GenlabError


def save(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8), mode=mode).save(path)


def test_class_subfolders(tmp_path):
    generator = np.random.default_rng(0)
    for index in range(12):
        save(tmp_path / "pets" / "cats" / f"cat{index}.png", generator.integers(0, 256, (40, 30, 3)))
        save(tmp_path / "pets" / "dogs" / "nested" / f"dog{index}.jpg", generator.integers(0, 256, (20, 50, 3)))
    (tmp_path / "pets" / "notes.txt").write_text("not an image")
    dataset = load_dataset("image-folder", root=str(tmp_path / "pets"), resize=16)
    assert dataset.class_names == ["cats", "dogs"]
    assert dataset.train_x.shape[1:] == (3, 16, 16)
    assert dataset.train_x.shape[0] == 22 and dataset.test_x.shape[0] == 2  # a seeded 10%
    assert sorted(torch.cat([dataset.train_y, dataset.test_y]).tolist()) == [0] * 12 + [1] * 12
    assert "24 images" in dataset.source


def test_one_class_greyscale_with_centre_crop(tmp_path):
    wide = np.zeros((10, 30), dtype=np.uint8)
    wide[:, 10:20] = 255  # only the centre square is white
    for index in range(5):
        save(tmp_path / "scans" / f"scan{index}.png", wide)
    save(tmp_path / "scans" / "more" / "scan5.bmp", wide)  # not every image is in a sub-folder: one class
    dataset = load_dataset("image-folder", root=str(tmp_path / "scans"), options={"test_fraction": 0.5})
    assert dataset.class_names == ["scans"] and dataset.shape == (1, 64, 64)
    assert dataset.train_x.shape[0] == 3 and dataset.test_x.shape[0] == 3
    assert dataset.train_x.min() >= 250


def test_greyscale_as_rgb_when_asked(tmp_path):
    for index in range(3):
        save(tmp_path / "grey" / f"{index}.png", np.full((8, 8), 100))
    dataset = load_dataset("image-folder", root=str(tmp_path / "grey"), channels=3, resize=8)
    assert dataset.shape == (3, 8, 8) and dataset.train_x.eq(100).all()


def test_colour_to_greyscale_when_asked(tmp_path):
    for index in range(3):
        save(tmp_path / "colour" / f"{index}.png", np.tile(np.array([255, 0, 0], np.uint8), (8, 8, 1)))
    dataset = load_dataset("image-folder", root=str(tmp_path / "colour"), channels=1, resize=8)
    assert dataset.shape == (1, 8, 8) and dataset.train_x.eq(76).all()  # ITU-R 601 luma of pure red


def test_needs_a_root():
    with pytest.raises(DataNotFoundError, match="--data-root") as caught:
        load_dataset("image-folder")
    assert caught.value.summary == "needs a folder: --data-root PATH"


def test_empty_folder_and_unreadable_image(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(GenlabError, match="no images"):
        load_dataset("image-folder", root=str(tmp_path / "empty"))
    with pytest.raises(GenlabError, match="is not a folder"):
        load_dataset("image-folder", root=str(tmp_path / "absent"))
    save(tmp_path / "broken" / "fine.png", np.zeros((4, 4)))
    (tmp_path / "broken" / "bad.jpg").write_bytes(b"this is no jpeg")
    with pytest.raises(GenlabError, match=r"bad\.jpg: cannot read this image") as caught:
        load_dataset("image-folder", root=str(tmp_path / "broken"))
    assert "\n" not in str(caught.value)
