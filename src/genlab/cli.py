"""The `genlab` command: thin wrappers that parse input and call the library.

User errors (`GenlabError`, bad options) print one line and exit with status 2; anything else is
a bug and keeps its traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from genlab.errors import GenlabError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Train, evaluate, compare and explore generative image models (VAEs, GANs, hybrids, baselines).",
)


@app.command("models")
def models_command() -> None:
    """List the registered models and their default configs."""
    from genlab.config import to_dict
    from genlab.models.registry import get_model_class, list_models

    for name in list_models():
        model_class = get_model_class(name)
        doc = (model_class.__doc__ or "").strip().splitlines()[0]
        defaults = to_dict(model_class.config_class())
        typer.echo(f"{name:<14} {doc}")
        typer.echo(f"{'':<14} defaults: " + ", ".join(f"{k}={v}" for k, v in defaults.items()))


@app.command("datasets")
def datasets_command() -> None:
    """List the datasets: shape, classes, sizes and where each was found (or why not)."""
    from genlab.data.describe import describe_datasets

    for row in describe_datasets():
        if row.get("error"):
            typer.echo(f"{row['name']:<14} {row['description']}\n{'':<14} unavailable: {row['error']}")
        else:
            typer.echo(
                f"{row['name']:<14} {row['description']}\n{'':<14} shape {row['shape']}, {row['classes']} classes, "
                f"{row['train']} train / {row['test']} test, from {row['source']}"
            )


def _data_config(data: str, data_root: Optional[str], data_options: List[str]) -> dict:
    from genlab.config import parse_overrides

    from genlab.data.registry import list_datasets

    values = {"name": data}
    if data not in {entry.name for entry in list_datasets()} and Path(data).expanduser().is_dir():
        values = {"name": "image-folder", "root": data}  # `--data ~/photos` means that folder
    if data_root:
        values["root"] = data_root
    overrides = parse_overrides(data_options)
    known = {"subset", "test_subset", "resize", "channels", "seed", "root"}
    values.update({k: v for k, v in overrides.items() if k in known})
    extra = {k: v for k, v in overrides.items() if k not in known}
    if extra:
        values["options"] = extra
    return values


@app.command("train")
def train_command(
    model: str = typer.Argument(..., help="a registered model name (see `genlab models`)"),
    data: str = typer.Option("mnist-5k", "--data", "-d", help="dataset name (see `genlab datasets`) or an image folder"),
    steps: Optional[int] = typer.Option(None, help="budget in optimisation steps"),
    epochs: Optional[float] = typer.Option(None, help="budget in passes over the training split"),
    minutes: Optional[float] = typer.Option(None, help="budget in wall-clock minutes of training"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="run folder (default runs/MODEL-DATA)"),
    seed: int = typer.Option(0, help="seed for weights, batches and sampling"),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N"),
    config_file: Optional[Path] = typer.Option(None, "--config", help="YAML with model/train/data sections or plain model keys"),
    overrides: List[str] = typer.Option([], "--set", help="model config key=value (repeatable), e.g. --set latent_dim=2"),
    data_root: Optional[str] = typer.Option(None, "--data-root", help="folder for image-folder / cifar10 / IDX files"),
    data_options: List[str] = typer.Option([], "--data-option", help="data key=value: subset, resize, channels, layout, ..."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="override the model's default batch size"),
    sample_every: int = typer.Option(500, help="write a sample grid every N steps (0: only at the end)"),
    checkpoint_every: int = typer.Option(1000, help="checkpoint every N steps (0: only at the end)"),
    log_every: int = typer.Option(50, help="log losses every N steps"),
    eval_every: int = typer.Option(250, help="held-out metrics every N steps (0: off)"),
    resume: bool = typer.Option(False, "--resume", help="continue the run in --out from its last checkpoint"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
) -> None:
    """Train MODEL on a dataset; writes config.yaml, metrics.jsonl, samples/ and checkpoints/."""
    from genlab.config import parse_overrides, read_yaml
    from genlab.train.trainer import train

    model_config: dict = {}
    data_values = _data_config(data, data_root, data_options)
    train_values: dict = {}
    if config_file is not None:
        loaded = read_yaml(config_file)
        if {"model", "train", "data"} & set(loaded):
            model_config.update((loaded.get("model") or {}).get("config", loaded.get("model") or {}))
            model_config.pop("name", None)
            train_values.update(loaded.get("train") or {})
            if loaded.get("data"):
                data_values.update(loaded["data"])
        else:
            model_config.update(loaded)
    model_config.update(parse_overrides(overrides))
    train_values.update(
        {k: v for k, v in dict(steps=steps, epochs=epochs, minutes=minutes, batch_size=batch_size).items() if v is not None}
    )
    train_values.update(seed=seed, device=device, sample_every=sample_every, checkpoint_every=checkpoint_every,
                        log_every=log_every, eval_every=eval_every, progress=not quiet)
    run = train(model, data=data_values, out=out, config=model_config, resume=resume, **train_values)
    stopped_by = run.summary.get("stopped_by")
    if stopped_by:
        typer.echo(f"stopped by {stopped_by} at step {run.step}; checkpoint saved in {run.path}; continue with --resume")
        raise typer.Exit(130 if stopped_by == "SIGINT" else 143)
    typer.echo(f"trained {model} for {run.step} steps -> {run.path}")


@app.command("sample")
def sample_command(
    run: Path = typer.Argument(..., help="a run folder written by `genlab train`"),
    n: int = typer.Option(64, "--n", help="number of samples"),
    label: Optional[int] = typer.Option(None, "--label", help="class to generate (conditional models)"),
    seed: int = typer.Option(0, help="seed of the prior draw"),
    step: Optional[int] = typer.Option(None, help="use the checkpoint at this step instead of the final model"),
    out: Path = typer.Option(Path("samples.png"), "--out", "-o", help="PNG to write"),
) -> None:
    """Draw N samples from a trained run and write them as a PNG grid."""
    from genlab.images import save_samples
    from genlab.train.run import load_run

    if n < 1 or n > 10000:
        raise GenlabError(f"--n must be between 1 and 10000, got {n}")
    loaded = load_run(run, step=step)
    samples = loaded.sample(n, labels=None if label is None else [label], seed=seed)
    typer.echo(str(save_samples(out, samples)))


@app.command("plot")
def plot_command(
    run: Path = typer.Argument(..., help="a run folder"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG to write (default RUN/loss_curves.png)"),
) -> None:
    """Plot a run's logged losses and held-out metrics against the step."""
    from genlab.report.plots import plot_metrics

    typer.echo(str(plot_metrics(run, out)))


@app.command("demo")
def demo_command(
    out: Path = typer.Option(Path("demo-runs"), "--out", "-o", help="folder for the demo runs"),
    minutes: float = typer.Option(2.0, help="training minutes per model"),
) -> None:
    """The main job for now: train vae and dcgan on Fashion-MNIST (or mnist-5k) and write grids and curves."""
    from genlab.demo import run_demo

    run_demo(out, minutes=minutes)


def main() -> None:
    """Entry point of the `genlab` console script."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        app(standalone_mode=True)
    except GenlabError as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
