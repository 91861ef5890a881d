"""A tiny study end to end: both executors, resumption after a kill, failed runs, the HTML report."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from genlab.studies.runner import run_study
from genlab.studies.spec import builtin_studies, load_spec
from tests.conftest import genlab_command, subprocess_env

TINY_SPEC = {
    "name": "tiny",
    "description": "two models, one dataset, a few steps",
    "models": [
        {"name": "vae", "config": {"hidden_dims": [64], "latent_dim": 4, "batch_size": 32}},
        {"name": "dcgan", "config": {"latent_dim": 8, "generator_features": 8, "discriminator_features": 8, "batch_size": 32}},
        # Diverges at once: the study must report it as failed and carry on.
        {"name": "vae", "label": "vae-diverging", "config": {"lr": 1.0e12, "likelihood": "gaussian", "batch_size": 32}},
    ],
    "datasets": [{"name": "mnist-5k", "subset": 600, "test_subset": 300}],
    "seeds": [0],
    "budgets": {"quick": {"steps": 40, "checkpoints": 2}},
    "metrics": ["fid"],
    "eval_samples": 300,
    "checkpoint_metrics": ["fid"],
    "claims": [{"text": "the VAE beats the tiny DCGAN on FID", "source": "a test of the machinery", "metric": "fid",
                "higher_is_better": False,
                "a": {"model": "vae"}, "b": {"model": "dcgan"}}],
}


@pytest.fixture()
def spec_file(tmp_path, evaluator_env):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY_SPEC))
    return path


@pytest.fixture(scope="module")
def local_study(tmp_path_factory, evaluator_cache):
    """The tiny study run once with the local executor (several tests read its outputs)."""
    folder = tmp_path_factory.mktemp("study")
    spec = folder / "tiny.yaml"
    spec.write_text(yaml.safe_dump(TINY_SPEC))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GENLAB_CACHE", str(evaluator_cache))
        patch.setenv("GENLAB_OFFLINE", "1")
        report = run_study(spec, out=folder / "out", executor="local", workers=2, progress=False)
    return spec, report


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def check_outputs(out: Path) -> dict:
    report = (out / "report.html").read_text()
    results = json.loads((out / "results.json").read_text())
    runs = {run["model_key"]: run for run in results["runs"]}
    assert runs["vae"]["status"] == "done" and runs["dcgan"]["status"] == "done"
    assert runs["vae-diverging"]["status"] == "failed" and "diverged" in runs["vae-diverging"]["error"]
    rows = {row["model"]: row for row in read_csv(out / "results.csv")}
    for model in ("vae", "dcgan"):
        fid = runs[model]["metrics"]["fid"]
        assert fid > 0
        assert float(rows[model]["fid"]) == pytest.approx(fid)
        assert f"{fid:.4g}" in report  # the measured value is in the report's table
        assert len(runs[model]["over_training"]) == 2
        # Each checkpoint carries the mean losses logged since the previous one (the runner reads metrics.jsonl).
        loss = "loss.loss" if model == "vae" else "loss.loss_g"
        assert all(isinstance(point.get(loss), float) for point in runs[model]["over_training"])
    assert "vae-diverging" in report and "Failed runs" in report
    # 40 steps teach neither model the data: the quality gate keeps the claim from being judged on them.
    claim = results["claims"][0]
    assert claim["held"] is None and claim["evidence"].startswith("not measured: ") and "did not learn the data" in claim["evidence"]
    assert runs["vae"]["quality_gate"]["passed"] is False and "FAILED" in report
    assert "calibration references" in report and runs["vae"]["calibration"]["blurred"]["fid"] > 0
    assert "data:image/png;base64," in report and "<script" in report
    return runs


@pytest.mark.xdist_group("local_study")
def test_local_study_end_to_end_with_a_failed_run(local_study, evaluator_env):
    spec, report = local_study
    out = report.parent
    first = check_outputs(out)
    # A second invocation skips every finished run and trains nothing.
    run_study(spec, out=out, executor="local", workers=2, progress=False)
    again = json.loads((out / "results.json").read_text())["runs"]
    assert all(run.get("skipped") for run in again if run["status"] == "done")
    assert {r["model_key"]: r["metrics"]["fid"] for r in again if r["status"] == "done"} == {
        k: v["metrics"]["fid"] for k, v in first.items() if v["status"] == "done"}


def test_ray_executor_runs_a_study_and_reports_its_failures(spec_file, tmp_path):
    out = tmp_path / "study-ray"
    # The VAE and the diverging VAE: one run that succeeds, one that fails, each a Ray task.
    spec_file.write_text(yaml.safe_dump(dict(TINY_SPEC, models=[TINY_SPEC["models"][0], TINY_SPEC["models"][2]])))
    run_study(spec_file, out=out, executor="ray", workers=1, progress=False)
    runs = {run["model_key"]: run for run in json.loads((out / "results.json").read_text())["runs"]}
    assert runs["vae"]["status"] == "done" and runs["vae"]["metrics"]["fid"] > 0
    assert runs["vae-diverging"]["status"] == "failed"
    rows = {row["model"]: row for row in read_csv(out / "results.csv")}
    assert float(rows["vae"]["fid"]) == pytest.approx(runs["vae"]["metrics"]["fid"])
    assert "vae-diverging" in (out / "report.html").read_text()


def test_a_study_killed_mid_run_resumes_on_the_next_invocation(spec_file, tmp_path):
    out = tmp_path / "study-killed"
    slow = dict(TINY_SPEC, budgets={"quick": {"steps": 6000, "checkpoints": 3}},
                models=TINY_SPEC["models"][:1])
    spec_file.write_text(yaml.safe_dump(slow))
    command = genlab_command() + ["study", "run", str(spec_file), "--out", str(out), "--workers", "1"]
    process = subprocess.Popen(command, env=subprocess_env(GENLAB_CACHE=os.environ["GENLAB_CACHE"]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    checkpoints = out / "runs" / "vae__mnist-5k__seed0" / "checkpoints"
    deadline = time.time() + 180
    while time.time() < deadline and not (checkpoints / "step-002000.json").exists():
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the driver and its worker process
    process.wait()
    assert not (out / "report.html").exists()
    killed_at = max(int(p.stem.split("-")[1]) for p in checkpoints.glob("step-*.json"))
    assert 2000 <= killed_at < 6000
    result = subprocess.run(command, env=subprocess_env(GENLAB_CACHE=os.environ["GENLAB_CACHE"]), capture_output=True,
                            text=True, timeout=400)
    assert result.returncode == 0, result.stderr
    run = json.loads((out / "results.json").read_text())["runs"][0]
    assert run["status"] == "done" and run["steps"] == 6000
    metrics = [json.loads(line) for line in (checkpoints.parent / "metrics.jsonl").read_text().splitlines()]
    steps = [row["step"] for row in metrics]
    assert steps == sorted(set(steps))  # resumed, not restarted: no step logged twice


@pytest.mark.xdist_group("local_study")
def test_report_reads_well_in_a_browser(local_study, tmp_path):
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("Debian's chromium is not installed (make test installs it where apt-get is usable)")
    _, report = local_study
    screenshot = tmp_path / "report.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2000", "--virtual-time-budget=5000",
                    f"--screenshot={screenshot}", report.resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)
    from PIL import Image, ImageStat

    picture = Image.open(screenshot).convert("L")
    assert picture.size == (1280, 2000)
    # A rendered page: mostly white background with dark text, tables and images, not a blank sheet.
    assert 150 < ImageStat.Stat(picture).mean[0] < 250
    assert ImageStat.Stat(picture).stddev[0] > 20


def test_builtin_studies_load_and_missing_models_are_named():
    from genlab.errors import GenlabError
    from genlab.models.registry import list_models
    from genlab.studies.spec import choose_budget, expand_runs

    names = builtin_studies()
    assert {"vae-vs-gan", "baselines-ladder", "noise-robustness", "structure", "conditioning", "batchnorm",
            "gan-objectives"} <= set(names)
    for name in names:
        spec = load_spec(name)
        assert "quick" in spec.budgets and spec.claims
        missing = sorted({m.name for m in spec.models} - set(list_models()))
        if missing:
            with pytest.raises(GenlabError, match=missing[0]):
                expand_runs(spec, choose_budget(spec, "quick"), Path("unused"))
        else:
            assert expand_runs(spec, choose_budget(spec, "quick"), Path("unused"))


def test_a_model_may_have_its_own_budget():
    from genlab.studies.spec import budget_name, choose_budget, expand_runs, from_dict
    from genlab.studies.spec import StudySpec

    spec = from_dict(StudySpec, {"name": "budgets", "models": [
        {"name": "vae"}, {"name": "dcgan", "budgets": {"quick": {"minutes": 2.5, "checkpoints": 3}}}],
        "datasets": [{"name": "mnist-5k"}], "budgets": {"quick": {"minutes": 0.5}, "full": {"minutes": 5}}})
    runs = {run.model.key: run.budget for run in expand_runs(spec, choose_budget(spec, None), Path("unused"),
                                                              budget_name(spec, None))}
    assert runs["vae"].minutes == 0.5 and runs["dcgan"].minutes == 2.5 and runs["dcgan"].checkpoints == 3
    full = {run.model.key: run.budget.minutes for run in expand_runs(spec, choose_budget(spec, "full"), Path("unused"),
                                                                     budget_name(spec, "full"))}
    assert full == {"vae": 5, "dcgan": 5}
    explicit = expand_runs(spec, choose_budget(spec, None, steps=10), Path("unused"), budget_name(spec, None, steps=10))
    assert {run.budget.steps for run in explicit} == {10}
