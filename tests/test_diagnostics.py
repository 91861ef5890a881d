"""Training diagnostics: per-layer gradient norms and histograms, mode coverage, label entropy, and how
the trainer logs, resumes and plots them."""

from __future__ import annotations

import json
import math

import pytest
import torch
from PIL import Image
from torch import nn
from typer.testing import CliRunner

import genlab
from genlab.cli import app
from genlab.data import load_dataset
from genlab.plots.run import panel_groups, plot_gradient_histograms
from genlab.train.checkpoint import load_checkpoint
from genlab.train.diagnostics import (
    HISTOGRAM_BINS,
    LabelClassifier,
    TrainingDiagnostics,
    label_entropy,
    layer_name,
    mode_statistics,
)

TOY_GAN = {"latent_dim": 4, "generator_hidden": [16, 16], "discriminator_hidden": [16, 16], "batch_size": 32}
GRID = {"name": "toy2d", "options": {"layout": "grid-25", "n_train": 2000, "n_test": 200}}


def read_rows(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_layer_names_group_weights_biases_and_spectral_norm_parameters():
    assert layer_name("net.3.weight") == "net.3"
    assert layer_name("net.0.parametrizations.weight.original") == "net.0"
    assert layer_name("bias") == "bias"


def test_gradient_norms_per_layer_match_a_hand_computation_and_histograms_sum_to_one():
    torch.manual_seed(0)
    network = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 1))
    network(torch.randn(8, 3)).pow(2).mean().backward()
    diagnostics = TrainingDiagnostics(every=10, histograms=True)
    assert diagnostics.due(0) and diagnostics.due(20) and not diagnostics.due(5)
    values = diagnostics.gradient_norms("critic", network)
    first = torch.cat([network[0].weight.grad.flatten(), network[0].bias.grad]).norm().item()
    second = torch.cat([network[2].weight.grad.flatten(), network[2].bias.grad]).norm().item()
    assert values["grad_norm/critic/0"] == pytest.approx(first, rel=1e-5)
    assert values["grad_norm/critic/2"] == pytest.approx(second, rel=1e-5)
    assert values["grad_norm/critic/total"] == pytest.approx(math.hypot(first, second), rel=1e-5)
    histograms = diagnostics.take_histograms()
    assert set(histograms) == {"critic/0", "critic/2"}
    assert all(len(h) == HISTOGRAM_BINS and sum(h) == pytest.approx(1.0, abs=1e-3) for h in histograms.values())
    assert diagnostics.take_histograms() == {}, "histograms are handed over once"
    assert TrainingDiagnostics(every=0).due(0) is False


def test_mode_statistics_count_covered_modes_and_high_quality_samples():
    dataset = load_dataset("toy2d", layout="grid-25", n_train=100, n_test=10)
    modes, std = dataset.info["modes"], dataset.info["std"]
    generator = torch.Generator().manual_seed(0)
    # 2,000 samples on 8 of the 25 modes, within the modes' own spread.
    chosen = modes[torch.arange(2000) % 8] + std * torch.randn(2000, 2, generator=generator)
    stats = mode_statistics(chosen, modes, std)
    assert stats["modes_covered"] == 8
    assert stats["high_quality_fraction"] > 0.98
    # Points spread over the whole square: a few land near every mode, but no mode gets 16 of 2,000.
    uniform = torch.rand(2000, 2, generator=generator) * 10 - 5
    stats = mode_statistics(uniform, modes, std)
    assert stats["modes_covered"] == 0 and stats["high_quality_fraction"] < 0.05
    stats = mode_statistics(torch.full((2000, 2), float("nan")), modes, std)
    assert stats == {"modes_covered": 0.0, "high_quality_fraction": 0.0}


def test_label_classifier_and_entropy(mnist5k):
    classifier = LabelClassifier.fit(mnist5k.train_x, mnist5k.train_y, 10)
    # Measured: ~0.88 on the 1,000 test digits.
    assert classifier.accuracy(mnist5k.test_x, mnist5k.test_y) > 0.8
    assert label_entropy(torch.arange(1000) % 10, 10) == pytest.approx(math.log(10))
    assert label_entropy(torch.full((1000,), 3), 10) == 0.0
    predicted = classifier.predict(mnist5k.test_x)
    assert label_entropy(predicted, 10) > 0.95 * math.log(10)  # real digits are close to balanced


def test_gan_run_logs_diagnostics_and_plots_them(tmp_path):
    run = genlab.train("wgan-gp", GRID, out=tmp_path / "run", config=TOY_GAN, steps=60, log_every=10,
                       diagnostics_every=10, eval_every=30, gradient_histograms=True, progress=False,
                       sample_every=0, checkpoint_every=0)
    rows = read_rows(run.path / "metrics.jsonl")
    assert [row["step"] for row in rows] == [10, 20, 30, 40, 50, 60]
    for row in rows:
        for key in ("loss_d", "d_real", "d_fake", "wasserstein", "gradient_penalty", "grad_norm/discriminator/total",
                    "grad_norm/discriminator/net.0", "grad_norm/discriminator/net.4", "grad_norm/generator/net.4"):
            assert math.isfinite(row[key]), (key, row)
    assert [row["step"] for row in rows if "modes_covered" in row] == [30, 60]
    assert all(0 <= row["modes_covered"] <= 25 and 0 <= row["high_quality_fraction"] <= 1
               for row in rows if "modes_covered" in row)
    histograms = read_rows(run.path / "gradient_histograms.jsonl")
    assert [row["step"] for row in histograms] == [1, 11, 21, 31, 41, 51]
    assert set(histograms[0]["layers"]) >= {"generator/net.0", "generator/net.4", "discriminator/net.0"}
    assert Image.open(run.path / "gradient_histograms.png").size[1] > 200
    assert Image.open(run.path / "loss_curves.png").size[0] > 300

    # The command itself, in process (tests/test_cli.py covers the subprocess path of `genlab plot`).
    result = CliRunner().invoke(app, ["plot", str(run.path), "--gradients", "--out", str(tmp_path / "c.png")])
    assert result.exit_code == 0, result.output
    assert result.output.split() == [str(tmp_path / "c.png"), str(run.path / "gradient_histograms.png")]


def test_plot_groups_related_values_and_reports_missing_histograms(tmp_path):
    groups = panel_groups(["d_fake", "d_real", "elbo", "grad_norm/generator/net.0", "grad_norm/generator/total",
                           "loss_d", "loss_g", "modes_covered"])
    assert groups == {"d": ["d_fake", "d_real"], "elbo": ["elbo"],
                      "grad_norm/generator": ["grad_norm/generator/net.0", "grad_norm/generator/total"],
                      "loss": ["loss_d", "loss_g"], "modes_covered": ["modes_covered"]}
    with pytest.raises(genlab.GenlabError, match="--gradient-histograms"):
        plot_gradient_histograms(tmp_path)


def test_values_are_averaged_over_the_steps_that_report_them(tmp_path):
    """With 5 critic steps per generator step, loss_g exists on 1 step in 5; the log averages it over those."""
    common = dict(config={**TOY_GAN, "critic_steps": 5}, steps=10, progress=False, sample_every=0, eval_every=0,
                  checkpoint_every=0, seed=3)
    every_step = read_rows(genlab.train("wgan", GRID, out=tmp_path / "a", log_every=1, **common).path / "metrics.jsonl")
    assert [row["step"] for row in every_step if "loss_g" in row] == [1, 6]
    per_ten = read_rows(genlab.train("wgan", GRID, out=tmp_path / "b", log_every=10, **common).path / "metrics.jsonl")
    assert len(per_ten) == 1
    assert per_ten[0]["loss_g"] == pytest.approx((every_step[0]["loss_g"] + every_step[5]["loss_g"]) / 2, rel=1e-6)
    assert per_ten[0]["loss_d"] == pytest.approx(sum(row["loss_d"] for row in every_step) / 10, rel=1e-6)


def test_gan_resume_repeats_the_uninterrupted_run_with_its_diagnostics(tmp_path):
    """Critic/generator schedule, EMA, dropout and histograms: stopped at step 15 and resumed == whole run."""
    common = dict(config={**TOY_GAN, "critic_steps": 3, "ema_decay": 0.9, "discriminator_dropout": 0.3},
                  progress=False, sample_every=0, checkpoint_every=15, eval_every=15, log_every=5,
                  diagnostics_every=5, gradient_histograms=True, seed=5)
    genlab.train("gan", GRID, out=tmp_path / "whole", steps=30, **common)
    genlab.train("gan", GRID, out=tmp_path / "parts", steps=20, **common)
    # As if killed after logging step 20 but before its checkpoint: rows past step 15 must be dropped.
    for suffix in (".json", ".safetensors"):
        (tmp_path / "parts/checkpoints" / f"step-000020{suffix}").unlink()
    genlab.train("gan", GRID, out=tmp_path / "parts", steps=30, resume=True, **common)
    whole, _ = load_checkpoint(tmp_path / "whole", 30)
    parts, _ = load_checkpoint(tmp_path / "parts", 30)
    assert any(key.startswith("model/generator_ema.") for key in whole)
    for key in whole:
        assert torch.equal(whole[key], parts[key]), key

    def without_timing(rows):
        return [{k: v for k, v in row.items() if k not in ("time", "images_per_second")} for row in rows]

    assert without_timing(read_rows(tmp_path / "parts/metrics.jsonl")) == \
        without_timing(read_rows(tmp_path / "whole/metrics.jsonl"))
    assert read_rows(tmp_path / "parts/gradient_histograms.jsonl") == read_rows(tmp_path / "whole/gradient_histograms.jsonl")
