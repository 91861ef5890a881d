"""The built-in studies that test the ledger's claims on VAEs, GANs, conditioning and batch norm.

vae-vs-gan (the demo), vae-decoders, conditioning and batchnorm: each expands to the runs its claims
need, every claim names its ledger id and a metric the study measures (at the checkpoints, where the
claim reads checkpoints), and a tiny study shows the checkpoints carry the held-out NLL and the
conditional accuracy that batchnorm's and conditioning's claims read.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from genlab.studies.claims import check_claims
from genlab.studies.runner import run_study
from genlab.studies.spec import Claim, budget_name, choose_budget, expand_runs, load_spec

# The evaluate() group that reports each metric these studies' claims name.
METRIC_GROUPS = {
    "fid": "fid", "kid_mean": "kid", "precision": "prdc", "recall": "prdc", "sharpness_log_error": "sharpness",
    "class_kl": "classifier", "conditional_accuracy": "classifier", "nll_nats": "likelihood",
    "nll_unlabelled_nats": "likelihood", "pixel_entropy": "pixels",
}
# Run-level numbers and the measures the report derives from a run's checkpoints.
RUN_LEVEL = {"steps", "training_seconds", "fid_std_over_training", "collapse_events", "seconds_to_fid_blurred",
             "seconds_to_nll_nats_120"}

EXPECTED_RUNS = {
    "vae-vs-gan": {"vae": 0.75, "conv-vae": 1.5, "gan": 2.5, "dcgan": 2.5, "acgan": 1.5, "wgan-gp": 2.5, "vae-gan": 2},
    "vae-decoders": {"conv-vae": 0.75, "pixelvae": 1.5},
    "conditioning": {"vae": 0.5, "cvae": 0.5, "gan": 1.5, "cgan": 1.5, "dcgan": 1.5, "cdcgan": 1.5, "acgan": 1.5},
}


def quick_runs(name: str):
    spec = load_spec(name)
    return spec, expand_runs(spec, choose_budget(spec, "quick"), Path("unused"), budget_name(spec, "quick"))


@pytest.mark.parametrize("name", sorted(EXPECTED_RUNS))
def test_study_expands_to_its_models_with_their_quick_minutes(name):
    spec, runs = quick_runs(name)
    assert {run.model.key: run.budget.minutes for run in runs} == EXPECTED_RUNS[name]
    assert {run.seed for run in runs} == {0}


def training_makespan(minutes: list[float], workers: int = 2) -> float:
    """Minutes until the last run's training ends when, as the runner does, the longest budgets start first
    and each run goes to the first free worker."""
    free = [0.0] * workers
    for budget in sorted(minutes, reverse=True):
        free[free.index(min(free))] += budget
    return max(free)


def test_demo_stays_within_its_minutes():
    # vae-vs-gan is `make demo`: < 8.5 minutes on two cores. The 6-run demo of before trained for 6.5
    # minutes on two workers and took 7 min 50 s in all (evaluator, evaluations, checkpoints): the
    # training may end by 7 minutes.
    assert training_makespan([3, 2.5, 2.5, 2.5, 1.5, 0.75]) == pytest.approx(6.5)
    _, runs = quick_runs("vae-vs-gan")
    assert training_makespan([run.budget.minutes for run in runs]) == pytest.approx(6.75)


def test_batchnorm_has_two_seeds_and_a_checkpoint_every_75_steps():
    spec, runs = quick_runs("batchnorm")
    assert sorted(run.key for run in runs) == [f"{model}__mnist-5k__seed{seed}" for model in ("vae-bn", "vae-no-bn")
                                              for seed in (0, 1)]
    budget = runs[0].budget
    assert budget.steps / budget.checkpoints == 75 and "likelihood" in spec.checkpoint_metrics


@pytest.mark.parametrize("name", ["vae-vs-gan", "vae-decoders", "conditioning", "batchnorm"])
def test_every_claim_has_an_origin_and_a_metric_its_study_measures(name):
    spec = load_spec(name)
    models = {model.key for model in spec.models} | {model.name for model in spec.models}
    for claim in spec.claims:
        assert claim.id or claim.source, claim.text
        metric, _, position = claim.metric.partition("@")
        reads_checkpoints = bool(position) or claim.kind == "checkpoint_trend"
        if metric in RUN_LEVEL:
            assert not reads_checkpoints
        else:
            groups = spec.checkpoint_metrics if reads_checkpoints else spec.metrics
            assert METRIC_GROUPS[metric] in groups, f"{name}: '{claim.text}' needs {METRIC_GROUPS[metric]} in {groups}"
        for side in (claim.a, claim.b):
            wanted = side.get("model", [])
            assert set(wanted if isinstance(wanted, list) else [wanted]) <= models, claim.text
    if any(claim.metric in ("fid_std_over_training", "collapse_events") for claim in spec.claims):
        _, runs = quick_runs(name)
        # A spread over the second half of training needs at least two checkpoints there.
        assert all(run.budget.checkpoints >= 3 for run in runs if run.model.name in ("gan", "dcgan", "cgan", "acgan"))


def test_the_ledger_ids_each_study_tests():
    ids = {name: {claim.id for claim in load_spec(name).claims if claim.id}
           for name in ("vae-vs-gan", "vae-decoders", "conditioning", "batchnorm")}
    assert ids == {"vae-vs-gan": {"C1", "C7", "C8", "C14", "C23", "C24", "C25", "C40"}, "vae-decoders": {"C2"},
                   "conditioning": {"C17", "C18", "C19", "C30", "C31", "C32"}, "batchnorm": {"C16"}}


TINY_CHECKPOINT_SPEC = {
    "name": "tiny-checkpoints",
    "models": [
        {"name": "vae", "config": {"hidden_dims": [32], "latent_dim": 4, "batch_size": 32}},
        {"name": "cgan", "config": {"latent_dim": 8, "generator_hidden": [32], "discriminator_hidden": [32],
                                    "batch_size": 32}},
    ],
    "datasets": [{"name": "mnist-5k", "subset": 600, "test_subset": 300}],
    "budgets": {"quick": {"steps": 20, "checkpoints": 2}},
    "metrics": ["likelihood", "classifier"],  # no FID: no calibration references to build, no gate
    "eval_samples": 300,
    "checkpoint_metrics": ["likelihood", "classifier"],
}


def test_checkpoints_carry_the_held_out_nll_and_the_conditional_accuracy(tmp_path, evaluator_env):
    spec_file = tmp_path / "tiny.yaml"
    spec_file.write_text(yaml.safe_dump(TINY_CHECKPOINT_SPEC))
    report = run_study(spec_file, out=tmp_path / "out", workers=2, progress=False)
    runs = {run["model_key"]: run for run in json.loads((report.parent / "results.json").read_text())["runs"]}
    vae, cgan = runs["vae"]["over_training"], runs["cgan"]["over_training"]
    assert [point["step"] for point in vae] == [10, 20] and [point["step"] for point in cgan] == [10, 20]
    assert all(point["nll_nats"] > 0 for point in vae)  # a held-out NLL in nats per image at each checkpoint
    assert all(0 <= point["conditional_accuracy"] <= 1 for point in cgan)
    assert "conditional_accuracy" not in vae[0]  # the VAE is not conditional
    # The claim forms batchnorm and conditioning use read those values (gate none: 20 steps learn nothing).
    claims = [Claim(id="C16", text="first", metric="nll_nats@first", higher_is_better=False, gate="none",
                    a={"model": "vae"}, b={"model": "vae"}),
              Claim(id="C32", text="rises", kind="checkpoint_trend", metric="conditional_accuracy",
                    direction="increasing", gate="none", a={"model": "cgan"})]
    first, rises = check_claims(claims, list(runs.values()))
    assert f"{vae[0]['nll_nats']:.4g}" in first["evidence"]
    assert first["verdict"] == "inconclusive"  # a run against itself: no difference
    start, end = cgan[0]["conditional_accuracy"], cgan[-1]["conditional_accuracy"]
    assert f"cgan seed 0: {start:.4g} → {end:.4g}" in rises["evidence"]
    # One run: the change decides only above 10% of the larger value.
    expected = ("inconclusive" if abs(end - start) <= 0.1 * max(start, end)
                else "confirmed" if end > start else "refuted")
    assert rises["verdict"] == expected
