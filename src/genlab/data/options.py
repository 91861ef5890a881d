"""Dataset-specific options (`DataConfig.options`) checked against each loader's defaults."""

from __future__ import annotations

from typing import Any

from genlab.config import describe_type
from genlab.data.registry import DataConfig
from genlab.errors import GenlabError


def dataset_options(config: DataConfig, defaults: dict[str, Any]) -> dict[str, Any]:
    """`defaults` updated by `config.options`; an unknown key or a value of the wrong type raises."""
    unknown = sorted(set(config.options) - set(defaults))
    if unknown:
        known = ", ".join(sorted(defaults)) if defaults else "none"
        raise GenlabError(f"dataset '{config.name}' has no option '{unknown[0]}'; its options: {known}")
    options = {**defaults, **config.options}
    for key, default in defaults.items():
        value = options[key]
        if isinstance(default, bool):
            valid = isinstance(value, bool)
        elif isinstance(default, int):
            valid = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            valid = isinstance(value, (int, float)) and not isinstance(value, bool)
            value = float(value) if valid else value
        else:
            valid = isinstance(value, type(default))
        if not valid:
            raise GenlabError(
                f"dataset option '{key}' of '{config.name}' must be {describe_type(type(default))}, got {value!r}"
            )
        options[key] = value
    return options
