"""genlab: train, evaluate, compare and explore deep generative image models.

    import genlab
    data = genlab.load_dataset("mnist-5k")
    run = genlab.train("vae", data="mnist-5k", out="runs/vae", steps=500)
    images = run.sample(64)            # (64, 1, 28, 28) in [0, 1]
    scores = genlab.evaluate("runs/vae")  # FID, precision/recall, ... also written to runs/vae/eval.json
    same = genlab.load_run("runs/vae")  # rebuilt from safetensors + YAML, nothing unpickled

The public names are imported on first use (PEP 562), so `import genlab` or `import genlab.models.vae`
loads neither the trainer, the metrics nor the app until they are asked for.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from genlab._version import __version__
from genlab.errors import GenlabError

if TYPE_CHECKING:  # what static tools see; at run time each name is imported when first used
    from genlab.data.registry import list_datasets, load_dataset
    from genlab.metrics.evaluate import evaluate
    from genlab.models.registry import create_model, list_models
    from genlab.studies.ledger import run_ledger, write_ledger
    from genlab.train.run import load_run
    from genlab.train.trainer import TrainConfig, train

# Public name -> the module that defines it.
_LAZY = {
    "TrainConfig": "genlab.train.trainer",
    "create_model": "genlab.models.registry",
    "evaluate": "genlab.metrics.evaluate",
    "list_datasets": "genlab.data.registry",
    "list_models": "genlab.models.registry",
    "load_dataset": "genlab.data.registry",
    "load_run": "genlab.train.run",
    "run_ledger": "genlab.studies.ledger",
    "train": "genlab.train.trainer",
    "write_ledger": "genlab.studies.ledger",
}

__all__ = sorted(["GenlabError", "__version__", *_LAZY])


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'genlab' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


class _PackageRoot(types.ModuleType):
    """`genlab.train` is the training function, as it always was, although a subpackage has the same
    name: importing `genlab.train.<module>` sets the package root's attribute to the subpackage, and
    this property keeps the function in its place."""

    @property
    def train(self):
        return getattr(importlib.import_module("genlab.train.trainer"), "train")

    @train.setter
    def train(self, value: Any) -> None:
        pass  # the import system recording the subpackage; `sys.modules["genlab.train"]` still holds it


sys.modules[__name__].__class__ = _PackageRoot
