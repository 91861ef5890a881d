"""Typed dataclass configs: build them from dicts/YAML with strict checking, write them back.

Every model and the trainer declare their options as a dataclass. `from_dict` refuses unknown
keys and ill-typed values with a one-line `GenlabError`, so a typo never silently trains the
wrong model.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from genlab.errors import GenlabError
from genlab.io import atomic_write_yaml, read_yaml  # noqa: F401  (read_yaml is part of this module's API)

ConfigT = TypeVar("ConfigT")


def describe_type(annotation: Any) -> str:
    """What a value of this annotation is, in words a user knows: 'a whole number', 'a list of numbers',
    "one of 'relu', 'tanh'", never Python's names (`int`, `NoneType`)."""
    origin = get_origin(annotation)
    if annotation is Any:
        return "any value"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(annotation))
    if origin in (Union, types.UnionType):
        options = [o for o in get_args(annotation) if o is not type(None)]
        words = " or ".join(describe_type(o) for o in options)
        return f"{words} or null" if len(options) < len(get_args(annotation)) else words
    if origin in (tuple, list):
        args = get_args(annotation)
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            return f"a list of {len(args)} items ({', '.join(_plural(a) for a in args)})"
        return f"a list of {_plural(args[0])}" if args else "a list"
    if origin is dict or annotation is dict:
        return "a mapping of keys to values"
    if dataclasses.is_dataclass(annotation):
        return "a mapping of keys to values"
    return _WORDS.get(annotation, "a value of another kind")


_WORDS = {int: "a whole number", float: "a number", bool: "true or false", str: "text", type(None): "null"}
_PLURALS = {int: "whole numbers", float: "numbers", bool: "true/false values", str: "texts"}


def _plural(annotation: Any) -> str:
    return _PLURALS.get(annotation) or describe_type(annotation)


def coerce(value: Any, annotation: Any, key: str, kind: str = "config key") -> Any:
    """Check `value` against a type annotation, converting only where it is lossless.

    ints become floats and lists become tuples; anything else that does not match raises a
    `GenlabError` naming the key (as `kind`, e.g. "data option 'resize'") and what it must be.
    """
    try:
        return _coerce(value, annotation, key, kind)
    except _Mismatch:
        raise GenlabError(f"{kind} '{key}' must be {describe_type(annotation)}, got {value!r}") from None


class _Mismatch(Exception):
    """A value that does not fit its annotation (turned into one GenlabError for the whole value)."""


def _coerce(value: Any, annotation: Any, key: str, kind: str) -> Any:
    origin = get_origin(annotation)
    if annotation is Any:
        return value
    if origin is Literal:
        if value not in get_args(annotation):
            raise _Mismatch
        return value
    if origin in (Union, types.UnionType):
        options = get_args(annotation)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, key, kind)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        args = get_args(annotation)
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            items = [_coerce(v, args[0], key, kind) for v in value]
        elif origin is tuple and args:
            if len(args) != len(value):
                raise _Mismatch
            items = [_coerce(v, a, key, kind) for v, a in zip(value, args)]
        else:
            items = [_coerce(v, args[0], key, kind) for v in value] if args else list(value)
        return tuple(items) if origin is tuple else items
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise _Mismatch
        args = get_args(annotation)
        if len(args) == 2:
            return {coerce(k, args[0], key, kind): coerce(v, args[1], f"{key}.{k}", kind) for k, v in value.items()}
        return dict(value)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mismatch
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            # YAML 1.1 reads `1e-4` (no dot) as a string; it is unambiguously the number meant.
            try:
                return float(value)
            except ValueError:
                pass
        raise _Mismatch
    if annotation is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise _Mismatch
        return from_dict(annotation, value, prefix=f"{key}.", kind=kind)
    raise TypeError(f"unsupported config annotation {annotation!r} for '{key}'")  # a bug, not user error


def from_dict(config_class: type[ConfigT], values: dict[str, Any] | None, prefix: str = "",
              kind: str = "config key") -> ConfigT:
    """Build `config_class` from a plain dict, rejecting unknown keys and wrong types.

    `kind` names the keys in messages ("config key", "data option", "train option").
    """
    if values is not None and not isinstance(values, dict):
        raise GenlabError(f"{prefix.rstrip('.') or config_class.__name__} must be a mapping of keys to values, got {values!r}")
    values = dict(values or {})
    hints = get_type_hints(config_class)
    known = {f.name for f in dataclasses.fields(config_class) if f.init}
    unknown = sorted(set(values) - known)
    if unknown:
        raise GenlabError(
            f"unknown {kind} '{prefix}{unknown[0]}' for {config_class.__name__}; "
            f"known keys: {', '.join(sorted(known))}"
        )
    checked = {name: coerce(value, hints[name], prefix + name, kind) for name, value in values.items()}
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


def parse_overrides(assignments: typing.Iterable[str], option: str = "--set") -> dict[str, Any]:
    """Turn CLI `key=value` strings into a dict; values are read as YAML (`3`, `0.5`, `[64, 32]`, `true`)."""
    overrides: dict[str, Any] = {}
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        key = key.strip()
        if not sep or not key:
            raise GenlabError(f"{option} expects key=value, got {assignment!r}")
        try:
            overrides[key] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            overrides[key] = raw
    return overrides


write_yaml = atomic_write_yaml  # configs are read and written through genlab.io
