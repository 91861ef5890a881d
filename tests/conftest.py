"""Shared fixtures: small real datasets, isolated caches, one torch thread per test worker."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch
from filelock import FileLock

# Two xdist workers on two cores: one thread each avoids oversubscription; subprocesses inherit it.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def mnist5k():
    """The bundled 5,000 real MNIST digits (4,000 train / 1,000 test)."""
    import genlab

    return genlab.load_dataset("mnist-5k")


@pytest.fixture()
def isolated_env(tmp_path, monkeypatch):
    """Point genlab's data and cache folders into tmp_path and forbid downloads."""
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GENLAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("GENLAB_OFFLINE", "1")
    return tmp_path


@pytest.fixture(scope="session")
def evaluator_cache(tmp_path_factory) -> Path:
    """A cache folder holding the mnist-5k evaluator, built on first use in this session.

    Training it takes ~25 CPU-seconds, so every test (and every xdist worker, through a file lock)
    shares one cache folder for the session; tests that evaluate point $GENLAB_CACHE at it.
    """
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker has its own basetemp; their parent is this session's shared folder.
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "genlab-evaluator-cache"
    with FileLock(str(root) + ".lock"):
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("GENLAB_CACHE", str(root))
            patch.setenv("GENLAB_OFFLINE", "1")
            from genlab.metrics.evaluator import get_evaluator

            get_evaluator("mnist-5k")
    return root


@pytest.fixture()
def evaluator_env(evaluator_cache, monkeypatch) -> Path:
    """$GENLAB_CACHE -> the session's evaluator cache, downloads forbidden."""
    monkeypatch.setenv("GENLAB_CACHE", str(evaluator_cache))
    monkeypatch.setenv("GENLAB_OFFLINE", "1")
    return evaluator_cache


def genlab_command() -> list[str]:
    """How tests run the real CLI: the installed console script's module, with this interpreter."""
    return [sys.executable, "-m", "genlab"]


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": "1", "GENLAB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **extra})
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1] / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env
