"""load_dataset: common options applied after loading, unknown names refused."""

import pytest
import torch

from genlab.data import DataConfig, load_dataset
from genlab.errors import GenlabError


def test_subset_resize_channels():
    dataset = load_dataset("digits", subset=100, test_subset=20, resize=16, channels=3)
    assert dataset.train_x.shape == (100, 3, 16, 16) and dataset.test_x.shape == (20, 3, 16, 16)
    assert dataset.train_x.dtype == torch.uint8 and dataset.train_y.shape == (100,)


def test_config_object():
    dataset = load_dataset(DataConfig(name="faces-lfw", resize=12))
    assert dataset.shape == (1, 12, 12)


def test_unknown_dataset_and_option():
    with pytest.raises(GenlabError, match="unknown dataset 'imagenet'"):
        load_dataset("imagenet")
    with pytest.raises(GenlabError, match="has no option 'layout'"):
        load_dataset("digits", layout="ring-8")
