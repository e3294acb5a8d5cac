"""Presets, YAML files and ``--set key=value`` overrides, merged into one validated :class:`Config`."""
from __future__ import annotations

import copy
import difflib
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import yaml

from ..errors import ConfigError
from .schema import Config, config_from_dict

# The MSPG-SEN configuration with the lowest FID at the demo's budget: chosen on held-out data, confirmed on the test
# split over 3 seeds (docs/benchmarks.md, "The default without AFE on the test split"); `mspgsen` is the whole paper
# system.
DEFAULT_PRESET = "mspgsen-coarse-attention-no-afe-apfl-dqn"


def preset_names() -> list[str]:
    files = resources.files("mspgsen.config").joinpath("presets")
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".yaml"))


def _read_yaml(text: str, origin: str) -> dict:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{origin} is not valid YAML ({str(e).splitlines()[0]}); fix the file and try again.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{origin} must hold a mapping of config sections, not a {type(data).__name__}.")
    return data


def deep_merge(base: dict, over: dict) -> dict:
    """Merge ``over`` into a copy of ``base``; mappings merge key by key, anything else replaces."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def flatten(d: dict, prefix: str = "", keep_empty: bool = False) -> dict:
    """A nested config mapping as ``{"section.key": value}``: the one way configs are compared key by key (resume
    checks, preset listings, reports). An empty mapping has no leaves, so it vanishes unless ``keep_empty`` keeps it
    as a ``{}`` value (a report shows it; the resume check compares leaves only)."""
    out: dict = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and (v or not keep_empty):
            out.update(flatten(v, key + ".", keep_empty))
        else:
            out[key] = v
    return out


def read_preset(name_or_path: str, _seen: tuple[str, ...] = ()) -> dict:
    """The raw mapping of a preset name or YAML file, with its ``base:`` chain merged in."""
    path = Path(name_or_path)
    if name_or_path.endswith((".yaml", ".yml")) or path.exists():
        if not path.is_file():
            raise ConfigError(f"Config file '{name_or_path}' does not exist.")
        raw = _read_yaml(path.read_text(), f"Config file '{name_or_path}'")
    else:
        names = preset_names()
        if name_or_path not in names:
            close = difflib.get_close_matches(name_or_path, names, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"Unknown preset '{name_or_path}'.{hint} Presets: {', '.join(names)}; or give a .yaml file.")
        text = resources.files("mspgsen.config").joinpath("presets", f"{name_or_path}.yaml").read_text()
        raw = _read_yaml(text, f"Preset '{name_or_path}'")
    base = raw.pop("base", None)
    if base:
        if base in _seen:
            raise ConfigError(f"Preset '{name_or_path}' inherits from itself through 'base: {base}'.")
        raw = deep_merge(read_preset(str(base), _seen + (name_or_path,)), raw)
    return raw


def parse_override(item: str) -> dict:
    """``a.b.c=value`` -> {'a': {'b': {'c': value}}}, the value read as YAML (so 2e-4, true, [1, 2] work)."""
    if "=" not in item:
        raise ConfigError(f"Override '{item}' must look like key.path=value, e.g. optim.lr_g=2e-4.")
    key, _, text = item.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"Override '{item}' has an empty key; use key.path=value.")
    try:
        value: Any = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        value = text
    if isinstance(value, str) and _looks_numeric(value):
        value = float(value)  # YAML 1.1 reads '2e-4' as a string
    out: dict = {}
    node = out
    parts = key.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return out


def _looks_numeric(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def expand_switches(raw: dict) -> dict:
    """``control: {dqn: true}`` -> ``control: {dqn: {enabled: true}}``, so a later ``control.dqn.every=30`` adds to
    the switch instead of replacing it (and silently turning the controller off)."""
    control = raw.get("control") if isinstance(raw, dict) else None
    if not isinstance(control, dict) or not any(isinstance(v, bool) for v in control.values()):
        return raw
    return dict(raw, control={k: ({"enabled": v} if isinstance(v, bool) else v) for k, v in control.items()})


def apply_overrides(raw: dict, overrides: Iterable[str]) -> dict:
    """Merge ``key.path=value`` overrides into ``raw``, in order.

    An override that names another ``model.name`` or ``method.name`` drops the preset's options for the old
    component first: they would not fit the new one.
    """
    raw = expand_switches(raw)
    for item in overrides:
        over = expand_switches(parse_override(item))
        for section in ("model", "method"):  # another component: the preset's options for the old one no longer apply
            new_name = (over.get(section) or {}).get("name") if isinstance(over.get(section), dict) else None
            if new_name is not None and isinstance(raw.get(section), dict) and raw[section].get("name") != new_name:
                raw = dict(raw, **{section: {}})
        raw = deep_merge(raw, over)
    return raw


def resolve_raw(preset: str | None = None, overrides: Iterable[str] = (), extra: dict | None = None) -> dict:
    raw = read_preset(preset or DEFAULT_PRESET)
    if extra:
        raw = deep_merge(raw, extra)
    raw = apply_overrides(raw, overrides)
    return raw


def load_config(preset: str | None = None, overrides: Iterable[str] = (), extra: dict | None = None) -> Config:
    """Preset (or YAML file) + extra mapping + ``--set`` overrides -> validated :class:`Config`."""
    return config_from_dict(resolve_raw(preset, overrides, extra))


def dump_config(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_plain(), sort_keys=False)
