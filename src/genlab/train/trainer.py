"""`genlab.train(...)`: train a registered model on a dataset into a run folder, new or resumed.

It reads the saved run (on resume), builds the model and the dataset, holds the run folder's lock
and hands everything to a `Trainer` (genlab.train.loop); writes the system refuses become one-line
errors. The names the loop's modules define are re-exported here, where they used to live.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from genlab.config import from_dict, to_dict
from genlab.data.registry import DataConfig, load_dataset
from genlab.errors import GenlabError
from genlab.io import read_yaml
from genlab.models.registry import create_model, get_model_class
from genlab.runfolder import RunFolder
from genlab.train import distributed
from genlab.train.checkpoint import checkpoint_paths, list_checkpoints
from genlab.train.distributed import DistributedContext
from genlab.train.loop import Trainer
from genlab.train.loop_state import RunningValues, StopRequest
from genlab.train.options import BUDGET_KEYS, DEFAULT_STEPS, FITTED_STEP, TrainConfig, default_say  # noqa: I001
from genlab.train.options import environment_metadata, resolve_device, seed_everything
from genlab.train.run import Run
from genlab.train.run_lock import IO_ERRNOS, io_hint, run_lock

__all__ = ["DEFAULT_STEPS", "FITTED_STEP", "RunningValues", "StopRequest", "TrainConfig", "Trainer", "resolve_device",
           "seed_everything", "train"]


def _as_data_config(data: str | DataConfig | dict[str, Any]) -> DataConfig:
    from genlab.train.inputs import data_values

    if isinstance(data, DataConfig):
        return data
    if isinstance(data, str):
        data = data_values(data)  # a dataset name, or a folder of images
    return from_dict(DataConfig, data, kind="data option")


def train(
    model: str,
    data: str | DataConfig | dict[str, Any] = "mnist-5k",
    out: str | Path | None = None,
    *,
    config: dict[str, Any] | None = None,
    resume: bool = False,
    more: bool = False,
    say: Callable[[str], None] | None = None,
    **train_options: Any,
) -> Run:
    """Train a registered model on a dataset into a run folder and return the `Run`.

    `genlab.train("vae", "mnist-5k", out="runs/vae", steps=500, config={"latent_dim": 2})`.
    `train_options` are `TrainConfig` fields (steps, epochs, minutes, seed, device, ...).

    Budgets: the first of steps / epochs / minutes to run out stops training (1000 steps when none is
    given). With `resume=True` the run continues from its last checkpoint (a folder without one starts
    a new run, with a notice). A budget given with `resume` replaces the saved one as a whole; it is the
    run's total, or, with `more=True` (what `genlab train --resume` does), counted from where the run
    stands: `steps=600` trains 600 more steps. Without a budget a resumed run continues to its saved
    budget. When nothing is left to train the run is returned untouched, its saved budget kept, with
    `run.summary["nothing_to_train"]` saying so.

    `say` receives one-line notices (the plan, a capped batch); by default they go to stderr while
    `progress` is on. Only one process at a time may train into a run folder (a lock file).
    """
    run_dir = Path(out) if out is not None else Path("runs") / f"{model}-{_as_data_config(data).name}"
    # Under torchrun: join the job first, so every rank checks the run folder before rank 0 writes to it.
    context = distributed.initialise(str(train_options.get("device", "auto")))
    if say is None:
        say = default_say(bool(train_options.get("progress", True)))
    if not context.is_main:
        say = lambda message: None  # noqa: E731
    try:
        if resume and not list_checkpoints(run_dir):
            # First, so that a mistyped --out is seen at once.
            say(f"nothing to resume in {run_dir} ({'no checkpoint there' if run_dir.is_dir() else 'no such folder'}): "
                f"starting a new run")
        with run_lock(run_dir, context.is_main):
            run = _train(model, data, run_dir, config, resume, more, context, train_options, say)
    except OSError as error:
        context.close(wait=False)
        if error.errno not in IO_ERRNOS:
            raise
        kept = list_checkpoints(run_dir) if run_dir.is_dir() else []
        what = f"{error.filename}: {error.strerror}" if error.filename else f"to {run_dir}: {error.strerror or error}"
        raise GenlabError(f"could not write {what}; {io_hint(error)}"
                          + (f" (the checkpoint at step {kept[-1]} is kept: continue with --resume)" if kept else "")) from None
    except BaseException:
        context.close(wait=False)  # torchrun stops the other ranks; do not wait for them
        raise
    context.close()
    return run


def _resume_budget(run_dir: Path, saved_train: dict[str, Any], train_options: dict[str, Any], more: bool) -> dict[str, Any]:
    """The train options of a resumed run: the saved ones, updated by those given now. A budget given now
    replaces the saved budget as a whole (a saved, spent `steps` must not cap a new `minutes`); with
    `more`, it counts from the last checkpoint and is turned into the run's new totals."""
    options = {**saved_train, **train_options}
    given = {key: train_options[key] for key in BUDGET_KEYS if train_options.get(key) is not None}
    if not given:
        return options
    options.update({key: None for key in BUDGET_KEYS})
    options.update(given)
    if more:
        step = list_checkpoints(run_dir)[-1]
        try:
            state = json.loads(checkpoint_paths(run_dir, step)[1].read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise GenlabError(f"checkpoint state of step {step} in {run_dir} is unreadable ({error})") from None
        checked = from_dict(TrainConfig, {key: options[key] for key in given}, kind="train option")
        if checked.steps is not None:
            options["steps"] = step + checked.steps
        if checked.epochs is not None:
            options["epochs"] = float(state.get("epoch", 0.0)) + checked.epochs
        if checked.minutes is not None:
            options["minutes"] = float(state.get("elapsed_seconds", 0.0)) / 60 + checked.minutes
    return options


def _train(model: str, data: str | DataConfig | dict[str, Any], run_dir: Path, config: dict[str, Any] | None,
           resume: bool, more: bool, context: DistributedContext, train_options: dict[str, Any],
           say: Callable[[str], None]) -> Run:
    existing = list_checkpoints(run_dir)
    if existing and not resume:
        raise GenlabError(f"{run_dir} already holds a run (checkpoint at step {existing[-1]}); add --resume to continue it or choose another --out")
    train_config = from_dict(TrainConfig, train_options, kind="train option")
    if resume and existing:
        # Continue exactly the saved run: model and data come from its config.yaml; only the
        # trainer options (the budget, logging) may change.
        saved = read_yaml(RunFolder(run_dir).config)
        if saved["model"]["name"] != model:
            raise GenlabError(f"{run_dir} holds a '{saved['model']['name']}' run, not '{model}'")
        if config and config != saved["model"]["config"] and any(saved["model"]["config"].get(k) != v for k, v in config.items()):
            raise GenlabError("--resume continues the saved model config; drop the changed --set/--config options")
        data_config = from_dict(DataConfig, saved["data"], kind="data option")
        model_config = saved["model"]["config"]
        train_config = from_dict(TrainConfig, _resume_budget(run_dir, dict(saved.get("train") or {}), train_options, more),
                                 kind="train option")
    else:
        data_config = _as_data_config(data)
        model_config = dict(config or {})
    model_class = get_model_class(model)
    dataset = load_dataset(data_config)
    seed_everything(train_config.seed, train_config.deterministic)  # the initial weights follow the seed
    if dataset.kind not in model_class.supported_data:
        raise GenlabError(f"model '{model}' works on {', '.join(model_class.supported_data)} data, but '{dataset.name}' holds {dataset.kind}")
    instance = create_model(model, data_shape=dataset.shape, num_classes=dataset.num_classes,
                            device=train_config.device, **model_config)
    run_config = {
        # The recipe ("fast" on CPUs, "paper" on GPUs, or as asked) only chose the defaults: the config
        # below holds every value, so the run rebuilds the same model whatever the recipe default becomes.
        "model": {"name": model, "recipe": instance.recipe, "config": to_dict(instance.config)},
        "data": to_dict(data_config),
        "train": to_dict(train_config),
        "data_shape": list(dataset.shape),
        "num_classes": dataset.num_classes,
        "class_names": list(dataset.class_names),
        "data_source": dataset.source,
        "seed": train_config.seed,
        "world_size": context.world_size,  # processes (torchrun); the global batch is batch_size x world_size
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **environment_metadata(),
    }
    trainer = Trainer(instance, dataset, run_dir, train_config, run_config, context, say=say,
                      batch_chosen="batch_size" in model_config)
    context.barrier()  # every rank has read the run folder before rank 0 writes it
    return trainer.fit(resume=resume)
