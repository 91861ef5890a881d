"""Writing and reading files safely: atomic writes (bytes, text, JSON, YAML) and safetensors.

Every file genlab writes (run folders, evaluator caches, study results, reports) goes through here,
so a crash or a full disk leaves the old file or the new one, never a torn one. Nothing is pickled.
torch and safetensors are imported only when tensors are saved or loaded, so configs and JSON stay
cheap to write from the command line.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from genlab.errors import GenlabError

if TYPE_CHECKING:
    import torch


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a torn one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as temp_file:
            temp_file.write(data)
            temp_file.flush()
            os.fsync(temp_file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # make the rename itself durable
    finally:
        os.close(directory)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, values: Any) -> None:
    atomic_write_bytes(path, (json.dumps(values, indent=2, sort_keys=True) + "\n").encode())


def atomic_write_yaml(path: str | Path, values: dict[str, Any]) -> None:
    """Write a mapping as YAML, keys in their given order (atomically, so a crash never leaves half a config)."""
    atomic_write_bytes(Path(path), yaml.safe_dump(values, sort_keys=False).encode())


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with a clear error for a missing or malformed file."""
    path = Path(path)
    if path.is_dir():
        raise GenlabError(f"config file not found: {path} is a folder; give a YAML file")
    if not path.is_file():
        raise GenlabError(f"config file not found: {path}")
    try:
        loaded = yaml.safe_load(path.read_text())
    except (UnicodeDecodeError, ValueError):
        raise GenlabError(f"config file {path} is not a YAML text file") from None
    except OSError as error:
        raise GenlabError(f"config file {path} cannot be read: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise GenlabError(f"config file {path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise GenlabError(f"config file {path} must hold a mapping of keys to values")
    return loaded


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Save named tensors as safetensors, atomically (tensors are copied to contiguous CPU memory)."""
    from safetensors.torch import save as save_safetensors_bytes

    plain = {name: tensor.detach().to("cpu").contiguous().clone() for name, tensor in tensors.items()}
    atomic_write_bytes(path, save_safetensors_bytes(plain, metadata=metadata))


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Load a safetensors file, with a clear error if it is missing or damaged."""
    from safetensors.torch import load as load_safetensors_bytes

    path = Path(path)
    if not path.is_file():
        raise GenlabError(f"checkpoint file not found: {path}")
    try:
        return load_safetensors_bytes(path.read_bytes())
    except Exception as error:  # safetensors raises its own error types for damaged headers
        raise GenlabError(f"checkpoint {path} is damaged ({error}); delete it to fall back to an earlier one") from None
