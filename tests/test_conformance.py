"""One conformance suite over the whole model registry: a new model is tested by registering it."""

from __future__ import annotations

import math

import pytest
import torch

import genlab
from genlab.data.batches import Batcher
from genlab.errors import GenlabError
from genlab.models.registry import get_model_class, list_models
from genlab.train.trainer import FITTED_STEP

MODEL_NAMES = list_models()


def tiny_model(name: str, dataset):
    model_class = get_model_class(name)
    return genlab.create_model(name, data_shape=dataset.shape, num_classes=dataset.num_classes, **model_class.tiny_config)


def test_registry_has_the_foundation_models():
    assert {"vae", "dcgan"} <= set(MODEL_NAMES)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_builds_trains_one_step_with_finite_losses_and_gradients(name, mnist5k):
    torch.manual_seed(0)
    model = tiny_model(name, mnist5k)
    model.setup_optimizers()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    estimates_before = {k: v.clone() for k, v in model.state_dict().items()}
    batcher = Batcher(mnist5k.train_x, mnist5k.train_y, getattr(model.config, "batch_size", 16), seed=0)
    values = model.train_step(batcher.batch(0), 0)
    # Floats, or detached 0-d tensors (read by the trainer once per logging interval; a tensor still
    # attached to the graph would keep the step's activations alive).
    assert values and all(isinstance(v, float) or (isinstance(v, torch.Tensor) and v.dim() == 0 and not v.requires_grad)
                          for v in values.values()), values
    assert all(math.isfinite(float(v)) for v in values.values()), values
    if getattr(model, "fitted", False):
        # Fitted baselines have no gradients: their step fits the batch, which must change finite estimates.
        estimates = model.state_dict()
        assert all(torch.isfinite(v).all() for v in estimates.values() if v.is_floating_point()), name
        assert any(not torch.equal(v, estimates_before[k]) for k, v in estimates.items()), f"{name}: fitting changed nothing"
        return
    trained = [(k, p) for k, p in model.named_parameters() if p.requires_grad]
    assert trained
    for parameter_name, parameter in trained:
        assert parameter.grad is not None, f"{name}: no gradient reached {parameter_name}"
        assert torch.isfinite(parameter.grad).all(), f"{name}: non-finite gradient in {parameter_name}"
    changed = [k for k, p in model.named_parameters() if not torch.equal(p.detach(), before[k])]
    assert changed, f"{name}: one train step changed no parameter"


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_samples_have_the_data_shape_and_range(name, mnist5k):
    model = tiny_model(name, mnist5k)
    labels = torch.arange(6) % mnist5k.num_classes if model.conditional else None
    samples = model.sample(6, labels=labels, generator=torch.Generator().manual_seed(1))
    assert samples.shape == (6, *mnist5k.shape)
    assert samples.dtype == torch.float32
    assert samples.min() >= 0 and samples.max() <= 1
    again = model.sample(6, labels=labels, generator=torch.Generator().manual_seed(1))
    assert torch.equal(samples, again), "the same generator seed must give the same samples"


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_save_load_round_trip_gives_identical_samples(name, tmp_path):
    model_class = get_model_class(name)
    run = genlab.train(
        name, data={"name": "mnist-5k", "subset": 256, "test_subset": 64}, out=tmp_path / name,
        config=model_class.tiny_config, steps=3, progress=False, sample_every=0, checkpoint_every=0, eval_every=0,
    )
    loaded = genlab.load_run(tmp_path / name)
    assert type(loaded.model) is type(run.model)
    # A fitted model is fitted once on the training split (the trainer's FITTED_STEP), whatever the budget.
    assert loaded.step == (FITTED_STEP if getattr(model_class, "fitted", False) else 3)
    for key, value in run.model.state_dict().items():
        assert torch.equal(value, loaded.model.state_dict()[key]), key
    assert torch.equal(run.sample(8, seed=3), loaded.sample(8, seed=3))
    assert not torch.equal(loaded.sample(8, seed=3), loaded.sample(8, seed=4))


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("shape", [(1, 32, 32), (3, 32, 32), (3, 64, 64)])
def test_models_take_28_32_64_pixel_images_with_1_or_3_channels(name, shape):
    torch.manual_seed(0)
    model_class = get_model_class(name)
    if not model_class.supports_shape(shape):
        # A model that declares it cannot take this shape must refuse it in one clear line.
        with pytest.raises(GenlabError, match="channel"):
            genlab.create_model(name, data_shape=shape, num_classes=10, **model_class.tiny_config)
        return
    model = genlab.create_model(name, data_shape=shape, num_classes=10, **model_class.tiny_config)
    model.setup_optimizers()
    from genlab.data.batches import Batch

    batch = Batch(torch.rand(4, *shape), torch.arange(4))
    values = model.train_step(batch, 0)
    assert all(math.isfinite(v) for v in values.values())
    labels = torch.arange(3) if model.conditional else None
    assert model.sample(3, labels=labels, generator=torch.Generator().manual_seed(0)).shape == (3, *shape)
