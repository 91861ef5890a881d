"""Claims a study tests, checked against its measured results, with a verdict a person can trust.

Every checked claim gets a verdict: "confirmed", "refuted", "inconclusive" (with why: the difference is
within the seed spread, one run per side and a small difference, a side's runs failed the quality gate,
a metric missing) or "not run here" (no run matches a side). Close values are never decided by one
seed's noise (the multi-seed rule):

- with >= 2 values on each side, a Welch 90% confidence interval of the difference of means decides:
  confirmed when it lies on the claimed side beyond the margin, refuted when it lies on the other side,
  inconclusive ("within the seed spread") when it straddles the margin;
- with one value on a side, a difference decides only when it exceeds `min_effect` (10%) of the larger
  |mean|; otherwise inconclusive ("one run per side, difference < 10%").

The evidence of every row states the rule used and the interval. The quality gate
(metrics/calibration.py) keeps models that did not learn the data out of every claim: a GAN that still
draws noise has a huge Laplacian, and must never make "GANs are sharper" true.

Metrics a claim may name: a key of a run's metrics or a run-level number (training_seconds, steps), a
checkpoint metric at the first / last / best checkpoint (`fid@first`, `fid@last`, `fid@best`, from the
run's over_training list), or the spread across seeds (`seed_std:fid`: the std of fid over the seeds of
each (model, dataset), averaged over the group).
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from genlab.studies.spec import Claim
from genlab.studies.verdicts import (Decision, _number, decide_advantage, decide_equivalence, mean_interval,
                                     welch_interval)

CHECKPOINT_POSITIONS = ("first", "last", "best")
SEED_STD_PREFIX = "seed_std:"
VERDICTS = ("confirmed", "refuted", "inconclusive", "not run here")


def _matches(result: dict[str, Any], filters: dict[str, Any], keys: set[Any]) -> bool:
    for field, wanted in filters.items():
        wanted = wanted if isinstance(wanted, list) else [wanted]
        if field == "model":
            # A model key (label) of the study names that entry only: `model: dcgan` beside a labelled
            # `dcgan-no-bn` means the plain DCGAN. A registered name no entry uses as its key names every
            # entry of that model (`model: vae` over `vae-bn` and `vae-no-bn`).
            if not any(result.get("model_key") == value if value in keys else result.get("model") == value
                       for value in wanted):
                return False
        elif result.get(field) not in wanted:
            return False
    return True


def select(results: list[dict[str, Any]], filters: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs matching a claim side's filters (model, dataset, ...; lists allowed)."""
    keys = {result.get("model_key") for result in results}
    return [result for result in results if _matches(result, filters, keys)]


def _finite(value: Any) -> float | None:
    # NaN: not measured (a threshold never reached, a metric that could not be computed).
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else None


def checkpoint_series(result: dict[str, Any], metric: str) -> list[float]:
    """The values of checkpoint metric `metric` along a run's over_training list, in step order."""
    points = sorted(result.get("over_training") or [], key=lambda point: point.get("step", 0))
    return [v for v in (_finite(point.get(metric)) for point in points) if v is not None]


def metric_value(result: dict[str, Any], metric: str) -> float | None:
    """A run's value of `metric`: a key of its metrics, a run-level number (training_seconds, steps), or
    `<m>@first|last|best` (checkpoint metric m at the first / last / best checkpoint)."""
    if result.get("status") != "done":
        return None
    if "@" in metric:
        name, position = metric.rsplit("@", 1)
        if position in CHECKPOINT_POSITIONS:
            series = checkpoint_series(result, name)
            if not series:
                return None
            if position == "best":
                from genlab.studies.report import lower_is_better

                return min(series) if lower_is_better(name) else max(series)
            return series[0] if position == "first" else series[-1]
    return _finite(result.get("metrics", {}).get(metric, result.get(metric)))


def side_values(results: list[dict[str, Any]], metric: str) -> list[float]:
    """The values a side of a claim contributes: one per run, or for `seed_std:<m>` one spread (population
    std across seeds) per (model, dataset) with at least two seeds measured."""
    if not metric.startswith(SEED_STD_PREFIX):
        return [v for v in (metric_value(r, metric) for r in results) if v is not None]
    name = metric[len(SEED_STD_PREFIX):]
    groups: dict[tuple[Any, Any], list[float]] = {}
    for result in results:
        value = metric_value(result, name)
        if value is not None:
            groups.setdefault((result.get("model_key"), result.get("dataset")), []).append(value)
    return [statistics.pstdev(values) for values in groups.values() if len(values) >= 2]


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


# --- the multi-seed rule ---------------------------------------------------------------------------
def _describe(values: list[float]) -> str:
    if not values:
        return "none"
    mean = statistics.fmean(values)
    spread = f" ± {statistics.stdev(values):.2g}" if len(values) > 1 else ""
    return f"{_number(mean)}{spread} (n={len(values)})"


def _condition(runs: list[dict[str, Any]], metric: str | None = None) -> str:
    """'dcgan, gan on fashion-mnist (2 seeds)': which runs a side used (those with a value of `metric`)."""
    if metric is not None:
        name = metric[len(SEED_STD_PREFIX):] if metric.startswith(SEED_STD_PREFIX) else metric
        runs = [r for r in runs if metric_value(r, name) is not None] or runs
    if not runs:
        return "no runs"
    models = ", ".join(dict.fromkeys(str(r.get("model_key")) for r in runs))
    datasets = ", ".join(dict.fromkeys(str(r.get("dataset")) for r in runs))
    seeds = len({r.get("seed") for r in runs})
    return f"{models} on {datasets}" + (f" ({seeds} seeds)" if seeds > 1 else "")


def _base_row(claim: Claim) -> dict[str, Any]:
    return {"id": claim.id, "source": claim.source, "text": claim.text, "kind": claim.kind, "metric": claim.metric,
            "verdict": "inconclusive", "why": "", "evidence": "", "held": None, "conditions": ""}


def _finish(row: dict[str, Any], decision: Decision, evidence: str) -> dict[str, Any]:
    row.update(verdict=decision.verdict, why=decision.why, evidence=f"{evidence}; {decision.rule}",
               held={"confirmed": True, "refuted": False}.get(decision.verdict))
    return row


def _not_measured(row: dict[str, Any], why: str, excluded: list[dict[str, Any]]) -> dict[str, Any]:
    """A row whose claim could not be judged: a side's runs failed the gate, or lack the metric."""
    if excluded:
        row.update(why=f"a run failed the quality gate: {failed_gate_text(excluded)}",
                   evidence=f"not measured: {failed_gate_text(excluded)}")
    else:
        row.update(why=f"too few runs: {why}", evidence=f"not measured ({why})")
    return row


def _sides(claim: Claim, results: list[dict[str, Any]]):
    """Runs of A and B that take part (per the claim's gate), the runs the gate kept out, and the failing
    runs of B that stay in (gate 'a': a baseline expected not to learn the data)."""
    group_a = select(results, claim.a)
    group_b = select(results, claim.b) if claim.b else []
    (kept_a, out_a), (kept_b, out_b) = gated(group_a), gated(group_b)
    excluded = {"all": out_a + out_b, "a": out_a, "none": []}[claim.gate]
    if claim.gate != "none":
        group_a = kept_a
    if claim.gate == "all":
        group_b = kept_b
    failed_b = out_b if claim.gate == "a" else []
    return group_a, group_b, excluded, failed_b


def _never_run(row: dict[str, Any], claim: Claim, results: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A 'not run here' row when no run at all (finished or not) matches a side, else None."""
    for name, filters in (("A", claim.a), ("B", claim.b if claim.kind in ("compare", "equivalent") else None)):
        if filters is not None and not select(results, filters):
            row.update(verdict="not run here", why=f"no run of side {name} ({filters}) in these results",
                       evidence=f"not measured (no run matches {name})")
            return row
    return None


def _check_compare(claim: Claim, results: list[dict[str, Any]], row: dict[str, Any]) -> dict[str, Any]:
    group_a, group_b, excluded, failed_b = _sides(claim, results)
    values_a, values_b = side_values(group_a, claim.metric), side_values(group_b, claim.metric)
    row["conditions"] = f"A: {_condition(group_a, claim.metric)}; B: {_condition(group_b, claim.metric)}"
    if not values_a or not values_b:
        return _not_measured(row, f"{len(values_a)} values of A, {len(values_b)} of B for '{claim.metric}'", excluded)
    mean_a, mean_b = statistics.fmean(values_a), statistics.fmean(values_b)
    left_out = ((f"; left out: {failed_gate_text(excluded)}" if excluded else "")
                + (f"; in B: {failed_gate_text(failed_b)}" if failed_b else ""))
    if claim.kind == "equivalent":
        decision, tolerance = decide_equivalence(values_a, values_b, claim)
        evidence = f"A {_describe(values_a)} vs B {_describe(values_b)}; |Δ| {abs(mean_a - mean_b):.4g}, tolerance {tolerance}"
        return _finish(row, decision, evidence + left_out)
    sign = 1 if claim.higher_is_better else -1
    several = len(values_a) >= 2 and len(values_b) >= 2
    interval = None
    if several:
        _, low, high = welch_interval(values_a, values_b)
        interval = (low, high) if sign > 0 else (-high, -low)
    single = "one run per side" if len(values_a) == 1 and len(values_b) == 1 else \
        f"one run on side {'A' if len(values_a) == 1 else 'B'}"
    decision = decide_advantage(sign * (mean_a - mean_b), interval, claim.margin, max(abs(mean_a), abs(mean_b)),
                                claim.min_effect, single)
    better = "higher" if claim.higher_is_better else "lower"
    evidence = (f"A {_describe(values_a)} vs B {_describe(values_b)}; {better} is better"
                + (f", margin {claim.margin:g}" if claim.margin else ""))
    return _finish(row, decision, evidence + left_out)


def _check_threshold(claim: Claim, results: list[dict[str, Any]], row: dict[str, Any]) -> dict[str, Any]:
    group_a, _, excluded, _ = _sides(claim, results)
    values = side_values(group_a, claim.metric)
    row["conditions"] = f"A: {_condition(group_a, claim.metric)}"
    if not values:
        return _not_measured(row, f"no value of '{claim.metric}' in A", excluded)
    sign = 1 if claim.higher_is_better else -1
    threshold = float(claim.threshold)
    mean = statistics.fmean(values)
    interval = None
    if len(values) >= 2:
        _, low, high = mean_interval(values)
        interval = (sign * (low - threshold), sign * (high - threshold))
        interval = (min(interval), max(interval))
    decision = decide_advantage(sign * (mean - threshold), interval, claim.margin, max(abs(mean), abs(threshold)),
                                claim.min_effect, "one run")
    evidence = (f"A {_describe(values)} against the threshold {threshold:g} ({'higher' if sign > 0 else 'lower'} is better)"
                + (f"; left out: {failed_gate_text(excluded)}" if excluded else ""))
    return _finish(row, decision, evidence)


def _check_checkpoint_trend(claim: Claim, results: list[dict[str, Any]], row: dict[str, Any]) -> dict[str, Any]:
    group_a, _, excluded, _ = _sides(claim, results)
    sign = 1 if claim.direction == "increasing" else -1
    paths, changes, scales = [], [], []
    for result in group_a:
        series = checkpoint_series(result, claim.metric) if result.get("status") == "done" else []
        if len(series) >= 2:
            changes.append(sign * (series[-1] - series[0]))
            scales.append(max(abs(series[0]), abs(series[-1])))
            paths.append(f"{result.get('model_key')} seed {result.get('seed')}: " + " → ".join(_number(v) for v in series))
    row["conditions"] = f"A: {_condition(group_a)}"
    if not changes:
        return _not_measured(row, f"no run of A has two checkpoints with '{claim.metric}'", excluded)
    mean_change = statistics.fmean(changes)
    interval = mean_interval(changes)[1:] if len(changes) >= 2 else None
    decision = decide_advantage(mean_change, interval, claim.margin, statistics.fmean(scales), claim.min_effect,
                                "one run")
    evidence = (f"{claim.metric} over checkpoints ({claim.direction} claimed): " + "; ".join(paths)
                + f"; mean change in the claimed direction {_number(mean_change)} (n={len(changes)})"
                + (f"; left out: {failed_gate_text(excluded)}" if excluded else ""))
    return _finish(row, decision, evidence)


def _check_trend(claim: Claim, results: list[dict[str, Any]], row: dict[str, Any]) -> dict[str, Any]:
    level_values: list[list[float]] = []
    used: list[dict[str, Any]] = []
    for index, level in enumerate(claim.levels):
        members = [r for r in select(results, claim.a) if r.get("dataset") == level]
        if claim.gate != "none" and index == 0:
            # The clean (first) level must show the model learned the data; the later levels are what
            # the trend measures, degraded runs included.
            kept, excluded = gated(members)
            if excluded and not kept:
                return _not_measured(row, "", excluded)
            members = kept
        used += members
        level_values.append(side_values(members, claim.metric))
    row["conditions"] = f"A: {_condition(used)}; levels {' → '.join(claim.levels)}"
    if any(not values for values in level_values) or len(level_values) < 2:
        return _not_measured(row, "a level has no finished run with this metric", [])
    means = [statistics.fmean(values) for values in level_values]
    sign = 1 if claim.direction == "increasing" else -1
    first, last = level_values[0], level_values[-1]
    interval = None
    if len(first) >= 2 and len(last) >= 2:
        _, low, high = welch_interval(last, first)
        interval = (low, high) if sign > 0 else (-high, -low)
    single = "one run per level" if len(first) == 1 and len(last) == 1 else "one run at an end level"
    decision = decide_advantage(sign * (means[-1] - means[0]), interval, claim.margin,
                                max(abs(means[0]), abs(means[-1])), claim.min_effect, single)
    steps_right = sum(1 for x, y in zip(means, means[1:]) if sign * (y - x) > 0)
    if decision.verdict == "confirmed" and steps_right < (len(means) - 1) / 2:
        decision = Decision("refuted", "", decision.rule + f"; but only {steps_right} of {len(means) - 1} steps move "
                            f"{'up' if sign > 0 else 'down'}")
    evidence = f"{claim.metric} along {' → '.join(claim.levels)}: " + " → ".join(_number(m) for m in means)
    if any(len(values) > 1 for values in level_values):
        evidence += " (n=" + "/".join(str(len(values)) for values in level_values) + ")"
    return _finish(row, decision, evidence)


CHECKERS = {"compare": _check_compare, "equivalent": _check_compare, "threshold": _check_threshold,
            "checkpoint_trend": _check_checkpoint_trend, "trend": _check_trend}


def check_claim(claim: Claim, results: list[dict[str, Any]]) -> dict[str, Any]:
    """A row {id, source, text, kind, metric, verdict, why, evidence, held, conditions}; held is True
    (confirmed), False (refuted) or None (inconclusive, not run here)."""
    row = _base_row(claim)
    if claim.kind == "trend":
        if not any(r.get("dataset") in claim.levels for r in select(results, claim.a)):
            row.update(verdict="not run here", why="no run of the trend's levels in these results",
                       evidence="not measured (no run matches A at any level)")
            return row
    elif (never := _never_run(row, claim, results)) is not None:
        return never
    return CHECKERS[claim.kind](claim, results, row)


def check_claims(claims: list[Claim], results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [check_claim(claim, results) for claim in claims]
