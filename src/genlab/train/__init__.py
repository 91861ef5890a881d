"""Training: the loop (`Trainer`, `train`), safe checkpoints and run folders (`load_run`)."""

from genlab.train.run import Run, load_run
from genlab.train.trainer import TrainConfig, Trainer, seed_everything, train

__all__ = ["Run", "TrainConfig", "Trainer", "load_run", "seed_everything", "train"]
