"""The training loop (`Trainer`): budgets, logging, sample grids, checkpoints and resumption of one run.

The trainer knows nothing about model families: it calls `model.train_step(batch, step)` and
writes what comes back. It owns the optimisation step through the model's hook (genlab.train.updates:
gradient clipping, fp16 loss scaling) and the moving average of the weights. Everything a run needs
to continue is in its folder.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from pathlib import Path
from typing import Any, Callable

import torch

from genlab.data.batches import Batcher, to_float
from genlab.data.registry import Dataset
from genlab.errors import GenlabError
from genlab.images import save_gif, save_samples
from genlab.io import atomic_write_yaml, read_yaml, save_tensors
from genlab.models.base import GenerativeModel
from genlab.runfolder import RunFolder
from genlab.train import accel
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
from genlab.train.distributed import DistributedContext, DistributedModel
from genlab.train.loop_state import RunningValues, StopRequest
from genlab.train.options import (
    FITTED_STEP,
    TrainConfig,
    default_say,
    environment_metadata,
    resolve_device,
    seed_everything,
)
from genlab.train.budget import UNBOUNDED_STEPS, batch_size_per_process, budget_words, plan_line, total_steps
from genlab.train.progress import Progress, format_duration
from genlab.train.run import Run
from genlab.train.run_lock import io_hint, io_problem
from genlab.train.updates import TrainerUpdates, training_step


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
        self.say = (say or default_say(config.progress)) if self.is_main else (lambda message: None)
        self.device = self.context.device(resolve_device(config.device))
        self.batch_size = batch_size_per_process(model, dataset, config, run_config, self.context.world_size,
                                                 batch_chosen, self.say)
        world_size = self.context.world_size
        accel.check_precision(config.precision, self.device)
        self.batcher = Batcher(dataset.train_x, dataset.train_y, self.batch_size, self.device, seed=config.seed,
                               rank=self.context.rank, world_size=world_size,
                               memory_format=accel.memory_format(config.channels_last))
        model.shard = (self.context.rank, world_size)
        self.total_steps = total_steps(config, self.batcher.steps_per_epoch)
        # A fixed prior draw for the sample grids, so grids over training are comparable.
        self.sample_seed = config.seed + 12345
        evaluation_x = dataset.test_x[: config.eval_items]
        self.eval_x = to_float(evaluation_x.to(self.device))
        self.eval_y = dataset.test_y[: config.eval_items].to(self.device)
        self.diagnostics = TrainingDiagnostics(config.diagnostics_every, config.gradient_histograms)
        # The optimisation step every model's backward passes and steps go through, and the decay of the
        # moving average of its weights (the option, else the model's own config's; 0: none).
        self.updates = TrainerUpdates(self.device, config.precision == "fp16", config.clip_grad_norm)
        self.ema_decay = config.ema_decay if config.ema_decay is not None else model.default_ema_decay()
        # Built at the first evaluation (it may fit a classifier); stays None when the data allows none.
        self._sample_monitor: Any = None
        self._sample_monitor_built = False

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
            raise GenlabError(f"could not write the checkpoint at step {step}: {io_problem(error, tensor_path)}; "
                              f"{f'the checkpoint at step {kept[-1]} is kept' if kept else 'no earlier checkpoint'} — "
                              f"{io_hint(error)}, then continue with --resume") from None
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
    def _prepare_model(self, fitted: bool) -> DistributedModel | None:
        """Put the model on its device with its optimizers, the trainer's update hook and (when asked) a
        moving average of its weights; returns the DDP wrappers of its networks under torchrun."""
        config = self.config
        if config.threads:
            torch.set_num_threads(config.threads)
        seed_everything(config.seed, config.deterministic)
        if self.ema_decay and not fitted:
            self.model.attach_moving_average()
        self.model.to(self.device)
        accel.prepare_model(self.model, config.channels_last)
        accel.configure_backends(self.device, config.deterministic)
        self.model.train()
        # DDP wrappers of the model's networks, used inside each train step (built before the
        # optimizers: SyncBatchNorm conversion replaces batch-norm modules).
        ddp = (DistributedModel(self.model, self.context, self.device, config.sync_batchnorm)
               if self.context.enabled and not fitted else None)
        self.model.setup_optimizers()
        self.model.updates = self.updates
        self.model.attach_diagnostics(self.diagnostics)
        return ddp

    def fit(self, resume: bool = False) -> Run:
        """Train the model to the end of its budget (a fitted model: fit it once), from the last checkpoint
        when `resume`, and finish the run folder."""
        config = self.config
        fitted = self.model.fitted
        ddp = self._prepare_model(fitted)
        start_step, elapsed_before = self._resume() if resume else (0, 0.0)
        budget_seconds = config.minutes * 60 if config.minutes is not None else math.inf
        if fitted and start_step >= FITTED_STEP:
            return self._nothing_to_train(start_step, elapsed_before,
                                          f"nothing to train: {self.run_dir} holds a fitted {self.model.registry_name} "
                                          f"(fitted models are fitted once, on the whole training split)")
        if not fitted and (start_step >= self.total_steps or elapsed_before >= budget_seconds):
            return self._nothing_to_train(start_step, elapsed_before)
        self.say(f"fitting {self.model.registry_name} on the {self.dataset.train_x.shape[0]} training items of "
                 f"{self.dataset.name}" if fitted else
                 plan_line(config, self.total_steps, self.batcher.steps_per_epoch, self.model.registry_name,
                           self.dataset.name, self.run_dir, start_step, elapsed_before))
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
        return self._train_steps(start_step, elapsed_before, budget_seconds, ddp)

    def _train_steps(self, start_step: int, elapsed_before: float, budget_seconds: float,
                     ddp: DistributedModel | None) -> Run:
        """The step loop, from `start_step` to the end of the budget or a stop request."""
        config = self.config
        started = time.perf_counter()
        # Each value is averaged over the steps that reported it (a GAN reports its generator loss only
        # on generator steps, gradient norms only on diagnostic steps).
        running = RunningValues()
        interval_steps, interval_seconds = 0, 0.0
        step = start_step
        last_good_checkpoint = start_step
        last_timed_checkpoint = elapsed_before
        progress = Progress(self.model.registry_name, start_step, self.total_steps if self.total_steps < UNBOUNDED_STEPS else None,
                            budget_seconds, elapsed_before, enabled=config.progress and self.is_main)
        log_file = self.folder.metrics.open("a") if self.is_main else None
        step_context = accel.autocast(config.precision, self.device)
        wrapped = ddp.step if ddp is not None else contextlib.nullcontext
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
                        values = training_step(self.model, self.batcher.batch(step), step, self.updates, self.ema_decay)
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
            if ddp is not None:
                ddp.broadcast_buffers()
        finally:
            progress.close()
            if log_file is not None:
                log_file.close()
        run = self._finish(step, elapsed_before + time.perf_counter() - started)
        run.summary["stopped_by"] = stopped_by
        return run

    def _nothing_to_train(self, step: int, elapsed: float, message: str | None = None) -> Run:
        """A resumed run whose budget is already spent: nothing is trained and its saved config (budget
        included) is kept; the run's final files are completed if a stop left them unwritten."""
        budget = budget_words(self.config, self.total_steps, self.batcher.steps_per_epoch, 0, 0.0, False)
        message = message or (f"nothing to train: {self.run_dir} is at step {step} ({format_duration(elapsed)} of "
                              f"training), the end of its budget of {budget}; give "
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
        from genlab.plots.run import plot_gradient_histograms, plot_metrics

        try:
            plot_metrics(self.run_dir)
        except GenlabError:
            pass  # nothing logged yet (a budget shorter than one logging interval)
        if self.folder.histograms.is_file():
            plot_gradient_histograms(self.run_dir)
        self.model.eval()
        return Run(path=self.run_dir, config=self.run_config, model=self.model, step=step)
