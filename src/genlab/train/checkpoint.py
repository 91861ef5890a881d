"""Safe checkpoints: safetensors for every tensor, JSON for everything else, atomic writes.

Nothing is ever pickled or unpickled. A checkpoint is two files written in order: the tensors
(`step-NNNNNN.safetensors`) and then the trainer state (`step-NNNNNN.json`), which doubles as
the marker that the checkpoint is complete: a crash between the two leaves no usable half.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from genlab.errors import GenlabError
from genlab.io import atomic_write_json, load_tensors, save_tensors
from genlab.runfolder import RunFolder


def optimizer_to_flat(name: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer's state_dict into tensors (for safetensors) and JSON-able metadata."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for param_index, param_state in state["state"].items():
        for key, value in param_state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer/{name}/{param_index}/{key}"] = value
            else:
                scalars.setdefault(str(param_index), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def optimizer_from_flat(name: str, optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Restore what `optimizer_to_flat` split apart."""
    prefix = f"optimizer/{name}/"
    state: dict[int, dict[str, Any]] = {}
    for key, tensor in tensors.items():
        if key.startswith(prefix):
            param_index, state_key = key[len(prefix):].split("/", 1)
            state.setdefault(int(param_index), {})[state_key] = tensor
    for param_index, values in meta.get("scalars", {}).items():
        state.setdefault(int(param_index), {}).update(values)
    groups = []
    for group in meta["param_groups"]:
        # JSON turned tuples (Adam's betas) into lists; optimizers expect the original types.
        groups.append({k: (tuple(v) if isinstance(v, list) and k != "params" else v) for k, v in group.items()})
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def checkpoint_paths(run_dir: Path, step: int) -> tuple[Path, Path]:
    return RunFolder(run_dir).checkpoint_paths(step)


def list_checkpoints(run_dir: Path) -> list[int]:
    """Steps of the complete checkpoints in a run folder, oldest first."""
    return RunFolder(run_dir).checkpoint_steps()


def rng_tensors() -> dict[str, torch.Tensor]:
    """The global RNG states the model's update rule draws from (CPU and, where present, CUDA)."""
    states = {"rng/torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for index, state in enumerate(torch.cuda.get_rng_state_all()):
            states[f"rng/cuda/{index}"] = state
    return states


def restore_rng(tensors: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(tensors["rng/torch"])
    cuda_states = [tensors[k] for k in sorted(tensors) if k.startswith("rng/cuda/")]
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)


def save_checkpoint(run_dir: Path, step: int, model: torch.nn.Module, optimizers: dict[str, torch.optim.Optimizer],
                    trainer_state: dict[str, Any]) -> Path:
    """Write the checkpoint for `step`: model + optimizer + RNG tensors, then the JSON state."""
    tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
    optimizer_meta = {}
    for name, optimizer in optimizers.items():
        optimizer_tensors, optimizer_meta[name] = optimizer_to_flat(name, optimizer)
        tensors.update(optimizer_tensors)
    tensors.update(rng_tensors())
    tensor_path, json_path = checkpoint_paths(run_dir, step)
    save_tensors(tensor_path, tensors, metadata={"step": str(step)})
    atomic_write_json(json_path, {**trainer_state, "step": step, "optimizers": optimizer_meta})
    return json_path


def load_checkpoint(run_dir: Path, step: int) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors and the JSON state of the checkpoint at `step`."""
    tensor_path, json_path = checkpoint_paths(run_dir, step)
    try:
        state = json.loads(json_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise GenlabError(f"checkpoint state {json_path} is unreadable ({error})") from None
    return load_tensors(tensor_path), state


def model_tensors(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The model's own weights out of a checkpoint's tensors."""
    return {k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")}


def prune_checkpoints(run_dir: Path, keep: int) -> None:
    """Delete all but the newest `keep` checkpoints (keep <= 0 keeps every one)."""
    if keep <= 0:
        return
    for step in list_checkpoints(run_dir)[:-keep]:
        for path in checkpoint_paths(run_dir, step):
            path.unlink(missing_ok=True)
