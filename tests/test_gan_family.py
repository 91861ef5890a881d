"""The GAN family on real data: every variant trains without NaNs, conditional models draw the class they
are asked for, the losses and regularisers do what their papers say, EMA sampling survives save/load,
and the divergence guard stops a GAN that blows up."""

from __future__ import annotations

import math

import pytest
import torch

import genlab
from genlab.data.batches import Batcher
from genlab.errors import GenlabError
from genlab.metrics.modes import toy2d_modes
from genlab.models.gan import AdversarialModel
from genlab.models.gan_losses import CrossEntropyLoss, gradient_penalty
from genlab.models.registry import get_model_class, list_models
from genlab.train.checkpoint import list_checkpoints, load_checkpoint
from genlab.train.diagnostics import LabelClassifier, TrainingDiagnostics, mode_statistics
from genlab.train.updates import training_step

# The family is whatever the registry holds on AdversarialModel, so a new GAN file gets these tests too.
GANS = [name for name in list_models() if issubclass(get_model_class(name), AdversarialModel)]
KNOWN_GANS = {"gan", "cgan", "dcgan", "cdcgan", "acgan", "wgan", "wgan-gp", "sngan", "lsgan"}
POINT_GANS = [name for name in GANS if "points" in get_model_class(name).supported_data]
TOY_NETS = {"latent_dim": 4, "generator_hidden": [32, 32], "discriminator_hidden": [32, 32], "batch_size": 64}


def train_steps(model, dataset, steps: int, batch_size: int, diagnostics_every: int = 0) -> list[dict[str, float]]:
    model.setup_optimizers()
    model.attach_diagnostics(TrainingDiagnostics(diagnostics_every) if diagnostics_every else None)
    batcher = Batcher(dataset.train_x, dataset.train_y, batch_size, seed=0)
    return [training_step(model, batcher.batch(step), step) for step in range(steps)]


def test_registry_holds_the_whole_gan_family():
    assert KNOWN_GANS <= set(GANS)
    assert "vae" not in GANS and "aae" not in GANS  # hybrids with a discriminator are not AdversarialModels
    assert set(POINT_GANS) & KNOWN_GANS == {"gan", "cgan", "wgan", "wgan-gp", "sngan", "lsgan"}


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's 1,797 real 8x8 digits: small enough for 100 conv GAN steps in a second."""
    return genlab.load_dataset("digits")


@pytest.mark.parametrize("name", GANS)
def test_every_gan_trains_100_steps_on_digits_without_nans(name, digits):
    torch.manual_seed(0)
    model = genlab.create_model(name, data_shape=digits.shape, num_classes=10, **get_model_class(name).tiny_config)
    before = {key: value.clone() for key, value in model.generator.state_dict().items()}
    history = train_steps(model, digits, 100, 16, diagnostics_every=25)
    for values in history:
        assert all(math.isfinite(v) for v in values.values()), values
    critic_steps = model.config.critic_steps
    assert sum("loss_g" in values for values in history) == math.ceil(100 / critic_steps)
    assert sum("grad_norm/generator/total" in values for values in history) == 4
    assert any(not torch.equal(before[k], v) for k, v in model.generator.state_dict().items())
    labels = torch.arange(8) % 10 if model.conditional else None
    samples = model.sample(8, labels=labels, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (8, 1, 8, 8) and torch.isfinite(samples).all()


@pytest.mark.parametrize("name", POINT_GANS)
def test_point_gans_train_on_toy2d_with_a_linear_output(name):
    dataset = genlab.load_dataset("toy2d", layout="grid-25", n_train=2000, n_test=100)
    torch.manual_seed(0)
    model = genlab.create_model(name, data_shape=dataset.shape, num_classes=dataset.num_classes, **TOY_NETS)
    assert model.architecture == "mlp"
    assert not isinstance(list(model.generator.modules())[-1], torch.nn.Tanh)
    for values in train_steps(model, dataset, 100, 64):
        assert all(math.isfinite(v) for v in values.values()), values
    points = model.sample(500, generator=torch.Generator().manual_seed(0))
    assert points.shape == (500, 2) and torch.isfinite(points).all()


def test_configs_reject_what_the_networks_cannot_do():
    with pytest.raises(GenlabError, match="label_smoothing"):
        genlab.create_model("gan", label_smoothing=0.7)
    with pytest.raises(GenlabError, match="unknown config key 'label_smoothing'"):
        genlab.create_model("wgan", label_smoothing=0.1)  # a critic has no labels to smooth
    with pytest.raises(GenlabError, match="MLP discriminator"):
        genlab.create_model("gan", architecture="conv")  # the paper's dropout 0.3 is MLP-only
    with pytest.raises(GenlabError, match="architecture=mlp"):
        genlab.create_model("wgan-gp", data_shape=(2,), architecture="conv")
    with pytest.raises(GenlabError, match="labelled data"):
        genlab.create_model("cgan", data_shape=(2,), num_classes=0)
    with pytest.raises(GenlabError, match="ema_decay"):
        genlab.create_model("dcgan", ema_decay=1.0)
    assert genlab.create_model("gan", architecture="conv", discriminator_dropout=0.0).architecture == "conv"


def test_minimax_generator_loss_saturates_where_the_non_saturating_one_does_not():
    """When D rejects samples confidently (logit -8), log(1 - D) has almost no gradient; -log D has ~1."""
    def generator_gradient(kind: str) -> float:
        logits = torch.full((4,), -8.0, requires_grad=True)
        CrossEntropyLoss(kind).generator_loss(logits).backward()
        return logits.grad.abs().mean().item() * 4

    assert generator_gradient("minimax") < 1e-3
    assert generator_gradient("non-saturating") > 0.99


def test_one_sided_label_smoothing_moves_only_the_real_target():
    smoothed = CrossEntropyLoss(label_smoothing=0.1)
    logits = torch.zeros(3, requires_grad=True)
    best_real = torch.tensor(math.log(0.9 / 0.1))  # sigmoid(best_real) = 0.9: optimum for target 0.9
    real = best_real.repeat(3).requires_grad_(True)
    smoothed.discriminator_loss(real, logits).backward()
    assert real.grad.abs().max() < 1e-6
    assert logits.grad.allclose(torch.full((3,), 0.5 / 3))  # fake target stays 0: d/dl BCE(l, 0) = sigmoid(l)


def test_gradient_penalty_is_zero_for_a_unit_lipschitz_critic_and_one_for_slope_two():
    real, fake = torch.randn(64, 2), torch.randn(64, 2)
    direction = torch.tensor([0.6, 0.8])
    assert gradient_penalty(lambda x: x @ direction, real, fake).item() == pytest.approx(0.0, abs=1e-10)
    assert gradient_penalty(lambda x: x @ (2 * direction), real, fake).item() == pytest.approx(1.0, abs=1e-6)


def test_wgan_clips_the_critic_and_sngan_normalises_its_spectrum(mnist5k):
    torch.manual_seed(0)
    wgan = genlab.create_model("wgan", **get_model_class("wgan").tiny_config)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in wgan.discriminator.modules())  # the paper's DCGAN critic
    train_steps(wgan, mnist5k, 3, 16)
    assert max(p.abs().max().item() for p in wgan.discriminator.parameters()) <= 0.01
    assert isinstance(wgan.optimizers["discriminator"], torch.optim.RMSprop)

    sngan = genlab.create_model("sngan", **get_model_class("sngan").tiny_config)
    train_steps(sngan, mnist5k, 20, 16)
    layers = [m for m in sngan.discriminator.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert layers and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    for layer in layers:
        top_singular_value = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2).item()
        # The power-iteration estimate lags one step behind; the true value is within a few % of 1.
        assert 0.8 < top_singular_value < 1.1, top_singular_value


def test_critic_steps_update_the_generator_every_kth_step_only(mnist5k):
    torch.manual_seed(0)
    model = genlab.create_model("wgan-gp", **get_model_class("wgan-gp").tiny_config)
    assert model.config.critic_steps == 5
    model.setup_optimizers()
    batcher = Batcher(mnist5k.train_x, mnist5k.train_y, 16, seed=0)
    changed = []
    for step in range(11):
        before = [p.clone() for p in model.generator.parameters()]
        values = model.train_step(batcher.batch(step), step)
        changed.append(any(not torch.equal(b, p) for b, p in zip(before, model.generator.parameters())))
        assert ("loss_g" in values) == changed[-1]
    assert changed == [step % 5 == 0 for step in range(11)]


def test_nearest_upsampling_generator_has_no_strided_transposed_convs():
    model = genlab.create_model("dcgan", data_shape=(3, 32, 32), generator_upsampling="nearest",
                                **get_model_class("dcgan").tiny_config)
    transposed = [m for m in model.generator.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(transposed) == 1 and transposed[0].stride == (1, 1)  # only the 1x1 -> 4x4 projection of z
    assert sum(isinstance(m, torch.nn.Upsample) for m in model.generator.modules()) == 3
    assert model.sample(2, generator=torch.Generator().manual_seed(0)).shape == (2, 3, 32, 32)


def test_ema_generator_is_used_for_sampling_and_survives_save_and_load(tmp_path):
    config = {**get_model_class("dcgan").tiny_config, "ema_decay": 0.99}
    run = genlab.train("dcgan", {"name": "mnist-5k", "subset": 512, "test_subset": 64}, out=tmp_path / "ema",
                       config=config, steps=30, progress=False, sample_every=0, checkpoint_every=0, eval_every=0)
    model = run.model
    assert model.generator_ema is not None and model.sampling_network is model.generator_ema
    assert not any(p.requires_grad for p in model.generator_ema.parameters())
    averaged = dict(model.generator_ema.named_parameters())
    assert any(not torch.equal(p, averaged[k]) for k, p in model.generator.named_parameters())
    z = torch.randn(4, model.latent_dim, generator=torch.Generator().manual_seed(0))
    model.eval()
    assert torch.equal(model.decode(z), (model.generator_ema(z) + 1) / 2)
    loaded = genlab.load_run(tmp_path / "ema")
    assert torch.equal(loaded.sample(8, seed=1), run.sample(8, seed=1))
    assert torch.equal(loaded.model.generator_ema.state_dict()["net.0.weight"], averaged["net.0.weight"])


def test_conditional_gans_draw_the_requested_digit_well_above_chance(digits):
    """cgan, cdcgan and acgan on the 8x8 digits: a classifier fitted on the real digits (~96 % on their
    test split) reads the requested class from the samples far more often than the 10 % of chance."""
    classifier = LabelClassifier.fit(digits.train_x, digits.train_y, 10)
    assert classifier.accuracy(digits.test_x, digits.test_y) > 0.9
    conv = {"latent_dim": 16, "generator_features": 16, "discriminator_features": 16, "batch_size": 64, "lr": 1e-3}
    settings = {  # Measured accuracies: cgan ~0.8 after 800 steps, cdcgan ~0.9 and acgan ~0.98 after 200.
        "cgan": ({"latent_dim": 8, "generator_hidden": [128, 128], "discriminator_hidden": [128, 128], "batch_size": 64,
                  "lr": 2e-3}, 800),
        "cdcgan": (conv, 200),
        "acgan": (conv, 200),
    }
    requested = torch.arange(500) % 10
    for name, (config, steps) in settings.items():
        torch.manual_seed(0)
        model = genlab.create_model(name, data_shape=digits.shape, num_classes=10, **config)
        train_steps(model, digits, steps, config["batch_size"])
        samples = model.sample(500, labels=requested, generator=torch.Generator().manual_seed(0))
        accuracy = (classifier.predict(samples) == requested).float().mean().item()
        assert accuracy > 0.4, (name, accuracy)


def test_a_gan_resolves_grid_modes_and_the_logged_coverage_shows_it(tmp_path):
    """toy2d grid-25 end to end (standardised points, linear output, samples in data units, the trainer's
    mode-coverage signal): one seed and a 4,000-step budget. Measured: 0, 0, 4, 12 modes covered at steps
    1k-4k, 44 % high-quality samples. (Without the paper's dropout 0.3 in D: the comparison with wgan-gp is
    the test below, at each model's defaults.)"""
    config = {"latent_dim": 2, "generator_hidden": [64] * 3, "discriminator_hidden": [64] * 3, "batch_size": 256,
              "discriminator_dropout": 0.0, "lr": 1e-3, "generator_loss": "minimax"}
    run = genlab.train("gan", {"name": "toy2d", "options": {"layout": "grid-25"}}, out=tmp_path / "grid", config=config,
                       steps=4000, eval_every=1000, log_every=1000, sample_every=0, checkpoint_every=0, progress=False)
    coverage = [(row["modes_covered"], row["high_quality_fraction"]) for row in run.metrics() if "modes_covered" in row]
    assert len(coverage) == 4
    assert coverage[0][0] <= 1 and coverage[-1][0] >= 6 and coverage[-1][1] > 0.25, coverage
    dataset = genlab.load_dataset("toy2d", layout="grid-25")
    points = run.sample(2000, seed=0)
    assert points.abs().max() < 8  # in the data's units (the grid spans +-4), not the standardised ones
    assert mode_statistics(points, dataset.info["modes"], dataset.info["std"])["modes_covered"] >= 6


# What the two GANs share in the comparison: the 2-D toy code's networks scaled down (3 hidden layers of 64,
# not 512; 2-D noise; batch 256), a learning rate for a short budget and a moving average of G for sampling.
GRID_COMPARISON = {"latent_dim": 2, "generator_hidden": [64] * 3, "discriminator_hidden": [64] * 3, "batch_size": 256,
                   "lr": 1e-3, "ema_decay": 0.99}


def grid_modes_covered(name: str, config: dict, seed: int, steps: int, out) -> int:
    """Modes of toy2d grid-25 covered by 2,000 samples after `steps` trainer steps (the `modes` metric's rule)."""
    data = {"name": "toy2d", "seed": seed, "options": {"layout": "grid-25"}}
    run = genlab.train(name, data, out=out, config=config, steps=steps, seed=seed, progress=False,
                       sample_every=0, checkpoint_every=0, eval_every=0)
    dataset = genlab.load_dataset("toy2d", seed=seed, layout="grid-25")
    return toy2d_modes(run.sample(2000, seed=seed), dataset.info["modes"], dataset.info["std"])["modes_covered"]


def test_wgan_gp_covers_more_grid_modes_than_the_minimax_gan_on_the_same_budget(tmp_path):
    """toy2d grid-25, one seed, 3,000 trainer steps each (wgan-gp: 3,000 critic and 600 generator updates),
    the same networks, batch, learning rate and generator average; otherwise each model's defaults: `gan`
    with the minimax loss and Goodfellow et al.'s dropout 0.3 in D, wgan-gp with its authors' toy-task
    penalty 0.1 and beta1 0.5. Measured over seeds 0/1/2: wgan-gp 4/5/2 modes (~13 CPU-s), gan 1/0/0
    (~21 CPU-s; its D(x) and D(G(z)) stay near 0.5 and its samples drift over the grid). wgan-gp with the
    image defaults (penalty 10, beta1 0) covers 0/0/0. What holds `gan` back here is its dropout, not the
    minimax loss: without dropout it covers 9/16/12 at this budget (and the test above)."""
    points = genlab.create_model("wgan-gp", data_shape=(2,), num_classes=0).config
    images = genlab.create_model("wgan-gp", data_shape=(1, 28, 28), num_classes=0).config
    assert (points.gradient_penalty, points.beta1) == (0.1, 0.5)  # gan_toy.py's LAMBDA and beta1
    assert (images.gradient_penalty, images.beta1) == (10.0, 0.0)  # the paper's Algorithm 1
    assert genlab.create_model("wgan-gp", data_shape=(2,), gradient_penalty=10.0).config.gradient_penalty == 10.0

    wgan_gp = grid_modes_covered("wgan-gp", GRID_COMPARISON, seed=0, steps=3000, out=tmp_path / "wgan-gp")
    gan = grid_modes_covered("gan", {**GRID_COMPARISON, "generator_loss": "minimax"}, seed=0, steps=3000,
                             out=tmp_path / "gan")
    assert wgan_gp >= gan + 2, (wgan_gp, gan)  # measured 4 vs 1 for this seed


def test_a_diverging_gan_stops_with_a_message_and_keeps_a_finite_checkpoint(tmp_path):
    with pytest.raises(GenlabError, match="diverged") as error:
        # Measured: finite until step 50, then the discriminator's gradients overflow.
        genlab.train("gan", {"name": "toy2d", "options": {"n_train": 2000, "n_test": 100}}, out=tmp_path / "nan",
                     config={**TOY_NETS, "lr": 1.5e5}, steps=300, checkpoint_every=1,
                     keep_checkpoints=0, progress=False, sample_every=0, eval_every=0)
    assert "last good checkpoint" in str(error.value)
    steps = list_checkpoints(tmp_path / "nan")
    assert steps, "checkpoints written before the divergence are kept"
    tensors, _ = load_checkpoint(tmp_path / "nan", steps[-1])
    assert all(torch.isfinite(t.float()).all() for k, t in tensors.items() if k.startswith("model/"))
    assert steps[-1] < 299
