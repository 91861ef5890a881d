"""Claims a study tests, checked against its measured results.

A claim holds, fails, or is "not measured" (a metric missing, a group with no finished run, or no
run of a group that passed the quality gate): the report never guesses. The quality gate
(metrics/calibration.py) keeps models that did not learn the data out of every claim: a GAN that
still draws noise has a huge Laplacian, and must never make "GANs are sharper" true.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from genlab.studies.spec import Claim


def _matches(result: dict[str, Any], filters: dict[str, Any]) -> bool:
    for field, wanted in filters.items():
        wanted = wanted if isinstance(wanted, list) else [wanted]
        if field == "model":
            if result.get("model_key") not in wanted and result.get("model") not in wanted:
                return False
        elif result.get(field) not in wanted:
            return False
    return True


def metric_value(result: dict[str, Any], metric: str) -> float | None:
    """A run's value of `metric`: a key of its metrics, or a run-level number (training_seconds, steps)."""
    if result.get("status") != "done":
        return None
    value = result.get("metrics", {}).get(metric, result.get(metric))
    # NaN: not measured (a threshold never reached, a metric that could not be computed).
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


LOWER_IS_BETTER_HINTS = ("fid", "kid", "nll", "bits", "mse", "error", "seconds", "kl", "collapse")


def lower_is_better(metric: str) -> bool:
    """Whether smaller values of `metric` are better, judged from its name (fid, nll, seconds ...)."""
    return any(hint in metric.lower() for hint in LOWER_IS_BETTER_HINTS)


def gate_passed(result: dict[str, Any]) -> bool | None:
    """The run's quality-gate verdict (None: not judged, e.g. toy2d points or no FID measured)."""
    return (result.get("quality_gate") or {}).get("passed")


def gated(results: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(runs that may take part in a claim, finished runs the gate kept out)."""
    done = [r for r in results if r.get("status") == "done"]
    return [r for r in done if gate_passed(r) is not False], [r for r in done if gate_passed(r) is False]


def failed_gate_text(excluded: list[dict[str, Any]]) -> str:
    """'dcgan did not learn the data (FID 757 ≈ uniform noise 750)' for each run kept out."""
    return "; ".join(f"{r.get('model_key')} on {r.get('dataset')} (seed {r.get('seed')}) did not learn the data "
                     f"({(r.get('quality_gate') or {}).get('reason', 'failed the quality gate')})" for r in excluded)


def _mean(results: list[dict[str, Any]], metric: str) -> tuple[float | None, int]:
    values = [v for v in (metric_value(r, metric) for r in results) if v is not None]
    return (statistics.fmean(values), len(values)) if values else (None, 0)


def check_claim(claim: Claim, results: list[dict[str, Any]]) -> dict[str, Any]:
    """{text, metric, evidence, held}; held is True, False or None (not measured)."""
    row: dict[str, Any] = {"text": claim.text, "metric": claim.metric, "held": None}
    better = "higher" if claim.higher_is_better else "lower"
    if claim.kind == "compare":
        group_a = [r for r in results if _matches(r, claim.a)]
        group_b = [r for r in results if _matches(r, claim.b)]
        (kept_a, out_a), (kept_b, out_b) = gated(group_a), gated(group_b)
        excluded = {"all": out_a + out_b, "a": out_a, "none": []}[claim.gate]
        if claim.gate != "none":
            group_a = kept_a
        if claim.gate == "all":
            group_b = kept_b
        failed_b = out_b if claim.gate == "a" else []
        mean_a, count_a = _mean(group_a, claim.metric)
        mean_b, count_b = _mean(group_b, claim.metric)
        if mean_a is None or mean_b is None:
            why = f"{count_a} runs of A, {count_b} of B have '{claim.metric}'"
            row["evidence"] = f"not measured: {failed_gate_text(excluded)}" if excluded else f"not measured ({why})"
            return row
        difference = mean_a - mean_b if claim.higher_is_better else mean_b - mean_a
        row["held"] = difference > claim.margin
        row["evidence"] = (f"A {mean_a:.4g} (n={count_a}) vs B {mean_b:.4g} (n={count_b}); {better} is better"
                           + (f", margin {claim.margin:g}" if claim.margin else "")
                           + (f"; left out: {failed_gate_text(excluded)}" if excluded else "")
                           + (f"; in B: {failed_gate_text(failed_b)}" if failed_b else ""))
        return row
    means = []
    for index, level in enumerate(claim.levels):
        members = [r for r in results if _matches(r, claim.a) and r.get("dataset") == level]
        if claim.gate != "none" and index == 0:
            # The clean (first) level must show the model learned the data; the later levels are what
            # the trend measures, degraded runs included.
            kept, excluded = gated(members)
            if excluded and not kept:
                row["evidence"] = f"not measured: {failed_gate_text(excluded)}"
                return row
            members = kept
        mean, _ = _mean(members, claim.metric)
        means.append(mean)
    if any(m is None for m in means) or len(means) < 2:
        row["evidence"] = "not measured (a level has no finished run with this metric)"
        return row
    sign = 1 if claim.direction == "increasing" else -1
    steps_right = sum(1 for x, y in zip(means, means[1:]) if sign * (y - x) > 0)
    row["held"] = sign * (means[-1] - means[0]) > claim.margin and steps_right >= (len(means) - 1) / 2
    row["evidence"] = f"{claim.metric} along {' → '.join(claim.levels)}: " + " → ".join(f"{m:.4g}" for m in means)
    return row


def check_claims(claims: list[Claim], results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [check_claim(claim, results) for claim in claims]
