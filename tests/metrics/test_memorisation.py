"""Memorisation measures: copies of training images against new draws from the same data."""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_digits

import genlab
from genlab.data.transforms import choose_subset
from genlab.errors import GenlabError
from genlab.metrics.memorisation import memorisation
from genlab.train.run import Run
from tests.metrics.test_evaluate import RealImageSampler


@pytest.fixture(scope="module")
def digit_sets():
    """Three disjoint sets of 500 sklearn digits (pixel vectors as the features): train, held out, new."""
    pixels = torch.as_tensor(load_digits().data, dtype=torch.float32)
    order = torch.randperm(pixels.shape[0], generator=torch.Generator().manual_seed(0))
    return pixels[order[:500]], pixels[order[500:1000]], pixels[order[1000:1500]]


def test_samples_that_copy_training_images_are_caught(digit_sets):
    train, heldout, _ = digit_sets
    result = memorisation(train[torch.randperm(500, generator=torch.Generator().manual_seed(1))[:300]], train, heldout)
    assert result["memorisation_ratio"] < 0.01  # every sample sits on a training image (0 up to float32 rounding)
    assert result["copy_share"] == 1.0


def test_new_draws_from_the_data_are_as_near_to_training_as_to_held_out_images(digit_sets):
    train, heldout, new = digit_sets
    result = memorisation(new, train, heldout)
    assert result["memorisation_ratio"] == pytest.approx(1.0, abs=0.1)
    assert result["copy_share"] == pytest.approx(0.05, abs=0.04)


def test_the_real_sets_must_be_the_same_size(digit_sets):
    train, heldout, new = digit_sets
    with pytest.raises(GenlabError, match="same number"):
        memorisation(new, train, heldout[:100])


def memorisation_run(tmp_path, images: torch.Tensor) -> Run:
    """A sampler "run" that trained on a 500-image subset of mnist-5k's training split."""
    config = {"model": {"name": "real-images", "config": {}}, "data": {"name": "mnist-5k", "subset": 500},
              "data_shape": [1, 28, 28], "num_classes": 10}
    return Run(path=tmp_path, config=config, model=RealImageSampler(images), step=0)


def test_evaluate_compares_samples_with_the_images_the_run_trained_on(evaluator_env, mnist5k, tmp_path):
    trained_on = genlab.load_dataset("mnist-5k", subset=500).train_x
    everything = torch.arange(mnist5k.train_x.shape[0])
    chosen, _ = choose_subset(everything, everything, 500, seed=0)  # the subset's rule, on indices
    assert torch.equal(mnist5k.train_x[chosen], trained_on)
    unseen = mnist5k.train_x[~torch.isin(everything, chosen)][:500]  # training-split images the run never saw
    copies = genlab.evaluate(memorisation_run(tmp_path, trained_on), metrics="memorisation", n=500, write=False)
    assert copies["details"]["memorisation"]["images_per_side"] == 500
    assert copies["metrics"]["memorisation_ratio"] < 0.05 and copies["metrics"]["copy_share"] == 1.0
    fresh = genlab.evaluate(memorisation_run(tmp_path, unseen), metrics="memorisation", n=500, write=False)
    assert fresh["metrics"]["memorisation_ratio"] == pytest.approx(1.0, abs=0.15)
    assert fresh["metrics"]["copy_share"] < 0.15
