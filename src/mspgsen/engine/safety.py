"""Checks before a trained run is sampled from (``generate``, ``interpolate``, ``evaluate``, ``load_generator``).

The device is checked first, so a missing GPU is reported as such and never as a corrupt checkpoint. A run
folder's checkpoint must belong to that folder: a checkpoint of another model copied in would otherwise be
sampled under the folder's name and its metrics appended to the folder's ``metrics.jsonl``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import torch
import yaml

from ..errors import CheckpointError, MspgsenError
from .checkpoint import _NAME, latest_checkpoint, load_checkpoint, load_newest_readable, require

#: Config sections that define what a checkpoint's networks are; they never change while a run is resumed.
IDENTITY = ("model", "method")


def check_device(device: str) -> torch.device:
    """A usable torch device for ``device``, or a sentence saying why it is not."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise MspgsenError(f"--device '{device}' is not a device; use cpu or cuda (cuda:1 for the second GPU).") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise MspgsenError(f"--device {device} was asked for but CUDA is not available on this machine; "
                               f"use --device cpu (the checkpoint is fine).")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise MspgsenError(f"--device {device} does not exist: this machine has {torch.cuda.device_count()} GPU(s).")
    return dev


def _plain(d: Any) -> Any:
    return json.loads(json.dumps(d, default=str))


def _with_defaults(raw: dict) -> dict:
    """``raw`` with the options it does not name at their defaults, so a config written before an option existed
    equals one written after (engine/run.py resumes such runs); as written where it does not validate."""
    from ..config import config_from_dict

    try:
        return config_from_dict(json.loads(json.dumps(raw, default=str))).to_plain()
    except MspgsenError:
        return raw


def check_belongs(state: dict, path: Path) -> None:
    """Refuse a checkpoint inside ``RUN/checkpoints/`` whose model or method differs from ``RUN/config.yaml``."""
    run_dir = path.parent.parent
    stored = run_dir / "config.yaml"
    if path.parent.name != "checkpoints" or not stored.is_file():
        return
    try:
        own = yaml.safe_load(stored.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return
    own, ckpt = _with_defaults(own), _with_defaults(state["config"])
    for section in IDENTITY:
        mine, theirs = _plain(own.get(section)), _plain(ckpt.get(section))
        if mine is not None and mine != theirs:
            what = f"a '{(theirs or {}).get('name')}' {section}" if (theirs or {}).get("name") != (mine or {}).get("name") \
                else f"another {section} configuration"
            raise CheckpointError(f"Checkpoint '{path}' holds {what}, not the one run '{run_dir.name}' was trained with "
                                  f"({section} '{mine.get('name')}'); it comes from another run: move it out of the "
                                  f"folder, or give the checkpoint file itself to use it on its own.")


def load_for_sampling(path: Path, map_location: Any = "cpu",
                      log: Callable[[str], None] = print) -> tuple[Path, dict]:
    """Load the checkpoint ``find_checkpoint`` chose: falling back past unreadable ones when it is a run's latest,
    and refusing one that does not belong to its run folder."""
    path = Path(path)
    if _NAME.match(path.name) and path.parent.name == "checkpoints" and path == latest_checkpoint(path.parent):
        found = load_newest_readable(path.parent, map_location=map_location, log=log)
        assert found is not None  # the folder holds at least ``path``; none readable raises
        path, state = found
    else:
        state = load_checkpoint(path, map_location=map_location)
    require(state, path)
    check_belongs(state, path)
    return path, state
