"""The trainer on real data: learning, budgets, checkpoints, resumption and the divergence guard."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
import torch
from PIL import Image

import genlab
from genlab.errors import GenlabError
from genlab.train.checkpoint import list_checkpoints, load_checkpoint
from tests.conftest import genlab_command, subprocess_env


def read_rows(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_vae_test_elbo_improves_clearly_within_a_few_hundred_steps(tmp_path):
    run = genlab.train("vae", "mnist-5k", out=tmp_path / "vae", steps=400, eval_every=50, log_every=50,
                       progress=False, sample_every=200)
    elbos = [row["val/elbo"] for row in read_rows(run.path) if "val/elbo" in row]
    assert len(elbos) == 8
    # Measured: about -205 nats at step 50 and -135 at step 400 on the 1,000 test digits.
    assert elbos[-1] > elbos[0] + 40, elbos
    assert elbos[-1] > -160, elbos
    for name in ("config.yaml", "model.safetensors", "loss_curves.png", "samples/progress.gif",
                 "samples/step-000000.png", "samples/step-000400.png"):
        assert (run.path / name).is_file(), name
    assert Image.open(run.path / "samples/step-000400.png").size[0] > 200


def test_dcgan_trains_without_nans_and_its_samples_move(tmp_path):
    config = {"generator_features": 32, "discriminator_features": 32, "batch_size": 64}
    data = {"name": "mnist-5k", "subset": 2000}
    torch.manual_seed(0)  # the trainer seeds the same way before building the model
    untrained = genlab.create_model("dcgan", data_shape=(1, 28, 28), **config)
    run = genlab.train("dcgan", data, out=tmp_path / "dcgan", config=config, steps=200, log_every=20,
                       progress=False, sample_every=100)
    rows = read_rows(run.path)
    assert len(rows) == 10
    for row in rows:
        assert all(torch.isfinite(torch.tensor(v)) for v in row.values()), row
    first = untrained.sample(32, generator=torch.Generator().manual_seed(0))
    last = run.sample(32, seed=0)
    # Measured after 200 steps: mean |difference| ~0.12; contrast within an image grows ~20x from the
    # flat grey of the untrained generator as digit-like strokes appear.
    assert (first - last).abs().mean() > 0.06
    assert last.flatten(1).std(1).mean() > 5 * first.flatten(1).std(1).mean()
    assert rows[-1]["d_real"] > rows[-1]["d_fake"]
    assert sorted(p.name for p in (run.path / "samples").glob("step-*.png")) == [
        "step-000000.png", "step-000100.png", "step-000200.png"]


def test_resumed_run_matches_an_uninterrupted_one_in_process(tmp_path):
    """A DCGAN (two optimizers, batch-norm buffers, dropout-free) stopped and resumed: same checkpoint."""
    common = dict(config={"latent_dim": 8, "generator_features": 8, "discriminator_features": 8, "batch_size": 32},
                  progress=False, sample_every=0, checkpoint_every=10, eval_every=0, log_every=5, seed=7)
    data = {"name": "mnist-5k", "subset": 500}
    genlab.train("dcgan", data, out=tmp_path / "whole", steps=30, **common)
    genlab.train("dcgan", data, out=tmp_path / "parts", steps=10, **common)
    with pytest.raises(GenlabError, match="--resume"):
        genlab.train("dcgan", data, out=tmp_path / "parts", steps=30, **common)
    genlab.train("dcgan", data, out=tmp_path / "parts", steps=30, resume=True, **common)
    whole, whole_state = load_checkpoint(tmp_path / "whole", 30)
    parts, parts_state = load_checkpoint(tmp_path / "parts", 30)
    assert whole.keys() == parts.keys()
    assert any(k.startswith("optimizer/generator/") for k in whole)
    for key in whole:
        assert torch.equal(whole[key], parts[key]), key
    assert whole_state["optimizers"] == parts_state["optimizers"]
    assert [r["step"] for r in read_rows(tmp_path / "parts")] == [r["step"] for r in read_rows(tmp_path / "whole")]


def test_killed_and_resumed_cli_run_gives_the_same_checkpoints(tmp_path):
    """SIGKILL a real `genlab train` mid-run, resume it, compare with an uninterrupted run."""
    arguments = ["train", "vae", "--data", "mnist-5k", "--steps", "1500", "--checkpoint-every", "100",
                 "--set", "hidden_dims=[128]", "--sample-every", "0", "--eval-every", "500", "--quiet", "--seed", "3"]
    env = subprocess_env()
    interrupted = tmp_path / "interrupted"
    process = subprocess.Popen(genlab_command() + arguments + ["--out", str(interrupted)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and not (interrupted / "checkpoints" / "step-000300.json").exists():
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    killed_at = list_checkpoints(interrupted)[-1]
    assert 300 <= killed_at < 1500
    # --resume without a budget finishes the saved one (1500 steps); a budget would count from the checkpoint.
    finish = [argument for argument in arguments if argument not in ("--steps", "1500")]
    subprocess.run(genlab_command() + finish + ["--out", str(interrupted), "--resume"], env=env, check=True,
                   capture_output=True)
    whole = tmp_path / "whole"
    subprocess.run(genlab_command() + arguments + ["--out", str(whole)], env=env, check=True, capture_output=True)
    resumed_tensors, _ = load_checkpoint(interrupted, 1500)
    whole_tensors, _ = load_checkpoint(whole, 1500)
    for key in whole_tensors:
        assert torch.equal(resumed_tensors[key], whole_tensors[key]), key
    def without_timing(rows):
        return [{k: v for k, v in row.items() if k not in ("time", "images_per_second")} for row in rows]

    assert without_timing(read_rows(interrupted)) == without_timing(read_rows(whole))
    steps = [row["step"] for row in read_rows(interrupted)]
    assert steps == sorted(set(steps)) and steps[-1] == 1500


def test_sigterm_stops_cleanly_after_a_checkpoint_and_resume_finishes(tmp_path):
    run_dir = tmp_path / "run"
    arguments = ["train", "vae", "--steps", "100000", "--checkpoint-every", "100", "--sample-every", "0",
                 "--eval-every", "0", "--quiet", "--out", str(run_dir)]
    process = subprocess.Popen(genlab_command() + arguments, env=subprocess_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (run_dir / "checkpoints" / "step-000100.json").exists():
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert "stopped by SIGTERM" in stdout and "--resume" in stdout
    stopped_at = list_checkpoints(run_dir)[-1]
    # Usually the step after 100; exactly 100 when the signal lands between that checkpoint and the next step.
    assert stopped_at >= 100 and (run_dir / "model.safetensors").is_file()
    assert genlab.load_run(run_dir).step == stopped_at
    # With --resume, --steps counts from where the run stands: 20 more.
    resumed = subprocess.run(genlab_command() + arguments[:3] + ["20"] + arguments[4:] + ["--resume"],
                             env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert list_checkpoints(run_dir)[-1] == stopped_at + 20


def test_budgets_in_epochs_and_minutes(tmp_path):
    run = genlab.train("vae", {"name": "mnist-5k", "subset": 640}, out=tmp_path / "epochs", epochs=2,
                       config={"batch_size": 64}, progress=False, sample_every=0, eval_every=0)
    assert run.step == 20  # 640 / 64 = 10 steps per epoch
    run = genlab.train("vae", "mnist-5k", out=tmp_path / "minutes", minutes=0.02, progress=False,
                       sample_every=0, eval_every=0, log_every=1)
    # The budget counts training time only: training stops at the first step that ends past 1.2 s, so
    # every earlier step ended before it (one log row per step, with the training time so far).
    rows = [json.loads(line) for line in (tmp_path / "minutes" / "metrics.jsonl").read_text().splitlines()]
    assert run.step >= 2 and [row["step"] for row in rows] == list(range(1, run.step + 1))
    assert rows[-2]["time"] < 1.2 <= run.config["training_seconds"]


def test_divergence_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path):
    with pytest.raises(GenlabError, match="diverged") as error:
        genlab.train("vae", {"name": "mnist-5k", "subset": 1000}, out=tmp_path / "nan",
                     config={"lr": 1e12, "likelihood": "gaussian"}, steps=200, checkpoint_every=1,
                     keep_checkpoints=0, progress=False, sample_every=0, eval_every=0)
    assert "last good checkpoint" in str(error.value)
    steps = list_checkpoints(tmp_path / "nan")
    assert steps, "checkpoints written before the divergence are kept"
    tensors, _ = load_checkpoint(tmp_path / "nan", steps[-1])
    assert all(torch.isfinite(t.float()).all() for k, t in tensors.items() if k.startswith("model/"))


def test_model_data_mismatch_is_a_clear_error(tmp_path):
    with pytest.raises(GenlabError, match="points"):
        genlab.train("dcgan", "toy2d", out=tmp_path / "x", steps=1, progress=False)
    with pytest.raises(GenlabError, match="batch size 64 is more than the 10 training items.*--batch-size 10"):
        genlab.train("vae", {"name": "mnist-5k", "subset": 10}, out=tmp_path / "y", steps=1, progress=False, batch_size=64)


def test_running_values_read_tensors_once_per_interval_and_catch_any_nan():
    from genlab.train.trainer import RunningValues

    running = RunningValues()
    assert running.add({"loss": torch.tensor(2.0), "kl": 1.0}, step=1) == []
    assert running.first_unchecked == 1  # tensors wait on the device; floats were checked at once
    assert running.add({"loss": torch.tensor(float("nan")), "kl": 3.0}, step=2) == []
    assert running.add({"loss": torch.tensor(4.0), "kl": float("inf")}, step=3) == ["kl"]
    assert sorted(running.check()) == ["kl", "loss"]  # the NaN of step 2 shows in the interval's sum
    assert running.first_unchecked is None
    fresh = RunningValues()
    fresh.add({"loss": torch.tensor(2.0), "d": 1.0}, step=1)
    fresh.add({"loss": torch.tensor(4.0)}, step=2)
    assert fresh.means() == {"loss": 3.0, "d": 1.0}  # each name over the steps that reported it
    assert fresh.means() == {}
