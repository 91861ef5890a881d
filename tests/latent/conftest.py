"""A tiny trained 2-D VAE run, shared by the latent tool tests of one session."""

from __future__ import annotations

import pytest

import genlab

QUIET = dict(progress=False, threads=1, log_every=25, eval_every=0, sample_every=0, checkpoint_every=0)


def train_tiny_vae(out, steps: int = 50):
    """An MLP VAE with a 2-D latent, trained briefly on mnist-5k (about a second on one core)."""
    return genlab.train("vae", data="mnist-5k", out=out, steps=steps, seed=0,
                        config={"latent_dim": 2, "hidden_dims": [64], "batch_size": 64}, **QUIET)


@pytest.fixture(scope="session")
def vae2_run(tmp_path_factory):
    return train_tiny_vae(tmp_path_factory.mktemp("latent-runs") / "vae2")
