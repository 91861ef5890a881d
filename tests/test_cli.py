"""Every CLI command through a real subprocess, and user errors as one line without a traceback."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from PIL import Image

from tests.conftest import genlab_command, subprocess_env


def genlab_run(*arguments: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(genlab_command() + list(arguments), capture_output=True, text=True, env=subprocess_env(),
                          cwd=cwd, timeout=300)


def test_models_lists_the_registry():
    result = genlab_run("models")
    assert result.returncode == 0, result.stderr
    assert "vae" in result.stdout and "dcgan" in result.stdout
    assert "latent_dim=20" in result.stdout


def test_datasets_lists_each_dataset_with_shape_or_reason():
    result = genlab_run("datasets")
    assert result.returncode == 0, result.stderr
    for name in ("mnist-5k", "fashion-mnist", "mnist", "digits", "cifar10", "image-folder", "faces-lfw", "textures", "toy2d"):
        assert name in result.stdout, name
    assert "(1, 28, 28)" in result.stdout


def test_train_sample_and_plot_end_to_end(tmp_path):
    run_dir = tmp_path / "run"
    config_file = tmp_path / "vae.yaml"
    config_file.write_text("hidden_dims: [64]\nlikelihood: gaussian\n")
    result = genlab_run("train", "vae", "--data", "mnist-5k", "--steps", "60", "--out", str(run_dir), "--quiet",
                        "--config", str(config_file), "--set", "latent_dim=2", "--data-option", "subset=1000",
                        "--sample-every", "30", "--log-every", "10", "--eval-every", "30")
    assert result.returncode == 0, result.stderr
    assert "trained vae for 60 steps" in result.stdout
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["model"]["config"]["latent_dim"] == 2
    assert saved["model"]["config"]["hidden_dims"] == [64]
    assert saved["model"]["config"]["likelihood"] == "gaussian"
    assert saved["data"]["subset"] == 1000 and saved["final_step"] == 60
    assert (run_dir / "checkpoints" / "step-000060.safetensors").is_file()

    grid = tmp_path / "grid.png"
    result = genlab_run("sample", str(run_dir), "--n", "16", "--out", str(grid), "--seed", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(grid)
    assert Image.open(grid).size[0] > 100

    result = genlab_run("plot", str(run_dir), "--out", str(tmp_path / "curves.png"))
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "curves.png").size[0] > 300

    # With --resume a budget counts from where the run stands: 20 more steps.
    result = genlab_run("train", "vae", "--steps", "20", "--out", str(run_dir), "--quiet", "--resume")
    assert result.returncode == 0, result.stderr
    assert "trained vae for 80 steps" in result.stdout


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["train", "vea", "--steps", "1"], "unknown model 'vea'"),
        (["train", "vae", "--data", "mnistt", "--steps", "1"], "unknown dataset 'mnistt'"),
        (["train", "vae", "--steps", "1", "--set", "latent_dim=two"], "must be a whole number"),
        (["train", "vae", "--steps", "1", "--set", "hiden_dims=[3]"], "unknown config key 'hiden_dims'"),
        (["train", "vae", "--steps", "1", "--device", "cuda:3"], "cuda"),
        (["train", "vae", "--steps", "1", "--config", "missing.yaml"], "config file not found"),
        (["sample", "no-such-run"], "not a run folder"),
        (["train", "dcgan", "--data", "image-folder", "--steps", "1"], "image-folder"),
    ],
)
def test_user_errors_are_one_line_without_traceback(arguments, message, tmp_path):
    result = genlab_run(*arguments, "--out", str(tmp_path / "out")) if arguments[0] == "train" else genlab_run(*arguments)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and message in lines[0], lines[0]
    assert not (tmp_path / "out" / "checkpoints").exists()


def test_bad_option_type_is_reported_by_the_parser():
    result = genlab_run("train", "vae", "--steps", "many")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "--steps" in result.stderr and "integer" in result.stderr


def test_label_for_an_unconditional_model_is_a_user_error(tmp_path):
    run_dir = tmp_path / "run"
    assert genlab_run("train", "vae", "--steps", "2", "--out", str(run_dir), "--quiet").returncode == 0
    result = genlab_run("sample", str(run_dir), "--label", "3", "--out", str(tmp_path / "x.png"))
    assert result.returncode == 2 and "not conditional" in result.stderr and "Traceback" not in result.stderr


def test_a_bug_keeps_its_traceback(monkeypatch):
    """Only user errors are turned into one line; anything else propagates with its traceback."""
    import sys

    from genlab import cli
    from genlab.train import trainer

    def broken_train(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(trainer, "train", broken_train)
    monkeypatch.setattr(sys, "argv", ["genlab", "train", "vae", "--steps", "1"])
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main()


def test_an_image_folder_path_can_be_given_as_the_data(tmp_path):
    import numpy as np

    folder = tmp_path / "pictures"
    for label in ("cats", "dogs"):
        (folder / label).mkdir(parents=True)
        for index in range(12):
            pixels = np.random.default_rng(index).integers(0, 255, (40, 48, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / label / f"{index}.png")
    run_dir = tmp_path / "run"
    result = genlab_run("train", "vae", "--data", str(folder), "--data-option", "resize=16", "--steps", "2",
                        "--batch-size", "8", "--out", str(run_dir), "--quiet")
    assert result.returncode == 0, result.stderr
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["data"]["name"] == "image-folder" and saved["data_shape"] == [3, 16, 16]
    assert saved["class_names"] == ["cats", "dogs"]
