"""``mspgsen runs``: one line per run folder, read from the files the trainer leaves (no checkpoint is loaded).

Each run shows its name, preset (model/method), data, steps and kimg, latest FID, state and age, so a folder of
experiments can be surveyed the way TensorBoard's run list or a sweep table would show them.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import yaml

from ..config import flatten
from .checkpoint import latest_checkpoint
from .run import RESUMABLE_KEYS
from .status import read_status


@dataclass
class RunInfo:
    name: str
    path: Path
    preset: str  # the closest preset, with how many keys differ from it ('dcgan +2')
    model: str
    method: str
    data: str
    step: int
    kimg: Optional[float]
    fid: Optional[float]
    state: str
    age_s: float


def _jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    rows = []
    for ln in path.read_text().splitlines():
        try:
            rows.append(json.loads(ln))
        except ValueError:
            continue  # a line cut by a crash
    return rows


def latest_fid(run_dir: Path) -> Optional[float]:
    """The last FID in metrics.jsonl, from training-time measurements or `mspgsen evaluate` alike."""
    for row in reversed(_jsonl(Path(run_dir) / "metrics.jsonl")):
        v = row.get("fid")
        if isinstance(v, (int, float)):
            return float(v)
    return None


def _preset_tables() -> dict[str, dict]:
    from ..config import load_config, preset_names

    return {n: flatten(load_config(n).to_plain()) for n in preset_names()}


#: Keys that say how a run was run rather than what it is; they do not count against a preset. They are the keys a
#: resume may change (engine.run), so the listing and the resume rule agree on what makes two runs the same run.
_IGNORED = RESUMABLE_KEYS


def _controllers(flat: dict) -> set[str]:
    return {k.split(".")[1] for k, v in flat.items() if k.startswith("control.") and k.endswith(".enabled") and v}


def closest_preset(cfg: dict, tables: Optional[dict[str, dict]] = None) -> str:
    """The preset the resolved config differs least from (same model and method), and how it differs.

    Run folders store the resolved config, not the preset's name, so this recovers it for the listing. Controllers
    switched on beyond the preset's are named ('dcgan +apfl'); other keys are counted ('dcgan +apfl, 2 keys').
    """
    tables = _preset_tables() if tables is None else tables
    flat = flatten(cfg)
    best: Optional[tuple[int, str, dict]] = None
    for name, ref in tables.items():
        if ref.get("model.name") != flat.get("model.name") or ref.get("method.name") != flat.get("method.name"):
            continue
        diff = sum(1 for k in set(ref) | set(flat)
                   if k not in _IGNORED and not k.startswith("control.") and ref.get(k) != flat.get(k))
        diff += len(_controllers(ref) ^ _controllers(flat))
        if best is None or diff < best[0]:
            best = (diff, name, ref)
    if best is None:
        return "-"
    diff, name, ref = best
    extra = sorted(_controllers(flat) - _controllers(ref))
    keys = diff - len(_controllers(ref) ^ _controllers(flat))
    out = name + "".join(f" +{c}" for c in extra)
    return out + (f", {keys} key{'s' * (keys != 1)}" if keys else "")


def run_info(run_dir: Path, tables: Optional[dict[str, dict]] = None) -> Optional[RunInfo]:
    """What is known of one run folder, or None when it is not one (no config.yaml)."""
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        return None
    try:
        cfg = yaml.safe_load(cfg_path.read_text()) or {}
    except yaml.YAMLError:
        cfg = {}
    st = read_status(run_dir) or {}
    ckpt = latest_checkpoint(run_dir / "checkpoints")
    step = int(ckpt.stem.split("-")[1]) if ckpt else 0
    kimg = st.get("kimg") if st.get("step") == step else None
    if kimg is None:
        rows = [r for r in _jsonl(run_dir / "stats.jsonl") if r.get("step", 0) <= step]
        kimg = rows[-1].get("kimg") if rows else None
    state = st.get("state") or ("not started" if ckpt is None else "stopped")
    times = [p.stat().st_mtime for p in (cfg_path, run_dir / "status.json", run_dir / "stats.jsonl", ckpt) if p and p.exists()]
    try:
        preset = closest_preset(cfg, tables)
    except Exception:  # a config of another version; the listing still shows the rest
        preset = "-"
    return RunInfo(run_dir.name, run_dir, preset, str(cfg.get("model", {}).get("name", "?")), str(cfg.get("method", {}).get("name", "?")),
                   str(cfg.get("data", {}).get("source", "?")), step, kimg, latest_fid(run_dir), state,
                   time.time() - max(times))


def list_runs(runs_dir: str | Path) -> list[RunInfo]:
    """Every run folder directly under ``runs_dir``, most recently active first."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    tables = _preset_tables()
    infos = [run_info(p, tables) for p in sorted(root.iterdir()) if p.is_dir()]
    return sorted((i for i in infos if i is not None), key=lambda i: i.age_s)


def age_text(seconds: float) -> str:
    for unit, div in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= div:
            return f"{seconds / div:.0f} {unit} ago"
    return "just now"


def format_runs(infos: list[RunInfo]) -> str:
    """An aligned table; '-' where a value is not known yet."""
    head = ["name", "preset", "model/method", "data", "step", "kimg", "FID", "state", "age"]
    rows = [[i.name, i.preset, f"{i.model}/{i.method}", i.data, str(i.step), "-" if i.kimg is None else f"{i.kimg:.1f}",
             "-" if i.fid is None else f"{i.fid:.2f}", i.state, age_text(i.age_s)] for i in infos]
    widths = [max(len(r[k]) for r in rows + [head]) for k in range(len(head))]
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])
