"""Where datasets live on disk: the user's data folder, the download cache, the system folder."""

from __future__ import annotations

import os
from pathlib import Path

from genlab.errors import GenlabError

SYSTEM_DATA_DIR = Path("/usr/share/datasets")  # Debian's dataset-* packages install here


class DataNotFoundError(GenlabError):
    """A dataset that is not on disk and was not downloaded; `summary` is a short form for listings."""

    def __init__(self, message: str, summary: str) -> None:
        super().__init__(message)
        self.summary = summary


def cache_dir() -> Path:
    """The download cache: `$GENLAB_CACHE`, else `~/.cache/genlab`."""
    override = os.environ.get("GENLAB_CACHE")
    return Path(override).expanduser() if override else Path.home() / ".cache" / "genlab"


def user_data_dir() -> Path | None:
    """The user's own data folder `$GENLAB_DATA`, or None when it is not set."""
    override = os.environ.get("GENLAB_DATA")
    return Path(override).expanduser() if override else None


def search_folders(name: str, root: str | None, include_system: bool = True) -> list[Path]:
    """Folders to look in for dataset `name`: only `root` when given, else data dir, cache, system dir."""
    if root is not None:
        return [Path(root).expanduser()]
    folders = []
    data_dir = user_data_dir()
    if data_dir is not None:
        folders.append(data_dir / name)
    folders.append(cache_dir() / name)
    if include_system:
        folders.append(SYSTEM_DATA_DIR / name)
    return folders
