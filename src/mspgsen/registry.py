"""Name -> implementation registries, each entry with a dataclass of its options.

Models, methods and controllers register themselves here with the dataclass of the options they accept. The
config layer validates the user's keys against that dataclass, so a typo in ``--set model.dema=flase`` is caught
before any work, with the nearest valid key suggested, and a new component becomes configurable by registering.
"""
from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Callable, Generic, TypeVar

from .errors import ConfigError

T = TypeVar("T")


def suggest(name: str, choices: typing.Iterable[str]) -> str:
    """Return ' Did you mean X?' for the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the type hint ``tp`` and convert the harmless cases (int -> float, list -> tuple).

    ``where`` is the dotted key, used in the error sentence.
    """
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(value, a, where)
            except ConfigError as e:  # try the next member of the union
                errors.append(e)
        raise ConfigError(f"'{where}' must be {' or '.join(_type_name(a) for a in args)}, got {value!r}.")
    if origin is typing.Literal:
        if isinstance(value, bool) and not any(isinstance(a, bool) for a in args):
            # YAML 1.1 (PyYAML) reads off/on/no/yes as booleans; a choice spelled so means the word as written
            word = {False: ("off", "no", "false"), True: ("on", "yes", "true")}[value]
            value = next((w for w in word if w in args), value)
        if value not in args:
            raise ConfigError(f"'{where}' must be one of {', '.join(map(repr, args))}, got {value!r}.{suggest(str(value), map(str, args))}")
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"'{where}' must be true or false, got {value!r}.")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"'{where}' must be an integer, got {value!r}.")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"'{where}' must be a number, got {value!r}.")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"'{where}' must be a string, got {value!r}.")
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"'{where}' must be a list, got {value!r}.")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"'{where}' must have {len(args)} entries, got {len(value)}.")
            return tuple(coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        inner = args[0] if args else Any
        out = [coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if (origin is tuple or tp is tuple) else out
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"'{where}' must be a mapping, got {value!r}.")
        vt = args[1] if len(args) == 2 else Any
        return {str(k): coerce(v, vt, f"{where}.{k}") for k, v in value.items()}
    if is_dataclass(tp):
        return build_dataclass(tp, value, where)
    return value


def build_dataclass(cls: type[T], raw: Any, where: str) -> T:
    """Build ``cls`` from a mapping, rejecting unknown keys (with a suggestion) and wrong types.

    A dataclass may name keys it once had in ``MOVED`` (a ClassVar, key -> what to use now), so an old config or
    run folder gets told where its setting went.
    """
    if isinstance(raw, cls):
        return raw
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"'{where}' must be a mapping of options, got {raw!r}.")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls) if f.init]
    kwargs = {}
    moved: dict[str, str] = getattr(cls, "MOVED", {})  # keys that now live elsewhere -> where
    for key, value in raw.items():
        if key not in names:
            dotted = f"{where}.{key}" if where else key
            if key in moved:
                raise ConfigError(f"'{dotted}' has moved: {moved[key]}.")
            raise ConfigError(f"Unknown config key '{dotted}'.{suggest(key, names)} Valid keys here: {', '.join(names)}.")
        kwargs[key] = coerce(value, hints[key], f"{where}.{key}" if where else key)
    obj = cls(**kwargs)
    check = getattr(obj, "check", None)
    if callable(check):
        check(where)
    return obj


def to_plain(obj: Any) -> Any:
    """Dataclasses, tuples and dicts -> plain YAML-friendly Python values."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    return obj


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    obj: T
    options: type
    doc: str


@dataclass
class NoOptions:
    """For entries that take no options."""


class Registry(Generic[T]):
    """A named collection of builders (functions or classes) with their options dataclasses."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, options: type | None = None) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._entries:
                raise RuntimeError(f"{self.kind} '{name}' registered twice")
            opts = options or NoOptions
            if not dataclasses.is_dataclass(opts):
                raise TypeError(f"options of {self.kind} '{name}' must be a dataclass")
            doc = (getattr(obj, "__doc__", None) or "").strip().split("\n")[0]
            self._entries[name] = Entry(name, obj, opts, doc)
            return obj

        return deco

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return sorted(self._entries)

    def get(self, name: str, where: str = "") -> Entry[T]:
        if name not in self._entries:
            label = f"'{where}' " if where else ""
            raise ConfigError(
                f"Unknown {self.kind} {label}'{name}'.{suggest(name, self._entries)} "
                f"Known: {', '.join(self.names())}."
            )
        return self._entries[name]
