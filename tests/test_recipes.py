"""Recipes: the CPU "fast" defaults and the papers' defaults one switch away, recorded with every run."""

from __future__ import annotations

import subprocess

import pytest

import genlab
from genlab.errors import GenlabError
from genlab.models.registry import create_model, get_model_class, list_models, resolve_recipe
from tests.conftest import genlab_command, subprocess_env


def test_auto_is_fast_on_a_cpu_and_paper_on_a_gpu():
    assert resolve_recipe(None, "cpu") == resolve_recipe("auto", "cpu") == "fast"
    assert resolve_recipe("auto", "cuda") == resolve_recipe("auto", "cuda:1") == "paper"
    assert resolve_recipe("paper", "cpu") == "paper" and resolve_recipe("fast", "cuda") == "fast"
    with pytest.raises(GenlabError, match="recipe must be one of auto, fast, paper"):
        resolve_recipe("quick", "cpu")


def test_the_fast_recipe_changes_only_defaults_and_the_paper_is_one_switch_away():
    fast = create_model("dcgan", data_shape=(1, 28, 28), device="cpu")
    assert fast.recipe == "fast"
    assert (fast.config.generator_features, fast.config.discriminator_features, fast.config.batch_size) == (32, 32, 64)
    paper = create_model("dcgan", data_shape=(1, 28, 28), recipe="paper")
    assert paper.recipe == "paper"
    assert (paper.config.generator_features, paper.config.discriminator_features, paper.config.batch_size) == (64, 64, 128)
    # A value the user sets always wins; `recipe` also works as a config key (--set recipe=paper).
    chosen = create_model("dcgan", data_shape=(1, 28, 28), device="cpu", generator_features=48)
    assert chosen.config.generator_features == 48 and chosen.config.batch_size == 64
    assert create_model("dcgan", data_shape=(1, 28, 28), **{"recipe": "paper"}).config.batch_size == 128
    assert create_model("wgan-gp", data_shape=(1, 28, 28), device="cpu").config.lr == 3e-4
    mlp = create_model("gan", data_shape=(1, 28, 28), device="cpu")
    assert mlp.config.generator_hidden == (128, 256, 512) and mlp.config.ema_decay == 0.999
    assert mlp.generator_ema is not None


def test_points_keep_the_papers_settings_under_either_recipe():
    for name in ("gan", "wgan-gp", "sngan"):
        fast = create_model(name, data_shape=(2,), num_classes=0, device="cpu")
        paper = create_model(name, data_shape=(2,), num_classes=0, recipe="paper")
        assert fast.config == paper.config, name


def test_every_model_builds_under_both_recipes():
    for name in list_models():
        model_class = get_model_class(name)
        shape = (1, 28, 28)
        overrides = dict(model_class.tiny_config)
        for recipe in ("fast", "paper"):
            model = create_model(name, data_shape=shape, num_classes=10, recipe=recipe, **overrides)
            assert model.recipe == recipe
            for key, value in model_class.fast_recipe(shape).items():
                if recipe == "fast" and key not in overrides:
                    assert getattr(model.config, key) == (tuple(value) if isinstance(value, list) else value), (name, key)


def test_a_run_records_its_recipe_and_reloads_the_same_model(tmp_path):
    run = genlab.train("dcgan", data={"name": "mnist-5k", "subset": 256}, out=tmp_path / "paper", steps=2,
                       config={"recipe": "paper", "generator_features": 8, "discriminator_features": 8},
                       progress=False, sample_every=0, eval_every=0)
    assert run.config["model"]["recipe"] == "paper" and run.config["model"]["config"]["batch_size"] == 128
    again = genlab.load_run(tmp_path / "paper")
    assert again.model.config == run.model.config


def test_genlab_models_names_both_recipes():
    result = subprocess.run([*genlab_command(), "models"], capture_output=True, text=True, env=subprocess_env(), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "fast recipe on images (CPU default): generator_features=32, discriminator_features=32, batch_size=64" in result.stdout
    assert "--set recipe=paper" in result.stdout
