"""The layout of a run folder: every file name a run writes or reads, in one place.

    runs/<name>/config.yaml                 everything needed to rebuild the model and continue
    runs/<name>/model.safetensors           the final weights
    runs/<name>/metrics.jsonl               one JSON object per logged step
    runs/<name>/gradient_histograms.jsonl   per-layer gradient histograms (--gradient-histograms)
    runs/<name>/checkpoints/step-NNNNNN.safetensors (+ .json trainer state)
    runs/<name>/samples/step-NNNNNN.png     grids from one fixed z, and progress.gif
    runs/<name>/loss_curves.png, gradient_histograms.png
    runs/<name>/eval.json                   the last evaluation
    runs/<name>/result.json                 a study's record of the run
    runs/<name>/.train.lock                 held by the process training into the folder

The trainer, `load_run`, the evaluator, the studies, the plots and the app all ask a `RunFolder` for
these paths instead of spelling the names themselves.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from genlab.errors import GenlabError

CONFIG_FILE = "config.yaml"
MODEL_FILE = "model.safetensors"
METRICS_FILE = "metrics.jsonl"
HISTOGRAM_FILE = "gradient_histograms.jsonl"
EVAL_FILE = "eval.json"
RESULT_FILE = "result.json"
LOCK_FILE = ".train.lock"
CHECKPOINTS_DIR = "checkpoints"
SAMPLES_DIR = "samples"
PROGRESS_GIF = "progress.gif"
LOSS_CURVES_FILE = "loss_curves.png"
HISTOGRAM_PLOT_FILE = "gradient_histograms.png"
CHECKPOINT_NAME = re.compile(r"^step-(\d{6,})\.json$")


def step_stem(step: int) -> str:
    """'step-000123': the name shared by a step's checkpoint files and its sample grid."""
    return f"step-{step:06d}"


@dataclass(frozen=True)
class RunFolder:
    """The paths of one run folder (nothing is read or written by building one)."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))  # a str is accepted too

    @property
    def config(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def model(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def metrics(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def histograms(self) -> Path:
        return self.path / HISTOGRAM_FILE

    @property
    def eval(self) -> Path:
        return self.path / EVAL_FILE

    @property
    def result(self) -> Path:
        return self.path / RESULT_FILE

    @property
    def lock(self) -> Path:
        return self.path / LOCK_FILE

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS_DIR

    @property
    def samples(self) -> Path:
        return self.path / SAMPLES_DIR

    @property
    def progress_gif(self) -> Path:
        return self.samples / PROGRESS_GIF

    @property
    def loss_curves(self) -> Path:
        return self.path / LOSS_CURVES_FILE

    @property
    def histogram_plot(self) -> Path:
        return self.path / HISTOGRAM_PLOT_FILE

    def sample_grid(self, step: int) -> Path:
        return self.samples / f"{step_stem(step)}.png"

    def sample_grids(self) -> list[Path]:
        """The step grids written so far, oldest first."""
        return sorted(self.samples.glob("step-*.png"))

    def checkpoint_paths(self, step: int) -> tuple[Path, Path]:
        """The checkpoint at `step`: (tensors .safetensors, trainer state .json)."""
        stem = self.checkpoints / step_stem(step)
        return stem.with_suffix(".safetensors"), stem.with_suffix(".json")

    def checkpoint_steps(self) -> list[int]:
        """Steps of the complete checkpoints (state file and tensors both there), oldest first."""
        if not self.checkpoints.is_dir():
            return []
        steps = []
        for path in self.checkpoints.iterdir():
            match = CHECKPOINT_NAME.match(path.name)
            if match and path.with_suffix(".safetensors").is_file():
                steps.append(int(match.group(1)))
        return sorted(steps)

    def read_metrics(self) -> list[dict]:
        """Every logged row of the run (one dict per logged step)."""
        if not self.metrics.is_file():
            raise GenlabError(f"no {METRICS_FILE} in {self.path}: is it a genlab run folder?")
        return [json.loads(line) for line in self.metrics.read_text().splitlines() if line.strip()]

    def is_run(self) -> bool:
        """A config.yaml and saved weights (the final model or a checkpoint folder)."""
        return self.config.is_file() and (self.model.is_file() or self.checkpoints.is_dir())
