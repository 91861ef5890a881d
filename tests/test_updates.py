"""The trainer's optimisation step for every model: gradient clipping, the fp16 loss scaler, the moving average."""

from __future__ import annotations

import pytest
import torch

import genlab
from genlab.data.batches import Batcher
from genlab.errors import GenlabError
from genlab.models.registry import get_model_class
from genlab.train.updates import TrainerUpdates, training_step

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits():
    return genlab.load_dataset("digits")


def tiny(name: str, dataset, **overrides):
    torch.manual_seed(0)
    model = genlab.create_model(name, data_shape=dataset.shape, num_classes=dataset.num_classes,
                                **{**get_model_class(name).tiny_config, **overrides})
    model.setup_optimizers()
    return model


def gradient_norms(model) -> dict[str, float]:
    """The total gradient norm of each optimizer's parameters, as they were when it stepped."""
    norms = {}
    for name, optimizer in model.optimizers.items():
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        norms[name] = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))
    return norms


@pytest.mark.parametrize("name", ["vae", "gan"])
def test_clipping_bounds_each_optimizers_gradient_norm(name, digits):
    batch = Batcher(digits.train_x, digits.train_y, 16, seed=0).batch(0)
    unclipped = tiny(name, digits)
    unclipped.train_step(batch, 0)
    raw = gradient_norms(unclipped)
    limit = 1e-3
    assert min(raw.values()) > 10 * limit, raw  # so that the clipped run below has something to clip
    clipped = tiny(name, digits)
    clipped.updates = TrainerUpdates(CPU, clip_grad_norm=limit)
    clipped.train_step(batch, 0)
    norms = gradient_norms(clipped)
    assert set(norms) == set(raw) == ({"adam"} if name == "vae" else {"discriminator", "generator"})
    assert all(norm == pytest.approx(limit, rel=1e-4) for norm in norms.values()), norms


def test_the_fp16_scaler_is_a_no_op_off_cuda(digits):
    """The scaler path always runs; off CUDA it is disabled and the updates are bit for bit the plain ones."""
    batcher = Batcher(digits.train_x, digits.train_y, 16, seed=0)
    plain, scaled = tiny("vae", digits), tiny("vae", digits)
    updates = TrainerUpdates(CPU, fp16=True)
    assert not updates.scaler.is_enabled()
    scaled.updates = updates
    for step in range(3):
        torch.manual_seed(step)
        training_step(plain, batcher.batch(step), step)
        torch.manual_seed(step)
        training_step(scaled, batcher.batch(step), step, updates)
    for key, value in plain.state_dict().items():
        assert torch.equal(value, scaled.state_dict()[key]), key


def test_fp16_asks_for_a_cuda_gpu(tmp_path):
    with pytest.raises(GenlabError, match="fp16 needs a CUDA GPU"):
        genlab.train("vae", "digits", out=tmp_path / "run", config=get_model_class("vae").tiny_config, steps=1,
                     device="cpu", precision="fp16", progress=False)


def test_a_vae_keeps_a_moving_average_that_sampling_uses_and_a_run_saves(digits, tmp_path):
    # By hand: the average follows decay_s = min(0.9, (1 + s) / (10 + s)) after step s, from the initial weights.
    model = tiny("vae", digits)
    model.attach_moving_average()
    assert {"encoder_ema", "decoder_ema"} <= set(dict(model.named_children()))
    expected = {k: v.detach().clone() for k, v in model.decoder.named_parameters()}
    batcher = Batcher(digits.train_x, digits.train_y, 16, seed=0)
    for step in range(4):
        training_step(model, batcher.batch(step), step, ema_decay=0.9)
        decay = min(0.9, (1 + step) / (10 + step))
        for key, value in model.decoder.named_parameters():
            expected[key] = decay * expected[key] + (1 - decay) * value.detach()
    for key, value in model.decoder_ema.named_parameters():
        assert torch.allclose(value, expected[key], atol=1e-6), key
        assert not torch.equal(value, dict(model.decoder.named_parameters())[key])
    z = torch.randn(3, model.latent_dim)
    model.eval()  # evaluation passes use the average, training passes the live weights
    assert torch.equal(model.decode(z), torch.sigmoid(model.decoder_ema(z).view(3, *digits.shape)))
    model.train()
    assert torch.equal(model.decoder_logits(z), model.decoder(z).view(3, *digits.shape))

    # Through the trainer option: saved with the weights, and a loaded run samples from the same average.
    run = genlab.train("vae", "digits", out=tmp_path / "ema", config=get_model_class("vae").tiny_config, steps=5,
                       ema_decay=0.9, progress=False, sample_every=0, checkpoint_every=0, eval_every=0)
    assert run.model.has_moving_average
    loaded = genlab.load_run(tmp_path / "ema")
    assert torch.equal(loaded.model.decoder_ema.state_dict()["0.weight"], run.model.decoder_ema.state_dict()["0.weight"])
    assert torch.equal(loaded.sample(4, seed=1), run.sample(4, seed=1))
