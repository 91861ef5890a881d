"""Finding models and datasets: every module of a genlab package, then a user's installed plugins.

A model (or dataset) is one file: its `@register(...)` (or `@register_dataset(...)`) decorator runs
when the module is imported, and discovery imports every module of `genlab.models` (`genlab.data`),
so no list of modules is kept by hand. An installed package adds its own through an entry point:

    # pyproject.toml of a user's package
    [project.entry-points."genlab.models"]
    my-models = "my_package.models"        # a module whose import registers models

    [project.entry-points."genlab.datasets"]
    my-data = "my_package.data"
"""

from __future__ import annotations

import importlib
import pkgutil
import warnings
from importlib.metadata import entry_points

MODEL_ENTRY_POINTS = "genlab.models"
DATASET_ENTRY_POINTS = "genlab.datasets"

_discovered: set[tuple[str, str]] = set()


def discover(package: str, group: str) -> None:
    """Import every module of `package`, then load every entry point of `group` (once per process).

    A plugin that fails to load is skipped with a warning naming it, so one broken install does not
    take the built-in models or datasets with it.
    """
    if (package, group) in _discovered:
        return
    _discovered.add((package, group))
    root = importlib.import_module(package)
    for module in pkgutil.iter_modules(root.__path__, prefix=f"{package}."):  # sorted by name
        importlib.import_module(module.name)
    for entry_point in entry_points(group=group):
        try:
            entry_point.load()
        except Exception as error:  # a third party's code: any failure is theirs to fix
            warnings.warn(f"genlab plugin '{entry_point.name}' ({entry_point.value}, entry point group {group}) "
                          f"could not be loaded and is skipped: {type(error).__name__}: {error}", stacklevel=2)


def forget() -> None:
    """Discover again on the next call (for tests that install a fake plugin)."""
    _discovered.clear()
