"""Pixel entropy and mean on images whose answers are known."""

from __future__ import annotations

import pytest
import torch

from genlab.metrics.pixels import binary_entropy_bits, pixel_measures


def test_binary_images_have_zero_pixel_entropy():
    images = (torch.rand(50, 1, 28, 28, generator=torch.Generator().manual_seed(0)) > 0.7).float()
    measures = pixel_measures(images)
    assert measures["pixel_entropy"] == 0.0
    assert measures["pixel_mean"] == pytest.approx(float(images.mean()))


def test_a_uniform_grey_of_one_half_has_one_bit_per_pixel():
    measures = pixel_measures(torch.full((10, 3, 8, 8), 0.5))
    assert measures["pixel_entropy"] == pytest.approx(1.0)
    assert measures["pixel_mean"] == pytest.approx(0.5)


def test_binary_entropy_known_values_and_uint8_input():
    assert binary_entropy_bits(torch.tensor([0.0, 0.25, 0.5, 1.0])).tolist() == \
        pytest.approx([0.0, 0.8112781244591328, 1.0, 0.0])
    as_uint8 = torch.tensor([0, 255, 255, 0], dtype=torch.uint8).view(1, 1, 2, 2)
    assert pixel_measures(as_uint8) == {"pixel_entropy": 0.0, "pixel_mean": 0.5}


def test_saturating_the_same_digits_lowers_their_pixel_entropy(mnist5k):
    digits = mnist5k.test_x[:200].float() / 255
    brighter = (digits * 2 - 0.5).clamp(0, 1)  # pixels pushed toward 0 and 1
    assert pixel_measures(brighter)["pixel_entropy"] < pixel_measures(digits)["pixel_entropy"]
