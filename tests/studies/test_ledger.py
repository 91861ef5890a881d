"""The claims ledger on a hand-made ledger folder: verdicts per id, aggregation, not-run reasons, files, CLI.

Nothing is trained: two small study specs stand in for the built-in ones (BUILTIN_DIR points at them)
and their results.json files hold hand-made runs, as the study runner would have left them.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import genlab
from genlab.cli import app
from genlab.errors import GenlabError
from genlab.studies import ledger as ledger_module
from genlab.studies import spec as spec_module
from genlab.studies.ledger import ledger_claims, run_ledger, write_ledger

IDS = [f"C{index}" for index in range(1, 48)]


def study_spec(name: str, claims: list[dict]) -> dict:
    return {"name": name, "models": ["vae", "dcgan"], "datasets": ["mnist-5k"], "seeds": [0, 1, 2],
            "budgets": {"quick": {"steps": 10}}, "claims": claims}


def fid_claim(**fields) -> dict:
    return {"text": "the DCGAN beats the VAE on FID", "metric": "fid", "higher_is_better": False,
            "a": {"model": "dcgan"}, "b": {"model": "vae"}} | fields


ALPHA = study_spec("alpha", [
    fid_claim(id="C8"),                                                       # confirmed here ...
    fid_claim(id="C23", text="a close call", a={"model": "vae"}, b={"model": "dcgan"}, metric="recall",
              higher_is_better=True),                                         # one seed each, 3% apart
    fid_claim(source="a blog post we read", text="the DCGAN beats the VAE (no report says so)"),
])
BETA = study_spec("beta", [
    fid_claim(id="C8"),                                                       # ... and refuted here: mixed
    fid_claim(id="C15", kind="equivalent", relative_margin=0.1, text="the two VAEs are alike",
              a={"model": "vae"}, b={"model": "vae-copy"}),
])


def result(model: str, seed: int, **metrics: float) -> dict:
    return {"key": f"{model}__mnist-5k__seed{seed}", "model": model, "model_key": model,
            "dataset": "mnist-5k", "seed": seed, "status": "done", "skipped": True, "metrics": metrics,
            "quality_gate": {"passed": True}}


@pytest.fixture()
def ledger_folder(tmp_path, monkeypatch) -> Path:
    """A ledger folder with two finished studies, whose specs stand in for the built-in studies."""
    builtin = tmp_path / "builtin"
    builtin.mkdir()
    for spec in (ALPHA, BETA):
        (builtin / f"{spec['name']}.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.setattr(spec_module, "BUILTIN_DIR", builtin)
    out = tmp_path / "ledger"
    alpha = ([result("dcgan", s, fid=f) for s, f in enumerate([50.0, 52.0, 51.0])]
             + [result("vae", s, fid=f) for s, f in enumerate([80.0, 82.0, 79.0])])
    alpha[0]["metrics"]["recall"], alpha[3]["metrics"]["recall"] = 0.30, 0.309  # C23's metric: seed 0 only
    beta = ([result("dcgan", s, fid=f) for s, f in enumerate([90.0, 92.0, 91.0])]
            + [result("vae", s, fid=f) for s, f in enumerate([60.0, 61.0, 62.0])]
            + [result("vae-copy", s, fid=f) for s, f in enumerate([61.0, 60.0, 62.0])])
    for name, runs in (("alpha", alpha), ("beta", beta)):
        folder = out / "studies" / name
        folder.mkdir(parents=True)
        (folder / "results.json").write_text(json.dumps({"metadata": {"study": name, "budget_name": "quick",
                                                                      "wall_seconds": 470.0}, "claims": [], "runs": runs}))
        (folder / "report.html").write_text("<html>the study report</html>")
    return out


def test_the_ledger_file_lists_exactly_c1_to_c47_in_our_own_words():
    claims = ledger_claims()
    assert [claim.id for claim in claims] == IDS
    assert all(claim.claim and claim.reports and all(re.fullmatch(r"00[0-4]", r) for r in claim.reports) for claim in claims)
    offline = {claim.id for claim in claims if claim.offline}
    assert {"C5", "C42", "C43"} <= offline and "C8" not in offline


def test_every_claim_gets_a_verdict_with_mixed_and_not_run_reasons(ledger_folder):
    path = write_ledger(ledger_folder)
    ledger = json.loads((ledger_folder / "ledger.json").read_text())
    entries = {entry["id"]: entry for entry in ledger["claims"]}
    assert list(entries) == IDS
    assert all(entry["verdict"] in ("confirmed", "refuted", "mixed", "inconclusive", "not run here") for entry in entries.values())
    # C8: alpha confirms it (51 vs 80.3), beta refutes it (91 vs 61): mixed, each study's row kept.
    c8 = entries["C8"]
    assert c8["verdict"] == "mixed" and c8["why"] == "confirmed in 1, refuted in 1 of 2 tests"
    assert [(row["study"], row["verdict"]) for row in c8["rows"]] == [("alpha", "confirmed"), ("beta", "refuted")]
    assert entries["C15"]["verdict"] == "confirmed" and entries["C15"]["studies"] == ["beta"]
    c23 = entries["C23"]
    assert c23["verdict"] == "inconclusive" and c23["why"] == "alpha: one run per side, difference 2.9% < 10%"
    assert entries["C5"]["verdict"] == "not run here" and "plant" in entries["C5"]["why"]
    assert entries["C2"]["verdict"] == "not run here" and entries["C2"]["why"] == "no study tests it yet"
    assert ledger["summary"] == {"confirmed": 1, "refuted": 0, "mixed": 1, "inconclusive": 1, "not run here": 44}
    # A claim with a source instead of an id is listed apart, with its source.
    assert [(row["study"], row["source"], row["verdict"]) for row in ledger["unlisted"]] == [
        ("alpha", "a blog post we read", "confirmed")]

    markdown = (ledger_folder / "ledger.md").read_text()
    table = [line for line in markdown.splitlines() if re.match(r"\| C\d+ \|", line)]
    assert len(table) == 47 and all(line.count(" | ") == 5 for line in table)  # pipes in evidence are escaped
    assert "| C8 | 002 |" in markdown and "| mixed |" in markdown
    assert "| C5 | 000 |" in markdown and "not run here: the plant photo collections need a download" in markdown
    # The studies' wall times add up to what the whole ledger costs (7 min 50 s each).
    assert re.search(r"\| \*\*all\*\* \| \| 15 \| \*\*15 min 40 s\*\* \|", markdown)

    html = path.read_text()
    assert path == ledger_folder / "ledger.html"
    assert html.count('<a href="studies/alpha/report.html">alpha</a>') >= 3  # C8, C23, the unlisted claim, the studies table
    assert '<a href="studies/beta/report.html">beta</a>' in html
    assert '<tr class="mixed">' in html and '<tr class="not-run-here">' in html and "Claims from no report" in html
    assert "1 mixed" in html and "44 not run here" in html and "7 min 50 s" in html


def test_run_ledger_records_each_studys_wall_time_and_reuse(ledger_folder, monkeypatch):
    calls = []

    def finished_study(spec, budget, out, **options):  # the runs exist: the runner would skip them all
        calls.append((spec.name, budget, Path(out).name, options["executor"]))
        return Path(out) / "report.html"

    monkeypatch.setattr("genlab.studies.runner.run_study", finished_study)
    path = run_ledger(budget="quick", out=ledger_folder, studies="alpha,beta", progress=False)
    assert calls == [("alpha", "quick", "alpha", "local"), ("beta", "quick", "beta", "local")]
    records = json.loads((ledger_folder / "ledger-runs.json").read_text())
    assert records["alpha"]["reused"] is True and records["alpha"]["trained"] == 0 and records["beta"]["runs"] == 9
    assert "reused (every run finished before; nothing trained)" in path.read_text()
    # Default: every (stand-in) built-in study whose claims carry a ledger id.
    calls.clear()
    genlab.run_ledger(out=ledger_folder, progress=False)
    assert [call[0] for call in calls] == ["alpha", "beta"]


def test_ledger_report_cli_rebuilds_without_training(ledger_folder):
    outcome = CliRunner().invoke(app, ["ledger", "report", "--out", str(ledger_folder)])
    assert outcome.exit_code == 0, outcome.output
    assert outcome.output.strip() == str(ledger_folder / "ledger.html")
    assert (ledger_folder / "ledger.md").is_file() and (ledger_folder / "ledger.json").is_file()


def main_cli(capsys, monkeypatch, *arguments: str) -> tuple[int, str]:
    """`genlab ARGUMENTS` through the console script's entry point: (exit status, stderr)."""
    from genlab import cli as cli_module

    monkeypatch.setattr(sys, "argv", ["genlab", *arguments])
    with pytest.raises(SystemExit) as exit_:
        cli_module.main()
    return exit_.value.code, capsys.readouterr().err


@pytest.mark.parametrize("arguments, message", [
    (["ledger", "run", "--studies", "alpha,nope"], "error: unknown study 'nope' for the ledger; built-in studies: alpha, beta"),
    (["ledger", "run", "--budget", "huge"], "error: unknown budget 'huge'; the ledger's studies have quick"),
    (["ledger", "report", "--out", "no-such-folder"], "error: no ledger folder at no-such-folder; run `genlab ledger run "
                                                       "--out no-such-folder` first"),
])
def test_bad_ledger_input_is_one_line_and_a_failing_exit(ledger_folder, capsys, monkeypatch, arguments, message):
    code, err = main_cli(capsys, monkeypatch, *arguments)
    assert code == 2 and err.strip() == message


def test_a_ledger_id_that_is_not_c1_to_c47_is_listed_apart(ledger_folder):
    (spec_module.BUILTIN_DIR / "alpha.yaml").write_text(yaml.safe_dump(study_spec("alpha", [fid_claim(id="C48")])))
    ledger = json.loads(write_ledger(ledger_folder).with_suffix(".json").read_text())
    assert [(row["id"], row["verdict"]) for row in ledger["unlisted"]] == [("C48", "confirmed")]
    with pytest.raises(GenlabError, match="unknown study 'gone'"):
        ledger_module.choose_studies(["gone"])
