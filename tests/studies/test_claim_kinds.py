"""The claim kinds and the multi-seed verdict rule, on hand-made study results with known answers.

Nothing is trained: each result dict is what a finished run leaves in result.json (status, model,
dataset, seed, metrics, quality gate, over_training), with values chosen so the answer is known.
"""

from __future__ import annotations

import numpy as np
import pytest

from genlab.config import from_dict
from genlab.errors import GenlabError
from genlab.studies.claims import check_claim, metric_value, side_values, welch_interval
from genlab.studies.spec import Claim


def run(model: str, seed: int = 0, dataset: str = "mnist-5k", passed: bool | None = True,
        over_training: list[dict] | None = None, **metrics: float) -> dict:
    """One finished run as the study runner records it."""
    return {"key": f"{model}__{dataset}__seed{seed}", "model": model, "model_key": model, "dataset": dataset,
            "seed": seed, "status": "done", "metrics": metrics, "over_training": over_training or [],
            "quality_gate": {"passed": passed, "reason": "FID 757 ≈ uniform noise 750"} if passed is not None else None}


def runs(model: str, values: list[float], metric: str = "fid", **extra) -> list[dict]:
    return [run(model, seed=seed, **{metric: value}, **extra) for seed, value in enumerate(values)]


def claim(**fields) -> Claim:
    values = {"text": "a claim under test", "source": "a test", "metric": "fid", "higher_is_better": False,
              "a": {"model": "a"}, "b": {"model": "b"}} | fields
    return from_dict(Claim, values)


# --- the Welch rule -------------------------------------------------------------------------------
def test_welch_interval_matches_a_hand_computed_one():
    # Means 2 and 5, variances 1 and 1, n = 3 each: se = sqrt(2/3), Welch df = 4, t(0.95, 4) = 2.1318.
    difference, low, high = welch_interval([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    half = 2.131847 * (2 / 3) ** 0.5
    assert difference == pytest.approx(-3.0)
    assert (low, high) == pytest.approx((-3.0 - half, -3.0 + half), abs=1e-5)


def test_well_separated_seeds_confirm_and_the_reverse_claim_is_refuted():
    results = runs("a", [50, 52, 51]) + runs("b", [80, 82, 79])
    row = check_claim(claim(id="C8"), results)
    assert (row["verdict"], row["held"], row["why"]) == ("confirmed", True, "")
    assert row["id"] == "C8" and "90% interval of the claimed advantage [" in row["evidence"]
    assert "A 51 ± 1 (n=3) vs B 80.33 ± 1.5 (n=3)" in row["evidence"]
    reverse = check_claim(claim(a={"model": "b"}, b={"model": "a"}), results)
    assert (reverse["verdict"], reverse["held"]) == ("refuted", False)


def test_overlapping_seeds_are_inconclusive_within_the_seed_spread():
    results = runs("a", [50, 60, 55]) + runs("b", [54, 64, 52])
    row = check_claim(claim(), results)
    assert row["verdict"] == "inconclusive" and row["held"] is None
    assert row["why"].startswith("within the seed spread") and "includes 0" in row["why"]


def test_identical_values_on_both_sides_decide_nothing():
    # Every seed of both sides at 0 modes (nothing learned): "A covers more" is neither shown nor refuted.
    results = runs("a", [0, 0], metric="modes_covered") + runs("b", [0, 0], metric="modes_covered")
    row = check_claim(claim(metric="modes_covered", higher_is_better=True), results)
    assert row["verdict"] == "inconclusive" and "does not separate" in row["why"]


def test_a_margin_moves_the_bar():
    results = runs("a", [50, 52, 51]) + runs("b", [60, 61, 62])  # A leads by 10 ± ~2
    assert check_claim(claim(margin=5), results)["verdict"] == "confirmed"
    assert check_claim(claim(margin=20), results)["verdict"] == "refuted"  # the lead is surely below 20


def test_one_run_per_side_decides_only_above_ten_percent():
    close = check_claim(claim(), runs("a", [97.0]) + runs("b", [100.0]))
    assert close["verdict"] == "inconclusive" and close["held"] is None
    assert close["why"] == "one run per side, difference 3.0% < 10%"
    far = check_claim(claim(), runs("a", [80.0]) + runs("b", [100.0]))
    assert (far["verdict"], far["held"]) == ("confirmed", True) and "it is 20.0%" in far["evidence"]
    wrong_way = check_claim(claim(), runs("a", [130.0]) + runs("b", [100.0]))
    assert wrong_way["verdict"] == "refuted"
    # One run on one side only: the same rule, named for that side.
    lopsided = check_claim(claim(), runs("a", [98.0]) + runs("b", [100.0, 101.0]))
    assert lopsided["verdict"] == "inconclusive" and lopsided["why"].startswith("one run on side A")
    assert check_claim(claim(min_effect=0.01), runs("a", [97.0]) + runs("b", [100.0]))["verdict"] == "confirmed"


# --- equivalent ------------------------------------------------------------------------------------
def test_equivalence_holds_for_two_identical_samplers_and_fails_for_different_ones():
    generator = np.random.default_rng(0)
    same_a, same_b = generator.normal(100, 2, 5).tolist(), generator.normal(100, 2, 5).tolist()
    other = generator.normal(150, 2, 5).tolist()
    equivalent = dict(kind="equivalent", relative_margin=0.1)
    row = check_claim(claim(**equivalent), runs("a", same_a) + runs("b", same_b))
    assert (row["verdict"], row["held"]) == ("confirmed", True)
    assert "tolerance ±10" in row["evidence"] and "lies inside it" in row["evidence"]
    row = check_claim(claim(**equivalent), runs("a", same_a) + runs("b", other))
    assert (row["verdict"], row["held"]) == ("refuted", False) and "lies outside it" in row["evidence"]


def test_equivalence_within_the_seed_spread_when_no_margin_is_stated():
    row = check_claim(claim(kind="equivalent"), runs("a", [100, 102, 98]) + runs("b", [101, 99, 100]))
    assert row["verdict"] == "confirmed" and "(the seed spread)" in row["evidence"]  # |Δ| 0 within ±1.5
    row = check_claim(claim(kind="equivalent"), runs("a", [100, 102, 98]) + runs("b", [150, 151, 149]))
    assert row["verdict"] == "refuted"
    # One run per side: no seed spread to judge by, and no stated margin.
    row = check_claim(claim(kind="equivalent"), runs("a", [100.0]) + runs("b", [101.0]))
    assert row["verdict"] == "inconclusive" and "no seed spread" in row["why"]


def test_equivalence_with_one_run_per_side_uses_the_stated_margin():
    assert check_claim(claim(kind="equivalent", relative_margin=0.05), runs("a", [100.0]) + runs("b", [103.0]))["verdict"] == "confirmed"
    assert check_claim(claim(kind="equivalent", margin=2.0), runs("a", [100.0]) + runs("b", [130.0]))["verdict"] == "refuted"
    # 5% apart: beyond a 2-unit margin, but below the 10% one run needs to refute.
    between = check_claim(claim(kind="equivalent", margin=2.0), runs("a", [100.0]) + runs("b", [105.0]))
    assert between["verdict"] == "inconclusive" and between["why"] == "one run per side, difference 4.8% < 10%"


# --- threshold -------------------------------------------------------------------------------------
def test_threshold_against_a_fixed_value():
    accurate = runs("a", [0.95, 0.96, 0.94], metric="conditional_accuracy")
    above = dict(kind="threshold", metric="conditional_accuracy", higher_is_better=True, b={})
    assert check_claim(claim(**above, threshold=0.9), accurate)["verdict"] == "confirmed"
    assert check_claim(claim(**above, threshold=0.99), accurate)["verdict"] == "refuted"
    straddling = check_claim(claim(**above, threshold=0.95), accurate)
    assert straddling["verdict"] == "inconclusive" and straddling["why"].startswith("within the seed spread")
    one = check_claim(claim(**above, threshold=0.9), runs("a", [0.92], metric="conditional_accuracy"))
    assert one["verdict"] == "inconclusive" and one["why"] == "one run, difference 2.2% < 10%"
    below = check_claim(claim(kind="threshold", threshold=300.0, b={}), runs("a", [150.0]))  # FID below 300
    assert below["verdict"] == "confirmed" and "against the threshold 300" in below["evidence"]


# --- checkpoint_trend and the @ accessors --------------------------------------------------------
def checkpoints(metric: str, values: list[float]) -> list[dict]:
    return [{"step": 100 * (index + 1), "training_seconds": 10.0 * (index + 1), metric: value}
            for index, value in enumerate(values)]


def test_checkpoint_trend_rising_and_falling():
    rising = [run("a", seed=0, over_training=checkpoints("conditional_accuracy", [0.2, 0.5, 0.8])),
              run("a", seed=1, over_training=checkpoints("conditional_accuracy", [0.1, 0.4, 0.9]))]
    trend = dict(kind="checkpoint_trend", metric="conditional_accuracy", b={})
    row = check_claim(claim(**trend, direction="increasing"), rising)
    assert row["verdict"] == "confirmed" and "a seed 0: 0.2 → 0.5 → 0.8" in row["evidence"]
    assert "mean change in the claimed direction 0.7 (n=2)" in row["evidence"]
    assert check_claim(claim(**trend, direction="decreasing"), rising)["verdict"] == "refuted"
    falling = [run("a", over_training=checkpoints("fid", [300.0, 200.0, 120.0]))]
    assert check_claim(claim(kind="checkpoint_trend", b={}, direction="decreasing"), falling)["verdict"] == "confirmed"
    flat = [run("a", over_training=checkpoints("fid", [300.0, 310.0, 295.0]))]  # a 1.7% change: one run cannot say
    assert check_claim(claim(kind="checkpoint_trend", b={}, direction="decreasing"), flat)["verdict"] == "inconclusive"


def test_first_last_and_best_checkpoint_accessors():
    history = [{**point, "conditional_accuracy": accuracy}
               for point, accuracy in zip(checkpoints("fid", [300.0, 120.0, 150.0]), [0.2, 0.9, 0.7])]
    result = run("a", over_training=history[::-1])  # out of order on purpose: steps decide first and last
    assert (metric_value(result, "fid@first"), metric_value(result, "fid@last"), metric_value(result, "fid@best")) == (300.0, 150.0, 120.0)
    assert metric_value(result, "conditional_accuracy@best") == 0.9  # higher is better for an accuracy
    assert metric_value(result, "nll_nats@best") is None  # not measured at checkpoints
    # A claim on the best checkpoint: a's best FID 120 against b's 200.
    other = run("b", over_training=checkpoints("fid", [400.0, 200.0]))
    assert check_claim(claim(metric="fid@best"), [result, other])["verdict"] == "confirmed"


def test_seed_std_is_the_spread_across_seeds_per_model_and_dataset():
    results = runs("a", [100.0, 110.0]) + runs("b", [100.0, 140.0]) + runs("b", [60.0, 60.0], dataset="other")
    assert side_values(results[:2], "seed_std:fid") == [5.0]
    assert sorted(side_values(results[2:], "seed_std:fid")) == [0.0, 20.0]  # one spread per (model, dataset)
    row = check_claim(claim(metric="seed_std:fid", b={"model": "b", "dataset": "mnist-5k"}), results)
    assert row["verdict"] == "confirmed" and "A 5 (n=1) vs B 20 (n=1)" in row["evidence"]


def test_a_model_key_names_that_entry_and_a_bare_name_names_every_entry_of_the_model():
    def labelled(key: str, name: str, values: list[float]) -> list[dict]:
        return [dict(result, model=name) for result in runs(key, values)]

    results = (labelled("dcgan", "dcgan", [50.0, 51.0]) + labelled("dcgan-no-bn", "dcgan", [90.0, 91.0])
               + labelled("vae-bn", "vae", [70.0, 71.0]) + labelled("vae-no-bn", "vae", [72.0, 73.0]))
    plain = check_claim(claim(a={"model": "dcgan"}, b={"model": "dcgan-no-bn"}), results)
    assert plain["verdict"] == "confirmed" and plain["conditions"].startswith("A: dcgan on mnist-5k (2 seeds); B: dcgan-no-bn")
    every_vae = check_claim(claim(a={"model": "dcgan"}, b={"model": "vae"}), results)
    assert "B 71.5 ± 1.3 (n=4)" in every_vae["evidence"]  # both labelled VAEs: no entry's key is "vae"


# --- gate, missing runs, validation --------------------------------------------------------------
def test_gate_failures_and_missing_runs_are_named():
    results = runs("a", [50.0], passed=False) + runs("b", [80.0])
    row = check_claim(claim(), results)
    assert row["verdict"] == "inconclusive" and row["why"].startswith("a run failed the quality gate: a on mnist-5k")
    assert row["evidence"].startswith("not measured: a on mnist-5k (seed 0) did not learn the data")
    absent = check_claim(claim(b={"model": "nobody"}), results)
    assert absent["verdict"] == "not run here" and "side B" in absent["why"]


def test_trend_uses_the_rule_at_its_end_levels():
    levels = ["clean", "noisy"]
    trend = dict(kind="trend", metric="recall", higher_is_better=True, b={}, levels=levels, direction="decreasing")
    falls = runs("a", [0.5, 0.52], metric="recall", dataset="clean") + runs("a", [0.2, 0.22], metric="recall", dataset="noisy")
    assert check_claim(claim(**trend), falls)["verdict"] == "confirmed"
    close = runs("a", [0.50], metric="recall", dataset="clean") + runs("a", [0.48], metric="recall", dataset="noisy")
    row = check_claim(claim(**trend), close)
    assert row["verdict"] == "inconclusive" and row["why"] == "one run per level, difference 4.0% < 10%"


@pytest.mark.parametrize("fields, message", [
    ({"kind": "bigger"}, "unknown kind 'bigger'; use one of compare, trend, equivalent, threshold, checkpoint_trend"),
    ({"b": {}}, "of kind compare needs a group b"),
    ({"source": None}, "names no origin; give it a ledger id"),
    ({"id": "15"}, "a ledger id is C1..C47"),
    ({"kind": "threshold", "b": {}}, "needs a value (threshold: 0.9)"),
    ({"kind": "trend", "b": {}, "levels": ["clean"]}, "needs at least two levels"),
])
def test_claim_validation_names_the_problem_in_one_line(fields, message):
    with pytest.raises(GenlabError, match=message.replace("(", r"\(").replace(")", r"\)")) as error:
        claim(**fields)
    assert "\n" not in str(error.value)
    assert claim(id="C15", source=None).id == "C15"  # an id alone names the origin
