"""Dataset fallbacks in studies: the larger face set when it is on disk, the bundled one otherwise, and
the study says which; a small fallback gets a batch that fits."""

from __future__ import annotations

import pytest
import yaml

from genlab.studies.fallback import resolve_datasets
from genlab.studies.spec import builtin_studies, expand_runs, load_spec
from tests.faces_data import write_lfw_home

SPEC = {
    "name": "faces-fallback",
    "models": [{"name": "vae", "config": {"hidden_dims": [32], "latent_dim": 4}}],  # the default batch: 128
    "datasets": [{"name": "lfw", "label": "faces", "resize": 16, "fallback": "faces-lfw"},
                 {"name": "lfw", "label": "faces+awgn:high", "resize": 16, "corruption": "awgn:high",
                  "fallback": {"name": "faces-lfw", "subset": 60}}],
    "budgets": {"quick": {"steps": 4, "checkpoints": 1}},
    "metrics": ["fid"],
    "eval_samples": 40,
    "checkpoint_metrics": [],
    "interpolations": False,
}


@pytest.fixture
def spec_file(tmp_path, isolated_env):
    path = tmp_path / "faces.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    return path


def resolved(spec_file, out):
    spec = load_spec(spec_file)
    return resolve_datasets(spec, expand_runs(spec, spec.budgets["quick"], out))


def test_without_lfw_on_disk_the_runs_take_the_fallback_and_a_batch_that_fits(spec_file, tmp_path):
    spec, runs, notes = resolved(spec_file, tmp_path / "out")
    assert [run.key for run in runs] == ["vae__faces__seed0", "vae__faces+awgn-high__seed0"]  # keys stay
    assert [run.dataset.name for run in runs] == ["faces-lfw", "faces-lfw"]
    assert runs[1].dataset.corruption == "awgn:high" and runs[1].dataset.subset == 60  # fields over the entry's
    assert [run.model.config["batch_size"] for run in runs] == [80, 60]  # 128 does not fit 80 or 60 faces
    assert "lfw" in notes[0] and "faces-lfw" in notes[0] and "not found" in notes[0]
    assert "Data used: dataset faces: faces-lfw (fallback: lfw:" in spec.description
    assert [entry.name for entry in spec.datasets] == ["faces-lfw", "faces-lfw"]  # the report's datasets table
    assert "batch_size" not in load_spec(spec_file).models[0].config  # the spec's own entry is untouched


def test_with_lfw_on_disk_the_runs_take_it(spec_file, tmp_path, isolated_env):
    write_lfw_home(isolated_env / "cache" / "lfw")
    spec, runs, notes = resolved(spec_file, tmp_path / "out")
    assert [run.dataset.name for run in runs] == ["lfw", "lfw"] and notes[0] == "dataset faces: lfw"
    assert all("batch_size" not in run.model.config for run in runs)  # the trainer fits the first choice's batch
    assert "Data used: dataset faces: lfw;" in spec.description


def test_a_fallback_run_trains_with_the_capped_batch(spec_file, tmp_path):
    import genlab
    from genlab.studies.runner import task_for

    _, runs, _ = resolved(spec_file, tmp_path / "out")
    task = task_for(runs[0], threads=1)  # what a study's worker receives
    run = genlab.train(task["model"], data=task["data"], out=tmp_path / "run", config=task["model_config"], steps=2,
                       progress=False, eval_every=0, sample_every=0, checkpoint_every=0)
    assert run.step == 2 and run.config["data"]["name"] == "faces-lfw"  # not "batch size 128 exceeds the 80 items"


@pytest.mark.parametrize("name", ["structure"])  # noise-robustness runs on clothing (see its description)
def test_the_face_studies_prefer_lfw_and_their_claims_name_their_datasets(name):
    spec = load_spec(builtin_studies()[name])
    faces = [entry for entry in spec.datasets if entry.name == "lfw"]
    assert faces and all(entry.fallback == "faces-lfw" and entry.key.startswith("faces") for entry in faces)
    keys = {entry.key for entry in spec.datasets}
    for claim in spec.claims:
        assert set(claim.levels) <= keys, claim.text
