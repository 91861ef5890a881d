"""Dataset fallbacks in study specs: `{name: lfw, label: faces, fallback: faces-lfw}` trains on `lfw`
when it is on disk and on `faces-lfw` otherwise (nothing is downloaded to decide).

A run keeps its entry's key whichever dataset it used, so claims hold either way; each run's result
records the data it used, and the report's description and datasets table say which and why. A
fallback is often small: a batch larger than its training split is capped to fit, with a note.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from genlab.config import from_dict
from genlab.errors import GenlabError
from genlab.studies.spec import DatasetEntry, RunSpec, StudySpec

MAX_FALLBACKS = 4  # a chain of fallbacks longer than this is a mistake (or a loop)


def fallback_entry(entry: DatasetEntry) -> DatasetEntry:
    """The entry's fallback: its name, or its fields over this entry's, under this entry's key."""
    changes = {"name": entry.fallback} if isinstance(entry.fallback, str) else dict(entry.fallback or {})
    values = {**dataclasses.asdict(entry), "fallback": None, **changes, "label": entry.key}
    return from_dict(DatasetEntry, values, prefix=f"datasets.{entry.key}.fallback.")


def train_items(entry: DatasetEntry) -> int:
    """The number of training items of an entry's data (loaded without its corruption), never downloading."""
    from genlab.data.download import downloads_disabled
    from genlab.data.registry import load_dataset

    clean = {key: value for key, value in entry.data_config().items() if key != "corruption"}
    with downloads_disabled():
        return int(load_dataset(clean.pop("name"), **clean).train_x.shape[0])


def choose_entry(entry: DatasetEntry, probes: dict[str, int | str]) -> tuple[DatasetEntry, str | None]:
    """(the entry to train on, why its first choice was not used or None); `probes` caches, per data
    config, its training size or why it cannot be loaded."""
    reasons = []
    for _ in range(MAX_FALLBACKS + 1):
        if entry.fallback is None:
            return entry, "; ".join(reasons) or None
        key = repr(sorted((k, v) for k, v in entry.data_config().items() if k != "corruption"))
        if key not in probes:
            try:
                probes[key] = train_items(entry)
            except GenlabError as error:
                probes[key] = f"{entry.name}: {getattr(error, 'summary', None) or str(error)}"
        if isinstance(probes[key], int):
            return entry, "; ".join(reasons) or None
        reasons.append(str(probes[key]))
        entry = fallback_entry(entry)
    raise GenlabError(f"dataset '{entry.key}': more than {MAX_FALLBACKS} fallbacks in a row; check for a loop")


def model_batch(run: RunSpec) -> int:
    """The batch size a run's model trains with: its config's, else its class's default."""
    from genlab.models.registry import get_model_class

    default = getattr(get_model_class(run.model.name).config_class(), "batch_size", 64)
    return int(run.model.config.get("batch_size") or default)


def resolve_datasets(spec: StudySpec, runs: list[RunSpec]) -> tuple[StudySpec, list[RunSpec], list[str]]:
    """Each run's dataset with its fallback applied where the first choice is not on disk, its batch capped
    to a fallback's training split; returns (the spec as used, the runs, one note per choice made)."""
    probes: dict[str, int | str] = {}
    chosen: dict[str, tuple[DatasetEntry, str | None]] = {}
    for entry in spec.datasets:
        if entry.fallback is not None:
            chosen[entry.key] = choose_entry(entry, probes)
    if not chosen:
        return spec, runs, []
    notes = []
    for key, (entry, reason) in chosen.items():
        notes.append(f"dataset {key}: {entry.name}" + (f" (fallback: {reason})" if reason else ""))
    resolved = []
    for run in runs:
        entry, reason = chosen.get(run.dataset.key, (run.dataset, None))
        if reason is not None:
            count = train_items(entry)
            batch = model_batch(run)
            if batch > count:
                run = dataclasses.replace(run, model=dataclasses.replace(
                    run.model, config={**run.model.config, "batch_size": count}))
                notes.append(f"{run.model.key} on {entry.key}: batch size {count}, the {entry.name} training split "
                             f"(not {batch})")
        resolved.append(dataclasses.replace(run, dataset=entry))
    datasets = [chosen.get(entry.key, (entry, None))[0] for entry in spec.datasets]
    description = (spec.description.rstrip() + " Data used: " + "; ".join(notes) + ".").strip()
    return dataclasses.replace(spec, datasets=datasets, description=description), resolved, notes

