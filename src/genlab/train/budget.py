"""How much a run trains: the batch each process takes, the steps its options allow, and the words that
tell the user what is left of its budget."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

from genlab.data.registry import Dataset
from genlab.errors import GenlabError
from genlab.models.base import GenerativeModel
from genlab.train.options import BUDGET_KEYS, DEFAULT_STEPS, TrainConfig
from genlab.train.progress import format_duration

# The step count of a run bounded by its minutes alone.
UNBOUNDED_STEPS = 10**12


def batch_size_per_process(model: GenerativeModel, dataset: Dataset, config: TrainConfig, run_config: dict[str, Any],
                           world_size: int, model_batch_chosen: bool, say: Callable[[str], None]) -> int:
    """The batch per process: the option, else the model's default, capped (with a notice) at the
    training split when the default is larger; a batch the user chose (`--batch-size`, or the model
    config's `batch_size`: `model_batch_chosen`) that does not fit is an error. A capped batch is
    written into `config` and `run_config`, so a resumed run keeps it."""
    model_batch = getattr(model.config, "batch_size", 64)
    batch_size = config.batch_size or model_batch
    items = int(dataset.train_x.shape[0])
    largest = items // world_size
    if batch_size <= largest:
        return batch_size
    per_process = f" for {world_size} processes" if world_size > 1 else ""
    if largest < 1:
        raise GenlabError(f"'{dataset.name}' has {items} training item{'s' if items != 1 else ''}, too few{per_process}")
    if model.fitted:
        return largest  # fitted models see the whole split at once: the batch is unused
    if config.batch_size is not None or model_batch_chosen:
        raise GenlabError(f"batch size {batch_size} is more than the {items} training item{'s' if items != 1 else ''} of '{dataset.name}'"
                          f"{per_process}; use --batch-size {largest} or less")
    say(f"batch size {largest}: the model's default of {batch_size} is more than the {items} training item{'s' if items != 1 else ''} of "
        f"'{dataset.name}'{per_process} (--batch-size sets it)")
    config.batch_size = largest
    run_config.setdefault("train", {})["batch_size"] = largest  # a resumed run keeps it
    return largest


def total_steps(config: TrainConfig, steps_per_epoch: int) -> int:
    """The steps `--steps` and `--epochs` allow (the fewer of the two), `DEFAULT_STEPS` without a budget,
    `UNBOUNDED_STEPS` when only `--minutes` bounds the run."""
    candidates = []
    if config.steps is not None:
        candidates.append(config.steps)
    if config.epochs is not None:
        candidates.append(math.ceil(config.epochs * steps_per_epoch))
    if not candidates:
        return DEFAULT_STEPS if config.minutes is None else UNBOUNDED_STEPS
    return min(candidates)


def budget_words(config: TrainConfig, total: int, steps_per_epoch: int, start_step: int, elapsed_before: float,
                 more: bool) -> str:
    """'600 steps', '600 more steps, to step 1600 or 0.5 more minutes, to 1:02 of training (whichever
    ends first)': what is left of the budget (`total` steps) from (start_step, elapsed_before)."""
    extra = " more" if more else ""
    parts = []
    if total < UNBOUNDED_STEPS:
        count = total - start_step
        text = f"{count}{extra} step{'s' if count != 1 else ''}"
        if (config.epochs is not None and total == math.ceil(config.epochs * steps_per_epoch)
                and (config.steps is None or total < config.steps)):
            text += f" ({count / steps_per_epoch:.3g}{extra} epochs of {steps_per_epoch} steps)"
        parts.append(text + (f", to step {total}" if more else ""))
    if config.minutes is not None:
        minutes = config.minutes - elapsed_before / 60
        parts.append(f"{minutes:.3g}{extra} minute{'s' if minutes != 1 else ''}"
                     + (f", to {format_duration(config.minutes * 60)} of training" if more else ""))
    return " or ".join(parts) + (" (whichever ends first)" if len(parts) > 1 else "")


def plan_line(config: TrainConfig, total: int, steps_per_epoch: int, model_name: str, dataset_name: str, run_dir: Path,
              start_step: int, elapsed_before: float) -> str:
    """The line said before training: what will be trained."""
    if start_step == 0:
        default = all(getattr(config, key) is None for key in BUDGET_KEYS)
        return (f"training {model_name} on {dataset_name}: {budget_words(config, total, steps_per_epoch, 0, 0.0, False)}"
                + (" (the default budget; --steps, --epochs or --minutes set one)" if default else ""))
    return (f"resuming {run_dir} at step {start_step} ({format_duration(elapsed_before)} trained): training "
            f"{budget_words(config, total, steps_per_epoch, start_step, elapsed_before, True)}")
