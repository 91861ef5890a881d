"""bf16 autocast and the channels-last layout: faster steps that train the same model."""

from __future__ import annotations

import json
import math

import pytest
import torch

import genlab
from genlab.config import read_yaml
from genlab.data import Batcher
from genlab.errors import GenlabError
from genlab.models.registry import get_model_class, list_models
from genlab.train import accel

needs_bf16 = pytest.mark.skipif(not accel.native_bf16(torch.device("cpu")), reason="this CPU has no native bfloat16")


def _losses(run) -> list[float]:
    rows = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    return [row["loss"] for row in rows if "loss" in row]


def _train_vae(tmp_path, precision: str):
    return genlab.train("vae", "mnist-5k", out=tmp_path / precision, steps=200, precision=precision, log_every=50,
                        eval_every=200, sample_every=0, checkpoint_every=0, progress=False, sample_diagnostics=False)


@needs_bf16
def test_bf16_vae_trains_to_the_fp32_loss(tmp_path, isolated_env):
    fp32, bf16 = _train_vae(tmp_path, "fp32"), _train_vae(tmp_path, "bf16")
    fp32_losses, bf16_losses = _losses(fp32), _losses(bf16)
    # Autocast really ran in bf16 (the numbers differ from fp32) ...
    assert fp32_losses != bf16_losses
    # ... and trained as far: the loss (mean over 50 steps) fell from ~270 nats to ~157 in both,
    # within 2% of each other.
    assert bf16_losses[-1] < 0.65 * bf16_losses[0]
    assert abs(bf16_losses[-1] - fp32_losses[-1]) / fp32_losses[-1] < 0.02
    fp32_elbo = json.loads((fp32.path / "metrics.jsonl").read_text().splitlines()[-1])["val/elbo"]
    bf16_elbo = json.loads((bf16.path / "metrics.jsonl").read_text().splitlines()[-1])["val/elbo"]
    assert abs(bf16_elbo - fp32_elbo) / abs(fp32_elbo) < 0.02
    assert read_yaml(bf16.path / "config.yaml")["train"]["precision"] == "bf16"
    # Weights and optimizer state stay float32: only the step's arithmetic is bf16.
    assert all(tensor.dtype == torch.float32 for tensor in bf16.model.state_dict().values() if tensor.is_floating_point())


def test_bf16_is_refused_where_it_would_be_emulated(monkeypatch, tmp_path, isolated_env):
    monkeypatch.setattr(accel, "native_bf16", lambda device: False)
    with pytest.raises(GenlabError, match="native bfloat16.*--precision fp32"):
        genlab.train("vae", "digits", out=tmp_path / "run", steps=2, precision="bf16", progress=False)


def test_channels_last_computes_the_same_step(isolated_env):
    dataset = genlab.load_dataset("mnist-5k", subset=256, channels=3)
    results = {}
    for channels_last in (False, True):
        torch.manual_seed(0)
        model = genlab.create_model("dcgan", data_shape=dataset.shape, num_classes=10, batch_size=16,
                                    generator_features=8, discriminator_features=8)
        accel.prepare_model(model, channels_last)
        model.setup_optimizers()
        model.train()
        batcher = Batcher(dataset.train_x, dataset.train_y, 16, memory_format=accel.memory_format(channels_last))
        batch = batcher.batch(0)
        assert batch.x.is_contiguous(memory_format=torch.channels_last) == channels_last
        convs = [m.weight for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
        assert convs and all(w.is_contiguous(memory_format=torch.channels_last) == channels_last for w in convs)
        torch.manual_seed(1)
        values = [{k: float(v) for k, v in model.train_step(batcher.batch(step), step).items()} for step in range(3)]
        results[channels_last] = (values, {k: v.clone() for k, v in model.state_dict().items()})
    (plain_values, plain_state), (nhwc_values, nhwc_state) = results[False], results[True]
    for plain, nhwc in zip(plain_values, nhwc_values):
        for key in plain:
            assert nhwc[key] == pytest.approx(plain[key], rel=1e-4, abs=1e-5)
    for key in plain_state:
        torch.testing.assert_close(nhwc_state[key], plain_state[key], rtol=1e-4, atol=1e-5)


def test_channels_last_run_saves_and_reloads(tmp_path, isolated_env):
    run = genlab.train("dcgan", "digits", out=tmp_path / "nhwc", steps=3, channels_last=True, progress=False,
                       config={"batch_size": 16, "generator_features": 8, "discriminator_features": 8},
                       sample_every=0, eval_every=0)
    reloaded = genlab.load_run(run.path)
    generator = torch.Generator().manual_seed(3)
    expected = run.model.sample(4, generator=generator)
    torch.testing.assert_close(reloaded.model.sample(4, generator=torch.Generator().manual_seed(3)), expected)


TRAINABLE_MODELS = [name for name in list_models() if not get_model_class(name).fitted]


@needs_bf16
@pytest.mark.parametrize("name", TRAINABLE_MODELS)
def test_every_model_steps_under_bf16_and_channels_last(name, mnist5k):
    """--precision bf16 --channels-last works for every model: finite values, float32 weights and statistics."""
    torch.manual_seed(0)
    model = genlab.create_model(name, data_shape=mnist5k.shape, num_classes=mnist5k.num_classes,
                                **get_model_class(name).tiny_config)
    model.train()
    accel.prepare_model(model, True)
    model.setup_optimizers()
    batcher = Batcher(mnist5k.train_x, mnist5k.train_y, model.config.batch_size, memory_format=accel.memory_format(True))
    with accel.autocast("bf16", torch.device("cpu")):
        values = [model.train_step(batcher.batch(step), step) for step in range(2)]
    assert all(math.isfinite(float(value)) for step_values in values for value in step_values.values()), values
    assert all(tensor.dtype == torch.float32 for tensor in model.state_dict().values() if tensor.is_floating_point())
