"""Checkpoints: the whole state of a run in one file, written atomically, the last K kept.

A crash while writing leaves the previous checkpoint intact: the state goes to a temporary file in the same
folder, is flushed to disk, and only then renamed over the final name (an atomic step on POSIX and Windows).
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Optional

import torch

from .. import __version__
from ..errors import CheckpointError

FORMAT = 1  # bumped when the checkpoint layout changes incompatibly
_NAME = re.compile(r"^ckpt-(\d{8})\.pt$")


def atomic_save(obj: Any, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def checkpoint_path(folder: Path, step: int) -> Path:
    return Path(folder) / f"ckpt-{step:08d}.pt"


def list_checkpoints(folder: Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if _NAME.match(p.name)), key=lambda p: p.name)


def latest_checkpoint(folder: Path) -> Optional[Path]:
    ckpts = list_checkpoints(folder)
    return ckpts[-1] if ckpts else None


def prune(folder: Path, keep_last: int) -> None:
    for p in list_checkpoints(folder)[:-keep_last]:
        p.unlink(missing_ok=True)


def save_checkpoint(state: dict, folder: Path, step: int, keep_last: int, best: bool = False) -> Path:
    state = dict(state, format=FORMAT, version=__version__)
    path = checkpoint_path(folder, step)
    atomic_save(state, path)
    if best:
        tmp = Path(folder) / "best.pt.tmp"
        shutil.copyfile(path, tmp)
        os.replace(tmp, Path(folder) / "best.pt")
    prune(folder, keep_last)
    return path


def load_checkpoint(path: Path, map_location: Any = "cpu") -> dict:
    """Read a checkpoint and check it is one of ours, of a format this version reads."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint '{path}' does not exist.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # truncated or not a torch file
        raise CheckpointError(f"Checkpoint '{path}' cannot be read ({type(e).__name__}); it is corrupt or not an mspgsen "
                              f"checkpoint: use an earlier one from the same folder.") from None
    if not isinstance(state, dict) or "format" not in state or "config" not in state:
        raise CheckpointError(f"'{path}' is not an mspgsen checkpoint; give a run folder or a ckpt-*.pt file it wrote.")
    if state["format"] != FORMAT:
        raise CheckpointError(f"Checkpoint '{path}' has format {state['format']} (written by mspgsen {state.get('version')}); "
                              f"this mspgsen {__version__} reads format {FORMAT}: use the version that wrote it.")
    return state


def check_same_model(state: dict, model_name: str, path: Path) -> None:
    saved = state["config"]["model"]["name"]
    if saved != model_name:
        raise CheckpointError(f"Checkpoint '{path}' holds a '{saved}' model, not '{model_name}'; start a new run (--new or "
                              f"another --name) or load it with its own config.")
