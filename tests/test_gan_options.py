"""The GAN family's architecture options (activations, batch norm, depth, upsampling): each builds the network
it names, trains on real digits, is refused with a one-line error when misspelt or meaningless, and is
recorded in the run's config.yaml; and the run-level gradient-norm summary studies read (claim C36)."""

from __future__ import annotations

import pytest
import torch
import yaml
from torch import nn

import genlab
from genlab.data.batches import Batcher
from genlab.errors import GenlabError
from genlab.models.registry import get_model_class
from genlab.train.diagnostics import TrainingDiagnostics, gradient_norm_summary, read_gradient_norm_summary

TINY = get_model_class("dcgan").tiny_config


def layers_of(module: nn.Module, kind: type[nn.Module]) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, kind)]


def train_a_few_steps(model, dataset, steps: int = 6, diagnostics_every: int = 0) -> list[dict[str, float]]:
    model.setup_optimizers()
    model.attach_diagnostics(TrainingDiagnostics(diagnostics_every) if diagnostics_every else None)
    batcher = Batcher(dataset.train_x, dataset.train_y, model.config.batch_size, seed=0)
    return [{k: float(v) for k, v in model.train_step(batcher.batch(step), step).items()} for step in range(steps)]


def test_defaults_build_the_papers_networks():
    model = genlab.create_model("dcgan", data_shape=(1, 28, 28), **TINY)
    config = model.config
    assert (config.generator_activation, config.discriminator_activation) == ("relu", "leaky_relu")
    assert config.conv_generator_batch_norm and config.generator_extra_layers == config.discriminator_extra_layers == 0
    # 28 = 7 * 2^2: the z projection and one upsampling carry BN + ReLU, then the tanh output layer.
    assert len(layers_of(model.generator, nn.BatchNorm2d)) == 2 and len(layers_of(model.generator, nn.ReLU)) == 2
    assert len(layers_of(model.discriminator, nn.LeakyReLU)) == 2 and not layers_of(model.discriminator, nn.ReLU)


@pytest.mark.parametrize("name, kind", [("relu", nn.ReLU), ("leaky_relu", nn.LeakyReLU), ("elu", nn.ELU)])
def test_generator_activation_replaces_every_hidden_activation(name, kind):
    conv = genlab.create_model("dcgan", data_shape=(1, 28, 28), generator_activation=name, **TINY)
    hidden = [m for m in conv.generator.modules() if isinstance(m, (nn.ReLU, nn.LeakyReLU, nn.ELU))]
    assert len(hidden) == 2 and all(type(m) is kind for m in hidden)
    assert isinstance(list(conv.generator.modules())[-1], nn.Tanh)  # the output keeps tanh
    mlp = genlab.create_model("gan", data_shape=(1, 28, 28), generator_activation=name,
                              **get_model_class("gan").tiny_config)
    assert [type(m) for m in mlp.generator.modules() if isinstance(m, (nn.ReLU, nn.LeakyReLU, nn.ELU))] == [kind]


def test_discriminator_activation_relu_on_conv_and_mlp():
    conv = genlab.create_model("wgan-gp", data_shape=(1, 28, 28), discriminator_activation="relu", **TINY)
    assert len(layers_of(conv.discriminator, nn.ReLU)) == 2 and not layers_of(conv.discriminator, nn.LeakyReLU)
    mlp = genlab.create_model("gan", data_shape=(1, 28, 28), discriminator_activation="relu",
                              **get_model_class("gan").tiny_config)
    assert len(layers_of(mlp.discriminator, nn.ReLU)) == 1 and not layers_of(mlp.discriminator, nn.LeakyReLU)


def test_batch_norm_can_be_switched_off_in_the_conv_generator_and_on_in_a_critic():
    model = genlab.create_model("wgan-gp", data_shape=(1, 28, 28), conv_generator_batch_norm=False,
                                discriminator_batch_norm=True, **TINY)
    assert not layers_of(model.generator, nn.BatchNorm2d)
    # Without batch norm the hidden convs carry biases (the output conv has none, as in DCGAN).
    convs = layers_of(model.generator, nn.ConvTranspose2d)
    assert [c.bias is not None for c in convs] == [True, True, False]
    assert len(layers_of(model.discriminator, nn.BatchNorm2d)) == 1
    assert not layers_of(genlab.create_model("wgan-gp", data_shape=(1, 28, 28), **TINY).discriminator, nn.BatchNorm2d)


@pytest.mark.parametrize("upsampling", ["transposed", "nearest"])
def test_extra_layers_deepen_both_conv_networks(upsampling):
    model = genlab.create_model("dcgan", data_shape=(1, 28, 28), generator_extra_layers=2, discriminator_extra_layers=3,
                                generator_upsampling=upsampling, **TINY)
    same_size = [c for c in layers_of(model.generator, nn.Conv2d) if c.kernel_size == (3, 3) and c.in_channels == c.out_channels]
    assert len(same_size) == 2 and all(c.stride == (1, 1) for c in same_size)
    critic_convs = layers_of(model.discriminator, nn.Conv2d)
    assert sum(c.kernel_size == (3, 3) for c in critic_convs) == 3 and len(critic_convs) == 3 + 3
    plain = genlab.create_model("dcgan", data_shape=(1, 28, 28), generator_upsampling=upsampling, **TINY)
    assert sum(p.numel() for p in model.parameters()) > sum(p.numel() for p in plain.parameters())
    images = model.sample(4, generator=torch.Generator().manual_seed(0))
    assert images.shape == (4, 1, 28, 28) and 0 <= images.min() and images.max() <= 1
    assert model.score(images * 2 - 1, None).shape == (4,)


@pytest.mark.parametrize("name, options", [
    ("dcgan", {"generator_upsampling": "nearest", "generator_activation": "elu", "conv_generator_batch_norm": False,
               "discriminator_activation": "relu", "discriminator_batch_norm": False, "generator_extra_layers": 1,
               "discriminator_extra_layers": 1}),
    ("wgan-gp", {"generator_activation": "leaky_relu", "discriminator_batch_norm": True, "generator_extra_layers": 1}),
    ("gan", {"generator_activation": "elu", "discriminator_activation": "relu", "generator_batch_norm": True}),
])
def test_every_option_trains_on_real_digits(mnist5k, name, options):
    torch.manual_seed(0)
    model = genlab.create_model(name, data_shape=(1, 28, 28), **{**get_model_class(name).tiny_config, **options})
    generator_before = [p.detach().clone() for p in model.generator.parameters()]
    values = train_a_few_steps(model, mnist5k, steps=6)
    assert all(torch.isfinite(torch.tensor(v)) for row in values for v in row.values())
    # Every generator parameter moved (gradients reach all of them, whatever the options).
    assert all(not torch.equal(b, p) for b, p in zip(generator_before, model.generator.parameters()))


@pytest.mark.parametrize("options, words", [
    ({"generator_activation": "tanh"}, "generator_activation"),
    ({"discriminator_activation": "elu"}, "discriminator_activation"),
    ({"generator_upsampling": "bilinear"}, "generator_upsampling"),
    ({"generator_extra_layers": -1}, "0 or more"),
    ({"conv_generator_batch_norm": "no"}, "conv_generator_batch_norm"),
])
def test_bad_values_are_refused_in_one_line(options, words):
    with pytest.raises(GenlabError, match=words) as error:
        genlab.create_model("dcgan", data_shape=(1, 28, 28), **{**TINY, **options})
    assert "\n" not in str(error.value)


def test_conv_only_options_are_refused_on_mlp_networks():
    with pytest.raises(GenlabError, match="generator_hidden"):
        genlab.create_model("gan", data_shape=(1, 28, 28), generator_extra_layers=1)
    # wgan resolves `auto` to MLPs on points: the check happens when the networks are built.
    with pytest.raises(GenlabError, match="generator_batch_norm"):
        genlab.create_model("wgan", data_shape=(2,), conv_generator_batch_norm=False)


def test_options_are_recorded_in_config_yaml_and_reload(tmp_path):
    options = {**TINY, "generator_activation": "leaky_relu", "discriminator_activation": "relu",
               "conv_generator_batch_norm": False, "generator_extra_layers": 1, "generator_upsampling": "nearest"}
    run = genlab.train("dcgan", {"name": "mnist-5k", "subset": 256, "test_subset": 64}, out=tmp_path / "run",
                       config=options, steps=4, progress=False, sample_every=0, checkpoint_every=0, eval_every=0)
    recorded = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["model"]["config"]
    assert {key: recorded[key] for key in options} == options
    assert recorded["discriminator_extra_layers"] == 0 and recorded["discriminator_batch_norm"] is True
    loaded = genlab.load_run(tmp_path / "run")
    assert torch.equal(loaded.sample(4, seed=3), run.sample(4, seed=3))


def test_gradient_norm_summary_takes_the_median_over_rows_and_layers():
    rows = [{"step": 1, "loss_g": 0.7, "grad_norm/generator/net.0": 1.0, "grad_norm/generator/net.3": 3.0,
             "grad_norm/generator/total": 99.0, "grad_norm/discriminator/net.0": 0.5},
            {"step": 2, "grad_norm/generator/net.0": 2.0, "grad_norm/generator/net.3": 10.0},
            {"step": 3, "fid": 80.0}]
    assert gradient_norm_summary(rows) == {"discriminator_grad_norm_median": 0.5, "generator_grad_norm_median": 2.5}
    assert gradient_norm_summary([{"step": 1, "loss_d": 1.0}]) == {}


def test_gradient_norm_summary_of_a_real_run(tmp_path):
    genlab.train("wgan", {"name": "mnist-5k", "subset": 256, "test_subset": 64}, out=tmp_path / "run",
                 config=get_model_class("wgan").tiny_config, steps=20, progress=False, sample_every=0,
                 checkpoint_every=0, eval_every=0, log_every=5, diagnostics_every=5)
    summary = read_gradient_norm_summary(tmp_path / "run")
    assert set(summary) == {"generator_grad_norm_median", "discriminator_grad_norm_median"}
    assert all(0 < value < 1e3 for value in summary.values())
    assert read_gradient_norm_summary(tmp_path / "missing") == {}
