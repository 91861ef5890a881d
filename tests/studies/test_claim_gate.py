"""Claims that noise cannot pass: the quality gate and recognised-only sharpness inside the claim machinery.

Nothing is trained: real, blurred and noise images are scored as if three models had drawn them, and
the claims are checked on those results as a study would check them.
"""

from __future__ import annotations

import genlab
from genlab.metrics.calibration import reference_images
from genlab.studies.claims import check_claim
from genlab.studies.runner import flatten
from genlab.studies.spec import Claim
from tests.metrics.test_calibration import fixed_run


def scored(tmp_path, mnist5k) -> list[dict]:
    """A study's results for three "models": sharp-real (real images), blurry (blurred), noise (uniform noise)."""
    images = reference_images(mnist5k.train_x, mnist5k.train_y, 500, seed=5)
    results = []
    for model, name in (("sharp-real", "real"), ("blurry", "blurred"), ("noise", "uniform_noise")):
        evaluation = genlab.evaluate(fixed_run(tmp_path, images[name], model), n=500, metrics="fid,prdc,sharpness",
                                     write=False)
        results.append({"model": model, "model_key": model, "dataset": "mnist-5k", "seed": 0, "status": "done",
                        "metrics": flatten(evaluation["metrics"]), "quality_gate": evaluation["quality_gate"]})
    return results


def test_noise_never_wins_sharpness_and_real_images_beat_blurred_ones(evaluator_env, mnist5k, tmp_path):
    results = scored(tmp_path, mnist5k)
    gate = {r["model"]: r["quality_gate"]["passed"] for r in results}
    assert gate == {"sharp-real": True, "blurry": True, "noise": False}
    # Raw variance of the Laplacian says noise is by far the "sharpest": the trap the gate closes.
    raw = {r["model"]: r["metrics"]["sharpness_all_samples"] for r in results}
    assert raw["noise"] > 5 * raw["sharp-real"]

    sharper = Claim(text="noise is sharper than blurred images", metric="sharpness_ratio",
                    a={"model": "noise"}, b={"model": "blurry"})
    verdict = check_claim(sharper, results)
    assert verdict["held"] is None
    assert verdict["evidence"].startswith("not measured: noise on mnist-5k (seed 0) did not learn the data (FID")

    mixed = Claim(text="samples of noise or real images are sharper than blurred ones", metric="sharpness_ratio",
                  a={"model": ["noise", "sharp-real"]}, b={"model": "blurry"})
    verdict = check_claim(mixed, results)
    assert verdict["held"] is True and "n=1" in verdict["evidence"] and "left out: noise" in verdict["evidence"]

    closer = Claim(text="real images are closer to the data's sharpness than blurred ones", metric="sharpness_log_error",
                   higher_is_better=False, a={"model": "sharp-real"}, b={"model": "blurry"})
    assert check_claim(closer, results)["held"] is True
    assert check_claim(Claim(text="blurred beats real on FID", metric="fid", higher_is_better=False,
                             a={"model": "blurry"}, b={"model": "sharp-real"}), results)["held"] is False


def test_a_claim_can_gate_only_its_winner_or_opt_out(evaluator_env, mnist5k, tmp_path):
    results = scored(tmp_path, mnist5k)
    # A baseline expected not to learn the data stays in as the loser; its failing is named in the evidence.
    beats_noise = Claim(text="real images beat noise on FID", metric="fid", higher_is_better=False, gate="a",
                        a={"model": "sharp-real"}, b={"model": "noise"})
    verdict = check_claim(beats_noise, results)
    assert verdict["held"] is True and "in B: noise on mnist-5k (seed 0) did not learn the data" in verdict["evidence"]
    # ... but the side claimed better must pass: noise never "wins" with gate "a".
    noise_wins = Claim(text="noise is sharper", metric="sharpness_ratio", gate="a", a={"model": "noise"}, b={"model": "blurry"})
    assert check_claim(noise_wins, results)["held"] is None
    ungated = Claim(text="noise has a higher FID than blurred images", metric="fid", gate="none",
                    a={"model": "noise"}, b={"model": "blurry"})
    assert check_claim(ungated, results)["held"] is True
