"""Run folders: what a run writes (config.yaml, model.safetensors) and `load_run` to rebuild it.

A run folder is enough to rebuild the model without unpickling anything:
config.yaml names the registered model, its config, the data it was trained on and its shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from genlab.errors import GenlabError
from genlab.io import load_tensors, read_yaml
from genlab.models.base import GenerativeModel
from genlab.models.registry import create_model
from genlab.runfolder import CONFIG_FILE, MODEL_FILE, RunFolder
from genlab.train.checkpoint import load_checkpoint, model_tensors


@dataclass
class Run:
    """A trained (or training) run: its folder, its saved config and the rebuilt model."""

    path: Path
    config: dict[str, Any]
    model: GenerativeModel
    step: int = 0
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def folder(self) -> RunFolder:
        return RunFolder(self.path)

    def metrics(self) -> list[dict]:
        return self.folder.read_metrics()

    def sample(self, n: int = 64, labels: torch.Tensor | None = None, seed: int = 0) -> torch.Tensor:
        """`n` samples in [0, 1], reproducible for a given seed."""
        generator = torch.Generator().manual_seed(seed)
        return self.model.sample(n, labels=labels, generator=generator)


def build_model_from_config(config: dict[str, Any]) -> GenerativeModel:
    """The untrained model a run's config.yaml describes."""
    try:
        model_section = config["model"]
        return create_model(
            model_section["name"],
            data_shape=tuple(config["data_shape"]),
            num_classes=int(config.get("num_classes", 0)),
            **model_section.get("config", {}),
        )
    except KeyError as missing:
        raise GenlabError(f"run config lacks the key {missing}; is it a genlab config.yaml?") from None


def load_run(path: str | Path, step: int | None = None, device: str | torch.device = "cpu") -> Run:
    """Rebuild a run's model from its folder: the final model.safetensors, or the checkpoint at `step`."""
    path = Path(path)
    folder = RunFolder(path)
    if not folder.config.is_file():
        raise GenlabError(f"{path} is not a run folder (no {CONFIG_FILE}); pass the folder `genlab train --out` wrote")
    config = read_yaml(folder.config)
    model = build_model_from_config(config)
    steps = folder.checkpoint_steps()
    if step is not None:
        if step not in steps:
            raise GenlabError(f"{path} has no checkpoint at step {step}; it has {steps}")
        tensors, state = load_checkpoint(path, step)
        weights, loaded_step = model_tensors(tensors), step
    elif folder.model.is_file():
        weights = load_tensors(folder.model)
        loaded_step = int(config.get("final_step", steps[-1] if steps else 0))
    elif steps:
        tensors, state = load_checkpoint(path, steps[-1])
        weights, loaded_step = model_tensors(tensors), steps[-1]
    else:
        raise GenlabError(f"{path} has no saved model yet (no {MODEL_FILE} and no checkpoints)")
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise GenlabError(f"weights in {path} do not fit the model in its config (missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.to(device)
    model.eval()
    return Run(path=path, config=config, model=model, step=loaded_step)
