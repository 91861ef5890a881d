"""The training loop: budgets, devices, seeds, logging, sample grids, checkpoints and resumption.

The trainer knows nothing about model families: it calls `model.train_step(batch, step)` and
writes what comes back. Everything a run needs to continue is in its folder.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import platform
import random
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import torch

from genlab._version import __version__
from genlab.config import from_dict, to_dict
from genlab.data.batches import Batcher, to_float
from genlab.data.registry import DataConfig, Dataset, load_dataset
from genlab.errors import GenlabError
from genlab.images import save_gif, save_samples
from genlab.io import atomic_write_yaml, read_yaml, save_tensors
from genlab.models.base import GenerativeModel
from genlab.models.registry import create_model, get_model_class
from genlab.runfolder import LOCK_FILE, RunFolder
from genlab.train import accel, distributed
from genlab.train.distributed import DistributedContext, DistributedModel
from genlab.train.checkpoint import (
    checkpoint_paths,
    list_checkpoints,
    load_checkpoint,
    model_tensors,
    optimizer_from_flat,
    prune_checkpoints,
    restore_rng,
    save_checkpoint,
)
from genlab.train.diagnostics import TrainingDiagnostics, sample_monitor_for
from genlab.train.progress import Progress, format_duration
from genlab.train.run import Run


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
            if value is not None and not math.isfinite(value):
                raise GenlabError(f"train option '{key}' must be a finite number, got {value}")
        for key in ("log_every", "eval_every", "sample_every", "checkpoint_every", "diagnostics_every"):
            if getattr(self, key) < 0:
                raise GenlabError(f"train option '{key}' must be >= 0 (0 turns it off)")


DEFAULT_STEPS = 1000
BUDGET_KEYS = ("steps", "epochs", "minutes")
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
        "genlab_version": __version__,
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
                 run_config: dict[str, Any], context: DistributedContext | None = None,
                 say: Callable[[str], None] | None = None, batch_chosen: bool = False) -> None:
        self.model = model
        self.dataset = dataset
        self.run_dir = Path(run_dir)
        self.folder = RunFolder(self.run_dir)
        self.config = config
        self.run_config = run_config
        # One process, or this rank of a torchrun job: rank 0 alone writes the run folder.
        self.context = context or DistributedContext()
        self.is_main = self.context.is_main
        # Notices for the user (the plan, a capped batch), from rank 0 only.
        self.say = (say or _default_say(config.progress)) if self.is_main else (lambda message: None)
        self.device = self.context.device(resolve_device(config.device))
        self.batch_size = self._batch_size(batch_chosen)  # per process
        world_size = self.context.world_size
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

    def _batch_size(self, model_batch_chosen: bool) -> int:
        """The batch per process: the option, else the model's default, capped (with a notice) at the
        training split when the default is larger; a batch the user chose (`--batch-size`, or the model
        config's `batch_size`: `model_batch_chosen`) that does not fit is an error."""
        model_batch = getattr(self.model.config, "batch_size", 64)
        batch_size = self.config.batch_size or model_batch
        items, world_size = int(self.dataset.train_x.shape[0]), self.context.world_size
        largest = items // world_size
        if batch_size <= largest:
            return batch_size
        per_process = f" for {world_size} processes" if world_size > 1 else ""
        if largest < 1:
            raise GenlabError(f"'{self.dataset.name}' has {items} training item{'s' if items != 1 else ''}, too few{per_process}")
        if getattr(self.model, "fitted", False):
            return largest  # fitted models see the whole split at once: the batch is unused
        if self.config.batch_size is not None or model_batch_chosen:
            raise GenlabError(f"batch size {batch_size} is more than the {items} training item{'s' if items != 1 else ''} of '{self.dataset.name}'"
                              f"{per_process}; use --batch-size {largest} or less")
        self.say(f"batch size {largest}: the model's default of {batch_size} is more than the {items} training item{'s' if items != 1 else ''} of "
                 f"'{self.dataset.name}'{per_process} (--batch-size sets it)")
        self.config.batch_size = largest
        self.run_config.setdefault("train", {})["batch_size"] = largest  # a resumed run keeps it
        return largest

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
        return save_samples(self.folder.sample_grid(step), samples)

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
        try:
            save_checkpoint(self.run_dir, step, self.model, self.model.optimizers, self._trainer_state(step, elapsed))
        except OSError as error:
            # Each file is written atomically, so older checkpoints are untouched; tensors written without
            # their state file are never read, and are removed here when possible.
            tensor_path, state_path = checkpoint_paths(self.run_dir, step)
            if not state_path.exists():
                with contextlib.suppress(OSError):
                    tensor_path.unlink(missing_ok=True)
            kept = list_checkpoints(self.run_dir)
            raise GenlabError(f"could not write the checkpoint at step {step}: {_io_problem(error, tensor_path)}; "
                              f"{f'the checkpoint at step {kept[-1]} is kept' if kept else 'no earlier checkpoint'} — "
                              f"{_io_hint(error)}, then continue with --resume") from None
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
        for path in (self.folder.metrics, self.folder.histograms):
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
        budget_seconds = config.minutes * 60 if config.minutes is not None else math.inf
        if fitted and start_step >= FITTED_STEP:
            return self._nothing_to_train(start_step, elapsed_before,
                                          f"nothing to train: {self.run_dir} holds a fitted {self.model.registry_name} "
                                          f"(fitted models are fitted once, on the whole training split)")
        if not fitted and (start_step >= self.total_steps or elapsed_before >= budget_seconds):
            return self._nothing_to_train(start_step, elapsed_before)
        self.say(f"fitting {self.model.registry_name} on the {self.dataset.train_x.shape[0]} training items of "
                 f"{self.dataset.name}" if fitted else self._plan(start_step, elapsed_before))
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_yaml(self.folder.config, self.run_config)
            if start_step == 0:
                self.folder.metrics.write_text("")
                self.folder.histograms.unlink(missing_ok=True)
                self._write_samples(0)
        if fitted:
            # Fitted models (classic baselines) estimate their parameters from the whole training split
            # in one `fit` call instead of the step loop; the run records it as step FITTED_STEP.
            return self._fit_once(start_step, elapsed_before)

        started = time.perf_counter()
        # Each value is averaged over the steps that reported it (a GAN reports its generator loss only
        # on generator steps, gradient norms only on diagnostic steps).
        running = RunningValues()
        interval_steps, interval_seconds = 0, 0.0
        step = start_step
        last_good_checkpoint = start_step
        last_timed_checkpoint = elapsed_before
        progress = Progress(self.model.registry_name, start_step, self.total_steps if self.total_steps < 10**12 else None,
                            budget_seconds, elapsed_before, enabled=config.progress and self.is_main)
        log_file = self.folder.metrics.open("a") if self.is_main else None
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
                        with self.folder.histograms.open("a") as histogram_file:
                            histogram_file.write(json.dumps({"step": step, "layers": histograms}) + "\n")
                    row: dict[str, Any] = {}
                    if log_due:
                        # Under DDP: the mean over ranks, i.e. over the global batch.
                        row.update(self.context.mean(running.means(), self.device))
                        # Training throughput (all ranks): the update steps alone, not evaluation or checkpoints.
                        row["images_per_second"] = (interval_steps * self.batch_size * self.context.world_size
                                                    / max(interval_seconds, 1e-9))
                        interval_steps, interval_seconds = 0, 0.0
                        # Grouped values (per-layer gradient norms, "group/name") stay out of the progress.
                        progress.show_losses({k: v for k, v in row.items() if "/" not in k and k != "images_per_second"},
                                             step, elapsed)
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
                    progress.update(step, elapsed)
                stopped_by = stop.requested
            if distributed is not None:
                distributed.broadcast_buffers()
        finally:
            progress.close()
            if log_file is not None:
                log_file.close()
        run = self._finish(step, elapsed_before + time.perf_counter() - started)
        run.summary["stopped_by"] = stopped_by
        return run

    def _budget_words(self, start_step: int, elapsed_before: float, more: bool) -> str:
        """'600 steps', '600 more steps, to step 1600 or 0.5 more minutes, to 1:02 of training (whichever
        ends first)': what is left of the budget from (start_step, elapsed_before)."""
        extra = " more" if more else ""
        parts = []
        if self.total_steps < 10**12:
            count = self.total_steps - start_step
            text = f"{count}{extra} step{'s' if count != 1 else ''}"
            steps_per_epoch = self.batcher.steps_per_epoch
            if (self.config.epochs is not None and self.total_steps == math.ceil(self.config.epochs * steps_per_epoch)
                    and (self.config.steps is None or self.total_steps < self.config.steps)):
                text += f" ({count / steps_per_epoch:.3g}{extra} epochs of {steps_per_epoch} steps)"
            parts.append(text + (f", to step {self.total_steps}" if more else ""))
        if self.config.minutes is not None:
            minutes = self.config.minutes - elapsed_before / 60
            parts.append(f"{minutes:.3g}{extra} minute{'s' if minutes != 1 else ''}"
                         + (f", to {format_duration(self.config.minutes * 60)} of training" if more else ""))
        return " or ".join(parts) + (" (whichever ends first)" if len(parts) > 1 else "")

    def _plan(self, start_step: int, elapsed_before: float) -> str:
        """The line said before training: what will be trained."""
        if start_step == 0:
            default = all(getattr(self.config, key) is None for key in BUDGET_KEYS)
            return (f"training {self.model.registry_name} on {self.dataset.name}: {self._budget_words(0, 0.0, False)}"
                    + (" (the default budget; --steps, --epochs or --minutes set one)" if default else ""))
        return (f"resuming {self.run_dir} at step {start_step} ({format_duration(elapsed_before)} trained): training "
                f"{self._budget_words(start_step, elapsed_before, True)}")

    def _nothing_to_train(self, step: int, elapsed: float, message: str | None = None) -> Run:
        """A resumed run whose budget is already spent: nothing is trained and its saved config (budget
        included) is kept; the run's final files are completed if a stop left them unwritten."""
        message = message or (f"nothing to train: {self.run_dir} is at step {step} ({format_duration(elapsed)} of "
                              f"training), the end of its budget of {self._budget_words(0, 0.0, False)}; give "
                              f"--steps N, --epochs E or --minutes M to train that much more")
        self.run_config = read_yaml(self.folder.config)
        run = self._finish(step, elapsed)
        run.summary["nothing_to_train"] = message
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
            with self.folder.metrics.open("a") as log_file:
                log_file.write(json.dumps(row) + "\n")
        return self._finish(FITTED_STEP, elapsed)

    def _finish(self, step: int, elapsed: float) -> Run:
        """Final checkpoint, model.safetensors, last sample grid, the GIF and the loss curves."""
        if step not in list_checkpoints(self.run_dir):
            self._checkpoint(step, elapsed)
        if not self.is_main:
            self.model.eval()
            return Run(path=self.run_dir, config=self.run_config, model=self.model, step=step)
        save_tensors(self.folder.model, self.model.state_dict(), metadata={"step": str(step)})
        self.run_config["final_step"] = step
        self.run_config["training_seconds"] = round(elapsed, 3)
        atomic_write_yaml(self.folder.config, self.run_config)
        if not self.folder.sample_grid(step).exists():
            self._write_samples(step)
        save_gif(self.folder.progress_gif, self.folder.sample_grids())
        from genlab.report.plots import plot_gradient_histograms, plot_metrics

        try:
            plot_metrics(self.run_dir)
        except GenlabError:
            pass  # nothing logged yet (a budget shorter than one logging interval)
        if self.folder.histograms.is_file():
            plot_gradient_histograms(self.run_dir)
        self.model.eval()
        return Run(path=self.run_dir, config=self.run_config, model=self.model, step=step)


def _default_say(progress: bool) -> Callable[[str], None]:
    """Library calls without a `say`: notices go to stderr while progress is shown, else nowhere."""
    if not progress:
        return lambda message: None
    import sys

    return lambda message: print(message, file=sys.stderr, flush=True)


# Writes that fail for reasons outside genlab: a full disk, a lost permission, a path through a file.
IO_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR,
             errno.EEXIST, errno.ENAMETOOLONG}


def _io_problem(error: OSError, path: Path | None = None) -> str:
    where = error.filename or path
    return f"{error.strerror or error}" + (f" ({where})" if where else "")


def _io_hint(error: OSError) -> str:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return "free some disk space"
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "make the run folder writable or choose another --out"
    return "check the run folder"


def _as_data_config(data: str | DataConfig | dict[str, Any]) -> DataConfig:
    from genlab.train.inputs import data_values

    if isinstance(data, DataConfig):
        return data
    if isinstance(data, str):
        data = data_values(data)  # a dataset name, or a folder of images
    return from_dict(DataConfig, data, kind="data option")


@contextlib.contextmanager
def _run_lock(run_dir: Path, is_main: bool):
    """Hold the run folder's lock file while training, so that a second process training into the same
    folder stops at once with a clear error. The folder is created here; if nothing but the lock ends up
    in a folder created for this run (an error before training), it is removed again."""
    if not is_main:  # under torchrun rank 0 holds it for the job
        yield
        return
    from filelock import FileLock, Timeout

    if run_dir.exists() and not run_dir.is_dir():
        raise GenlabError(f"--out {run_dir} is a file, not a folder; choose another --out")
    # The outermost folder this call creates (runs/ too, for a first run), removed again if unused.
    created = next((folder for folder in reversed([run_dir, *run_dir.parents]) if not folder.exists()), None)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise GenlabError(f"cannot create the run folder {run_dir}: {_io_problem(error)}") from None
    lock = FileLock(str(run_dir / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise GenlabError(f"{run_dir} is being trained by another genlab process; wait for it to end or choose "
                          f"another --out") from None
    except OSError as error:
        raise GenlabError(f"cannot lock the run folder {run_dir}: {_io_problem(error)}; {_io_hint(error)}") from None
    try:
        yield
    finally:
        lock.release()
        if created is not None and {path.name for path in run_dir.iterdir()} <= {LOCK_FILE}:
            with contextlib.suppress(OSError):
                (run_dir / LOCK_FILE).unlink(missing_ok=True)
                for folder in [run_dir, *run_dir.parents]:
                    folder.rmdir()  # only empty folders; stops at the first that is not
                    if folder == created:
                        break


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
        say = _default_say(bool(train_options.get("progress", True)))
    if not context.is_main:
        say = lambda message: None  # noqa: E731
    try:
        if resume and not list_checkpoints(run_dir):
            # First, so that a mistyped --out is seen at once.
            say(f"nothing to resume in {run_dir} ({'no checkpoint there' if run_dir.is_dir() else 'no such folder'}): "
                f"starting a new run")
        with _run_lock(run_dir, context.is_main):
            run = _train(model, data, run_dir, config, resume, more, context, train_options, say)
    except OSError as error:
        context.close(wait=False)
        if error.errno not in IO_ERRNOS:
            raise
        kept = list_checkpoints(run_dir) if run_dir.is_dir() else []
        what = f"{error.filename}: {error.strerror}" if error.filename else f"to {run_dir}: {error.strerror or error}"
        raise GenlabError(f"could not write {what}; {_io_hint(error)}"
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
