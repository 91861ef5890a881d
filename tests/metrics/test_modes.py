"""Mode counting on toy2d and stacked MNIST, where the modes are known."""

from __future__ import annotations

import pytest
import torch

import genlab
from genlab.data.toy2d import draw_points
from genlab.metrics.modes import stacked_modes, toy2d_modes


@pytest.mark.parametrize("layout, count", [("ring-8", 8), ("grid-25", 25)])
def test_a_perfect_sampler_covers_every_mode_and_a_collapsed_one_covers_one(layout, count):
    data = genlab.load_dataset("toy2d", layout=layout, n_train=100, n_test=10)
    modes, std = data.info["modes"], data.info["std"]
    perfect = draw_points(modes, std, 5000, torch.Generator().manual_seed(0))[0]
    result = toy2d_modes(perfect, modes, std)
    assert result["modes_covered"] == count == result["modes_total"]
    assert result["high_quality_share"] == pytest.approx(0.989, abs=0.01)  # P(chi2_2 <= 9) = 1 - exp(-4.5)
    assert result["mode_kl_to_uniform"] < 0.01

    collapsed = modes[3] + std * torch.randn(5000, 2, generator=torch.Generator().manual_seed(1))
    result = toy2d_modes(collapsed, modes, std)
    assert result["modes_covered"] == 1 and result["mode_counts"][3] > 4900
    assert result["mode_kl_to_uniform"] == pytest.approx(torch.log(torch.tensor(float(count))).item(), abs=0.01)

    scattered = torch.rand(5000, 2, generator=torch.Generator().manual_seed(2)) * 10 - 5  # far from every mode
    assert toy2d_modes(scattered, modes, std)["high_quality_share"] < 0.05


def test_stacked_mnist_has_three_digit_channels_and_1000_modes(mnist5k):
    stacked = genlab.load_dataset("stacked-mnist", source="mnist-5k", n_train=2000, n_test=500)
    assert stacked.shape == (3, 28, 28) and stacked.num_classes == 1000
    assert stacked.train_y.max() < 1000 and stacked.train_y.unique().numel() > 800
    # Each channel is a real mnist-5k training digit, and the label spells the three digits.
    first = stacked.train_x[0]
    digits = []
    for channel in range(3):
        match = (mnist5k.train_x[:, 0] == first[channel]).flatten(1).all(1).nonzero()
        assert match.numel() >= 1
        digits.append(int(mnist5k.train_y[match[0, 0]]))
    assert int(stacked.train_y[0]) == digits[0] * 100 + digits[1] * 10 + digits[2]
    again = genlab.load_dataset("stacked-mnist", source="mnist-5k", n_train=2000, n_test=500)
    assert torch.equal(again.train_x, stacked.train_x)


def test_stacked_mode_counts_and_kl_to_uniform():
    every = stacked_modes(torch.arange(3000) % 1000, 1000)
    assert every["modes_covered"] == 1000 and every["mode_kl_to_uniform"] == pytest.approx(0.0, abs=1e-9)
    one = stacked_modes(torch.full((500,), 42), 1000)
    assert one["modes_covered"] == 1 and one["mode_kl_to_uniform"] == pytest.approx(torch.log(torch.tensor(1000.0)).item())


def test_the_per_channel_evaluator_reads_the_modes_of_real_stacked_digits(evaluator_env, mnist_evaluator):
    from genlab.metrics.evaluator import get_evaluator

    stacked = genlab.load_dataset("stacked-mnist", source="mnist-5k", n_train=200, n_test=1000)
    evaluator = get_evaluator({"name": "stacked-mnist", "options": {"source": "mnist-5k", "n_train": 200, "n_test": 1000}})
    assert evaluator.kind == "per-channel" and evaluator.num_classes == 1000 and evaluator.feature_dim == 384
    features, probabilities = evaluator.features_and_probabilities(stacked.test_x)
    assert features.shape == (1000, 384)
    torch.testing.assert_close(probabilities.sum(1), torch.ones(1000))
    accuracy = (probabilities.argmax(1) == stacked.test_y).double().mean().item()
    assert accuracy > 0.93  # three digits right at ~98.5% each
    # A sampler that repeats one stacked image covers one mode; real images cover most of them.
    assert stacked_modes(evaluator.predict(stacked.test_x[:1].repeat(200, 1, 1, 1)), 1000)["modes_covered"] == 1
    assert stacked_modes(probabilities.argmax(1), 1000)["modes_covered"] > 600
