"""Everything a report shows of one run, read from its folder (config.yaml, stats.jsonl, metrics.jsonl, samples/)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from ..config import flatten
from ..errors import MspgsenError

_SAMPLE = re.compile(r"^(\d{6,})\.png$")


@dataclass
class RunFiles:
    name: str
    path: Path
    config: dict
    stats: list[dict] = field(default_factory=list)  # one row per log step
    measurements: list[dict] = field(default_factory=list)  # metrics.jsonl rows written during training
    evaluations: list[dict] = field(default_factory=list)  # metrics.jsonl rows written by `mspgsen evaluate`
    samples: list[tuple[int, Path]] = field(default_factory=list)  # (step, grid) over training
    scales: list[tuple[int, Path]] = field(default_factory=list)  # (step, per-scale grid)
    state: Optional[dict] = None

    def series(self, key: str) -> tuple[list[float], list[float]]:
        """(kimg, value) of a stats key over training, skipping rows without it or with a non-finite value."""
        xs, ys = [], []
        for r in self.stats:
            v = r.get(key)
            if isinstance(v, (int, float)):
                xs.append(float(r.get("kimg", r.get("step", 0))))
                ys.append(float(v))
        return xs, ys

    def keys(self) -> set[str]:
        return {k for r in self.stats for k in r if k not in ("step", "kimg")}


def _jsonl(path: Path) -> list[dict]:
    rows = []
    if path.is_file():
        for ln in path.read_text().splitlines():
            try:
                rows.append(json.loads(ln))
            except ValueError:
                continue  # a line cut short by a crash
    return rows


def resolve_run(run: str | Path, runs_dir: str | Path = "runs") -> Path:
    """A bare name is a run under ``runs_dir`` first, then a folder path."""
    p = Path(run)
    candidates = ([Path(runs_dir) / str(run)] if len(p.parts) == 1 else []) + [p]
    for c in candidates:
        if (c / "config.yaml").is_file():
            return c
    raise MspgsenError(f"'{run}' is not a run folder (no config.yaml) nor a run name in '{runs_dir}'; "
                       f"`mspgsen runs --runs-dir {runs_dir}` lists the runs.")


def read_run(run: str | Path, runs_dir: str | Path = "runs") -> RunFiles:
    from ..engine.status import read_status

    path = resolve_run(run, runs_dir)
    try:
        config = yaml.safe_load((path / "config.yaml").read_text()) or {}
    except yaml.YAMLError:
        raise MspgsenError(f"'{path / 'config.yaml'}' is not valid YAML; the run folder is damaged.") from None
    metrics = _jsonl(path / "metrics.jsonl")
    samples, scales = [], []
    sdir = path / "samples"
    if sdir.is_dir():
        for p in sorted(sdir.iterdir()):
            m = _SAMPLE.match(p.name)
            if m:
                samples.append((int(m.group(1)), p))
            elif p.name.endswith("_scales.png") and p.name.split("_")[0].isdigit():
                scales.append((int(p.name.split("_")[0]), p))
    return RunFiles(path.name, path, config, _jsonl(path / "stats.jsonl"),
                    [r for r in metrics if r.get("kind") != "evaluate"], [r for r in metrics if r.get("kind") == "evaluate"],
                    samples, scales, read_status(path))


def config_table(runs: list[RunFiles]) -> tuple[list[str], list[list[str]]]:
    """Rows of (key, value per run): every key for one run, only the keys that differ for several."""
    flats = [flatten(r.config, keep_empty=True) for r in runs]
    keys = sorted(set().union(*flats))
    if len(runs) > 1:
        keys = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True, default=str) for f in flats}) > 1]
    rows = [[k] + ["" if k not in f else (yaml.safe_dump(f[k], default_flow_style=True).strip().removesuffix("...").strip())
                   for f in flats] for k in keys]
    return keys, rows
