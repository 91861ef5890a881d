"""Three tiny trained runs (a 2-D VAE, a DCGAN, which has no encoder, and a conditional VAE) and one
explorer app per session,
served on a free port of 127.0.0.1 and closed at the end."""

from __future__ import annotations

import socket

import pytest

import genlab
from genlab.models.gan import DCGAN_TINY

QUIET = dict(progress=False, threads=1, log_every=25, eval_every=0, sample_every=0, checkpoint_every=0, seed=0)
SLIDERS = 4


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("explorer-runs")
    genlab.train("vae", data="mnist-5k", out=root / "vae2", steps=50,
                 config={"latent_dim": 2, "hidden_dims": [64], "batch_size": 64}, **QUIET)
    genlab.train("dcgan", data="mnist-5k", out=root / "gans" / "dcgan", steps=5, config=DCGAN_TINY, **QUIET)
    genlab.train("cvae", data="mnist-5k", out=root / "cvae", steps=5,
                 config={"latent_dim": 3, "hidden_dims": [32], "batch_size": 32}, **QUIET)
    return root


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def explorer_url(runs_dir):
    from genlab.app.explorer import launch_explorer

    port = free_port()
    app = launch_explorer(runs_dir, port=port, components=SLIDERS, block=False)
    yield f"http://127.0.0.1:{port}/"
    app.close()


@pytest.fixture(scope="session")
def client(explorer_url, tmp_path_factory):
    from gradio_client import Client

    downloads = tmp_path_factory.mktemp("client-downloads")
    return Client(explorer_url, verbose=False, analytics_enabled=False, download_files=str(downloads))
