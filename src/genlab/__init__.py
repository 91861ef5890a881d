"""genlab: train, evaluate, compare and explore deep generative image models.

    import genlab
    data = genlab.load_dataset("mnist-5k")
    run = genlab.train("vae", data="mnist-5k", out="runs/vae", steps=500)
    images = run.sample(64)            # (64, 1, 28, 28) in [0, 1]
    scores = genlab.evaluate("runs/vae")  # FID, precision/recall, ... also written to runs/vae/eval.json
    same = genlab.load_run("runs/vae")  # rebuilt from safetensors + YAML, nothing unpickled
"""

__version__ = "0.1.0"

from genlab.data import load_dataset, list_datasets  # noqa: E402
from genlab.errors import GenlabError  # noqa: E402
from genlab.metrics import evaluate  # noqa: E402
from genlab.models import create_model, list_models  # noqa: E402
from genlab.train import TrainConfig, load_run, train  # noqa: E402

# Imported on first use (PEP 562): the ledger pulls in the study machinery, which `import genlab` need not.
_LAZY = {"run_ledger": "genlab.studies.ledger", "write_ledger": "genlab.studies.ledger"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'genlab' has no attribute {name!r}")


__all__ = [
    "GenlabError",
    "TrainConfig",
    "__version__",
    "create_model",
    "evaluate",
    "list_datasets",
    "list_models",
    "load_dataset",
    "load_run",
    "run_ledger",
    "train",
    "write_ledger",
]
