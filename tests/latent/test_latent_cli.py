"""The latent commands: `genlab interpolate | traverse | latent-map | class-grid RUN` write a PNG and print its path."""

from __future__ import annotations

import subprocess

import pytest
from PIL import Image
from typer.testing import CliRunner

from genlab.cli import app
from genlab.errors import GenlabError
from tests.conftest import genlab_command, subprocess_env


def test_latent_map_command_writes_the_figure(vae2_run, tmp_path):
    out = tmp_path / "map.png"
    result = subprocess.run(genlab_command() + ["latent-map", str(vae2_run.path), "--grid", "5", "--points", "300",
                                                "--out", str(out)],
                            capture_output=True, text=True, env=subprocess_env(), timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    picture = Image.open(out)
    assert picture.width > 800 and picture.height > 400


def test_interpolate_command_between_test_images_writes_into_the_run(vae2_run):
    result = CliRunner().invoke(app, ["interpolate", str(vae2_run.path), "--from-data", "--pairs", "2", "--steps", "4",
                                      "--method", "spherical"])
    assert result.exit_code == 0, result.output
    written = vae2_run.path / "latent" / "interpolate.png"
    assert result.output.strip() == str(written)
    picture = Image.open(written)  # 2 rows of real | 4 decoded | real, upscaled
    assert picture.width > 6 * 28 * 2 and picture.height > 2 * 28 * 2


def test_traverse_and_class_grid_commands(vae2_run, tmp_path):
    runner = CliRunner()
    out = tmp_path / "traverse.png"
    result = runner.invoke(app, ["traverse", str(vae2_run.path), "--components", "1", "--steps", "5",
                                 "--from-image", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(out)
    one_row = Image.open(out)
    result = runner.invoke(app, ["traverse", str(vae2_run.path), "--steps", "5", "--out", str(tmp_path / "both.png")])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "both.png").height > one_row.height  # a row per component of the 2-D latent

    result = runner.invoke(app, ["class-grid", str(vae2_run.path), "--out", str(tmp_path / "classes.png")])
    assert isinstance(result.exception, GenlabError)  # `genlab` prints it as one `error:` line, exit status 2
    assert str(result.exception).startswith("class-grid needs a conditional model")
    assert not (tmp_path / "classes.png").exists()
    with pytest.raises(GenlabError, match="from-image"):
        runner.invoke(app, ["traverse", str(vae2_run.path), "--from-image", "5000"], catch_exceptions=False)
