"""Run-level curve measures: loss-FID rank correlation and collapse events over checkpoints, and the
logged losses the runner adds to each checkpoint."""

from __future__ import annotations

import json

import pytest

from genlab.studies.report import curve_measures, derived_measures
from genlab.studies.runner import logged_loss_means


def history(fids, **losses):
    """An over_training list: one entry per checkpoint with its FID and `loss.<name>` values."""
    return [{"step": 100 * (i + 1), "training_seconds": 10.0 * (i + 1), "fid": float(fid),
             **{f"loss.{name}": float(values[i]) for name, values in losses.items()}} for i, fid in enumerate(fids)]


def test_a_loss_that_falls_with_fid_has_rank_correlation_one():
    result = {"over_training": history([100, 80, 60, 40, 30], loss_g=[5, 4, 3, 2.5, 1], loss_d=[1, 2, 3, 4, 9])}
    derived = derived_measures(result, {})
    assert derived["loss_fid_spearman"] == pytest.approx(1.0)  # the generator loss, monotone with FID
    assert derived["loss_d_fid_spearman"] == pytest.approx(-1.0)
    assert derived["collapse_events"] == 0.0
    assert derived["fid_std_over_training"] > 0 and not any(key.startswith("loss.") for key in derived)


def test_without_a_generator_loss_the_total_loss_is_used():
    measures = curve_measures(history([100, 80, 90, 40], loss=[3, 1, 2, 0]))
    assert measures["loss_fid_spearman"] == pytest.approx(1.0)
    assert "loss_d_fid_spearman" not in measures


def test_fewer_than_four_checkpoints_give_no_correlation():
    measures = curve_measures(history([100, 80, 60], loss_g=[3, 2, 1]))
    assert "loss_fid_spearman" not in measures and measures["collapse_events"] == 0.0


def test_one_doubling_of_fid_is_one_collapse_event():
    # 80 -> 160 doubles (one event); 160 -> 150 and 150 -> 200 (+33%) do not count.
    assert curve_measures(history([100, 80, 160, 150, 200]))["collapse_events"] == 1.0
    assert "collapse_events" not in curve_measures(history([100]))


def test_logged_losses_are_averaged_between_checkpoints(tmp_path):
    rows = [{"step": step, "epoch": step / 100, "time": step / 10, "loss_g": float(step), "loss_d": 1.0,
             "grad_norm/generator/total": 9.0, "images_per_second": 500.0, "sample_label_entropy": 2.0}
            for step in (10, 20, 30, 40, 50)]
    rows.append({"step": 50, "val/loss": 3.0})
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    means = logged_loss_means(tmp_path, [20, 50])
    assert means == [{"loss.loss_g": 15.0, "loss.loss_d": 1.0}, {"loss.loss_g": 40.0, "loss.loss_d": 1.0}]
    assert logged_loss_means(tmp_path / "missing", [20]) == [{}]
