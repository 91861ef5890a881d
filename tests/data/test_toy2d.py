"""toy2d: Gaussian mixtures on a ring or a grid, seeded."""

import pytest
import torch

from genlab.data import load_dataset
from genlab.errors import GenlabError


def test_ring_8():
    dataset = load_dataset("toy2d")
    assert dataset.kind == "points" and dataset.train_x.dtype == torch.float32
    assert dataset.train_x.shape == (20000, 2) and dataset.test_x.shape == (5000, 2)
    modes = dataset.info["modes"]
    assert modes.shape == (8, 2) and torch.allclose(modes.norm(dim=1), torch.full((8,), 2.0))
    assert dataset.class_names[0] == "mode-0" and dataset.num_classes == 8
    distance = (dataset.train_x - modes[dataset.train_y]).norm(dim=1)
    assert distance.max() < 0.02 * 6
    assert torch.bincount(dataset.train_y, minlength=8).min() > 2000


def test_grid_25_and_seeds():
    dataset = load_dataset("toy2d", layout="grid-25", n_train=1000, n_test=100, seed=1)
    modes = dataset.info["modes"]
    assert modes.shape == (25, 2) and dataset.info["std"] == 0.05 and dataset.info["layout"] == "grid-25"
    assert sorted(set(modes[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert (dataset.train_x - modes[dataset.train_y]).norm(dim=1).max() < 0.05 * 6
    same = load_dataset("toy2d", layout="grid-25", n_train=1000, n_test=100, seed=1)
    other = load_dataset("toy2d", layout="grid-25", n_train=1000, n_test=100, seed=2)
    assert torch.equal(same.train_x, dataset.train_x) and not torch.equal(other.train_x, dataset.train_x)


def test_bad_options():
    with pytest.raises(GenlabError, match="layout must be one of"):
        load_dataset("toy2d", layout="spiral")
    with pytest.raises(GenlabError, match="must be a whole number"):
        load_dataset("toy2d", n_train="many")
    with pytest.raises(GenlabError, match="holds points, not images"):
        load_dataset("toy2d", resize=8)
