"""Latent attribute control (C22): image attributes with known values, and decoders whose answer is known."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.metrics.calibration import gaussian_blur
from genlab.metrics.latent_attributes import (
    chance_control_ratio,
    control_ratio,
    image_attributes,
    latent_attribute_control,
    wrap_half_turn,
)


def bar(angle_degrees: float, size: int = 28, half_width: float = 1.2) -> torch.Tensor:
    """A white bar through the centre at `angle_degrees` from the horizontal (counter-clockwise), (1, 1, S, S)."""
    rows, cols = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij")
    x, y = cols - (size - 1) / 2, (size - 1) / 2 - rows  # y points up
    theta = math.radians(angle_degrees)
    distance = (-math.sin(theta) * x + math.cos(theta) * y).abs()  # distance from the bar's axis
    along = (math.cos(theta) * x + math.sin(theta) * y).abs()
    return ((distance <= half_width) & (along <= 10)).float().view(1, 1, size, size)


def test_attributes_of_bars_blur_and_brightness():
    bars = torch.cat([bar(0), bar(45), bar(90), bar(-30)])
    angles = image_attributes(bars)["angle"]
    assert torch.allclose(wrap_half_turn(angles - torch.tensor([0, math.pi / 4, math.pi / 2, -math.pi / 6])),
                          torch.zeros(4), atol=0.05)
    blurred = image_attributes(gaussian_blur(bars, 1.5))
    assert (blurred["sharpness"] < image_attributes(bars)["sharpness"] - 1).all()  # blur: far lower Laplacian variance
    grey = torch.full((2, 1, 8, 8), 0.25)
    grey[1] = 0.75
    assert torch.allclose(image_attributes(grey)["brightness"], torch.tensor([0.25, 0.75]))
    # An orientation has no direction: a change of 170 degrees is one of -10.
    assert wrap_half_turn(torch.tensor(math.radians(170))).item() == pytest.approx(math.radians(-10), abs=1e-6)


class LinearDecoder:
    """A toy generator: sigmoid(W z) images, 8x8; W's first column lifts every pixel when `aligned`."""

    def __init__(self, latent_dim: int, aligned: bool, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.latent_dim = latent_dim
        self.device = torch.device("cpu")
        self.weights = 0.05 * torch.randn(64, latent_dim, generator=generator)
        self.weights[:, 0] += 1.0  # coordinate 0: brightness
        if not aligned:  # the same generator with its latent rotated: brightness along a random direction
            rotation, _ = torch.linalg.qr(torch.randn(latent_dim, latent_dim, generator=generator))
            self.weights = self.weights @ rotation

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, generator=generator)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(z @ self.weights.T - 1.0).view(-1, 1, 8, 8)


def test_one_coordinate_that_steers_brightness_is_found_and_a_rotated_latent_is_not_aligned():
    aligned = latent_attribute_control(LinearDecoder(48, aligned=True), count=16)
    brightness = aligned["attributes"]["brightness"]
    assert brightness["top_coordinate"] == 0
    assert brightness["control_ratio"] > 10 and brightness["axis_alignment"] > 3
    rotated = latent_attribute_control(LinearDecoder(48, aligned=False), count=16)
    # The raw top/median ratio passes 3 by chance alone in 48 dimensions; the alignment does not.
    assert rotated["attributes"]["brightness"]["control_ratio"] > 2
    assert rotated["attributes"]["brightness"]["axis_alignment"] < 1.6


def test_chance_ratio_grows_with_the_dimension_and_ratio_edge_cases():
    assert 2.0 < chance_control_ratio(20) < chance_control_ratio(100) < 5.0
    assert control_ratio(torch.tensor([1.0, 1.0, 1.0])) == 1.0
    assert control_ratio(torch.tensor([0.0, 0.0, 2.0])) == math.inf
    with pytest.raises(ValueError, match="too small"):
        latent_attribute_control(LinearDecoder(2, aligned=True))


def test_evaluate_reports_latent_control_for_a_gan_and_skips_a_2d_latent(evaluator_env, tmp_path):
    import genlab
    from genlab.train.run import Run

    def run_of(name: str, **config) -> Run:
        model = genlab.create_model(name, data_shape=(1, 28, 28), **config)
        saved = {"model": {"name": name, "config": config}, "data": {"name": "mnist-5k"}, "data_shape": [1, 28, 28],
                 "num_classes": 10}
        (tmp_path / name).mkdir()
        return Run(path=tmp_path / name, config=saved, model=model, step=0)

    gan = genlab.evaluate(run_of("dcgan", latent_dim=8, generator_features=8, discriminator_features=8), n=100,
                          metrics="latent_axis_alignment", write=False)
    assert gan["metrics"]["latent_control_ratio"] >= 1.0 and gan["metrics"]["latent_axis_alignment"] > 0
    assert gan["details"]["latent_control"]["coordinates"] == 8
    assert set(gan["details"]["latent_control"]["attributes"]) == {"brightness", "sharpness", "angle"}
    vae = genlab.evaluate(run_of("vae", latent_dim=2, hidden_dims=[16]), n=100, metrics="latent_control", write=False)
    assert "latent_axis_alignment" not in vae["metrics"] and "latent of 3+" in vae["skipped"]["latent_control"]
