"""Shared base of hpefast's typed configs (pydantic v2) and their one-line error messages.

Every config section derives from :class:`Section`: unknown keys are refused, booleans are strict
(``amp: yes`` is an error, not True), numbers given where a string is expected become strings. A pydantic
``ValidationError`` is turned by :func:`config_error` into a :class:`~hpefast.errors.ConfigError` whose
message names the key path (``optim.lr``) and, for an unknown key, suggests the closest valid one.
"""

from __future__ import annotations

import copy
import difflib
import types
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from hpefast.errors import ConfigError

__all__ = ["Section", "ConfigSource", "config_error", "did_you_mean", "MOVED_KEYS"]

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


# ----------------------------------------------------------------------------------------------------------
# Config trees: YAML files with ``base:`` chains, presets, ``key=value`` overrides (shared by every config)
# ----------------------------------------------------------------------------------------------------------


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        return text


def _fields(cls: type[BaseModel]) -> dict[str, Any]:
    """Field name (by alias where one is set) -> annotation."""
    return {(f.alias or name): f.annotation for name, f in cls.model_fields.items()}


def _section(tp: Any) -> Any:
    """The config class inside ``tp`` (``X | None`` -> X), else ``tp``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), tp)
    return tp


def _moved(path: str) -> str | None:
    generic = ".".join(p for p in path.split(".") if not p.isdigit())
    return MOVED_KEYS.get(generic)


class ConfigSource:
    """Builds the dict tree of a config of class ``root()`` from a preset name, a YAML file (``base:``
    chains: a preset or another YAML path, relative to the file) or a dict, and applies ``key=value``
    overrides (values parsed as YAML; list entries by index or by their ``name``). Key names are checked
    on the way (unknown keys refused with a did-you-mean, naming the file or override); values are
    validated by the caller on the merged tree (pydantic), so a partial file never fails on its own.

    Args:
        root: returns the root config class (a callable, so that it may be defined after this object).
        presets: returns ``{name: () -> tree}``.
        kind: what a preset is called in messages.
    """

    def __init__(
        self,
        root: Callable[[], type[BaseModel]],
        presets: Callable[[], dict[str, Callable[[], dict[str, Any]]]],
        kind: str = "preset",
    ) -> None:
        self._root = root
        self._presets = presets
        self.kind = kind

    # --- sources ------------------------------------------------------------------------------
    def tree(self, source: str | Path | dict[str, Any]) -> dict[str, Any]:
        """The merged dict tree of ``source`` (a preset name, a YAML path or a dict with optional base)."""
        if isinstance(source, dict):
            tree = dict(source)
            base = tree.pop("base", None)
            self.check_keys(tree, self._root())
            return _deep_merge(self._load(base), tree) if base is not None else tree
        return self._load(source)

    def _load(self, source: str | Path, seen: tuple[str, ...] = ()) -> dict[str, Any]:
        presets = self._presets()
        text = str(source)
        if text in presets:
            return presets[text]()
        path = Path(text)
        if not path.is_file():
            if path.suffix in (".yaml", ".yml") or "/" in text:
                raise FileNotFoundError(f"config file {text!r} does not exist")
            raise ConfigError(
                f"{text!r} is neither a {self.kind} nor a YAML file{did_you_mean(text, presets)}"
            )
        resolved = str(path.resolve())
        if resolved in seen:
            raise ConfigError(f"{text}: 'base' chain loops back to itself")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{text}: not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{text}: the top level must be a mapping, got {type(data).__name__}")
        base = data.pop("base", None)
        tree: dict[str, Any] = {}
        if base is not None:
            b = str(base)
            if b not in presets and not Path(b).is_absolute():
                b = str(path.parent / b)
            tree = self._load(b, seen + (resolved,))
        try:
            self.check_keys(data, self._root())  # the file's own keys, naming the file
        except ConfigError as exc:
            raise ConfigError(f"{text}: {exc}") from None
        return _deep_merge(tree, data)

    # --- checks and overrides -----------------------------------------------------------------
    def check_keys(self, data: Any, cls: type[BaseModel], where: str = "") -> None:
        """Refuse unknown keys in the (possibly partial) dict form ``data`` of config ``cls``, naming the
        key path, with a did-you-mean (or where a key moved to)."""
        if not isinstance(data, dict):
            return
        fields = _fields(cls)
        for key, value in data.items():
            path = f"{where}.{key}" if where else str(key)
            if key not in fields:
                moved = _moved(path)
                if moved:
                    raise ConfigError(f"config key {path!r} moved: use {moved}")
                raise ConfigError(f"unknown config key {path!r}{did_you_mean(str(key), fields)}")
            tp = _section(fields[key])
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                self.check_keys(value, tp, path)
            elif typing.get_origin(tp) is list and isinstance(value, list):
                (item,) = typing.get_args(tp)
                if isinstance(item, type) and issubclass(item, BaseModel):
                    for i, v in enumerate(value):
                        self.check_keys(v, item, f"{path}.{i}")

    def apply_overrides(self, tree: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
        """Apply ``section.key=value`` strings to a dict tree; returns a new dict."""
        tree = copy.deepcopy(tree)
        for item in overrides:
            if "=" not in item:
                raise ConfigError(f"override {item!r} must look like key=value (e.g. optim.lr=1e-3)")
            key, text = item.split("=", 1)
            key = key.strip()
            if not key:
                raise ConfigError(f"override {item!r} has an empty key")
            self._set_path(tree, self._root(), key.split("."), _parse_value(text), item)
        return tree

    def _set_path(
        self, tree: dict[str, Any], cls: type[BaseModel], parts: list[str], value: Any, full: str
    ) -> None:
        key = parts[0]
        fields = _fields(cls)
        if key not in fields:
            dotted = full.split("=", 1)[0].strip()
            prefix = dotted[: len(dotted) - len(".".join(parts))]
            moved = _moved(prefix + key)
            if moved:
                raise ConfigError(f"config key {prefix + key!r} moved: use {moved} (in override {full!r})")
            raise ConfigError(
                f"unknown config key {prefix + key!r} in override {full!r}{did_you_mean(key, fields)}"
            )
        if len(parts) == 1:
            tree[key] = value
            return
        tp = _section(fields[key])
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            node = tree.get(key)
            if not isinstance(node, dict):
                node = tree[key] = (
                    node.model_dump(mode="json", by_alias=True) if isinstance(node, BaseModel) else {}
                )
            self._set_path(node, tp, parts[1:], value, full)
        elif typing.get_origin(tp) is list and issubclass(typing.get_args(tp)[0], BaseModel):
            items = tree.setdefault(key, [])
            sel = parts[1]
            if sel.isdigit():
                i = int(sel)
                if i >= len(items):
                    raise ConfigError(f"override {full!r}: {key} has {len(items)} entries, no index {i}")
            else:
                found = [j for j, it in enumerate(items) if it.get("name") == sel]
                if not found:
                    names_ = [it.get("name", "") for it in items]
                    raise ConfigError(
                        f"override {full!r}: no entry named {sel!r} in {key}{did_you_mean(sel, names_)}"
                    )
                i = found[0]
            if len(parts) == 2:
                items[i] = value
            else:
                self._set_path(items[i], typing.get_args(tp)[0], parts[2:], value, full)
        elif typing.get_origin(tp) is dict:
            tree.setdefault(key, {})
            node = tree[key]
            for p in parts[1:-1]:
                node = node.setdefault(p, {})
            node[parts[-1]] = value
        else:
            raise ConfigError(f"override {full!r}: {key!r} is a value, not a section")
