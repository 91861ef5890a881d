"""The training loop: budgets, devices, seeds, logging, sample grids, checkpoints and resumption.

The trainer knows nothing about model families: it calls `model.train_step(batch, step)` and
writes what comes back. Everything a run needs to continue is in its folder.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tqdm import tqdm

import genlab
from genlab.config import from_dict, to_dict, write_yaml
from genlab.data.batches import Batcher, to_float
from genlab.data.registry import DataConfig, Dataset, load_dataset
from genlab.errors import GenlabError
from genlab.images import save_gif, save_samples
from genlab.models.base import GenerativeModel
from genlab.models.registry import create_model, get_model_class
from genlab.train import accel, distributed
from genlab.train.distributed import DistributedContext, DistributedModel
from genlab.train.checkpoint import (
    list_checkpoints,
    load_checkpoint,
    model_tensors,
    optimizer_from_flat,
    prune_checkpoints,
    restore_rng,
    save_checkpoint,
    save_tensors,
)
from genlab.train.diagnostics import TrainingDiagnostics, sample_monitor_for
from genlab.train.run import CONFIG_FILE, MODEL_FILE, Run

HISTOGRAM_FILE = "gradient_histograms.jsonl"


@dataclass
class TrainConfig:
    """The trainer's options. Budgets: the first of steps / epochs / minutes to run out stops training."""

    steps: int | None = None
    epochs: float | None = None
    minutes: float | None = None
    batch_size: int | None = None  # None: the model's own default (its paper's)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    log_every: int = 50
    eval_every: int = 250  # held-out metrics (e.g. the test ELBO) on a fixed test subset
    eval_items: int = 1000
    sample_every: int = 500
    num_samples: int = 64
    checkpoint_every: int = 1000
    # Also checkpoint (and write a sample grid) every N minutes of training: studies with a time budget
    # use it to follow quality over training time.
    checkpoint_minutes: float | None = None
    keep_checkpoints: int = 3  # 0 keeps all
    # Costly per-step measurements the model may log (e.g. every layer's gradient norm) every N steps.
    diagnostics_every: int = 50
    gradient_histograms: bool = False  # also record per-layer gradient histograms (gradient_histograms.jsonl)
    # A mode-collapse signal from samples at each evaluation, for models that sample cheaply: modes hit
    # (toy2d) or the entropy of a small classifier's label histogram (labelled images).
    sample_diagnostics: bool = True
    deterministic: bool = False
    # Speed settings that keep the model's function (genlab.train.accel; measured in
    # benchmarks/train_throughput.py): bf16 autocast of the step, NHWC layout for conv nets.
    precision: Literal["fp32", "bf16"] = "fp32"
    channels_last: bool = False
    # Under torchrun (DDP): batch statistics over the global batch (GPUs only; see train/distributed.py).
    sync_batchnorm: bool = False
    threads: int | None = None  # torch CPU threads; None = all cores
    progress: bool = True

    def validate(self) -> None:
        for key in ("steps", "epochs", "minutes", "batch_size"):
            value = getattr(self, key)
            if value is not None and value <= 0:
                raise GenlabError(f"train option '{key}' must be positive, got {value}")
        for key in ("log_every", "eval_every", "sample_every", "checkpoint_every", "diagnostics_every"):
            if getattr(self, key) < 0:
                raise GenlabError(f"train option '{key}' must be >= 0 (0 turns it off)")


DEFAULT_STEPS = 1000
FITTED_STEP = 1  # the step number of a fitted model's single `fit` over the training split


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present, else the CPU; a named device must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise GenlabError(f"unknown device '{name}'; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GenlabError(f"device '{name}' asked for but no CUDA GPU is visible; use --device cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise GenlabError("device 'mps' asked for but MPS is not available; use --device cpu")
    return device


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch; optionally make torch choose deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def environment_metadata() -> dict[str, Any]:
    """Versions recorded in every run, so a result can be traced to the code that made it."""
    return {
        "genlab_version": genlab.__version__,
        "torch_version": str(torch.__version__),
        "python_version": platform.python_version(),
        "platform": platform.platform(),
    }


class StopRequest:
    """Turns the first Ctrl-C / SIGTERM during training into a clean stop after the current step.

    The run then checkpoints as at the end of its budget, so an interrupted run loses nothing and
    resumes exactly; a second Ctrl-C interrupts at once.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():  # signals can only be caught there
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


class RunningValues:
    """What `train_step` returned since the last log: running sums and counts per name.

    Values are floats or 0-d tensors. Tensors stay on the device, so a step costs no host sync; they
    are read (and checked for NaN/inf) together, once per logging interval or checkpoint. Floats are
    checked at once.
    """

    def __init__(self) -> None:
        self.sums: dict[str, Any] = {}
        self.counts: dict[str, int] = {}
        self.first_unchecked: int | None = None  # the first step whose tensor values are not checked yet

    def add(self, values: dict[str, Any], step: int) -> list[str]:
        """Accumulate one step's values; returns the names of non-finite float values."""
        bad = []
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                value = value.detach().float()
                if self.first_unchecked is None:
                    self.first_unchecked = step
            elif not math.isfinite(value):
                bad.append(key)
            self.sums[key] = self.sums.get(key, 0.0) + value
            self.counts[key] = self.counts.get(key, 0) + 1
        return bad

    def _read(self) -> dict[str, float]:
        tensor_keys = [key for key, value in self.sums.items() if isinstance(value, torch.Tensor)]
        read = {key: float(value) for key, value in self.sums.items() if key not in tensor_keys}
        if tensor_keys:  # one transfer for all of them
            read.update(zip(tensor_keys, torch.stack([self.sums[key] for key in tensor_keys]).tolist()))
        return read

    def check(self) -> list[str]:
        """Names whose sum since the last log is NaN/inf (a NaN or inf in any step shows in the sum)."""
        self.first_unchecked = None
        return [key for key, value in self._read().items() if not math.isfinite(value)]

    def means(self) -> dict[str, float]:
        """Mean of each value since the last call, and start a new interval."""
        means = {key: value / self.counts[key] for key, value in self._read().items()}
        self.sums, self.counts, self.first_unchecked = {}, {}, None
        return means


class Trainer:
    """Runs one model on one dataset into one run folder."""

    def __init__(self, model: GenerativeModel, dataset: Dataset, run_dir: Path, config: TrainConfig,
                 run_config: dict[str, Any], context: DistributedContext | None = None) -> None:
        self.model = model
        self.dataset = dataset
        self.run_dir = Path(run_dir)
        self.config = config
        self.run_config = run_config
        # One process, or this rank of a torchrun job: rank 0 alone writes the run folder.
        self.context = context or DistributedContext()
        self.is_main = self.context.is_main
        self.device = self.context.device(resolve_device(config.device))
        self.batch_size = config.batch_size or getattr(model.config, "batch_size", 64)  # per process
        world_size = self.context.world_size
        if self.batch_size * world_size > dataset.train_x.shape[0]:
            raise GenlabError(
                f"batch size {self.batch_size}{f' x {world_size} processes' if world_size > 1 else ''} exceeds the "
                f"{dataset.train_x.shape[0]} training items; use --set batch_size=..."
            )
        accel.check_precision(config.precision, self.device)
        self.batcher = Batcher(dataset.train_x, dataset.train_y, self.batch_size, self.device, seed=config.seed,
                               rank=self.context.rank, world_size=world_size,
                               memory_format=accel.memory_format(config.channels_last))
        model.shard = (self.context.rank, world_size)
        self.total_steps = self._total_steps()
        # A fixed prior draw for the sample grids, so grids over training are comparable.
        self.sample_seed = config.seed + 12345
        evaluation_x = dataset.test_x[: config.eval_items]
        self.eval_x = to_float(evaluation_x.to(self.device))
        self.eval_y = dataset.test_y[: config.eval_items].to(self.device)
        self.diagnostics = TrainingDiagnostics(config.diagnostics_every, config.gradient_histograms)
        # Built at the first evaluation (it may fit a classifier); stays None when the data allows none.
        self._sample_monitor: Any = None
        self._sample_monitor_built = False

    def _total_steps(self) -> int:
        config = self.config
        candidates = []
        if config.steps is not None:
            candidates.append(config.steps)
        if config.epochs is not None:
            candidates.append(math.ceil(config.epochs * self.batcher.steps_per_epoch))
        if not candidates:
            return DEFAULT_STEPS if config.minutes is None else 10**12
        return min(candidates)

    # --- pieces of the loop ---------------------------------------------------------------
    def _write_samples(self, step: int) -> Path:
        generator = torch.Generator().manual_seed(self.sample_seed)
        labels = None
        if self.model.conditional:
            labels = torch.arange(self.config.num_samples) % self.model.num_classes
        samples = self.model.sample(self.config.num_samples, labels=labels, generator=generator)
        return save_samples(self.run_dir / "samples" / f"step-{step:06d}.png", samples)

    def _training_rng_kept(self) -> contextlib.AbstractContextManager:
        """Random draws inside leave the training RNG streams (CPU and this rank's GPU) as they were:
        measurements never shift training, which under DDP must stay in step on every rank."""
        return torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else [])

    def _evaluate(self) -> dict[str, float]:
        from genlab.data.batches import Batch

        totals: dict[str, float] = {}
        count = 0
        with self._training_rng_kept():
            torch.manual_seed(self.config.seed + 999)
            for start in range(0, self.eval_x.shape[0], 500):
                batch = Batch(self.eval_x[start : start + 500], self.eval_y[start : start + 500])
                for key, value in self.model.validation_metrics(batch).items():
                    totals[key] = totals.get(key, 0.0) + value * len(batch)
                count += len(batch)
        return {f"val/{k}": v / count for k, v in totals.items()} if count else {}

    def _sample_diagnostics(self) -> dict[str, float]:
        """Mode coverage or label-histogram entropy of samples drawn from a fixed seed."""
        if not (self.config.sample_diagnostics and self.model.cheap_sampling):
            return {}
        with self._training_rng_kept():
            if not self._sample_monitor_built:
                self._sample_monitor = sample_monitor_for(self.dataset, seed=self.config.seed + 777)
                self._sample_monitor_built = True
            return self._sample_monitor.measure(self.model) if self._sample_monitor is not None else {}

    def _trainer_state(self, step: int, elapsed: float) -> dict[str, Any]:
        return {
            "epoch": step / self.batcher.steps_per_epoch,
            "elapsed_seconds": elapsed,
            "batch_size": self.batch_size,
            "world_size": self.context.world_size,
            "seed": self.config.seed,
            **environment_metadata(),
        }

    def _checkpoint(self, step: int, elapsed: float) -> None:
        bad = [name for name, tensor in self.model.state_dict().items()
               if tensor.is_floating_point() and not torch.isfinite(tensor).all()]
        if bad:
            # Losses can be finite while the update that followed them was not; never save such weights.
            kept = list_checkpoints(self.run_dir)
            raise GenlabError(f"training diverged by step {step}: the weights {bad[0]} became NaN/inf; the last good "
                              f"checkpoint (step {kept[-1] if kept else 'none'}) is kept — lower the learning rate")
        if not self.is_main:
            return
        save_checkpoint(self.run_dir, step, self.model, self.model.optimizers, self._trainer_state(step, elapsed))
        prune_checkpoints(self.run_dir, self.config.keep_checkpoints)

    def _resume(self) -> tuple[int, float]:
        steps = list_checkpoints(self.run_dir)
        if not steps:
            return 0, 0.0
        tensors, state = load_checkpoint(self.run_dir, steps[-1])
        self.model.load_state_dict(model_tensors(tensors))
        for name, optimizer in self.model.optimizers.items():
            optimizer_from_flat(name, optimizer, tensors, state["optimizers"][name])
        restore_rng(tensors)
        if self.is_main:
            self._truncate_metrics(steps[-1])
        return steps[-1], float(state.get("elapsed_seconds", 0.0))

    def _truncate_metrics(self, step: int) -> None:
        """Drop log rows written after the checkpoint we resume from: they will be logged again."""
        for path in (self.run_dir / "metrics.jsonl", self.run_dir / HISTOGRAM_FILE):
            if path.is_file():
                kept = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
                path.write_text("".join(line + "\n" for line in kept))

    # --- the loop ----------------------------------------------------------------------
    def fit(self, resume: bool = False) -> Run:
        config = self.config
        if config.threads:
            torch.set_num_threads(config.threads)
        seed_everything(config.seed, config.deterministic)
        self.model.to(self.device)
        accel.prepare_model(self.model, config.channels_last)
        accel.configure_backends(self.device, config.deterministic)
        self.model.train()
        fitted = getattr(self.model, "fitted", False)
        # DDP wrappers of the model's networks, used inside each train step (built before the
        # optimizers: SyncBatchNorm conversion replaces batch-norm modules).
        distributed = (DistributedModel(self.model, self.context, self.device, config.sync_batchnorm)
                       if self.context.enabled and not fitted else None)
        self.model.setup_optimizers()
        self.model.attach_diagnostics(self.diagnostics)
        start_step, elapsed_before = self._resume() if resume else (0, 0.0)
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            write_yaml(self.run_dir / CONFIG_FILE, self.run_config)
            if start_step == 0:
                (self.run_dir / "metrics.jsonl").write_text("")
                (self.run_dir / HISTOGRAM_FILE).unlink(missing_ok=True)
                self._write_samples(0)
        if fitted:
            # Fitted models (classic baselines) estimate their parameters from the whole training split
            # in one `fit` call instead of the step loop; the run records it as step FITTED_STEP.
            return self._fit_once(start_step, elapsed_before)

        budget_seconds = config.minutes * 60 if config.minutes is not None else math.inf
        started = time.perf_counter()
        # Each value is averaged over the steps that reported it (a GAN reports its generator loss only
        # on generator steps, gradient norms only on diagnostic steps).
        running = RunningValues()
        interval_steps, interval_seconds = 0, 0.0
        step = start_step
        last_good_checkpoint = start_step
        last_timed_checkpoint = elapsed_before
        bar = tqdm(total=self.total_steps if self.total_steps < 10**12 else None, initial=start_step,
                   disable=not (config.progress and self.is_main), desc=f"{self.model.registry_name}", unit="step", dynamic_ncols=True,
                   # In a log file (no terminal) a line every 30 s, not a carriage return per step.
                   mininterval=0.2 if sys.stderr.isatty() else 30.0)
        log_file = (self.run_dir / "metrics.jsonl").open("a") if self.is_main else None
        step_context = accel.autocast(config.precision, self.device)
        wrapped = distributed.step if distributed is not None else contextlib.nullcontext
        try:
            with StopRequest() as stop:
                while step < self.total_steps:
                    time_up = elapsed_before + time.perf_counter() - started >= budget_seconds
                    # Every rank must leave the loop at the same step (no-op in one process).
                    if self.context.any(time_up or stop.requested is not None, self.device):
                        stop.requested = stop.requested or (None if time_up else "a signal to another rank")
                        break
                    step_started = time.perf_counter()
                    with step_context, wrapped():
                        values = self.model.train_step(self.batcher.batch(step), step)
                    interval_seconds += time.perf_counter() - step_started
                    step += 1
                    interval_steps += 1
                    bad = running.add(values, step)
                    elapsed = elapsed_before + time.perf_counter() - started
                    log_due = bool(config.log_every) and step % config.log_every == 0
                    timed_checkpoint = (config.checkpoint_minutes is not None
                                        and elapsed - last_timed_checkpoint >= config.checkpoint_minutes * 60)
                    if config.checkpoint_minutes is not None:  # ranks' clocks differ: agree on it
                        timed_checkpoint = self.context.any(timed_checkpoint, self.device)
                    checkpoint_due = (bool(config.checkpoint_every) and step % config.checkpoint_every == 0) or timed_checkpoint
                    pending_since = running.first_unchecked
                    # Tensor values are read from the device (and checked) only when they are logged or a
                    # checkpoint is due: no host sync per step.
                    late = (running.check() if pending_since is not None and (log_due or checkpoint_due or step >= self.total_steps)
                            else [])
                    if self.context.any(bool(bad or late), self.device):
                        where = f"at step {step}" if bad or pending_since == step else f"between steps {pending_since} and {step}"
                        names = bad + late
                        what = f"{', '.join(names[:3])}{' ...' if len(names) > 3 else ''}" if names else "losses on another rank"
                        raise GenlabError(f"training diverged {where}: {what} became NaN/inf; the last good checkpoint "
                                          f"(step {last_good_checkpoint}) is kept — lower the learning rate")
                    histograms = self.diagnostics.take_histograms()
                    if histograms and self.is_main:
                        with (self.run_dir / HISTOGRAM_FILE).open("a") as histogram_file:
                            histogram_file.write(json.dumps({"step": step, "layers": histograms}) + "\n")
                    row: dict[str, Any] = {}
                    if log_due:
                        # Under DDP: the mean over ranks, i.e. over the global batch.
                        row.update(self.context.mean(running.means(), self.device))
                        # Training throughput (all ranks): the update steps alone, not evaluation or checkpoints.
                        row["images_per_second"] = (interval_steps * self.batch_size * self.context.world_size
                                                    / max(interval_seconds, 1e-9))
                        interval_steps, interval_seconds = 0, 0.0
                        # Grouped values (per-layer gradient norms, "group/name") stay out of the bar.
                        bar.set_postfix({k: f"{v:.3g}" for k, v in row.items() if "/" not in k and k != "images_per_second"},
                                        refresh=False)
                    if config.eval_every and step % config.eval_every == 0 and self.is_main:
                        row.update(self._evaluate())
                        row.update(self._sample_diagnostics())
                    if row and log_file is not None:
                        log_file.write(json.dumps({"step": step, "epoch": step / self.batcher.steps_per_epoch,
                                                   "time": elapsed, **row}) + "\n")
                        log_file.flush()
                    if config.sample_every and step % config.sample_every == 0 and self.is_main:
                        self._write_samples(step)
                    if timed_checkpoint and self.is_main and not (config.sample_every and step % config.sample_every == 0):
                        self._write_samples(step)
                    if checkpoint_due:
                        self._checkpoint(step, elapsed)
                        last_good_checkpoint = step
                        last_timed_checkpoint = elapsed
                    bar.update(1)
                stopped_by = stop.requested
            if distributed is not None:
                distributed.broadcast_buffers()
        finally:
            bar.close()
            if log_file is not None:
                log_file.close()
        run = self._finish(step, elapsed_before + time.perf_counter() - started)
        run.summary["stopped_by"] = stopped_by
        return run

    def _fit_once(self, start_step: int, elapsed_before: float) -> Run:
        """Fit the model on the training split (unless resuming a fitted run), log it, and finish the run."""
        if start_step >= FITTED_STEP:
            return self._finish(start_step, elapsed_before)
        started = time.perf_counter()
        values = self.model.fit(self.dataset.train_x.to(self.device), self.dataset.train_y.to(self.device))
        elapsed = time.perf_counter() - started
        if self.is_main:  # every rank fits the same model on the whole split; rank 0 records it
            row = {"step": FITTED_STEP, "epoch": 1.0, "time": elapsed, **values}
            if self.config.eval_every:
                row.update(self._evaluate())
                row.update(self._sample_diagnostics())
            with (self.run_dir / "metrics.jsonl").open("a") as log_file:
                log_file.write(json.dumps(row) + "\n")
        return self._finish(FITTED_STEP, elapsed)

    def _finish(self, step: int, elapsed: float) -> Run:
        """Final checkpoint, model.safetensors, last sample grid, the GIF and the loss curves."""
        if step not in list_checkpoints(self.run_dir):
            self._checkpoint(step, elapsed)
        if not self.is_main:
            self.model.eval()
            return Run(path=self.run_dir, config=self.run_config, model=self.model, step=step)
        save_tensors(self.run_dir / MODEL_FILE, self.model.state_dict(), metadata={"step": str(step)})
        self.run_config["final_step"] = step
        self.run_config["training_seconds"] = round(elapsed, 3)
        write_yaml(self.run_dir / CONFIG_FILE, self.run_config)
        if not (self.run_dir / "samples" / f"step-{step:06d}.png").exists():
            self._write_samples(step)
        save_gif(self.run_dir / "samples" / "progress.gif", sorted((self.run_dir / "samples").glob("step-*.png")))
        from genlab.report.plots import plot_gradient_histograms, plot_metrics

        try:
            plot_metrics(self.run_dir)
        except GenlabError:
            pass  # nothing logged yet (a budget shorter than one logging interval)
        if (self.run_dir / HISTOGRAM_FILE).is_file():
            plot_gradient_histograms(self.run_dir)
        self.model.eval()
        return Run(path=self.run_dir, config=self.run_config, model=self.model, step=step)


def _as_data_config(data: str | DataConfig | dict[str, Any]) -> DataConfig:
    if isinstance(data, DataConfig):
        return data
    if isinstance(data, str):
        return DataConfig(name=data)
    return from_dict(DataConfig, data)


def train(
    model: str,
    data: str | DataConfig | dict[str, Any] = "mnist-5k",
    out: str | Path | None = None,
    *,
    config: dict[str, Any] | None = None,
    resume: bool = False,
    **train_options: Any,
) -> Run:
    """Train a registered model on a dataset into a run folder and return the `Run`.

    `genlab.train("vae", "mnist-5k", out="runs/vae", steps=500, config={"latent_dim": 2})`.
    `train_options` are `TrainConfig` fields (steps, epochs, minutes, seed, device, ...).
    """
    run_dir = Path(out) if out is not None else Path("runs") / f"{model}-{_as_data_config(data).name}"
    # Under torchrun: join the job first, so every rank checks the run folder before rank 0 writes to it.
    context = distributed.initialise(str(train_options.get("device", "auto")))
    try:
        run = _train(model, data, run_dir, config, resume, context, train_options)
    except BaseException:
        context.close(wait=False)  # torchrun stops the other ranks; do not wait for them
        raise
    context.close()
    return run


def _train(model: str, data: str | DataConfig | dict[str, Any], run_dir: Path, config: dict[str, Any] | None,
           resume: bool, context: DistributedContext, train_options: dict[str, Any]) -> Run:
    existing = list_checkpoints(run_dir)
    if existing and not resume:
        raise GenlabError(f"{run_dir} already holds a run (checkpoint at step {existing[-1]}); add --resume to continue it or choose another --out")
    train_config = from_dict(TrainConfig, train_options)
    if resume and existing:
        # Continue exactly the saved run: model and data come from its config.yaml; only the
        # trainer options (the budget, logging) may change.
        from genlab.config import read_yaml

        saved = read_yaml(run_dir / CONFIG_FILE)
        if saved["model"]["name"] != model:
            raise GenlabError(f"{run_dir} holds a '{saved['model']['name']}' run, not '{model}'")
        if config and config != saved["model"]["config"] and any(saved["model"]["config"].get(k) != v for k, v in config.items()):
            raise GenlabError("--resume continues the saved model config; drop the changed --set/--config options")
        data_config = from_dict(DataConfig, saved["data"])
        model_config = saved["model"]["config"]
        saved_train = dict(saved.get("train", {}))
        saved_train.update(train_options)
        train_config = from_dict(TrainConfig, saved_train)
    else:
        data_config = _as_data_config(data)
        model_config = dict(config or {})
    model_class = get_model_class(model)
    dataset = load_dataset(data_config)
    seed_everything(train_config.seed, train_config.deterministic)  # the initial weights follow the seed
    if dataset.kind not in model_class.supported_data:
        raise GenlabError(f"model '{model}' works on {', '.join(model_class.supported_data)} data, but '{dataset.name}' holds {dataset.kind}")
    instance = create_model(model, data_shape=dataset.shape, num_classes=dataset.num_classes, **model_config)
    run_config = {
        "model": {"name": model, "config": to_dict(instance.config)},
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
    trainer = Trainer(instance, dataset, run_dir, train_config, run_config, context)
    context.barrier()  # every rank has read the run folder before rank 0 writes it
    return trainer.fit(resume=resume)
