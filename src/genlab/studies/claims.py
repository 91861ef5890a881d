"""Claims a study tests, checked against its measured results.

A claim holds, fails, or is "not measured" (a metric missing, or a group with no finished run):
the report never guesses.
"""

from __future__ import annotations

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
    return float(value) if isinstance(value, (int, float)) else None


def _mean(results: list[dict[str, Any]], metric: str) -> tuple[float | None, int]:
    values = [v for v in (metric_value(r, metric) for r in results) if v is not None]
    return (statistics.fmean(values), len(values)) if values else (None, 0)


def check_claim(claim: Claim, results: list[dict[str, Any]]) -> dict[str, Any]:
    """{text, metric, evidence, held}; held is True, False or None (not measured)."""
    row: dict[str, Any] = {"text": claim.text, "metric": claim.metric, "held": None}
    better = "higher" if claim.higher_is_better else "lower"
    if claim.kind == "compare":
        mean_a, count_a = _mean([r for r in results if _matches(r, claim.a)], claim.metric)
        mean_b, count_b = _mean([r for r in results if _matches(r, claim.b)], claim.metric)
        if mean_a is None or mean_b is None:
            row["evidence"] = f"not measured ({count_a} runs of A, {count_b} of B have '{claim.metric}')"
            return row
        difference = mean_a - mean_b if claim.higher_is_better else mean_b - mean_a
        row["held"] = difference > claim.margin
        row["evidence"] = (f"A {mean_a:.4g} (n={count_a}) vs B {mean_b:.4g} (n={count_b}); {better} is better"
                           + (f", margin {claim.margin:g}" if claim.margin else ""))
        return row
    means = []
    for level in claim.levels:
        mean, _ = _mean([r for r in results if _matches(r, claim.a) and r.get("dataset") == level], claim.metric)
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
