"""The power-spectrum measures on cases with known answers: pure tones, blurred and checkered real digits."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.data.batches import to_float
from genlab.metrics.calibration import gaussian_blur
from genlab.metrics.spectrum import nyquist_share, power_spectra, radial_profile, spectrum_measures


def test_a_pure_tone_puts_its_power_in_its_own_radial_bin():
    columns = torch.arange(28, dtype=torch.float32)
    tone = (0.5 + 0.4 * torch.cos(2 * math.pi * 4 * columns / 28)).expand(28, 28)  # 4 cycles across the image
    profile = radial_profile(power_spectra(tone[None, None]))
    assert profile.shape == (14,)  # bins 1 .. 14: DC left out, up to the Nyquist frequency
    assert int(profile.argmax()) == 3  # bin 4
    assert profile[3] - profile[torch.arange(14) != 3].max() > 10  # everything else is rounding error


def test_a_checkerboard_is_all_nyquist_power():
    rows = torch.arange(28)
    board = ((rows[:, None] + rows[None, :]) % 2).float()[None, None]
    assert nyquist_share(power_spectra(board)) == pytest.approx(1.0)


def test_real_digits_match_each_other_and_blur_shows_in_the_high_band(mnist5k):
    train, test = to_float(mnist5k.train_x[:1000]), to_float(mnist5k.test_x)
    real = spectrum_measures(train, test)
    blurred = spectrum_measures(gaussian_blur(train, 1.0), test)
    assert real["spectrum_low_error"] < 0.05 and real["spectrum_high_error"] < 0.05
    assert real["checkerboard_energy"] == pytest.approx(1.0, abs=0.1)
    # A 1-px Gaussian blur divides the power at the highest frequencies by ~10^4 but barely touches the lowest.
    assert blurred["spectrum_high_error"] > 1.0
    assert blurred["spectrum_high_error"] > 5 * blurred["spectrum_low_error"]
    assert blurred["spectrum_high_error"] > 20 * real["spectrum_high_error"]
    assert blurred["checkerboard_energy"] < 0.1


def test_an_added_checkerboard_pattern_raises_the_checkerboard_energy(mnist5k):
    train, test = to_float(mnist5k.train_x[:1000]), to_float(mnist5k.test_x)
    rows = torch.arange(28)
    pattern = ((rows[:, None] + rows[None, :]) % 2 * 2 - 1).float()  # +1 / -1
    checkered = (train + 0.05 * pattern).clamp(0, 1)
    measures = spectrum_measures(checkered, test)
    assert measures["checkerboard_energy"] > 20
    # The pattern lives at one frequency: the radial bands away from it stay near the real images'.
    assert measures["spectrum_low_error"] < 0.1


def test_uint8_and_float_images_give_the_same_measures(mnist5k):
    as_uint8 = spectrum_measures(mnist5k.train_x[:300], mnist5k.test_x[:300])
    as_float = spectrum_measures(to_float(mnist5k.train_x[:300]), to_float(mnist5k.test_x[:300]))
    assert as_uint8 == pytest.approx(as_float, rel=1e-6)
