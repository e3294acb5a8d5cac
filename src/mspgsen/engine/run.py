"""Run folders: a named run lives in ``RUNS_DIR/NAME``; training the same name again resumes it.

The folder keeps its resolved ``config.yaml``, so ``generate``/``evaluate`` need nothing but the folder, and a
resumed run keeps its own config: only the budget (and how it is shown or run: progress bar, threads, device)
may change between sessions.
"""
from __future__ import annotations

import copy
import shutil
import time
from pathlib import Path

import yaml

from ..config import Config, config_from_dict, flatten
from ..errors import ConfigError, MspgsenError
from .checkpoint import latest_checkpoint

#: Keys that may differ when a run is resumed.
RESUMABLE_KEYS = {"train.steps", "train.kimg", "train.minutes", "train.progress", "train.tensorboard",
                  "train.threads", "train.device", "train.log_every", "train.sample_every", "train.ckpt_every",
                  "train.keep_last", "train.compile", "train.channels_last", "eval.every_kimg", "eval.n", "eval.batch_size",
                   "optim.impl"}


def resume_differences(old_raw: dict, new_raw: dict) -> tuple[dict[str, tuple], dict[str, object]]:
    """How a run's stored config (``old_raw``, as written in its config.yaml) and a requested one (``new_raw``,
    resolved) differ, outside the keys a resume may change: ``{key: (old, new)}``, and the options added to the code
    after the run was made ``{key: default}`` (absent from the stored file, they take their defaults)."""
    written = flatten(old_raw)
    a, b = flatten(config_from_dict(copy.deepcopy(old_raw)).to_plain()), flatten(new_raw)
    added = {k: a[k] for k in sorted(a) if k not in written and k not in RESUMABLE_KEYS}
    diff = {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k) and k not in RESUMABLE_KEYS}
    return diff, added


def prepare_run_dir(cfg: Config, name: str, runs_dir: str | Path = "runs", new: bool = False,
                    log=print) -> tuple[Config, Path]:
    """Decide the folder of run ``name`` and the config it trains with.

    A run that exists is resumed with its stored config plus the budget keys of ``cfg``; any other difference is
    refused with a sentence naming the keys. ``new=True`` moves an existing folder aside (nothing is deleted).
    """
    if not name or "/" in name or name.startswith("."):
        raise ConfigError(f"Run name '{name}' must be a plain folder name (no '/', not starting with '.').")
    run_dir = Path(runs_dir) / name
    if run_dir.exists() and new:
        aside = run_dir.with_name(f"{name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
        shutil.move(str(run_dir), str(aside))
        log(f"moved the previous run '{name}' aside to {aside}")
    stored = run_dir / "config.yaml"
    if run_dir.exists() and stored.exists() and latest_checkpoint(run_dir / "checkpoints") is not None:
        old_raw = yaml.safe_load(stored.read_text())
        new_raw = cfg.to_plain()
        # An option added to the code after the run was made is absent from its config.yaml: it takes its default
        # (named in a note) instead of every older run being refused.
        diff, added = resume_differences(old_raw, new_raw)
        if diff:
            shown = ", ".join(f"{k} ({o!r} -> {n!r})" for k, (o, n) in list(diff.items())[:4])
            raise ConfigError(f"Run '{name}' exists with a different config: {shown}; resume it without those changes, "
                              f"or pass --new (moves it aside) or another --name.")
        if added:
            log(f"note: run '{name}' was made before the option(s) {', '.join(added)} existed; it resumes with "
                f"their defaults ({', '.join(f'{k}={v!r}' for k, v in added.items())}).")
        merged = copy.deepcopy(old_raw)
        for k in RESUMABLE_KEYS:
            sec, key = k.split(".")
            merged.setdefault(sec, {})[key] = new_raw[sec][key]
        cfg = config_from_dict(merged)
    return cfg, run_dir


def find_checkpoint(run: str | Path, runs_dir: str | Path = "runs") -> Path:
    """A run folder, a run name (looked up in ``runs_dir``) or a checkpoint file -> the checkpoint to load.

    A bare name is a run under ``runs_dir`` first: ``generate faces`` means the run, even where the user's data
    folder ``./faces`` exists; a path with a separator (``./faces``, ``runs/faces``) is taken as written.
    """
    p = Path(run)
    named = Path(runs_dir) / str(run)
    if len(p.parts) == 1 and named.is_dir():
        folders: tuple[Path, ...] = (named,)
    else:
        if p.is_file():
            return p
        folders = (p, named)
    for folder in folders:
        if folder.is_dir():
            ck = folder / "checkpoints"
            best = ck / "best.pt"
            last = latest_checkpoint(ck)
            if last is not None:
                return last
            if best.exists():
                return best
            raise MspgsenError(f"Run '{folder}' has no checkpoint yet; train it first (mspgsen train --name {folder.name}).")
    raise MspgsenError(f"'{run}' is neither a run folder, a run name in '{runs_dir}', nor a checkpoint file.")
