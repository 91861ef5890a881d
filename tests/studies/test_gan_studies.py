"""The GAN-side studies of the claims ledger: gan-objectives, upsampling, gan-batchnorm and gan-capacity.

Each spec loads, expands to the runs its claims need (the model options each label names really reach the
model's config), names every claim's ledger id (or source), points its filters at models and datasets it
runs, and keeps its quick budget inside its wall-time target. One tiny run checks that the claim C36
reads (generator_grad_norm_median) is measured from a real run's log.
"""

from __future__ import annotations

import pytest

import genlab
from genlab.models.registry import get_model_class
from genlab.train.diagnostics import read_gradient_norm_summary

from tests.studies.study_checks import assert_claims_use_their_runs, quick_runs

EXPECTED_IDS = {
    "gan-objectives": {"C26", "C27", "C28", "C33", "C34", "C36"},
    "upsampling": {"C39"},
    "gan-batchnorm": {"C35", "C38"},
    "gan-capacity": {"C29", "C37"},
}
# The most training minutes each quick budget may spend (2 workers; wall ~ (training + evaluation) / 2,
# targets 4 / 2 / 3 / 3 minutes). gan-objectives' toy2d runs stop at their step cap (1,500-1,800 steps of small
# MLPs on points), well before their minutes, so only image runs count.
MAX_TRAINING_MINUTES = {"gan-objectives": 5.7, "upsampling": 2.0, "gan-batchnorm": 6.5, "gan-capacity": 5.0}


@pytest.mark.parametrize("name", sorted(EXPECTED_IDS))
def test_each_study_tests_its_ledger_claims_on_runs_it_has(name):
    spec, runs = quick_runs(name)
    assert_claims_use_their_runs(spec, runs, EXPECTED_IDS[name])
    assert sum(run.budget.minutes for run in runs if run.dataset.name != "toy2d") <= MAX_TRAINING_MINUTES[name]
    assert all(run.budget.steps <= 1800 for run in runs if run.dataset.name == "toy2d")
    assert spec.eval_samples == 1000


@pytest.mark.parametrize("name", sorted(EXPECTED_IDS))
def test_every_model_entry_builds_with_its_options(name):
    spec, _ = quick_runs(name)
    shapes = {"toy2d": (2,), "fashion-mnist": (1, 28, 28), "mnist-5k": (1, 28, 28)}
    for entry in spec.models:
        for dataset in spec.datasets:
            model = genlab.create_model(entry.name, data_shape=shapes[dataset.name], **entry.config)
            for key, value in entry.config.items():
                assert getattr(model.config, key) == value, (entry.key, key)


def test_upsampling_compares_both_generators_on_digits_and_clothing():
    spec, runs = quick_runs("upsampling")
    assert {(run.model.key, run.dataset.key) for run in runs} == {
        (model, data) for model in ("dcgan-transposed", "dcgan-nearest") for data in ("mnist-5k", "fashion-mnist")}
    assert "spectrum" in spec.metrics and spec.quality_threshold == {"fid": "blurred"}


def test_gan_batchnorm_switches_batch_norm_on_and_off_in_both_players():
    spec, _ = quick_runs("gan-batchnorm")
    configs = {entry.key: entry.config for entry in spec.models}
    assert configs["dcgan-no-d-bn"] == {"discriminator_batch_norm": False}
    assert configs["dcgan-no-g-bn"] == {"conv_generator_batch_norm": False}
    assert configs["wgan-gp-d-bn"] == {"discriminator_batch_norm": True}
    # The claims about failing to learn take every run; the others only runs that learned.
    gates = {claim.text: claim.gate for claim in spec.claims}
    assert gates["Batch norm in the WGAN-GP critic makes it worse (report 001 - it stops the critic learning)"] == "none"


def test_gan_capacity_varies_critic_steps_and_depth():
    spec, _ = quick_runs("gan-capacity")
    configs = {entry.key: entry.config for entry in spec.models}
    assert [configs[key].get("critic_steps", 1) for key in ("dcgan", "dcgan-critic-2", "dcgan-critic-5")] == [1, 2, 5]
    assert configs["dcgan-depth-4"] == {"generator_extra_layers": 4, "discriminator_extra_layers": 4}
    assert {claim.kind for claim in spec.claims if claim.id == "C29"} == {"equivalent"}
    assert "memorisation" in spec.metrics
    # "No more parameters than pixels": the default DCGAN on mnist-5k's 4,000 training digits.
    parameters = sum(p.numel() for p in genlab.create_model("dcgan", data_shape=(1, 28, 28)).generator.parameters())
    assert parameters < 4000 * 28 * 28


def test_gan_objectives_keeps_the_grid_claim_and_measures_digits_over_four_checkpoints():
    spec, runs = quick_runs("gan-objectives")
    grid = [claim for claim in spec.claims if claim.id is None]
    assert len(grid) == 1 and "Gulrajani" in grid[0].source and grid[0].metric == "modes_covered"
    assert {run.dataset.key for run in runs} == {"mnist-5k", "toy2d"} and spec.seeds == [0, 1]
    assert all(run.budget.checkpoints >= 4 for run in runs)  # C26 correlates loss and FID over checkpoints
    assert "fid" in spec.checkpoint_metrics and "classifier" in spec.metrics


def test_a_wgan_run_logs_the_gradient_norms_c36_reads(tmp_path):
    genlab.train("wgan", {"name": "mnist-5k", "subset": 256, "test_subset": 64}, out=tmp_path / "run",
                 config=get_model_class("wgan").tiny_config, steps=10, progress=False, sample_every=0,
                 checkpoint_every=0, eval_every=0, log_every=5, diagnostics_every=5)
    summary = read_gradient_norm_summary(tmp_path / "run")
    assert summary["generator_grad_norm_median"] > 0 and summary["discriminator_grad_norm_median"] > 0
