"""What a benchmark suite is: variants (a preset or an inline config, plus ``--set`` overrides), seeds, a budget with
its measurement marks, the data and the metrics; read from YAML and checked once, before any work.

A suite is a file so that a published number is one command away from its settings: ``mspgsen bench SUITE.yaml``.
Every mistake in it is refused with one sentence naming the key, so a long suite never fails an hour in.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..errors import ConfigError

UNITS = ("steps", "kimg", "minutes")
#: Metrics a suite may ask for, and the columns each one fills.
METRIC_COLUMNS: dict[str, tuple[str, ...]] = {
    "fid": ("fid",),
    "kid": ("kid",),
    "pr": ("precision", "recall"),
    "dc": ("density", "coverage"),
    "cls": ("cls_score", "cls_classes_covered"),
    "modes": ("modes", "hq"),  # toy mixtures: modes covered within 3 sigma, share of samples within 3 sigma
    "osc": ("loss_g_osc",),  # spread of G's loss over the second half of training (oscillation)
    "losses": ("loss_d", "loss_g"),  # mean losses over the last quarter of training
    # what the controllers did: highest and lowest lr_d / lr_g over the logged 10-step means (the rates can part
    # either way), mean D updates per step
    "knobs": ("lr_ratio_max", "lr_ratio_min", "d_steps_mean"),
    "data_dist": ("data_dist",),  # model-free: diagonal Frechet distance of raw coordinates/pixels over total variance
    "d_quality": ("d_quality",),  # the controllers' own signal: the trainer's quality probe on the final networks
}
IMAGE_METRICS = ("fid", "kid", "pr", "dc", "cls")
#: Metrics read from the run's stats.jsonl alone: a row measured before the suite asked for one is completed from
#: the run's log (runner.measured_marks), with no training and no generator.
LOG_METRICS = ("osc", "losses", "knobs")
REFS = ("test", "holdout", "train")
HOLDOUT_TRAIN = 5000  # ref holdout: train on the first 5,000 bundled training images, measure on the other 1,000
BUNDLED = "fashion-mnist-subset"
TOY = ("ring8", "grid25")
KEYS = {"name", "description", "runs_dir", "run_name", "log_name", "variants", "presets", "preset", "set", "seeds",
        "budget", "marks", "data", "metrics", "n", "threads", "ema", "report", "plot", "ledger", "speed_tolerance"}
VARIANT_KEYS = {"name", "preset", "config", "set"}
DATA_KEYS = {"source", "ref"}


@dataclass
class Variant:
    """One row of a results table: a preset (or an inline config) and the overrides that make it this row."""

    name: str
    preset: Optional[str] = None  # a preset name or YAML path
    config: Optional[dict] = None  # an inline config mapping (instead of a preset)
    overrides: list[str] = field(default_factory=list)

    @property
    def base(self) -> Any:
        return self.config if self.config is not None else self.preset


@dataclass
class Suite:
    """A checked suite. ``marks`` are in ``unit`` and ascending; the last one is the budget."""

    name: str
    variants: list[Variant]
    seeds: list[int]
    unit: str
    marks: list[float]
    metrics: list[str]
    source: Optional[str] = None  # None: each variant's own data source
    ref: str = "test"
    n: int = 1000
    threads: int = 1
    ema: bool = True
    overrides: list[str] = field(default_factory=list)
    runs_dir: Path = Path("runs/bench")
    run_name: str = "{variant}-s{seed}"
    log_name: str = "bench.jsonl"  # per-run measurement log (fid_vs_time.py's runs keep fid_vs_time.jsonl)
    description: str = ""
    report: bool = True
    plot: bool = True
    path: Optional[Path] = None
    ledger: Optional[Path] = None  # the suite's measured rows, kept beside it (bench/ledger.py); None: no ledger
    # a minutes budget: how far apart (fastest / slowest - 1) the host-speed probes of a table's rows may be before
    # the table says they are not seeds of one measurement (bench/speed.py)
    speed_tolerance: float = 0.15

    @property
    def budget(self) -> float:
        return self.marks[-1]

    def run_dir(self, variant: Variant, seed: int) -> Path:
        return Path(self.runs_dir) / self.run_name.format(variant=variant.name, seed=seed)

    def columns(self, logs: bool = True) -> list[str]:
        """The table's metric columns; ``logs=False`` leaves out those read from the run's stats.jsonl."""
        return [c for m in self.metrics if logs or m not in LOG_METRICS for c in METRIC_COLUMNS[m]]

    def log_columns(self) -> list[str]:
        return [c for m in self.metrics if m in LOG_METRICS for c in METRIC_COLUMNS[m]]

    def tasks(self) -> list[tuple[Variant, int]]:
        """Every (variant, seed), seeds outermost: a suite cut short still compares every variant on its first seeds."""
        return [(v, s) for s in self.seeds for v in self.variants]


def _fail(where: str, what: str) -> ConfigError:
    return ConfigError(f"Suite {where}: {what}")


def _str_list(value: Any, key: str, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(where, f"'{key}' must be a list of 'a.b=value' strings, got {value!r}.")
    bad = [v for v in value if "=" not in v]
    if bad:
        raise _fail(where, f"'{key}' entry '{bad[0]}' is not of the form 'a.b=value'.")
    return list(value)


def _number(value: Any, key: str, where: str, integer: bool = False, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise _fail(where, f"'{key}' must be {'an integer' if integer else 'a number'}, got {value!r}.")
    if positive and value <= 0:
        raise _fail(where, f"'{key}' must be greater than 0, got {value!r}.")
    return value


def _variants(raw: dict, where: str) -> list[Variant]:
    default_preset = raw.get("preset")
    if "variants" in raw and "presets" in raw:
        raise _fail(where, "give either 'variants' or 'presets', not both.")
    if "presets" in raw:
        presets = raw["presets"]
        if isinstance(presets, str):
            presets = [p.strip() for p in presets.split(",") if p.strip()]
        if not isinstance(presets, list) or not presets or not all(isinstance(p, str) for p in presets):
            raise _fail(where, f"'presets' must be a non-empty list of preset names, got {presets!r}.")
        return [Variant(p, preset=p) for p in presets]
    items = raw.get("variants")
    if not isinstance(items, list) or not items:
        raise _fail(where, "name what to run: 'presets: [dcgan, msggan]' or 'variants: [{name: ..., preset: ..., set: [...]}]'.")
    out: list[Variant] = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            item = {"name": item, "preset": item}
        if not isinstance(item, dict):
            raise _fail(where, f"variant {i + 1} must be a mapping with name, preset (or config) and set, got {item!r}.")
        unknown = sorted(set(item) - VARIANT_KEYS)
        if unknown:
            raise _fail(where, f"variant {i + 1} has unknown key(s) {', '.join(unknown)}; use {', '.join(sorted(VARIANT_KEYS))}.")
        name = item.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", name):
            raise _fail(where, f"variant {i + 1} needs a 'name' of letters, digits and -_.+ (it names run folders), got {name!r}.")
        preset, config = item.get("preset", default_preset), item.get("config")
        if config is not None and "preset" in item:
            raise _fail(where, f"variant '{name}' gives both 'preset' and 'config'; keep one.")
        if config is not None:
            if not isinstance(config, dict):
                raise _fail(where, f"variant '{name}': 'config' must be a mapping of config sections.")
            preset = None
        elif not isinstance(preset, str) or not preset:
            raise _fail(where, f"variant '{name}' names no preset; give 'preset: NAME' (or a suite-wide 'preset').")
        out.append(Variant(name, preset=preset, config=config, overrides=_str_list(item.get("set"), "set", where)))
    names = [v.name for v in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise _fail(where, f"variant name(s) {', '.join(dup)} appear more than once; each names its own run folders.")
    return out


def _seeds(value: Any, where: str) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise _fail(where, f"'seeds' as a count must be at least 1, got {value}.")
        return list(range(value))
    if isinstance(value, list) and value and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value):
        if len(set(value)) != len(value):
            raise _fail(where, f"'seeds' lists a seed twice: {value}.")
        return list(value)
    raise _fail(where, f"'seeds' must be a count (3 means 0, 1, 2) or a list of distinct seeds >= 0, got {value!r}.")


def _budget(raw: dict, where: str) -> tuple[str, list[float]]:
    budget = raw.get("budget")
    if not isinstance(budget, dict) or len(budget) != 1 or next(iter(budget)) not in UNITS:
        raise _fail(where, f"'budget' must be one of {{steps: N}}, {{kimg: N}} or {{minutes: N}}, got {budget!r}.")
    unit, total = next(iter(budget.items()))
    total = _number(total, f"budget.{unit}", where, integer=unit == "steps")
    marks = raw.get("marks", [total])
    if not isinstance(marks, list) or not marks:
        raise _fail(where, f"'marks' must be a list of {unit} at which to measure, got {marks!r}.")
    marks = sorted({float(_number(m, "marks", where, integer=unit == "steps")) for m in marks})
    if marks[-1] > total:
        raise _fail(where, f"mark {marks[-1]:g} lies beyond the budget of {total:g} {unit}; raise the budget or drop the mark.")
    if marks[-1] < total:
        marks.append(float(total))
    return unit, marks


def _data(value: Any, where: str) -> tuple[Optional[str], str]:
    if value is None:
        return None, "test"
    if isinstance(value, str):
        value = {"ref": value} if value in REFS else {"source": value}
    if not isinstance(value, dict) or set(value) - DATA_KEYS:
        raise _fail(where, f"'data' must be 'test', 'holdout', a source name, or {{source: ..., ref: test|holdout|train}}, got {value!r}.")
    source, ref = value.get("source"), value.get("ref", "test")
    if ref not in REFS:
        raise _fail(where, f"'data.ref' must be one of {', '.join(REFS)}, got {ref!r}.")
    if source is not None and not isinstance(source, str):
        raise _fail(where, f"'data.source' must be a source name or path, got {source!r}.")
    if ref == "holdout" and source not in (None, BUNDLED):
        raise _fail(where, f"'data.ref: holdout' splits the bundled data ({BUNDLED}) only; use ref 'test' or 'train' for {source}.")
    return source, ref


def parse_suite(raw: Any, where: str = "file", base_dir: Optional[Path] = None) -> Suite:
    """Check a suite mapping; every mistake is one sentence naming the key."""
    if not isinstance(raw, dict):
        raise _fail(where, "must be a YAML mapping with at least 'presets' (or 'variants'), 'seeds' and 'budget'.")
    unknown = sorted(k for k in set(raw) - KEYS if not str(k).startswith("x-"))  # x-NAME: holds a YAML anchor
    if unknown:
        raise _fail(where, f"unknown key(s) {', '.join(unknown)}; a suite may hold {', '.join(sorted(KEYS))}.")
    name = raw.get("name") or (Path(where).stem if where != "file" else "suite")
    variants = _variants(raw, where)
    seeds = _seeds(raw.get("seeds", 1), where)
    unit, marks = _budget(raw, where)
    source, ref = _data(raw.get("data"), where)
    metrics = raw.get("metrics", ["fid", "kid"] if source not in TOY else ["modes"])
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    if not isinstance(metrics, list) or not metrics or any(m not in METRIC_COLUMNS for m in metrics):
        raise _fail(where, f"'metrics' must list some of {', '.join(METRIC_COLUMNS)}, got {metrics!r}.")
    if source in TOY and set(metrics) & set(IMAGE_METRICS):
        raise _fail(where, f"image metrics ({', '.join(sorted(set(metrics) & set(IMAGE_METRICS)))}) do not apply to the "
                           f"toy mixture {source}; use 'modes', 'osc', 'losses', 'data_dist' or 'd_quality'.")
    if "modes" in metrics and source not in TOY:
        raise _fail(where, f"'modes' needs a toy mixture as data ({' or '.join(TOY)}); images use fid, kid, pr, dc, cls.")
    run_name = raw.get("run_name", "{variant}-s{seed}")
    if not isinstance(run_name, str) or "{variant}" not in run_name or "{seed}" not in run_name:
        raise _fail(where, f"'run_name' must contain {{variant}} and {{seed}}, got {run_name!r}.")
    try:
        run_name.format(variant="v", seed=0)
    except (KeyError, IndexError, ValueError):
        raise _fail(where, f"'run_name' may use only {{variant}} and {{seed}}, got {run_name!r}.") from None
    runs_dir = raw.get("runs_dir", f"runs/bench/{name}")
    if not isinstance(runs_dir, str):
        raise _fail(where, f"'runs_dir' must be a folder path, got {runs_dir!r}.")
    for key in ("ema", "report", "plot"):
        if not isinstance(raw.get(key, True), bool):
            raise _fail(where, f"'{key}' must be true or false, got {raw[key]!r}.")
    log_name = raw.get("log_name", "bench.jsonl")
    if not isinstance(log_name, str) or "/" in log_name or not log_name.endswith(".jsonl"):
        raise _fail(where, f"'log_name' must be a file name ending in .jsonl, got {log_name!r}.")
    ledger = raw.get("ledger")
    if ledger is not None and (not isinstance(ledger, str) or not ledger.endswith(".jsonl")):
        raise _fail(where, f"'ledger' must be the path of a .jsonl file (relative to the suite file), got {ledger!r}.")
    tolerance = raw.get("speed_tolerance", 0.15)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or tolerance < 0:
        raise _fail(where, f"'speed_tolerance' must be a number of at least 0 (0.15: probes within 15%), got {tolerance!r}.")
    return Suite(
        name=str(name), variants=variants, seeds=seeds, unit=unit, marks=marks, metrics=list(dict.fromkeys(metrics)),
        source=source, ref=ref, n=int(_number(raw.get("n", 2500 if source in TOY else 1000), "n", where, integer=True)),
        threads=int(_number(raw.get("threads", 1), "threads", where, integer=True)), ema=raw.get("ema", True),
        overrides=_str_list(raw.get("set"), "set", where), runs_dir=Path(runs_dir), run_name=run_name,
        log_name=log_name, description=str(raw.get("description", "")), report=raw.get("report", True),
        plot=raw.get("plot", True), speed_tolerance=float(tolerance),
        ledger=None if ledger is None else Path(os.path.normpath(Path(base_dir or ".") / ledger)))


def load_suite(path: str | Path) -> Suite:
    """Read and check a suite file."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"Suite file '{path}' does not exist; give the path of a suite YAML (see benchmarks/suites/).")
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"Suite file '{path}' is not valid YAML{at}; fix the syntax there.") from None
    suite = parse_suite(raw, str(path), base_dir=p.parent)
    suite.path = p
    return suite
