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

from genlab.cli_latent import class_grid_command, interpolate_command, latent_map_command, traverse_command
from genlab.cli_studies import ledger_app, study_app
from genlab.errors import GenlabError

# Click's plain help layout (rich_markup_mode=None): it wraps help text and never cuts option names, at
# any terminal width (rich's boxed tables cut long names such as --diagnostics-every at 80 columns).
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Train, evaluate, compare and explore generative image models (VAEs, GANs, hybrids, baselines).",
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        import genlab

        try:
            torch_version = version("torch")
        except PackageNotFoundError:
            torch_version = "not installed"
        typer.echo(f"genlab {genlab.__version__} (torch {torch_version}, python {sys.version.split()[0]})")
        raise typer.Exit()


@app.callback()
def app_options(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="print genlab's version and exit"),
) -> None:
    """Train, evaluate, compare and explore generative image models (VAEs, GANs, hybrids, baselines)."""


@app.command("models")
def models_command() -> None:
    """List the registered models and their default configs."""
    from genlab.config import to_dict
    from genlab.models.registry import get_model_class, list_models

    typer.echo("Recipes: 'fast' (the default on CPUs) replaces some of a paper's defaults with values that reach a "
               "recognisable sample sooner on a few CPU cores; 'paper' (the default on GPUs) keeps the paper's. "
               "Choose with --set recipe=paper|fast.\n")
    for name in list_models():
        model_class = get_model_class(name)
        doc = (model_class.__doc__ or "").strip().splitlines()[0]
        defaults = to_dict(model_class.config_class())
        fast = model_class.fast_recipe((1, 28, 28))
        typer.echo(f"{name:<14} {doc}")
        typer.echo(f"{'':<14} paper defaults: " + ", ".join(f"{k}={v}" for k, v in defaults.items()))
        if fast:
            typer.echo(f"{'':<14} fast recipe on images (CPU default): " + ", ".join(f"{k}={v}" for k, v in fast.items()))


datasets_app = typer.Typer(help="List the datasets, or show examples of one (optionally corrupted).", rich_markup_mode=None)
app.add_typer(datasets_app, name="datasets")
app.add_typer(study_app, name="study")
app.add_typer(ledger_app, name="ledger")


@datasets_app.callback(invoke_without_command=True)
def datasets_command(context: typer.Context) -> None:
    """List the datasets: shape, classes, sizes and where each was found (or why not)."""
    if context.invoked_subcommand is not None:
        return
    from genlab.data.describe import describe_datasets

    for row in describe_datasets():
        if row.get("error"):
            typer.echo(f"{row['name']:<14} {row['description']}\n{'':<14} unavailable: {row['error']}")
        else:
            typer.echo(
                f"{row['name']:<14} {row['description']}\n{'':<14} shape {row['shape']}, {row['classes']} classes, "
                f"{row['train']} train / {row['test']} test, from {row['source']}"
            )


@datasets_app.command("show")
def datasets_show_command(
    name: str = typer.Argument(..., help="a dataset name"),
    corrupt: Optional[str] = typer.Option(None, "--corrupt", help="awgn:low|medium|high, warp:low|medium|high, or awgn:SIGMA"),
    n: int = typer.Option(32, "--n", help="number of examples"),
    seed: int = typer.Option(0, help="seed of the corruption"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG to write (default NAME[-CORRUPTION].png)"),
) -> None:
    """Write a grid of training examples; with --corrupt, clean rows above their corrupted copies."""
    from genlab.data.corruptions import example_grid

    path = out or Path(f"{name}{'-' + corrupt.replace(':', '-') if corrupt else ''}.png")
    typer.echo(str(example_grid(name, path, n=n, corruption=corrupt, seed=seed)))


def _data_config(data: str, data_root: Optional[str], data_options: List[str]) -> dict:
    from genlab.config import parse_overrides
    from genlab.train.inputs import data_values

    return data_values(data, data_root, parse_overrides(data_options, option="--data-option"))


def _given(context: typer.Context, name: str) -> bool:
    """Whether option `name` was given (command line or environment) rather than left at its default."""
    source = context.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


@app.command("train")
def train_command(
    context: typer.Context,
    model: str = typer.Argument(..., metavar="MODEL", help="a registered model name (see `genlab models`)"),
    data: str = typer.Option("mnist-5k", "--data", "-d", help="dataset name (see `genlab datasets`) or an image folder"),
    steps: Optional[int] = typer.Option(None, help="budget in optimisation steps (with --resume: that many more)"),
    epochs: Optional[float] = typer.Option(None, help="budget in passes over the training split (with --resume: more)"),
    minutes: Optional[float] = typer.Option(None, help="budget in minutes of training time (with --resume: more)"),
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
    diagnostics_every: int = typer.Option(50, help="per-layer gradient norms (and histograms) every N steps (0: off)"),
    gradient_histograms: bool = typer.Option(False, "--gradient-histograms",
                                             help="record per-layer gradient histograms (see `genlab plot --gradients`)"),
    precision: Optional[str] = typer.Option(None, help="fp32 (default) | bf16: autocast the step to bfloat16 (CPUs with "
                                                        "AVX-512 BF16/AMX, GPUs) | fp16: float16 with a loss scaler (CUDA)"),
    clip_grad_norm: Optional[float] = typer.Option(None, "--clip-grad-norm",
                                                   help="clip each optimizer's gradients to this total norm (0: off, the default)"),
    ema_decay: Optional[float] = typer.Option(None, "--ema-decay", help="sample and evaluate with a moving average of the "
                                              "weights, e.g. 0.999 (0: off; default: the model config's ema_decay, else off)"),
    channels_last: Optional[bool] = typer.Option(None, "--channels-last/--no-channels-last",
                                                 help="NHWC layout for conv nets (default off)"),
    threads: Optional[int] = typer.Option(None, help="torch CPU threads (default: all cores)"),
    sync_batchnorm: Optional[bool] = typer.Option(None, "--sync-batchnorm/--no-sync-batchnorm",
                                                  help="under torchrun on GPUs: batch-norm statistics over the global batch"),
    resume: bool = typer.Option(False, "--resume", help="continue the run in --out from its last checkpoint; a "
                                "budget then counts from there (without one: to the saved budget)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar or progress lines"),
) -> None:
    """Train MODEL on a dataset into a run folder.

    The run folder (--out) gets config.yaml, metrics.jsonl, samples/ and checkpoints/.

    Budget: the first of --steps, --epochs and --minutes to run out stops training; 1000 steps when none
    is given. With --resume a budget counts from where the run stands (--resume --steps 600 trains 600
    more steps); without one the run goes on to its saved budget, and says "nothing to train" (exit
    status 1) when that is spent.

    Examples:

    \b
      genlab train vae --data digits --steps 600
      genlab train vae --data fashion-mnist --minutes 5 -o runs/vae-2d
      genlab train vae --out runs/vae-2d --resume --minutes 2   # 2 more minutes
      genlab train dcgan --data ~/photos --data-option resize=64 --epochs 10
      genlab train dcgan --config dcgan.yaml --batch-size 32 --quiet
    """
    from genlab.config import parse_overrides
    from genlab.train.inputs import read_config_file
    from genlab.train.trainer import train

    model_config: dict = {}
    data_values = _data_config(data, data_root, data_options)
    train_values: dict = {}
    if config_file is not None:
        model_config, train_values, file_data = read_config_file(config_file, model)
        data_values.update(file_data)
    model_config.update(parse_overrides(overrides))
    # Only the options given on the command line: the others keep the --config file's values or, with
    # --resume, the saved run's (a resumed run keeps its seed and logging unless told otherwise).
    given = {name: value for name, value in dict(
        steps=steps, epochs=epochs, minutes=minutes, batch_size=batch_size, precision=precision,
        clip_grad_norm=clip_grad_norm, ema_decay=ema_decay,
        channels_last=channels_last, threads=threads, sync_batchnorm=sync_batchnorm, seed=seed, device=device,
        sample_every=sample_every, checkpoint_every=checkpoint_every, log_every=log_every, eval_every=eval_every,
        diagnostics_every=diagnostics_every, gradient_histograms=gradient_histograms).items()
        if _given(context, name)}
    train_values.update(given)
    train_values["progress"] = not quiet
    run = train(model, data=data_values, out=out, config=model_config, resume=resume, more=True,
                say=lambda message: typer.echo(message, err=True), **train_values)
    if run.summary.get("nothing_to_train"):
        typer.echo(run.summary["nothing_to_train"])
        raise typer.Exit(1)
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
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG to write (default RUN/sample.png, with "
                                       "--per-class RUN/sample-per-class.png)"),
    per_class: Optional[int] = typer.Option(None, "--per-class", help="conditional models: a row of K samples per class"),
) -> None:
    """Draw N samples from a trained run and write them as a PNG grid (or one row per class)."""
    from genlab.images import save_samples
    from genlab.train.run import load_run

    if n < 1 or n > 10000:
        raise GenlabError(f"--n must be between 1 and 10000, got {n}")
    loaded = load_run(run, step=step)
    if out is None:  # like the latent tools and `plot`: under the run folder
        out = run / ("sample-per-class.png" if per_class is not None else "sample.png")
    if per_class is not None:
        import torch

        from genlab.grids import class_samples, save_class_grid

        samples = class_samples(loaded.model, per_class, generator=torch.Generator().manual_seed(seed))
        typer.echo(str(save_class_grid(out, samples, per_class)))
        return
    samples = loaded.sample(n, labels=None if label is None else [label], seed=seed)
    typer.echo(str(save_samples(out, samples)))


@app.command("reconstruct")
def reconstruct_command(
    run: Path = typer.Argument(..., help="a run folder of a model with an encoder (the VAE family)"),
    n: int = typer.Option(32, "--n", help="number of images"),
    columns: int = typer.Option(8, help="images per row"),
    split: str = typer.Option("test", help="the dataset split to draw the images from: test | train"),
    seed: int = typer.Option(0, help="seed of the choice of images"),
    step: Optional[int] = typer.Option(None, help="use the checkpoint at this step instead of the final model"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG to write (default RUN/reconstructions.png)"),
) -> None:
    """Write held-out images with the model's reconstructions: each row of originals above its reconstructions."""
    from genlab.grids import run_reconstructions, save_reconstruction_grid
    from genlab.train.run import load_run

    if n < 1 or n > 10000 or columns < 1:
        raise GenlabError(f"--n must be between 1 and 10000 and --columns positive, got {n} and {columns}")
    originals, reconstructions = run_reconstructions(load_run(run, step=step), n=n, seed=seed, split=split)
    out = out if out is not None else run / "reconstructions.png"  # under the run folder, as every run command
    typer.echo(str(save_reconstruction_grid(out, originals, reconstructions, columns)))


@app.command("plot")
def plot_command(
    run: Path = typer.Argument(..., help="a run folder"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG to write (default RUN/loss_curves.png)"),
    gradients: bool = typer.Option(False, "--gradients", help="also draw the per-layer gradient histograms over "
                                   "training (RUN/gradient_histograms.png; train with --gradient-histograms)"),
) -> None:
    """Plot a run's logged losses, diagnostics and held-out metrics against the step."""
    from genlab.plots.run import plot_gradient_histograms, plot_metrics

    typer.echo(str(plot_metrics(run, out)))
    if gradients:
        typer.echo(str(plot_gradient_histograms(run)))


# The latent-space commands live in cli_latent.py; registered here to keep their place in `genlab --help`.
app.command("interpolate")(interpolate_command)
app.command("traverse")(traverse_command)
app.command("latent-map")(latent_map_command)
app.command("class-grid")(class_grid_command)


@app.command("explore")
def explore_command(
    path: Path = typer.Argument(Path("runs"), help="a folder of runs (searched 3 levels deep) or one run folder"),
    port: int = typer.Option(7860, help="port of the web app"),
    host: str = typer.Option("127.0.0.1", help="address to bind; 0.0.0.0 exposes the app to your network"),
    components: int = typer.Option(8, help="sliders for the first K latent components"),
) -> None:
    """The live explorer: sliders over latent components, the clickable latent map, interpolations,
    samples and reconstructions of the runs under PATH, in the browser."""
    from genlab.app.explorer import launch_explorer

    launch_explorer(path, host=host, port=port, components=components)



@app.command("evaluate")
def evaluate_command(
    run: Path = typer.Argument(..., help="a run folder written by `genlab train`"),
    metrics: List[str] = typer.Option([], "--metrics", "-m", help="metrics to compute (comma-separated or repeated; "
                                      "default all but latent, latent_control): fid, kid, prdc, classifier, "
                                      "likelihood, parzen, modes, reconstruction, sharpness, spectrum, pixels, "
                                      "memorisation, latent, latent_control, speed"),
    n: int = typer.Option(10000, "--n", help="number of samples (and at most this many real images)"),
    split: str = typer.Option("test", help="the real split to compare with: test | train"),
    features: str = typer.Option("evaluator", help="evaluator (genlab's per-dataset network) | inception (local weights only)"),
    seed: int = typer.Option(0, help="seed of the samples and of every random choice"),
    likelihood_k: int = typer.Option(100, "--likelihood-k", help="importance samples for models with log_likelihood"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress messages"),
) -> None:
    """Measure a trained run against real data; prints a table and writes RUN/eval.json."""
    from genlab.metrics import evaluate, print_evaluation

    say = None if quiet else (lambda message: typer.echo(f"  {message}", err=True))
    result = evaluate(run, metrics=metrics or None, n=n, split=split, features=features, seed=seed,
                      likelihood_k=likelihood_k, progress=say)
    print_evaluation(result)


@app.command("evaluator")
def evaluator_command(
    data: str = typer.Argument(..., help="dataset name (see `genlab datasets`) or an image folder"),
    data_root: Optional[str] = typer.Option(None, "--data-root", help="folder for image-folder / cifar10 / IDX files"),
    data_options: List[str] = typer.Option([], "--data-option", help="data key=value: resize, channels, layout, ..."),
    rebuild: bool = typer.Option(False, "--rebuild", help="train it afresh even when cached"),
) -> None:
    """Build (or show, when cached) the evaluator network whose features genlab's metrics use for DATA."""
    from genlab.metrics.evaluator import get_evaluator

    evaluator = get_evaluator(_data_config(data, data_root, data_options), rebuild=rebuild,
                              progress=lambda message: typer.echo(f"  {message}", err=True))
    typer.echo(f"{evaluator.kind} evaluator: {evaluator.description}")
    meta = evaluator.metadata
    if "train_seconds" in meta:
        typer.echo(f"trained on {meta['train_items']} images for {meta['epochs']} epochs in {meta['train_seconds']:.0f} s "
                   f"(genlab {meta['genlab_version']}, {meta['created']})")
    if evaluator.path is not None:
        typer.echo(f"cached at {evaluator.path}.safetensors (+ .json)")


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
