"""The main job: `genlab demo` trains both models and writes the comparison image."""

from __future__ import annotations

import subprocess

from PIL import Image

from genlab import demo
from genlab.data import paths
from tests.conftest import genlab_command, subprocess_env


def test_demo_command_writes_runs_and_comparison(tmp_path):
    result = subprocess.run(genlab_command() + ["demo", "--out", str(tmp_path), "--minutes", "0.05"],
                            capture_output=True, text=True, env=subprocess_env(), timeout=300)
    assert result.returncode == 0, result.stderr
    comparison = Image.open(tmp_path / "comparison.png")
    assert comparison.size[0] > 3 * 200
    dataset = "fashion-mnist" if (paths.SYSTEM_DATA_DIR / "fashion-mnist").is_dir() else "mnist-5k"
    for model in ("vae", "dcgan"):
        run_dir = tmp_path / f"{model}-{dataset}"
        assert (run_dir / "model.safetensors").is_file()
        assert (run_dir / "samples" / "progress.gif").is_file()
    # A 3-second budget still logs a few VAE steps (the demo logs every 20 steps).
    assert (tmp_path / f"vae-{dataset}" / "loss_curves.png").is_file()
    assert "real | vae | dcgan" in result.stdout


def test_demo_falls_back_to_mnist_5k_and_says_so(isolated_env, monkeypatch, capsys):
    monkeypatch.setattr(paths, "SYSTEM_DATA_DIR", isolated_env / "no-system-data")
    assert demo.pick_dataset() == "mnist-5k"
    assert "using the bundled mnist-5k" in capsys.readouterr().out
