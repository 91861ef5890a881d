"""The package's layering: a lazy package root, and lower layers that do not import the upper ones."""

import json
import subprocess
import sys

import genlab

PUBLIC_API = ["GenlabError", "TrainConfig", "__version__", "create_model", "evaluate", "list_datasets",
              "list_models", "load_dataset", "load_run", "run_ledger", "train", "write_ledger"]


def modules_after(statement: str) -> set[str]:
    """The modules a fresh interpreter holds after running `statement`."""
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(json.loads(output.splitlines()[-1]))


def test_public_api_is_unchanged_and_resolves():
    assert genlab.__all__ == PUBLIC_API
    assert callable(genlab.train) and genlab.train.__name__ == "train"
    assert genlab.load_run.__module__ == "genlab.train.run"
    assert genlab.create_model.__module__ == "genlab.models.registry"
    assert genlab.evaluate.__name__ == "evaluate" and callable(genlab.evaluate)
    assert genlab.TrainConfig().steps is None
    assert "vae" in genlab.list_models() and "mnist-5k" in [entry.name for entry in genlab.list_datasets()]


def test_genlab_train_stays_the_function_after_the_subpackage_is_imported():
    # Importing genlab.train.<module> sets the root's `train` attribute to the subpackage; the root keeps the function.
    loaded = modules_after("import genlab, genlab.train.run\nassert callable(genlab.train) and genlab.train.__name__ == 'train'")
    assert "genlab.train.run" in loaded


def test_import_genlab_loads_nothing_heavy():
    loaded = modules_after("import genlab")
    assert {name for name in loaded if name.startswith("genlab")} == {"genlab", "genlab._version", "genlab.errors"}
    assert not loaded & {"torch", "gradio", "matplotlib"}


def test_importing_one_model_loads_neither_trainer_metrics_nor_app():
    loaded = modules_after("import genlab.models.vae")
    assert "genlab.models.vae" in loaded
    for upper in ("genlab.train.trainer", "genlab.metrics", "genlab.studies", "genlab.app", "gradio", "matplotlib"):
        assert upper not in loaded, upper
