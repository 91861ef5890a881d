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
    # Detached 0-d tensors, never Python floats: the trainer reads them from the device once per logging
    # interval, so a step needs no host sync (base.py); a tensor still attached to the graph would keep
    # the step's activations alive.
    floats = [key for key, value in values.items() if not isinstance(value, torch.Tensor)]
    assert values and not floats, f"{name}: train_step returned Python numbers for {floats}"
    assert all(v.dim() == 0 and not v.requires_grad for v in values.values()), values
    assert all(math.isfinite(float(v)) for v in values.values()), values
    if model.fitted:
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
    assert loaded.step == (FITTED_STEP if model_class.fitted else 3)
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


# --- declared capabilities against behaviour (registry-driven: a new model is checked by registering it) ---
CAPABILITIES = ("fitted", "has_latent", "has_encoder", "has_likelihood", "exact_likelihood")


def ready_model(name: str, dataset, items: int = 64):
    """A tiny model in evaluation mode; a fitted one is fitted on `items` training images first."""
    torch.manual_seed(0)
    model = tiny_model(name, dataset)
    if model.fitted:
        model.fit(dataset.train_x[:items], dataset.train_y[:items])
    return model.eval()


def test_every_capability_is_declared_on_the_class_as_a_boolean():
    for name in MODEL_NAMES:
        model_class = get_model_class(name)
        assert all(isinstance(getattr(model_class, key), bool) for key in CAPABILITIES), name
        assert not model_class.has_encoder or model_class.has_latent, f"{name}: an encoder without a latent space"
        assert not model_class.exact_likelihood or model_class.has_likelihood, f"{name}: exact but no likelihood"


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_decode_and_encode_match_the_declared_latent_space(name, mnist5k):
    model = ready_model(name, mnist5k)
    labels = torch.arange(5) % mnist5k.num_classes if model.conditional else None
    images = mnist5k.test_x[:5].float() / 255
    if not model.has_latent:
        with pytest.raises(NotImplementedError):
            model.decode(torch.zeros(5, max(model.latent_dim, 1)), labels)
    else:
        assert model.latent_dim > 0, f"{name} declares a latent space of no dimensions"
        with torch.no_grad():
            decoded = model.decode(model.sample_latent(5, torch.Generator().manual_seed(0)), labels)
        assert decoded.shape == (5, *mnist5k.shape) and decoded.min() >= 0 and decoded.max() <= 1, name
    if not model.has_encoder:
        with pytest.raises(NotImplementedError):
            model.encode(images, labels)
        return
    with torch.no_grad():
        codes = model.encode(images, labels)
        reconstructions = model.reconstruct(images, labels)
    assert codes.shape == (5, model.latent_dim), f"{name}: codes {tuple(codes.shape)} for latent_dim {model.latent_dim}"
    assert reconstructions.shape == images.shape and torch.isfinite(reconstructions).all()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_log_likelihood_matches_the_declared_kind_and_binary_requirement(name, mnist5k):
    from genlab.metrics.likelihood import model_likelihood

    model = ready_model(name, mnist5k)
    if not model.has_likelihood:
        assert not callable(getattr(model, "log_likelihood", None)), f"{name} has log_likelihood but does not declare it"
        return
    grey = mnist5k.test_x[:8].float() / 255
    labels = mnist5k.test_y[:8]
    arguments = {"k": 2, "generator": torch.Generator().manual_seed(0)}
    if model.conditional:
        arguments["labels"] = labels
    if model.needs_binary:
        # Grey levels are refused in one line; the metric scores a binarised copy instead.
        with pytest.raises(GenlabError, match="binar"):
            model.log_likelihood(grey, **arguments)
    else:
        model.log_likelihood(grey, **arguments)
    result = model_likelihood(model, grey, labels, k=2)
    assert result["binarized"] == model.needs_binary
    assert math.isfinite(result["nll_nats"]) and result["nll_nats"] > 0
    assert result["exact"] == model.exact_likelihood, f"{name}: the estimate's kind differs from the declared one"


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_validation_metrics_are_finite_numbers(name, mnist5k):
    model = ready_model(name, mnist5k)
    from genlab.data.batches import Batch

    values = model.validation_metrics(Batch(mnist5k.test_x[:16].float() / 255, mnist5k.test_y[:16]))
    assert all(math.isfinite(float(value)) for value in values.values()), values


POINT_MODELS = [name for name in MODEL_NAMES if "points" in get_model_class(name).supported_data]


def test_some_models_declare_points():
    assert {"vae", "gan"} <= set(POINT_MODELS)


@pytest.mark.parametrize("name", POINT_MODELS)
def test_models_that_declare_points_train_and_sample_points(name):
    from genlab.data.batches import Batch

    dataset = genlab.load_dataset("toy2d", n_train=256, n_test=64)
    torch.manual_seed(0)
    model = tiny_model(name, dataset)
    model.setup_optimizers()
    batch = Batch(dataset.train_x[:32], dataset.train_y[:32])
    for step in range(2):
        values = model.train_step(batch, step)
        assert all(math.isfinite(float(v)) for v in values.values()), values
    labels = torch.arange(16) % dataset.num_classes if model.conditional else None
    points = model.sample(16, labels=labels, generator=torch.Generator().manual_seed(0))
    assert points.shape == (16, 2) and torch.isfinite(points).all()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(name, tmp_path):
    config = get_model_class(name).tiny_config
    options = {"data": {"name": "mnist-5k", "subset": 128, "test_subset": 32}, "config": config, "progress": False,
               "sample_every": 0, "eval_every": 0, "log_every": 1, "sample_diagnostics": False}
    straight = genlab.train(name, out=tmp_path / "straight", steps=4, checkpoint_every=0, **options)
    genlab.train(name, out=tmp_path / "resumed", steps=2, checkpoint_every=2, **options)
    resumed = genlab.train(name, out=tmp_path / "resumed", steps=4, resume=True, checkpoint_every=2, **options)
    if resumed.model.fitted:
        assert resumed.summary.get("nothing_to_train"), name  # fitted once; a resume has nothing to add
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), f"{name}: {key} differs after resuming"
