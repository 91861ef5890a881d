"""Typed dataclass configs: build them from dicts/YAML with strict checking, write them back.

Every model and the trainer declare their options as a dataclass. `from_dict` refuses unknown
keys and ill-typed values with a one-line `GenlabError`, so a typo never silently trains the
wrong model.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from genlab.errors import GenlabError

ConfigT = TypeVar("ConfigT")


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(annotation))
    return getattr(annotation, "__name__", str(annotation)).replace("typing.", "")


def coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check `value` against a type annotation, converting only where it is lossless.

    ints become floats and lists become tuples; anything else that does not match raises.
    """
    origin = get_origin(annotation)
    if annotation is Any:
        return value
    if origin is Literal:
        if value not in get_args(annotation):
            raise GenlabError(f"config key '{key}' must be one of {_type_name(annotation)}, got {value!r}")
        return value
    if origin in (Union, types.UnionType):
        options = get_args(annotation)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return coerce(value, option, key)
            except GenlabError:
                continue
        raise GenlabError(f"config key '{key}' must be {' or '.join(_type_name(o) for o in options)}, got {value!r}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise GenlabError(f"config key '{key}' must be a list, got {value!r}")
        args = get_args(annotation)
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            items = [coerce(v, args[0], key) for v in value]
        elif origin is tuple and args:
            if len(args) != len(value):
                raise GenlabError(f"config key '{key}' must have {len(args)} items, got {value!r}")
            items = [coerce(v, a, key) for v, a in zip(value, args)]
        else:
            items = [coerce(v, args[0], key) for v in value] if args else list(value)
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise GenlabError(f"config key '{key}' must be a mapping, got {value!r}")
        args = get_args(annotation)
        if len(args) == 2:
            return {coerce(k, args[0], key): coerce(v, args[1], f"{key}.{k}") for k, v in value.items()}
        return dict(value)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise GenlabError(f"config key '{key}' must be true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise GenlabError(f"config key '{key}' must be an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            # YAML 1.1 reads `1e-4` (no dot) as a string; it is unambiguously the number meant.
            try:
                return float(value)
            except ValueError:
                pass
        raise GenlabError(f"config key '{key}' must be a number, got {value!r}")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise GenlabError(f"config key '{key}' must be a string, got {value!r}")
    if dataclasses.is_dataclass(annotation):
        return from_dict(annotation, value, prefix=f"{key}.")
    raise TypeError(f"unsupported config annotation {annotation!r} for '{key}'")  # a bug, not user error


def from_dict(config_class: type[ConfigT], values: dict[str, Any] | None, prefix: str = "") -> ConfigT:
    """Build `config_class` from a plain dict, rejecting unknown keys and wrong types."""
    values = dict(values or {})
    if not isinstance(values, dict):
        raise GenlabError(f"config for {config_class.__name__} must be a mapping")
    hints = get_type_hints(config_class)
    known = {f.name for f in dataclasses.fields(config_class) if f.init}
    unknown = sorted(set(values) - known)
    if unknown:
        raise GenlabError(
            f"unknown config key '{prefix}{unknown[0]}' for {config_class.__name__}; "
            f"known keys: {', '.join(sorted(known))}"
        )
    checked = {name: coerce(value, hints[name], prefix + name) for name, value in values.items()}
    config = config_class(**checked)
    validate = getattr(config, "validate", None)
    if callable(validate):
        validate()
    return config


def to_dict(config: Any) -> dict[str, Any]:
    """A YAML-friendly dict of a config dataclass (tuples become lists)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(config)


def parse_overrides(assignments: typing.Iterable[str]) -> dict[str, Any]:
    """Turn CLI `key=value` strings into a dict; values are read as YAML (`3`, `0.5`, `[64, 32]`, `true`)."""
    overrides: dict[str, Any] = {}
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        key = key.strip()
        if not sep or not key:
            raise GenlabError(f"--set expects key=value, got {assignment!r}")
        try:
            overrides[key] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            overrides[key] = raw
    return overrides


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with a clear error for a missing or malformed file."""
    path = Path(path)
    if not path.is_file():
        raise GenlabError(f"config file not found: {path}")
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise GenlabError(f"config file {path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise GenlabError(f"config file {path} must hold a mapping of keys to values")
    return loaded


def write_yaml(path: str | Path, values: dict[str, Any]) -> None:
    """Write a mapping as YAML (atomically, so a crash never leaves half a config)."""
    from genlab.train.checkpoint import atomic_write_bytes

    atomic_write_bytes(Path(path), yaml.safe_dump(values, sort_keys=False).encode())
