"""Shared base of hpefast's typed configs (pydantic v2) and their one-line error messages.

Every config section derives from :class:`Section`: unknown keys are refused, booleans are strict
(``amp: yes`` is an error, not True), numbers given where a string is expected become strings. A pydantic
``ValidationError`` is turned by :func:`config_error` into a :class:`~hpefast.errors.ConfigError` whose
message names the key path (``optim.lr``) and, for an unknown key, suggests the closest valid one.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from hpefast.errors import ConfigError

__all__ = ["Section", "config_error", "did_you_mean", "MOVED_KEYS"]

# Keys that moved, so that an old config gets a pointer instead of a bare "unknown key".
MOVED_KEYS: dict[str, str] = {
    "data.sigma": "model.codec.sigma",
    "data.codec": "model.codec.method",
    "test.decode": "model.codec.decoder",
    "test.blur_kernel": "model.codec.blur_kernel",
    "model.head": "model.decoder",
    "model.drop_path": "model.drop_path_rate",
    "model.options": "the model section itself (embed_dim, depth, ... are model keys)",
}


class Section(BaseModel):
    """Base of every config section: unknown keys refused, strict booleans, numbers accepted as strings."""

    model_config = ConfigDict(
        extra="forbid", coerce_numbers_to_str=True, validate_assignment=True, protected_namespaces=()
    )


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest option, else ``"; valid keys: a, b, c"``."""
    options = [str(o) for o in options]
    close = difflib.get_close_matches(str(word), options, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; valid keys: {', '.join(sorted(options))}"


def _fields_at(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """Field names of the section that holds the last element of ``loc``, walking from ``root``."""
    cls: Any = root
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or part not in cls.model_fields:
            return None
        cls = cls.model_fields[part].annotation
        # unwrap Optional[...] / list[...] to the section class inside
        while typing.get_origin(cls) is not None:
            args = [a for a in typing.get_args(cls) if a is not type(None)]
            cls = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), args[0])
    if isinstance(cls, type) and issubclass(cls, BaseModel):
        return list(cls.model_fields)
    return None


_EXPECT = {
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "int_parsing": "expected an integer",
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "string_type": "expected a string",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
}


def _one(err: dict[str, Any], root: type[BaseModel], where: str) -> str:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    # pydantic adds the union member's type name to the location ("float", "str", "tuple[int, int]")
    loc = tuple(
        p for p in loc if not (isinstance(p, str) and ("[" in p or p in ("int", "float", "str", "bool")))
    )
    path = ".".join(str(p) for p in loc)
    full = f"{where}.{path}" if where and path else (where or path)
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        generic = ".".join(str(p) for p in loc if not isinstance(p, int))
        if generic in MOVED_KEYS:
            return f"config key {full!r} moved: use {MOVED_KEYS[generic]}"
        names = _fields_at(root, loc) or []
        return f"unknown config key {full!r}{did_you_mean(key, names)}"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        options = [o.strip().strip("'") for o in expected.replace(" or ", ",").split(",") if o.strip()]
        hint = did_you_mean(str(value), options) if isinstance(value, str) else ""
        hint = hint if hint.startswith("; did") else ""
        return f"{full}: {value!r} is not one of {options}{hint}"
    if kind in ("too_long", "too_short") and isinstance(value, list | tuple):
        n = err.get("ctx", {}).get("max_length") or err.get("ctx", {}).get("min_length")
        return f"{full}: expected {n} values, got {len(value)} ({list(value)!r})"
    if kind in _EXPECT:
        return f"{full}: {_EXPECT[kind]}, got {value!r}"
    msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return f"{full}: {msg}" if full else msg


def config_error(
    exc: ValidationError, root: type[BaseModel], where: str = "", source: str = ""
) -> ConfigError:
    """A :class:`ConfigError` with one line per problem of ``exc`` (a validation of ``root``)."""
    errors = exc.errors()
    # With a union (e.g. ``float | None``) pydantic reports one error per member: keep the first per path.
    seen: dict[tuple, str] = {}
    for err in errors:
        key = tuple(err["loc"][:1]) + tuple(p for p in err["loc"][1:] if isinstance(p, int | str))
        msg = _one(err, root, where)
        short = tuple(p for p in key if not (isinstance(p, str) and "[" in p))
        seen.setdefault(short, msg)
    lines = list(dict.fromkeys(seen.values()))
    text = lines[0] if len(lines) == 1 else "; ".join(lines)
    return ConfigError(f"{source}: {text}" if source else text)
