"""A study reuses a finished run only while its settings are unchanged; a changed run is set aside, not lost."""

import json

from genlab.runfolder import RESULT_FILE
from genlab.studies.runner import execute_run, run_settings, settings_changed


def _task(run_dir, minutes=1.0, model="no-such-model"):
    return {"key": "k", "study": "s", "model": model, "model_key": model, "model_config": {},
            "dataset": "mnist-5k", "data": {"name": "mnist-5k"}, "seed": 0,
            "budget": {"steps": None, "minutes": minutes, "checkpoints": 1}, "run_dir": str(run_dir),
            "metrics": ["fid"], "eval_samples": 100, "checkpoint_metrics": ["fid"], "threads": 1}


def _finish(run_dir, task):
    run_dir.mkdir(parents=True)
    (run_dir / RESULT_FILE).write_text(json.dumps({"status": "done", "key": "k", "settings": run_settings(task),
                                                   "metrics": {"fid": 12.0}}))


def test_a_finished_run_with_the_same_settings_is_reused(tmp_path):
    task = _task(tmp_path / "run")
    _finish(tmp_path / "run", task)
    result = execute_run(task)
    assert result["skipped"] is True and result["metrics"]["fid"] == 12.0


def test_a_changed_budget_sets_the_old_run_aside_and_runs_again(tmp_path):
    _finish(tmp_path / "run", _task(tmp_path / "run", minutes=1.0))
    result = execute_run(_task(tmp_path / "run", minutes=2.0))  # an unknown model fails fast, training nothing
    assert result["status"] == "failed" and not result.get("skipped")
    kept = json.loads((tmp_path / "run.old-1" / RESULT_FILE).read_text())
    assert kept["metrics"]["fid"] == 12.0  # the old result is kept beside the new run


def test_settings_compare_config_and_data_and_old_results_count_as_unchanged(tmp_path):
    task = _task(tmp_path)
    previous = {"settings": run_settings(task)}
    assert not settings_changed(previous, task)
    assert settings_changed(previous, task | {"model_config": {"lr": 1e-3}})
    assert settings_changed(previous, task | {"data": {"name": "mnist-5k", "subset": 500}})
    assert not settings_changed({"status": "done"}, task)


def test_a_studys_evaluate_options_reach_its_runs_and_count_as_settings(tmp_path):
    from genlab.studies.runner import task_for
    from tests.studies.study_checks import quick_runs

    spec, runs = quick_runs("vae-decoders")
    task = task_for(runs[0], threads=1)
    assert task["evaluate_options"] == spec.evaluate_options and spec.evaluate_options["likelihood_k"] < 100
    previous = {"settings": run_settings(task)}
    assert settings_changed(previous, task | {"evaluate_options": {"likelihood_k": 100}})
    # A study without options records none, so runs finished before the option existed are still reused.
    assert "evaluate_options" not in run_settings(task | {"evaluate_options": {}})
