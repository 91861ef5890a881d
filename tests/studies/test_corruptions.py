"""Corruptions are reproducible per image, scaled by level, and reachable from the CLI."""

from __future__ import annotations

import subprocess

import pytest
import torch
from PIL import Image

import genlab
from genlab.data.corruptions import apply_corruption, parse_corruption
from genlab.errors import GenlabError
from tests.conftest import genlab_command, subprocess_env


@pytest.fixture(scope="module")
def faces():
    return genlab.load_dataset("faces-lfw").train_x[:16]


def test_each_image_has_its_own_fixed_seed(faces):
    for corruption in ("awgn:medium", "warp:high"):
        whole = apply_corruption(faces, corruption, seed=3)
        # Image i's seed is seed + i whatever the chunking, so the corrupted copy never depends on it.
        assert torch.equal(whole, apply_corruption(faces, corruption, seed=3, chunk=5))
        assert not torch.equal(whole, apply_corruption(faces, corruption, seed=4))
        assert not torch.equal(whole[0], whole[1])


def test_awgn_noise_has_the_level_std_and_levels_order(faces):
    for level, sigma in (("low", 0.05), ("medium", 0.1), ("high", 0.2)):
        noisy = apply_corruption(faces, f"awgn:{level}")
        measured = ((noisy.float() - faces.float()) / 255).std().item()
        assert abs(measured - sigma) < 0.25 * sigma, (level, measured)  # clipping at 0/1 shrinks it a little


def test_warps_are_smooth_and_grow_with_strength(faces):
    changes = [(apply_corruption(faces, f"warp:{level}").float() - faces.float()).abs().mean().item()
               for level in ("low", "medium", "high")]
    assert 0 < changes[0] < changes[1] < changes[2]
    warped = apply_corruption(faces, "warp:low").float()
    # A smooth displacement keeps neighbouring pixels alike, unlike noise of the same mean change.
    roughness = (warped[..., 1:] - warped[..., :-1]).abs().mean()
    assert roughness < 1.5 * (faces.float()[..., 1:] - faces.float()[..., :-1]).abs().mean()


def test_dataset_option_corrupts_only_the_training_split():
    clean = genlab.load_dataset("mnist-5k")
    noisy = genlab.load_dataset("mnist-5k", corruption="awgn:high")
    assert not torch.equal(clean.train_x, noisy.train_x)
    assert torch.equal(clean.test_x, noisy.test_x)
    with pytest.raises(GenlabError, match="unknown corruption"):
        parse_corruption("blur:high")
    with pytest.raises(GenlabError, match="level"):
        genlab.load_dataset("mnist-5k", corruption="awgn:huge")


def test_datasets_show_writes_clean_and_corrupted_rows(tmp_path):
    out = tmp_path / "faces.png"
    result = subprocess.run(genlab_command() + ["datasets", "show", "faces-lfw", "--corrupt", "awgn:high", "--n", "8",
                                                "--out", str(out)], capture_output=True, text=True, env=subprocess_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    width, height = Image.open(out).size
    assert height > width / 8 * 1.5  # two rows of eight: clean above corrupted
