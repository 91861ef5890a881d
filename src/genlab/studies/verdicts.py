"""The multi-seed verdict rule: confidence intervals over seeds and the decisions they give a claim.

With >= 2 values on each side a Welch 90% interval of the difference of means decides; with one value on
a side a difference decides only above `min_effect` of the larger |mean|. Every decision carries the rule
in words, for the evidence line.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from genlab.studies.spec import Claim

CONFIDENCE = 0.90  # of the interval that decides a claim with several values per side


def _t_quantile(degrees_of_freedom: float) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + CONFIDENCE / 2, degrees_of_freedom))


def welch_interval(values_a: list[float], values_b: list[float]) -> tuple[float, float, float]:
    """(mean A - mean B, low, high): the Welch 90% confidence interval of the difference (>= 2 values each)."""
    difference = statistics.fmean(values_a) - statistics.fmean(values_b)
    share_a = statistics.variance(values_a) / len(values_a)
    share_b = statistics.variance(values_b) / len(values_b)
    standard_error = math.sqrt(share_a + share_b)
    if standard_error == 0:  # every seed gave the same value: the interval is the point
        return difference, difference, difference
    # Welch–Satterthwaite degrees of freedom
    freedom = (share_a + share_b) ** 2 / (share_a ** 2 / (len(values_a) - 1) + share_b ** 2 / (len(values_b) - 1))
    half = _t_quantile(freedom) * standard_error
    return difference, difference - half, difference + half


def mean_interval(values: list[float]) -> tuple[float, float, float]:
    """(mean, low, high): the 90% Student-t confidence interval of the mean (>= 2 values)."""
    mean = statistics.fmean(values)
    half = _t_quantile(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


@dataclass
class Decision:
    """A verdict, why it is not decided (empty when it is) and the rule with its numbers."""

    verdict: str
    why: str
    rule: str


def _number(value: float) -> str:
    return f"{value:.4g}"


def _interval(low: float, high: float) -> str:
    return f"[{low:.4g}, {high:.4g}]"


def decide_advantage(advantage: float, interval: tuple[float, float] | None, margin: float, scale: float,
                     min_effect: float, single: str) -> Decision:
    """Is the claimed side ahead by more than `margin`? `advantage`: the estimate (positive = as claimed);
    `interval`: its 90% interval when both sides have >= 2 values, else None and the one-run rule applies
    (|advantage| must exceed min_effect x `scale`, the larger |mean|); `single` names the one-run case."""
    beyond = f" beyond the margin {margin:g}" if margin else ""
    if interval is not None:
        low, high = interval
        rule = f"rule: {CONFIDENCE:.0%} interval of the claimed advantage {_interval(low, high)}{beyond}"
        if low == high == 0:
            # Every run on both sides gave the same value (e.g. 0 modes each: nothing learned): the metric
            # does not separate them, which says nothing either way.
            return Decision("inconclusive", "every run gave the same value: the metric does not separate A and B",
                            rule + " is the single point 0")
        if low > margin:
            return Decision("confirmed", "", rule + " lies on the claimed side")
        if high <= margin:
            return Decision("refuted", "", rule + " lies on the other side")
        return Decision("inconclusive", f"within the seed spread: the {CONFIDENCE:.0%} interval "
                        f"{_interval(low, high)} of the advantage includes {margin:g}", rule + " straddles it")
    share = abs(advantage) / scale if scale > 0 else 0.0
    rule = (f"rule: {single}, so the difference decides only above {min_effect:.0%} of the larger |mean| "
            f"(it is {share:.1%})")
    if share <= min_effect:
        return Decision("inconclusive", f"{single}, difference {share:.1%} < {min_effect:.0%}", rule)
    return Decision("confirmed" if advantage > margin else "refuted", "", rule)


def decide_equivalence(values_a: list[float], values_b: list[float], claim: Claim) -> tuple[Decision, str]:
    """No real difference between A and B? Returns the decision and the tolerance used, in words.

    The tolerance is `margin` / `relative_margin` x the larger |mean|; with neither given it is the seed
    spread (the mean of the two sides' standard deviations across seeds). With >= 2 values per side, a
    stated tolerance is confirmed when the 90% interval of mean A - mean B lies inside ±tolerance (two
    one-sided tests); the seed spread is matched when |Δ| is within it. Either is refuted when the
    interval lies wholly outside ±tolerance, else inconclusive. With one value on a side: confirmed when
    |Δ| is within a stated tolerance, refuted when it exceeds both the tolerance and min_effect."""
    mean_a, mean_b = statistics.fmean(values_a), statistics.fmean(values_b)
    difference, scale = mean_a - mean_b, max(abs(mean_a), abs(mean_b))
    tolerance = max(claim.margin, claim.relative_margin * scale)
    several = len(values_a) >= 2 and len(values_b) >= 2
    stated = tolerance > 0
    if not stated and several:
        tolerance = (statistics.stdev(values_a) + statistics.stdev(values_b)) / 2
    words = (f"±{tolerance:.4g} (" + (f"margin {claim.margin:g}" if claim.margin >= claim.relative_margin * scale
                                      else f"{claim.relative_margin:.0%} of the larger |mean|") + ")" if stated
             else f"±{tolerance:.4g} (the seed spread)" if several else "none (no seed spread with one run)")
    if several:
        _, low, high = welch_interval(values_a, values_b)
        rule = f"rule: {CONFIDENCE:.0%} interval of mean A - mean B {_interval(low, high)} against ±{tolerance:.4g}"
        inside = (-tolerance <= low and high <= tolerance) if stated else abs(difference) <= tolerance
        if inside:
            return Decision("confirmed", "", rule + (" lies inside it" if stated else ": |Δ| is within the seed spread")), words
        if low > tolerance or high < -tolerance:
            return Decision("refuted", "", rule + " lies outside it"), words
        return Decision("inconclusive", f"within the seed spread: the {CONFIDENCE:.0%} interval {_interval(low, high)} "
                        f"reaches past ±{tolerance:.4g}", rule + " straddles it"), words
    share = abs(difference) / scale if scale > 0 else 0.0
    rule = (f"rule: one run on a side: |Δ| {abs(difference):.4g} ({share:.1%} of the larger |mean|) against the "
            f"tolerance and {claim.min_effect:.0%}")
    if stated and abs(difference) <= tolerance:
        return Decision("confirmed", "", rule), words
    if abs(difference) > tolerance and share > claim.min_effect:
        return Decision("refuted", "", rule), words
    why = (f"one run per side, difference {share:.1%} < {claim.min_effect:.0%}" if stated
           else f"one run per side and no stated margin: no seed spread to judge a difference of {share:.1%} by")
    return Decision("inconclusive", why, rule), words


# --- checking a claim --------------------------------------------------------------------------------
