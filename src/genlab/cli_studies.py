"""The `genlab study` and `genlab ledger` sub-commands: thin wrappers over genlab.studies.

genlab.cli adds the two sub-apps to the `genlab` app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from genlab.errors import GenlabError


study_app = typer.Typer(help="Comparison studies: many runs, evaluated, reported as HTML.", rich_markup_mode=None)


@study_app.command("list")
def study_list_command() -> None:
    """The built-in studies and what each one asks."""
    from genlab.studies.spec import builtin_studies, load_spec

    for name in builtin_studies():
        spec = load_spec(name)
        models = ", ".join(m.key for m in spec.models)
        datasets = ", ".join(d.key for d in spec.datasets)
        typer.echo(f"{name:<18} {spec.description.strip().splitlines()[0] if spec.description else ''}")
        typer.echo(f"{'':<18} models: {models}\n{'':<18} datasets: {datasets}; budgets: {', '.join(spec.budgets)}")


@study_app.command("run")
def study_run_command(
    spec: str = typer.Argument(..., help="a built-in study name (see `genlab study list`) or a YAML spec file"),
    budget: Optional[str] = typer.Option(None, help="a budget named in the spec: quick | full"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="study folder (default studies/NAME)"),
    executor: str = typer.Option("local", help="local (worker processes) or ray"),
    workers: Optional[int] = typer.Option(None, help="parallel runs (default: the cores)"),
    address: Optional[str] = typer.Option(None, help="Ray cluster address (default: a local Ray instance)"),
    steps: Optional[int] = typer.Option(None, help="override the budget: steps per run"),
    minutes: Optional[float] = typer.Option(None, help="override the budget: minutes per run"),
) -> None:
    """Run every run of a study (skipping finished ones, resuming interrupted ones) and write report.html."""
    from genlab.studies.runner import run_study

    if executor not in ("local", "ray"):
        raise GenlabError(f"unknown executor '{executor}'; use local or ray")
    report = run_study(spec, budget=budget, out=out, executor=executor, workers=workers, address=address,
                       steps=steps, minutes=minutes)
    typer.echo(str(report))


ledger_app = typer.Typer(help="The claims ledger: every claim of the five reports (C1..C47) with a measured verdict.",
                         rich_markup_mode=None, no_args_is_help=True)


@ledger_app.command("run")
def ledger_run_command(
    budget: str = typer.Option("quick", help="the studies' budget: quick | full"),
    out: Path = typer.Option(Path("ledger"), "--out", "-o", help="ledger folder (studies in OUT/studies/NAME)"),
    executor: str = typer.Option("local", help="local (worker processes) or ray"),
    workers: Optional[int] = typer.Option(None, help="parallel runs per study (default: the cores)"),
    address: Optional[str] = typer.Option(None, help="Ray cluster address (default: a local Ray instance)"),
    studies: Optional[str] = typer.Option(None, help="only these built-in studies, e.g. vae-vs-gan,conditioning "
                                          "(default: every study with ledger claims)"),
) -> None:
    """Run the studies that test the ledger's claims (finished runs are skipped) and write ledger.html/.md/.json."""
    from genlab.studies.ledger import run_ledger

    typer.echo(str(run_ledger(budget=budget, out=out, executor=executor, studies=studies, workers=workers,
                              address=address)))


@ledger_app.command("report")
def ledger_report_command(
    out: Path = typer.Option(Path("ledger"), "--out", "-o", help="the ledger folder `genlab ledger run` wrote"),
) -> None:
    """Rebuild ledger.html/.md/.json from the study results already in OUT (trains nothing)."""
    from genlab.studies.ledger import write_ledger

    typer.echo(str(write_ledger(out)))
