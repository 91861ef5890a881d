"""Everyday use as a new user meets it: resume semantics, run-folder locks and failing writes, one-line
errors for bad input of every kind, help and progress output, plot titles and layer names.

Small real data (the 8x8 `digits`), a few steps each. CLI errors run `genlab.cli.main` in-process
(the same code path as the console script, without a new interpreter per case); behaviour that
depends on a real process (the lock, --help at 80 columns) runs the real command.
"""

from __future__ import annotations

import errno
import io
import json
import re
import subprocess
import sys

import numpy as np
import pytest
import yaml
from PIL import Image

import genlab
from genlab.errors import GenlabError
from genlab.train.checkpoint import list_checkpoints, load_checkpoint
from tests.conftest import genlab_command, subprocess_env

QUIET = dict(progress=False, sample_every=0, eval_every=0, log_every=5, checkpoint_every=10)
TINY_VAE = {"hidden_dims": [32], "latent_dim": 2}
PYTHON_TYPE_NAMES = re.compile(r"\b(int|float|str|bool|NoneType|dict|tuple)\b")


def cli(capsys, monkeypatch, *arguments: str) -> tuple[int, str, str]:
    """Run `genlab ARGUMENTS` in this process: (exit status, stdout, stderr)."""
    from genlab import cli as cli_module

    monkeypatch.setattr(sys, "argv", ["genlab", *arguments])
    code = 0
    try:
        cli_module.main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error_line(code: int, err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def saved_train(run_dir):
    return yaml.safe_load((run_dir / "config.yaml").read_text())["train"]


def image_folder(root, count: int):
    for index in range(count):
        pixels = np.random.default_rng(index).integers(0, 255, (12, 12, 3), dtype=np.uint8)
        (root / "only").mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(root / "only" / f"{index}.png")
    return root


# --- resume and run folders --------------------------------------------------------------------------
def test_a_budget_given_with_resume_counts_from_where_the_run_stands(tmp_path):
    run_dir = tmp_path / "run"
    genlab.train("vae", "digits", out=run_dir, config=TINY_VAE, steps=20, **QUIET)
    run = genlab.train("vae", "digits", out=run_dir, resume=True, more=True, steps=15, **QUIET)
    assert run.step == 35 and list_checkpoints(run_dir)[-1] == 35
    assert saved_train(run_dir)["steps"] == 35  # saved as the run's new total
    # No budget: the run goes on to its saved budget, which is spent: nothing is trained or rewritten.
    before = (run_dir / "config.yaml").read_text()
    run = genlab.train("vae", "digits", out=run_dir, resume=True, more=True, **QUIET)
    assert run.step == 35 and "nothing to train" in run.summary["nothing_to_train"]
    assert "35 steps" in run.summary["nothing_to_train"]
    assert (run_dir / "config.yaml").read_text() == before
    # A time budget replaces the saved step budget: the spent `steps: 35` must not stop it.
    run = genlab.train("vae", "digits", out=run_dir, resume=True, more=True, minutes=0.01, **QUIET)
    assert run.step > 35
    train = saved_train(run_dir)
    assert train["steps"] is None and train["minutes"] > 0.01


def test_a_spent_total_budget_never_overwrites_the_saved_one(tmp_path):
    """Library calls without `more` give totals (as studies do): one already reached trains nothing and
    leaves the saved budget as it was."""
    run_dir = tmp_path / "run"
    genlab.train("vae", "digits", out=run_dir, config=TINY_VAE, steps=20, **QUIET)
    run = genlab.train("vae", "digits", out=run_dir, resume=True, steps=10, **QUIET)
    assert run.step == 20 and run.summary["nothing_to_train"]
    assert saved_train(run_dir)["steps"] == 20
    run = genlab.train("vae", "digits", out=run_dir, resume=True, steps=25, **QUIET)
    assert run.step == 25 and saved_train(run_dir)["steps"] == 25


def test_cli_resume_says_what_it_trains_and_when_nothing_is_left(tmp_path, capsys, monkeypatch):
    run_dir = str(tmp_path / "run")
    common = ["--data", "digits", "--set", "hidden_dims=[32]", "--quiet", "--sample-every", "0", "--eval-every", "0",
              "--seed", "3", "--log-every", "5"]
    code, out, err = cli(capsys, monkeypatch, "train", "vae", "--steps", "10", "--out", run_dir, *common)
    assert code == 0, err
    assert "training vae on digits: 10 steps" in err
    code, out, err = cli(capsys, monkeypatch, "train", "vae", "--steps", "6", "--out", run_dir, "--resume", "--quiet")
    assert code == 0, err
    first = err.splitlines()[0]
    assert first.startswith(f"resuming {run_dir} at step 10 (") and first.endswith("training 6 more steps, to step 16")
    assert "trained vae for 16 steps" in out
    # Options not given again keep the saved run's values (the seed decides the batches).
    assert saved_train(tmp_path / "run")["seed"] == 3 and saved_train(tmp_path / "run")["log_every"] == 5
    code, out, err = cli(capsys, monkeypatch, "train", "vae", "--out", run_dir, "--resume", "--quiet")
    assert code == 1, (out, err)
    assert out.startswith("nothing to train: ") and "--steps N" in out and "Traceback" not in err


def test_a_fitted_model_resumed_has_nothing_to_train(tmp_path):
    run = genlab.train("naive-bayes", "digits", out=tmp_path / "run", progress=False, eval_every=0)
    assert run.step == 1
    again = genlab.train("naive-bayes", "digits", out=tmp_path / "run", resume=True, more=True, steps=5, progress=False)
    assert again.step == 1 and "fitted once" in again.summary["nothing_to_train"]


def test_resume_of_a_folder_without_a_checkpoint_says_so_on_the_first_line(tmp_path, capsys, monkeypatch):
    run_dir = tmp_path / "typo"
    code, out, err = cli(capsys, monkeypatch, "train", "vae", "--data", "digits", "--steps", "2", "--out", str(run_dir),
                         "--resume", "--quiet", "--set", "hidden_dims=[16]")
    assert code == 0, err
    assert err.splitlines()[0] == f"nothing to resume in {run_dir} (no such folder): starting a new run"
    assert list_checkpoints(run_dir) == [2]


def test_a_second_process_on_the_same_run_folder_gets_a_clear_error(tmp_path):
    from filelock import FileLock

    from genlab.runfolder import LOCK_FILE

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with FileLock(str(run_dir / LOCK_FILE)):  # as a `genlab train` writing into this folder holds it
        result = subprocess.run(genlab_command() + ["train", "vae", "--data", "digits", "--steps", "2", "--out",
                                                    str(run_dir), "--quiet"],
                                capture_output=True, text=True, env=subprocess_env(), timeout=120)
        line = one_error_line(result.returncode, result.stderr)
        assert "being trained by another genlab process" in line
        with pytest.raises(GenlabError, match="another genlab process"):
            genlab.train("vae", "digits", out=run_dir, steps=2, **QUIET)
    assert not (run_dir / "config.yaml").exists()  # the refused runs wrote nothing
    assert genlab.train("vae", "digits", out=run_dir, config=TINY_VAE, steps=2, **QUIET).step == 2


def test_a_failing_checkpoint_write_keeps_the_previous_checkpoint_and_stops_with_one_line(tmp_path, monkeypatch):
    from genlab.train import checkpoint

    real_write = checkpoint.atomic_write_json

    def disk_full_at_step_20(path, values):
        if values.get("step") == 20:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_write(path, values)

    monkeypatch.setattr(checkpoint, "atomic_write_json", disk_full_at_step_20)
    run_dir = tmp_path / "run"
    with pytest.raises(GenlabError) as error:
        genlab.train("vae", "digits", out=run_dir, config=TINY_VAE, steps=30, **QUIET)
    message = str(error.value)
    assert "\n" not in message
    assert "could not write the checkpoint at step 20" in message and "No space left on device" in message
    assert "checkpoint at step 10 is kept" in message and "free some disk space" in message
    assert list_checkpoints(run_dir) == [10]
    assert not (run_dir / "checkpoints" / "step-000020.safetensors").exists()  # no half checkpoint left
    tensors, state = load_checkpoint(run_dir, 10)
    assert state["step"] == 10 and tensors
    monkeypatch.setattr(checkpoint, "atomic_write_json", real_write)
    run = genlab.train("vae", "digits", out=run_dir, resume=True, **QUIET)  # continues to the saved 30
    assert run.step == 30


def test_any_write_refused_by_the_system_is_one_line(tmp_path, monkeypatch):
    from genlab.train import loop

    def permission_lost(path, samples):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(loop, "save_samples", permission_lost)
    with pytest.raises(GenlabError, match=r"could not write .*step-000000.png: Permission denied; make the run "
                                          r"folder writable or choose another --out"):
        genlab.train("vae", "digits", out=tmp_path / "run", config=TINY_VAE, steps=2, progress=False)


# --- errors that were tracebacks or unclear ----------------------------------------------------------
@pytest.mark.parametrize("file_text, arguments, expected", [
    # The case: `model: NAME` beside plain model keys, one of them ill-typed.
    ("model: vae\nlatent_dim: banana\n", [], "config key 'latent_dim' must be a whole number, got 'banana'"),
    ("model:\n  name: vae\n  config: {hidden_dims: abc}\n", [], "'hidden_dims' must be a list of whole numbers"),
    ("model: dcgan\n", [], "is for model 'dcgan', but the command trains 'vae'"),
    ("train: 3\n", [], "'train' must be a mapping"),
    ("train: {log_every: often}\n", [], "train option 'log_every' must be a whole number, got 'often'"),
    ("data: {resize: big}\n", [], "data option 'resize' must be a whole number or null, got 'big'"),
    ("model: [1, 2]\n", [], "'model' must be a model name or a mapping"),
    ("", ["--data-option", "resize=abc"], "data option 'resize' must be a whole number or null, got 'abc'"),
    ("", ["--data-option", "test_subset=[3]"], "data option 'test_subset' must be a whole number or null"),
    ("", ["--data-option", "corruption=7"], "data option 'corruption' must be text or null, got 7"),
    ("", ["--set", "kl_weight=heavy"], "config key 'kl_weight' must be a number, got 'heavy'"),
    ("", ["--set", "batch_norm=maybe"], "config key 'batch_norm' must be true or false"),
    ("", ["--data", "/no/such/folder"], "--data /no/such/folder: folder does not exist"),
    ("", ["--data", "./also/missing"], "folder does not exist"),
    ("", ["--data-option", "resize"], "--data-option expects key=value"),
])
def test_bad_input_is_one_plain_line(file_text, arguments, expected, tmp_path, capsys, monkeypatch):
    command = ["train", "vae", "--data", "digits", "--steps", "1", "--out", str(tmp_path / "out"), "--quiet"]
    if file_text:
        (tmp_path / "config.yaml").write_text(file_text)
        command += ["--config", str(tmp_path / "config.yaml")]
    code, out, err = cli(capsys, monkeypatch, *command, *arguments)
    line = one_error_line(code, err)
    assert expected in line, line
    assert not PYTHON_TYPE_NAMES.search(line.split(", got")[0]), line
    assert not (tmp_path / "out").exists()  # nothing written, not even an empty run folder


def test_paths_that_are_files_or_missing_are_one_line(tmp_path, capsys, monkeypatch):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    cases = [
        (["--out", str(a_file)], f"--out {a_file} is a file, not a folder"),
        (["--out", str(a_file / "run")], "cannot create the run folder"),
        (["--data", str(a_file), "--out", str(tmp_path / "x")], "is a file; give a folder of images"),
        (["--data", "image-folder", "--data-root", str(tmp_path / "none"), "--out", str(tmp_path / "x")],
         "folder does not exist"),
        (["--config", str(tmp_path), "--out", str(tmp_path / "x")], "config file not found"),
    ]
    for arguments, expected in cases:
        code, out, err = cli(capsys, monkeypatch, "train", "vae", "--data", "digits", "--steps", "1", "--quiet", *arguments)
        assert expected in one_error_line(code, err), (arguments, err)
    assert a_file.read_text() == "not a folder" and not (tmp_path / "x").exists()


def test_a_binary_config_file_is_one_line(tmp_path, capsys, monkeypatch):
    (tmp_path / "model.yaml").write_bytes(bytes(range(256)))
    code, out, err = cli(capsys, monkeypatch, "train", "vae", "--config", str(tmp_path / "model.yaml"))
    assert "is not a YAML text file" in one_error_line(code, err)


def test_an_image_folder_smaller_than_the_batch(tmp_path, capsys, monkeypatch):
    folder = image_folder(tmp_path / "few", 12)
    run_dir = tmp_path / "run"
    code, out, err = cli(capsys, monkeypatch, "train", "vae", "--data", str(folder), "--steps", "2", "--quiet",
                         "--out", str(run_dir), "--set", "hidden_dims=[16]")
    assert code == 0, err
    # 12 images, 10 % held out for testing: 11 train; the VAE's default batch of 128 is capped with a notice.
    assert err.splitlines()[0] == ("batch size 11: the model's default of 128 is more than the 11 training items "
                                   "of 'image-folder' (--batch-size sets it)")
    assert saved_train(run_dir)["batch_size"] == 11
    code, out, err = cli(capsys, monkeypatch, "train", "vae", "--data", str(folder), "--steps", "2", "--quiet",
                         "--out", str(tmp_path / "other"), "--batch-size", "32")
    line = one_error_line(code, err)
    assert "batch size 32 is more than the 11 training items" in line and "use --batch-size 11 or less" in line


# --- command line and plots --------------------------------------------------------------------------
def test_help_at_80_columns_keeps_every_option_name_and_has_examples():
    from genlab.cli import app
    from typer.main import get_command

    result = subprocess.run(genlab_command() + ["train", "--help"], capture_output=True, text=True,
                            env=subprocess_env(COLUMNS="80"), timeout=120)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    names = [name for parameter in get_command(app).commands["train"].params
             for name in (*parameter.opts, *parameter.secondary_opts) if name.startswith("--")]
    assert "--diagnostics-every" in names and "--no-sync-batchnorm" in names
    for name in names:
        assert re.search(rf"(^|[\s,/]){re.escape(name)}([\s,=]|$)", text, re.MULTILINE), name
    assert "Examples:" in text and "genlab train vae --out runs/vae-2d --resume --minutes 2" in text
    assert "1000 steps when none" in text  # the default budget


def test_no_command_help_cuts_an_option_name_at_80_columns():
    from typer.main import get_command
    from typer.testing import CliRunner

    from genlab.cli import app

    def commands(group, path):
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                yield from commands(command, [*path, name])
            yield [*path, name], command

    runner = CliRunner()
    checked = 0
    for path, command in commands(get_command(app), []):
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
        assert result.exit_code == 0, (path, result.output)
        assert "…" not in result.output, path
        for parameter in command.params:
            for name in (*parameter.opts, *parameter.secondary_opts):
                if name.startswith("--"):
                    assert re.search(rf"(^|[\s,/]){re.escape(name)}([\s,=]|$)", result.output, re.MULTILINE), (path, name)
        checked += 1
    assert checked >= 15


def test_version(capsys, monkeypatch):
    code, out, err = cli(capsys, monkeypatch, "--version")
    assert code == 0 and out.startswith(f"genlab {genlab.__version__} (torch ")


def test_progress_lines_without_a_terminal_show_losses_and_time_left(tmp_path, capsys, monkeypatch):
    from genlab.train import progress

    monkeypatch.setattr(progress, "PLAIN_INTERVAL", 0.0)  # a line at every step (the cadence: next test)
    genlab.train("vae", "digits", out=tmp_path / "run", config=TINY_VAE, steps=12, minutes=10.0, progress=True,
                 log_every=5, sample_every=0, eval_every=0)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("vae: step")]
    with_losses = [line for line in lines if "loss " in line]
    assert with_losses[0].startswith("vae: step 5/12")  # from the first logged step on
    assert lines[lines.index(with_losses[0]):] == with_losses
    assert all(" left" in line for line in lines)
    assert "\r" not in err


def test_progress_lines_come_at_a_steady_cadence(monkeypatch):
    from genlab.train import progress

    clock = [0.0]
    monkeypatch.setattr(progress.time, "perf_counter", lambda: clock[0])
    stream = io.StringIO()  # not a terminal
    shown = progress.Progress("dcgan", 0, None, budget_seconds=60.0, elapsed_before=0.0, stream=stream)
    for step in range(1, 46):  # one step a second
        clock[0] = float(step)
        shown.update(step, float(step))
        if step == 3:
            shown.show_losses({"loss_d": 1.2, "loss_g": 0.7}, step, float(step))
    shown.close()
    steps = [int(line.split("step ")[1].split(",")[0]) for line in stream.getvalue().splitlines()]
    assert steps == [3, 13, 23, 33, 43, 45]  # the first losses, then every 10 s, and the end
    assert stream.getvalue().splitlines()[1] == "dcgan: step 13, 1.0 steps/s, 0:47 left, loss_d 1.2, loss_g 0.7"


def test_progress_bar_on_a_terminal_shows_losses_at_once_and_time_left():
    from genlab.train.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    shown = Progress("vae", 0, None, budget_seconds=60.0, elapsed_before=0.0, stream=stream)
    shown.update(1, 10.0)
    shown.show_losses({"loss": 152.0, "kl": 8.21}, step=1, elapsed=10.0)  # the first logged step
    assert "loss=152" in stream.getvalue() and "kl=8.21" in stream.getvalue()
    assert "left=0:50" in stream.getvalue()  # under a time budget: the time left of it
    shown.close()


def test_plots_title_by_what_is_drawn_mark_lone_points_and_name_layers(tmp_path):
    from genlab.plots.run import LayerNames, metrics_figure, panel_title, plot_gradient_histograms

    assert panel_title("loss", ["loss"]) == "loss"
    assert panel_title("loss", ["loss_d", "loss_g"]) == "losses (D and G)"
    vae = genlab.train("vae", "digits", out=tmp_path / "vae", config=TINY_VAE, steps=5, log_every=5, eval_every=5,
                       sample_every=0, progress=False)
    figure = metrics_figure(vae.path)  # one logged row: every series is a single point
    titles = [axis.get_title() for axis in figure.axes if axis.get_title()]
    assert "loss" in titles and not any("D and G" in title for title in titles)
    for axis in figure.axes:
        for line in axis.lines:
            assert len(line.get_xdata()) > 1 or line.get_marker() not in ("None", "", None), axis.get_title()

    gan = genlab.train("dcgan", "digits", out=tmp_path / "gan", steps=4, log_every=2, diagnostics_every=2,
                       gradient_histograms=True, sample_every=0, eval_every=0, progress=False,
                       config={"generator_features": 8, "discriminator_features": 8, "batch_size": 16})
    names = LayerNames(gan.path)
    assert names.name("generator", "net.0").startswith("1 ConvTranspose2d 100→")
    assert names.name("generator", "net.3").startswith("3 ConvTranspose2d")
    figure = metrics_figure(gan.path)
    legends = [text.get_text() for axis in figure.axes if axis.get_legend() for text in axis.get_legend().get_texts()]
    assert any(label.startswith("1 Conv") for label in legends)
    assert not any(re.fullmatch(r"net\.\d+", label) for label in legends), legends
    assert plot_gradient_histograms(gan.path).is_file()


def test_sample_and_reconstruct_without_out_write_under_the_run(tmp_path, capsys, monkeypatch):
    run_dir = tmp_path / "run"
    genlab.train("vae", "digits", out=run_dir, config=TINY_VAE, steps=2, **QUIET)
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, monkeypatch, "sample", str(run_dir), "--n", "4")
    assert code == 0, err
    assert out.strip() == str(run_dir / "sample.png") and (run_dir / "sample.png").is_file()
    code, out, err = cli(capsys, monkeypatch, "reconstruct", str(run_dir), "--n", "4")
    assert code == 0, err
    assert out.strip() == str(run_dir / "reconstructions.png")
    assert not (tmp_path / "samples.png").exists() and not (tmp_path / "reconstructions.png").exists()



def test_the_trainer_step_options_are_command_line_options(tmp_path, capsys, monkeypatch):
    from genlab.io import load_tensors

    run_dir = tmp_path / "run"
    code, _, err = cli(capsys, monkeypatch, "train", "vae", "--data", "digits", "--steps", "3", "--set", "hidden_dims=[16]",
                       "--clip-grad-norm", "0.5", "--ema-decay", "0.9", "--out", str(run_dir), "--quiet")
    assert code == 0, err
    train = saved_train(run_dir)
    assert train["clip_grad_norm"] == 0.5 and train["ema_decay"] == 0.9 and train["precision"] == "fp32"
    assert any(name.startswith("decoder_ema.") for name in load_tensors(run_dir / "model.safetensors"))
    code, _, err = cli(capsys, monkeypatch, "train", "vae", "--data", "digits", "--steps", "1", "--ema-decay", "1.5",
                       "--out", str(tmp_path / "bad"), "--quiet")
    assert "'ema_decay' must be in [0, 1)" in one_error_line(code, err)
