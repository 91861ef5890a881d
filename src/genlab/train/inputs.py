"""What a user names for a training run, read into plain config dicts with one-line errors.

- `data_values`: a `--data` argument (a registered dataset name or a folder of images), `--data-root`
  and `--data-option key=value` pairs.
- `read_config_file`: a `--config` YAML file in any of the shapes users write: plain model keys;
  `model`/`train`/`data` sections; `model: NAME` beside plain model keys; or a run's own config.yaml.

Values are only gathered here; their types are checked (with messages that name the key) when the
dataclass configs are built (`genlab.config.from_dict`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from genlab.errors import GenlabError

SECTIONS = ("model", "train", "data")
# Keys a run's config.yaml records beside its sections; ignored when that file is passed as --config.
RUN_RECORD_KEYS = {"data_shape", "num_classes", "class_names", "data_source", "seed", "world_size", "created",
                   "genlab_version", "torch_version", "python_version", "platform", "final_step", "training_seconds"}


def _looks_like_a_path(text: str) -> bool:
    return os.sep in text or "/" in text or text.startswith((".", "~"))


def data_values(data: str, data_root: str | None = None, data_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The data config (as a dict) for `--data DATA [--data-root ROOT] [--data-option k=v ...]`.

    A name that is not a registered dataset but an existing folder means that folder of images
    (`image-folder`); a path that does not exist, or is a file, is a one-line error saying so.
    """
    import dataclasses

    from genlab.data.registry import DataConfig, list_datasets

    if not isinstance(data, str) or not data.strip():
        raise GenlabError(f"--data takes a dataset name (see `genlab datasets`) or a folder of images, got {data!r}")
    values: dict[str, Any] = {"name": data}
    if data not in {entry.name for entry in list_datasets()}:
        path = Path(data).expanduser()
        if path.is_dir():
            values = {"name": "image-folder", "root": str(path)}
        elif path.exists():
            raise GenlabError(f"--data {data} is a file; give a folder of images (one subfolder per class) or a "
                              f"dataset name (see `genlab datasets`)")
        elif _looks_like_a_path(data):
            raise GenlabError(f"--data {data}: folder does not exist")
    if data_root:
        root = Path(data_root).expanduser()
        if values["name"] == "image-folder" and not root.is_dir():
            raise GenlabError(f"--data-root {data_root}: {'is a file, not a folder' if root.exists() else 'folder does not exist'}")
        values["root"] = str(root)
    options = dict(data_options or {})
    # DataConfig's own fields (subset, resize, ...); any other key is the dataset's own option.
    data_keys = {field.name for field in dataclasses.fields(DataConfig)} - {"name", "options"}
    values.update({key: value for key, value in options.items() if key in data_keys})
    extra = {key: value for key, value in options.items() if key not in data_keys}
    if extra:
        values["options"] = extra
    return values


def _mapping(value: Any, where: str, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise GenlabError(f"{where}: '{what}' must be a mapping of keys to values, got {value!r}")
    return dict(value)


def read_config_file(path: str | Path, model: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(model config, train options, data values) from a `--config` YAML file meant for `model`.

    Top-level keys other than the sections are model config keys (so `model: vae` may sit beside
    `latent_dim: 2`); a `model` section is a model name, a mapping of model keys, or `{name, config}`.
    A file naming another model than the one asked for is an error.
    """
    from genlab.config import read_yaml

    loaded = read_yaml(path)
    where = f"config file {path}"
    sectioned = any(key in loaded for key in SECTIONS)
    model_config = {key: value for key, value in loaded.items()
                    if key not in SECTIONS and not (sectioned and key in RUN_RECORD_KEYS)}
    section = loaded.get("model")
    named = None
    if isinstance(section, str):
        named = section
    elif isinstance(section, dict):
        section = dict(section)
        named = section.pop("name", None)
        if "config" in section:
            inner = _mapping(section.pop("config"), where, "model.config")
            if section:
                raise GenlabError(f"{where}: the model section holds 'config' beside {sorted(section)}; put every "
                                  f"model key under model.config")
            section = inner
        model_config.update(section)
    elif section is not None:
        raise GenlabError(f"{where}: 'model' must be a model name or a mapping of model keys, got {section!r}")
    if named is not None and named != model:
        raise GenlabError(f"{where} is for model '{named}', but the command trains '{model}'; "
                          f"use `genlab train {named} ...` or remove 'model' from the file")
    train_options = _mapping(loaded.get("train"), where, "train")
    data = loaded.get("data")
    if isinstance(data, str):
        data = data_values(data)
    data = _mapping(data, where, "data")
    return model_config, train_options, data
