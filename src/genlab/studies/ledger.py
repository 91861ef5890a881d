"""The claims ledger: every claim of the five reports (C1..C47 in ledger.yaml), each with a measured verdict.

`run_ledger` runs the built-in studies whose claims carry a ledger id (finished runs are skipped, so a
second call only rebuilds), then `write_ledger` gathers every study's checked claims by id and writes
ledger.json, ledger.md and a self-contained ledger.html under the ledger folder:

    <out>/studies/<study>/...       each study's runs, results.json and report.html
    <out>/ledger-runs.json          when each study ran, its wall time, whether it was reused
    <out>/ledger.json|md|html       the verdicts

A ledger id's verdict: every study row confirmed -> "confirmed"; every row refuted -> "refuted"; both
-> "mixed" (each row shown); otherwise "inconclusive" with why; no study row -> "not run here" with why
(the claim's offline reason, or "no study tests it yet"). Claims from no report (a `source` instead of
an id) are listed apart, with their source.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from genlab.config import from_dict, read_yaml
from genlab.errors import GenlabError

LEDGER_FILE = Path(__file__).parent / "ledger.yaml"
TEMPLATE_DIR = Path(__file__).parent / "templates"
RUNS_FILE = "ledger-runs.json"
LEDGER_VERDICTS = ("confirmed", "refuted", "mixed", "inconclusive", "not run here")
NO_STUDY_YET = "no study tests it yet"


@dataclass
class LedgerClaim:
    """One claim of the reports: its id, the reports that make it, our paraphrase, the report's conditions
    and, for a claim genlab cannot test without a download, why."""

    id: str
    reports: list[str]
    claim: str
    conditions: str = ""
    offline: str | None = None


def ledger_claims() -> list[LedgerClaim]:
    """The ledger's claims C1..C47, in order (ledger.yaml)."""
    entries = read_yaml(LEDGER_FILE).get("claims") or []
    claims = [from_dict(LedgerClaim, entry, prefix="ledger.") for entry in entries]
    expected = [f"C{index}" for index in range(1, len(claims) + 1)]
    if [claim.id for claim in claims] != expected:
        raise GenlabError(f"{LEDGER_FILE} must list C1..C{len(claims)} in order; fix its ids")
    return claims


def ledger_studies() -> dict[str, list[str]]:
    """Built-in studies whose claims carry a ledger id, with those ids."""
    from genlab.studies.spec import builtin_studies, load_spec

    studies = {}
    for name in builtin_studies():
        ids = list(dict.fromkeys(claim.id for claim in load_spec(name).claims if claim.id))
        if ids:
            studies[name] = ids
    return studies


def choose_studies(studies: list[str] | str | None) -> list[str]:
    """The studies a ledger run covers: the named ones (built-in), else every study with a ledger id."""
    from genlab.studies.spec import builtin_studies

    if studies is None:
        return list(ledger_studies())
    names = [part.strip() for part in studies.split(",")] if isinstance(studies, str) else list(studies)
    names = [name for name in names if name]
    known = builtin_studies()
    unknown = [name for name in names if name not in known]
    if unknown:
        raise GenlabError(f"unknown study '{unknown[0]}' for the ledger; built-in studies: {', '.join(known)}")
    if not names:
        raise GenlabError("--studies names no study; give built-in study names separated by commas")
    return names


def duration_text(seconds: float | None) -> str:
    """'7 min 50 s', '35 s' or '' (not known)."""
    if seconds is None:
        return ""
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def run_ledger(
    budget: str = "quick",
    out: str | Path = "ledger",
    executor: Literal["local", "ray"] = "local",
    studies: list[str] | str | None = None,
    workers: int | None = None,
    progress: bool = True,
    address: str | None = None,
) -> Path:
    """Run every built-in study with ledger claims (or the named `studies`) at `budget`, skipping finished
    runs, then write the ledger; returns the path of ledger.html. A study that fails to start is recorded
    (its claims read "not run here" with its error) and never stops the others."""
    from rich.console import Console

    from genlab.studies.runner import run_study
    from genlab.studies.spec import load_spec

    if executor not in ("local", "ray"):
        raise GenlabError(f"unknown executor '{executor}'; use local or ray")
    names = choose_studies(studies)
    specs = {name: load_spec(name) for name in names}
    offered = sorted({b for spec in specs.values() for b in spec.budgets})
    if budget not in offered:
        raise GenlabError(f"unknown budget '{budget}'; the ledger's studies have {', '.join(offered) or 'none'}")
    lacking = [name for name, spec in specs.items() if budget not in spec.budgets]
    if lacking:
        raise GenlabError(f"study '{lacking[0]}' has no budget '{budget}'; it has {', '.join(specs[lacking[0]].budgets)}")
    out = Path(out)
    console = Console(stderr=True, quiet=not progress)
    if not names:
        console.print("ledger: no built-in study carries a ledger id yet; writing the ledger from what is there")
    records = read_runs_record(out)
    for index, name in enumerate(names, 1):
        console.print(f"ledger [{index}/{len(names)}] {name} ({budget}) -> {out / 'studies' / name}")
        started = time.perf_counter()
        record: dict[str, Any] = {"budget": budget, "executor": executor, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        try:
            run_study(specs[name], budget=budget, out=out / "studies" / name, executor=executor, workers=workers,
                      address=address, progress=progress)
            runs = read_study_results(out / "studies" / name).get("runs", [])
            failed = sum(1 for run in runs if run.get("status") != "done")
            trained = sum(1 for run in runs if run.get("status") == "done" and not run.get("skipped"))
            record.update(status="done", runs=len(runs), trained=trained, failed=failed,
                          reused=bool(runs) and trained == 0 and failed == 0)
        except GenlabError as error:
            record.update(status="failed", error=str(error))
        record["wall_seconds"] = round(time.perf_counter() - started, 1)
        records[name] = record
        write_runs_record(out, records)
        state = (f"{'reused' if record['reused'] else 'done'}: {record['runs']} runs, {record['trained']} trained, "
                 f"{record['runs'] - record['trained'] - record['failed']} reused, {record['failed']} failed"
                 if record["status"] == "done" else f"FAILED: {record['error']}")
        console.print(f"ledger [{index}/{len(names)}] {name} {state} in {duration_text(record['wall_seconds'])}")
    path = write_ledger(out)
    console.print(f"ledger: {path}")
    return path


def read_runs_record(out: Path) -> dict[str, Any]:
    path = out / RUNS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def write_runs_record(out: Path, records: dict[str, Any]) -> None:
    from genlab.io import atomic_write_json

    atomic_write_json(out / RUNS_FILE, records)


def read_study_results(folder: Path) -> dict[str, Any]:
    """A study folder's results.json ({} when the study has not written one)."""
    path = folder / "results.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def study_rows(name: str, results: dict[str, Any]) -> list[dict[str, Any]]:
    """A study's claim rows, re-checked on its stored runs with the built-in spec's current claims (the
    stored rows when the study is not built in)."""
    from genlab.studies.claims import check_claims
    from genlab.studies.spec import builtin_studies, load_spec

    if name in builtin_studies():
        rows = check_claims(load_spec(name).claims, results.get("runs", []))
    else:
        rows = [dict(row) for row in results.get("claims", [])]
    for row in rows:
        row["study"] = name
    return rows


def aggregate(rows: list[dict[str, Any]], claim: LedgerClaim) -> tuple[str, str]:
    """(verdict, why) of one ledger id from its study rows."""
    tested = [row for row in rows if row.get("verdict") != "not run here"]
    if not tested:
        if rows:
            return "not run here", "; ".join(f"{row['study']}: {row.get('why', '')}" for row in rows)
        return "not run here", claim.offline or NO_STUDY_YET
    verdicts = Counter(row.get("verdict") for row in tested)
    if verdicts["confirmed"] == len(tested):
        return "confirmed", ""
    if verdicts["refuted"] == len(tested):
        return "refuted", ""
    if verdicts["confirmed"] and verdicts["refuted"]:
        return "mixed", f"confirmed in {verdicts['confirmed']}, refuted in {verdicts['refuted']} of {len(tested)} tests"
    undecided = [row for row in tested if row.get("verdict") not in ("confirmed", "refuted")]
    decided = len(tested) - len(undecided)
    lead = f"{decided} of {len(tested)} tests {'confirm' if verdicts['confirmed'] else 'refute'} it; " if decided else ""
    return "inconclusive", lead + "; ".join(f"{row['study']}: {row.get('why') or 'not decided'}" for row in undecided)


def gather_ledger(out: Path) -> dict[str, Any]:
    """The ledger as a dict (what ledger.json holds), from the study folders under `out/studies`."""
    records = read_runs_record(out)
    studies, rows = [], []
    folders = sorted(p for p in (out / "studies").glob("*") if p.is_dir()) if (out / "studies").is_dir() else []
    names = list(dict.fromkeys([p.name for p in folders] + list(records)))
    for name in names:
        results = read_study_results(out / "studies" / name)
        record = records.get(name, {})
        metadata = results.get("metadata", {})
        report = out / "studies" / name / "report.html"
        studies.append({"name": name, "budget": metadata.get("budget_name") or record.get("budget"),
                        "status": record.get("status") or ("done" if results else "no results"),
                        "error": record.get("error"), "reused": record.get("reused"),
                        "runs": len(results.get("runs", [])), "trained": record.get("trained"), "failed": record.get("failed"),
                        "wall_seconds": record.get("wall_seconds", metadata.get("wall_seconds")),
                        "study_wall_seconds": metadata.get("wall_seconds"),
                        "report": f"studies/{name}/report.html" if report.is_file() else None})
        if results:
            rows += study_rows(name, results)
    claims = ledger_claims()
    known = {claim.id for claim in claims}
    failed = {s["name"]: s["error"] for s in studies if s["status"] == "failed"}
    entries = []
    for claim in claims:
        own = [row for row in rows if row.get("id") == claim.id]
        verdict, why = aggregate(own, claim)
        if verdict == "not run here" and not own and failed:
            why += "; failed to run: " + "; ".join(f"{name} ({error})" for name, error in failed.items())
        entries.append({"id": claim.id, "reports": claim.reports, "claim": claim.claim, "conditions": claim.conditions,
                        "offline": claim.offline, "verdict": verdict, "why": why,
                        "studies": list(dict.fromkeys(row["study"] for row in own)), "rows": own})
    unlisted = [row for row in rows if not row.get("id") or row["id"] not in known]
    return {"written": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "studies": studies, "claims": entries,
            "summary": {v: sum(e["verdict"] == v for e in entries) for v in LEDGER_VERDICTS},
            "unlisted": unlisted}


def write_ledger(out: str | Path = "ledger") -> Path:
    """Rebuild ledger.json, ledger.md and ledger.html from the study results under `out` (nothing is
    trained); returns the path of ledger.html."""
    from genlab.io import atomic_write_bytes, atomic_write_json

    out = Path(out)
    if not out.is_dir():
        raise GenlabError(f"no ledger folder at {out}; run `genlab ledger run --out {out}` first")
    ledger = gather_ledger(out)
    atomic_write_json(out / "ledger.json", ledger)
    atomic_write_bytes(out / "ledger.md", ledger_markdown(ledger).encode())
    path = out / "ledger.html"
    atomic_write_bytes(path, ledger_html(ledger).encode())
    return path


def _cell(text: str) -> str:
    """Text for a markdown table cell: pipes escaped, lines joined."""
    return " ".join(str(text).split()).replace("|", "\\|")


def row_evidence(entry: dict[str, Any]) -> str:
    """The evidence of a ledger entry in one line: each study row's verdict and evidence, or why not run."""
    if not entry["rows"]:
        return entry["why"]
    if len(entry["rows"]) == 1 and entry["verdict"] in ("confirmed", "refuted"):
        return entry["rows"][0].get("evidence", "")
    parts = [f"{row['study']} ({row.get('verdict')}; {row.get('conditions') or row.get('text')}): "
             f"{row.get('evidence', '')}" for row in entry["rows"]]
    return (f"{entry['why']} — " if entry["why"] else "") + " · ".join(parts)


def ledger_markdown(ledger: dict[str, Any]) -> str:
    """The ledger as a markdown table (id | reports | claim | verdict | evidence | study)."""
    summary = ", ".join(f"{count} {verdict}" for verdict, count in ledger["summary"].items() if count)
    lines = ["# genlab claims ledger", "", f"Written {ledger['written']}. Verdicts: {summary}.", "",
             "| id | reports | claim | verdict | evidence | study |", "|---|---|---|---|---|---|"]
    for entry in ledger["claims"]:
        verdict = entry["verdict"] + (f": {entry['why']}" if entry["verdict"] == "not run here" else "")
        lines.append(f"| {entry['id']} | {' '.join(entry['reports'])} | {_cell(entry['claim'])} | {_cell(verdict)} | "
                     f"{_cell(row_evidence(entry) if entry['rows'] else '')} | {', '.join(entry['studies'])} |")
    if ledger["unlisted"]:
        lines += ["", "## Claims from no report", "", "| study | claim | source | verdict | evidence |", "|---|---|---|---|---|"]
        for row in ledger["unlisted"]:
            source = row.get("source") or f"id {row.get('id')} is not in the ledger"
            lines.append(f"| {row['study']} | {_cell(row.get('text', ''))} | {_cell(source)} | {_cell(row.get('verdict', ''))} | "
                         f"{_cell(row.get('evidence', ''))} |")
    lines += ["", "## Studies", "", "| study | budget | runs | wall time | |", "|---|---|---|---|---|"]
    for study in ledger["studies"]:
        state = "reused (nothing trained)" if study["reused"] else (f"FAILED: {study['error']}" if study["error"] else "")
        lines.append(f"| {study['name']} | {study['budget'] or ''} | {study['runs']} | {duration_text(study['wall_seconds'])} | "
                     f"{_cell(state)} |")
    if ledger["studies"]:
        lines.append(f"| **all** | | {sum(study['runs'] for study in ledger['studies'])} | "
                     f"**{duration_text(total_wall_seconds(ledger))}** | |")
    return "\n".join(lines) + "\n"


def total_wall_seconds(ledger: dict[str, Any]) -> float:
    """The studies' wall times added up: what the whole ledger costs when each study runs once."""
    return sum(study["wall_seconds"] or 0.0 for study in ledger["studies"])


def ledger_html(ledger: dict[str, Any]) -> str:
    """The ledger as a self-contained page: a table coloured by verdict, rows linking to the study reports."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    environment = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=select_autoescape(["html", "j2"]))
    environment.filters["duration"] = duration_text
    environment.globals["total_wall_seconds"] = total_wall_seconds
    reports = {study["name"]: study["report"] for study in ledger["studies"]}
    return environment.get_template("ledger.html.j2").render(ledger=ledger, reports=reports, verdicts=LEDGER_VERDICTS)
