"""The runs the explorer may open: run folders found under one root, loaded on demand and cached.

`RunLibrary` holds the only run folders the app can open (those `find_runs` finds under the folder
it was started on), with their test splits, prior spreads and latent maps kept in small caches.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from genlab.errors import GenlabError
from genlab.latent import LatentMap, has_encoder, latent_map, load_test_split
from genlab.latent.common import prior_spread
from genlab.runfolder import CHECKPOINTS_DIR, CONFIG_FILE, SAMPLES_DIR, RunFolder
from genlab.train.run import Run, load_run

SEARCH_DEPTH = 3  # run folders are looked for this many levels below the root
MAP_SIDE = 420  # the latent map's pictures are about this many pixels wide


def find_runs(root: Path, depth: int = SEARCH_DEPTH) -> dict[str, Path]:
    """Run folders (a config.yaml beside model.safetensors or checkpoints/) under `root`, by relative name.

    `root` may itself be a run folder; then it is the only run, named after itself.
    """
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise GenlabError(f"{root} is not a folder; pass a folder of runs (e.g. runs/) or one run folder")
    if RunFolder(root).is_run():
        return {root.name: root}
    runs: dict[str, Path] = {}
    for level in range(1, depth + 1):
        for config in sorted(root.glob("/".join(["*"] * level) + "/" + CONFIG_FILE)):
            folder = config.parent
            if RunFolder(folder).is_run() and not any(part in (CHECKPOINTS_DIR, SAMPLES_DIR)
                                                     for part in folder.relative_to(root).parts):
                runs[folder.relative_to(root).as_posix()] = folder
    return dict(sorted(runs.items()))


class _Cache(OrderedDict):
    """A small least-recently-used cache."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def get_or_make(self, key: Any, make: Callable[[], Any]) -> Any:
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = make()
        self[key] = value
        while len(self) > self.capacity:
            self.popitem(last=False)
        return value


class RunLibrary:
    """The runs under one folder: the only paths the app opens, loaded on demand (a few kept in memory)."""

    def __init__(self, root: str | Path, loaded_capacity: int = 4) -> None:
        self.given_root = str(root)  # as the user wrote it, for display
        self.root = Path(root).expanduser().resolve()
        self._lock = threading.RLock()
        self._runs = _Cache(loaded_capacity)
        self._data = _Cache(2)
        self._maps = _Cache(16)
        self._spreads = _Cache(16)
        self.paths = find_runs(self.root)

    def rescan(self) -> list[str]:
        """Look for runs again (new runs appear, retrained ones are reloaded)."""
        with self._lock:
            self.paths = find_runs(self.root)
            self._runs.clear()
            self._maps.clear()
            self._spreads.clear()
            return self.names()

    def names(self) -> list[str]:
        return list(self.paths)

    def path(self, name: str | None) -> Path:
        """The folder of run `name`; only names the library found are accepted."""
        if not name or name not in self.paths:
            known = ", ".join(self.paths) or f"none: train one into {self.root}"
            raise GenlabError(f"unknown run {name!r}; choose one of the runs under {self.root} ({known})")
        return self.paths[name]

    def run(self, name: str | None) -> Run:
        with self._lock:
            path = self.path(name)
            return self._runs.get_or_make(name, lambda: load_run(path))

    def test_split(self, name: str) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        """The clean test split of the run's dataset (shared between runs trained on the same data)."""
        run = self.run(name)
        key = json.dumps(run.config.get("data", {}), sort_keys=True, default=str)
        with self._lock:
            return self._data.get_or_make(key, lambda: load_test_split(run.config))

    def prior_spread(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(centre, scale) of each latent component under the run's prior, cached: a model with its own
        prior is measured on a few thousand draws once, not on every slider move."""
        run = self.run(name)
        with self._lock:
            return self._spreads.get_or_make(name, lambda: prior_spread(run.model))

    def latent_map(self, name: str, label: int | None) -> LatentMap:
        """The run's latent map (codes of up to 2,000 test images and the decoded grid), cached."""
        run = self.run(name)
        with self._lock:
            return self._maps.get_or_make((name, label), lambda: self._make_map(name, run, label))

    def _make_map(self, name: str, run: Run, label: int | None) -> LatentMap:
        model = run.model
        images = labels = None
        class_names = list(run.config.get("class_names", []))
        if has_encoder(model):
            images, labels, class_names = self.test_split(name)
        side = model.data_shape[-1]
        grid_size = int(np.clip(round(MAP_SIDE / side), 6, 20))
        return latent_map(model, images, labels, class_names=class_names, grid_size=grid_size, label=label,
                          generator=torch.Generator().manual_seed(0))
