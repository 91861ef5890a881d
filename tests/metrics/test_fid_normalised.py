"""fid_normalised: FID over the lowest trivial-sampler FID, 0 for real images and about 1 or more for noise."""

from __future__ import annotations

import pytest
import torch

import genlab
from genlab.metrics.calibration import normalised_fid
from tests.metrics.test_evaluate import sampler_run


def test_normalised_fid_divides_by_the_lowest_trivial_reference():
    table = {"references": {"real": {"fid": 1.0}, "blurred": {"fid": 10.0}, "one_class": {"fid": 50.0},
                            "mean_image": {"fid": 200.0}, "uniform_noise": {"fid": 400.0}}}
    assert normalised_fid(25.0, table) == 0.5  # real and blurred are not trivial samplers
    assert normalised_fid(25.0, None) is None


def test_real_images_score_zero_and_uniform_noise_at_least_about_one(evaluator_env, mnist5k, tmp_path):
    real = genlab.evaluate(sampler_run(tmp_path / "real", mnist5k.test_x), metrics="fid", n=500, write=False)
    assert real["metrics"]["fid_normalised"] < 1e-6
    noise = (torch.rand(500, 1, 28, 28, generator=torch.Generator().manual_seed(3)) * 255).to(torch.uint8)
    noisy = genlab.evaluate(sampler_run(tmp_path / "noise", noise), metrics="fid", n=500, write=False)
    assert noisy["metrics"]["fid_normalised"] >= 0.9
    trivial = min(noisy["calibration"]["references"][name]["fid"] for name in ("one_class", "mean_image", "uniform_noise"))
    assert noisy["metrics"]["fid_normalised"] == pytest.approx(noisy["metrics"]["fid"] / trivial)
