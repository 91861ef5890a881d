"""`lfw` and `celeba`: real faces read from a prepared scikit-learn cache and a folder of aligned
CelebA-sized JPEGs; nothing is downloaded (the download path is served from memory)."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import torch
from PIL import Image

import genlab
from genlab.data.paths import DataNotFoundError
from genlab.errors import GenlabError
from tests.faces_data import LFW_PAIRS, lfw_funneled_archive, write_celeba_folder, write_lfw_home


def expected_lfw_face(picture: Image.Image, size: int) -> np.ndarray:
    """What fetch_lfw_people makes of a picture with genlab's square face crop, as greyscale uint8."""
    path = io.BytesIO()
    picture.save(path, format="JPEG", quality=95)  # the JPEG round trip the real file went through
    face = Image.open(path).crop((63, 70, 188, 195)).resize((size, size))
    return np.rint(np.asarray(face, dtype=np.float32).mean(axis=2)).astype(np.int16)


def all_images(dataset) -> torch.Tensor:
    return torch.cat([dataset.train_x, dataset.test_x])


def test_lfw_reads_a_prepared_cache_as_square_faces(isolated_env):
    written = write_lfw_home(isolated_env / "cache" / "lfw")
    dataset = genlab.load_dataset("lfw")
    assert dataset.shape == (1, 64, 64) and dataset.class_names == ["face"]
    assert dataset.train_x.shape[0] + dataset.test_x.shape[0] == len(written) and dataset.test_x.shape[0] >= 1
    assert "12 faces of 5 people" in dataset.source and "lfw_funneled" in dataset.source
    expected = [expected_lfw_face(picture, 64) for picture in written.values()]
    for image in all_images(dataset):  # each is the face square of one of the pictures
        assert min(np.abs(image[0].numpy().astype(np.int16) - face).max() for face in expected) <= 2

    colour = genlab.load_dataset("lfw", channels=3, resize=32)  # real colour, loaded at the size asked for
    assert colour.shape == (3, 32, 32)
    assert (colour.train_x[:, 0].float().mean() > colour.train_x[:, 2].float().mean() + 10)
    assert not (isolated_env / "data").exists()  # nothing written into the user's data folder


def test_lfw_takes_a_data_root_or_the_users_data_folder(isolated_env, tmp_path):
    write_lfw_home(tmp_path / "mine", count=6)
    assert genlab.load_dataset("lfw", root=str(tmp_path / "mine")).train_x.shape[0] == 5
    assert genlab.load_dataset("lfw", root=str(tmp_path / "mine" / "lfw_home")).test_x.shape[0] == 1
    write_lfw_home(isolated_env / "data" / "lfw", count=8)
    assert "data/lfw" in genlab.load_dataset("lfw").source
    with pytest.raises(GenlabError, match="holds no lfw_home/lfw_funneled"):
        genlab.load_dataset("lfw", root=str(tmp_path))


def test_lfw_offline_without_data_says_how_to_get_it(isolated_env):
    with pytest.raises(DataNotFoundError) as raised:
        genlab.load_dataset("lfw")
    message = str(raised.value)
    assert "\n" not in message and "GENLAB_OFFLINE" in message and "fetch_lfw_people" in message
    assert not (isolated_env / "cache").exists()  # looking left no empty folders behind


@pytest.fixture
def served_lfw(monkeypatch):
    """scikit-learn's downloads answered from memory (a prepared archive); yields the folders they went to."""
    from sklearn.datasets import _lfw

    archive, fetched = lfw_funneled_archive(count=10), []

    def fetch(remote, dirname=None, n_retries=3, delay=1.0):
        fetched.append(dirname)
        path = os.path.join(dirname, remote.filename)
        with open(path, "wb") as file:
            file.write(archive if remote.filename.endswith(".tgz") else b"10\n")
        return path

    monkeypatch.setattr(_lfw, "_fetch_remote", fetch)
    monkeypatch.delenv("GENLAB_OFFLINE")
    return fetched


def test_lfw_downloads_into_genlabs_cache_when_online(isolated_env, served_lfw, capfd):
    dataset = genlab.load_dataset("lfw", resize=32)
    lfw_home = isolated_env / "cache" / "lfw" / "lfw_home"
    assert set(served_lfw) == {str(lfw_home)} and len(served_lfw) == len(LFW_PAIRS) + 1
    assert dataset.shape == (1, 32, 32) and dataset.train_x.shape[0] + dataset.test_x.shape[0] == 10
    assert (lfw_home / "lfw_funneled").is_dir() and not (lfw_home / "lfw-funneled.tgz").exists()
    assert "downloading" in capfd.readouterr().err
    genlab.load_dataset("lfw", resize=32)  # the second time it is found, not fetched
    assert len(served_lfw) == len(LFW_PAIRS) + 1


def test_a_failed_lfw_download_is_one_clear_line(isolated_env, monkeypatch):
    import urllib.error

    from sklearn.datasets import _lfw

    def unreachable(remote, dirname=None, n_retries=3, delay=1.0):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(_lfw, "_fetch_remote", unreachable)
    monkeypatch.delenv("GENLAB_OFFLINE")
    with pytest.raises(GenlabError) as raised:
        genlab.load_dataset("lfw")
    message = str(raised.value)
    assert "\n" not in message and "could not download" in message and "name resolution" in message
    assert "fetch_lfw_people" in message  # and how to get it by hand


def test_celeba_cuts_the_aligned_centre_square(isolated_env, tmp_path):
    paths = write_celeba_folder(tmp_path / "img_align_celeba")
    dataset = genlab.load_dataset("celeba", root=str(tmp_path / "img_align_celeba"))
    assert dataset.shape == (3, 64, 64) and dataset.class_names == ["face"]
    assert dataset.train_x.shape[0] + dataset.test_x.shape[0] == len(paths) and dataset.test_x.shape[0] >= 1
    images = all_images(dataset).float()
    # The face filled the centre 140x140 square and red the rest: no red border survives the crop.
    reddish = (images[:, 0] > images[:, 1] + 100).float().mean()
    assert reddish < 0.01
    assert "centre 140x140" in dataset.source

    # The other usual crop (108, inside the face) and a 32-pixel size; the parent folder works too.
    small = genlab.load_dataset("celeba", root=str(tmp_path), resize=32, options={"crop": 108})
    assert small.shape == (3, 32, 32)
    with Image.open(paths[0]) as picture:
        expected = np.asarray(picture.convert("RGB").crop((35, 55, 143, 163)).resize((32, 32), Image.Resampling.LANCZOS))
    assert any(np.abs(image.permute(1, 2, 0).numpy().astype(int) - expected).max() <= 1 for image in all_images(small))


def test_celeba_keeps_decoded_faces_in_the_cache(isolated_env, tmp_path, monkeypatch):
    write_celeba_folder(tmp_path / "img_align_celeba", count=6)
    first = genlab.load_dataset("celeba", root=str(tmp_path), resize=32)
    assert len(list((isolated_env / "cache" / "celeba").glob("faces-*.npy"))) == 1
    from genlab.data import faces

    monkeypatch.setattr(faces, "celeba_face", lambda *args: pytest.fail("decoded again instead of using the cache"))
    again = genlab.load_dataset("celeba", root=str(tmp_path), resize=32)
    assert torch.equal(first.train_x, again.train_x) and torch.equal(first.test_x, again.test_x)


def test_celeba_without_a_folder_says_where_to_get_it(isolated_env, tmp_path):
    with pytest.raises(DataNotFoundError, match="img_align_celeba.zip .*--data-root"):
        genlab.load_dataset("celeba")
    with pytest.raises(GenlabError, match="no pictures in"):
        genlab.load_dataset("celeba", root=str(tmp_path))
    write_celeba_folder(tmp_path / "img_align_celeba", count=2)
    with pytest.raises(GenlabError, match="crop"):
        genlab.load_dataset("celeba", root=str(tmp_path), options={"crop": 200})
