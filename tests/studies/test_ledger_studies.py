"""The structure, noise-robustness and baselines-ladder studies as the claims ledger uses them.

Each spec loads, expands to the runs its claims need, names every claim's ledger id (or source), points
its filters at models and datasets it runs, and keeps its quick budget inside its wall-time target. The
fixed numbers claims carry (C44's sharpness threshold, C46's reconstruction threshold) are checked against
the real digits, and naive Bayes samples are checked to clear C44's.
"""

from __future__ import annotations

import pytest
import torch

import genlab
from genlab.metrics.sharpness import laplacian_variance
from genlab.studies.spec import builtin_studies, load_spec

from tests.studies.study_checks import assert_claims_use_their_runs, quick_runs

# Ledger ids each study must test (issue 16), and the most training minutes its quick budget may spend
# (2 workers: wall time ~ (training minutes + evaluation) / 2, targets 3.5 / 5 / 2.5 minutes).
EXPECTED_IDS = {
    "structure": {"C1", "C4", "C6", "C41"},
    "noise-robustness": {"C10", "C11", "C12", "C13"},
    "baselines-ladder": {"C44", "C45", "C46", "C47"},
}
MAX_TRAINING_MINUTES = {"structure": 6.0, "noise-robustness": 8.5, "baselines-ladder": 3.5}


@pytest.mark.parametrize("name", sorted(EXPECTED_IDS))
def test_each_study_tests_its_ledger_claims_on_runs_it_has(name):
    spec, runs = quick_runs(name)
    assert_claims_use_their_runs(spec, runs, EXPECTED_IDS[name])
    training = sum(run.budget.minutes for run in runs if run.model.name not in ("naive-bayes", "gaussian-bayes", "gmm"))
    assert training <= MAX_TRAINING_MINUTES[name]
    assert spec.eval_samples == 1000 and all(run.budget.checkpoints == 1 for run in runs)


def test_noise_robustness_runs_every_corruption_level_on_clothing_for_both_families():
    spec, runs = quick_runs("noise-robustness")
    assert {(run.model.key, run.dataset.key) for run in runs} == {
        (model, level) for model in ("vae", "dcgan")
        for level in ("clothes", "clothes+awgn:low", "clothes+awgn:high", "clothes+warp:low", "clothes+warp:high")}
    assert {run.dataset.name for run in runs} == {"fashion-mnist"}
    corruptions = {run.dataset.key: run.dataset.data_config().get("corruption") for run in runs}
    assert corruptions["clothes"] is None and corruptions["clothes+warp:high"] == "warp:high"
    # The GAN gets the minutes it needs on a CPU; the VAE learns in seconds.
    assert {run.model.key: run.budget.minutes for run in runs} == {"vae": 0.4, "dcgan": 1.2}
    equivalent = [claim for claim in spec.claims if claim.kind == "equivalent"]
    assert [claim.id for claim in equivalent] == ["C11"] and equivalent[0].relative_margin == 0.25


def test_structure_orders_its_datasets_by_diversity_and_keeps_the_unsourced_claim_labelled():
    spec, runs = quick_runs("structure")
    assert sorted({run.dataset.key for run in runs}) == ["faces", "mnist-5k", "textures"]
    trends = [claim for claim in spec.claims if claim.kind == "trend"]
    assert trends and all(claim.id == "C41" and claim.levels == ["mnist-5k", "faces", "textures"] for claim in trends)
    unsourced = [claim for claim in spec.claims if claim.id is None]
    assert len(unsourced) == 1 and "Goodfellow" in unsourced[0].source


def test_c44_threshold_is_three_times_the_real_digits_and_naive_bayes_samples_clear_it(mnist5k):
    spec = load_spec(builtin_studies()["baselines-ladder"])
    noisy = next(claim for claim in spec.claims if claim.id == "C44" and claim.metric == "sharpness_all_samples")
    real = float(laplacian_variance(mnist5k.test_x).mean())
    assert real == pytest.approx(0.187, abs=0.002)
    assert noisy.threshold == pytest.approx(3 * real, rel=0.01)
    model = genlab.create_model("naive-bayes", data_shape=(1, 28, 28), num_classes=10)
    model.fit(mnist5k.train_x[:1000], mnist5k.train_y[:1000])
    samples = model.sample(300, generator=torch.Generator().manual_seed(0))
    assert float(laplacian_variance(samples).mean()) > noisy.threshold


def test_c46_threshold_is_a_quarter_of_the_mean_digit_error(mnist5k):
    from genlab.data.batches import to_float

    spec = load_spec(builtin_studies()["baselines-ladder"])
    reconstructs = next(claim for claim in spec.claims if claim.id == "C46" and claim.metric == "reconstruction_mse")
    mean_digit_error = float((to_float(mnist5k.test_x) - to_float(mnist5k.train_x).mean(0)).square().mean())
    assert mean_digit_error == pytest.approx(0.0673, abs=0.0005)
    assert reconstructs.threshold == pytest.approx(mean_digit_error / 4, rel=0.01)
    assert reconstructs.kind == "threshold" and reconstructs.higher_is_better is False
