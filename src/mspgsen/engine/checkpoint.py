"""Checkpoints: the whole state of a run in one file, written atomically, the last K kept, read without running code.

A crash while writing leaves the previous checkpoint intact: the state goes to a temporary file in the same
folder, is flushed to disk, and only then renamed over the final name (an atomic step on POSIX and Windows).

Run folders are shared and downloaded, so a checkpoint is data, never code: it holds only tensors and plain
Python values (dicts, lists, tuples, numbers, strings, None), is written only after :func:`check_plain` has
confirmed that, and is read with ``torch.load(weights_only=True)``. A file that needs anything more to load is
refused with a sentence and nothing in it runs.
"""
from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from .. import __version__
from ..errors import CheckpointError

FORMAT = 1  # bumped when the checkpoint layout changes incompatibly
_NAME = re.compile(r"^ckpt-(\d{8})\.pt$")
#: Keys every checkpoint holds; one without them cannot be resumed or sampled from.
REQUIRED = ("format", "config", "spec", "step", "method")
_PLAIN = (bool, int, float, str, bytes, type(None), torch.Tensor, torch.Size, torch.dtype, torch.device)


class UnreadableCheckpoint(CheckpointError):
    """The file cannot be read at all (truncated, overwritten, not a torch file): an earlier one may serve."""


def check_plain(obj: Any, where: str = "state") -> None:
    """Refuse to write anything but tensors and plain data, so every checkpoint loads with ``weights_only=True``.

    A failure here is a bug in whichever component put the object into its state (the message names the key).
    """
    if isinstance(obj, _PLAIN):
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, (str, int, float, bool, type(None))):
                raise TypeError(f"Checkpoint key {where}[{k!r}] is a {type(k).__name__}; use plain keys.")
            check_plain(v, f"{where}[{k!r}]")
        return
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            check_plain(v, f"{where}[{i}]")
        return
    raise TypeError(f"Checkpoint value {where} is a {type(obj).__module__}.{type(obj).__name__}; store tensors or plain "
                    f"data so the file loads with torch.load(weights_only=True).")


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


def prune(folder: Path, keep_last: int, keep: Optional[Path] = None) -> None:
    """Delete all but the newest ``keep_last`` checkpoints; ``keep`` (the one just written and checked) never goes.

    Only a checkpoint that passed the health check is ever written, so the newest healthy one always survives.
    """
    for p in list_checkpoints(folder)[:-keep_last]:
        if keep is None or p.resolve() != Path(keep).resolve():
            p.unlink(missing_ok=True)


def clean_orphans(folder: Path, log: Callable[[str], None] = print) -> list[Path]:
    """Remove the temporary files a kill during a write left behind (only call while holding the run's lock)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    orphans = [p for p in folder.iterdir() if p.name.endswith(".tmp") and p.is_file()]
    for p in orphans:
        p.unlink(missing_ok=True)
    if orphans:
        log(f"note: removed {len(orphans)} unfinished checkpoint file(s) left by an interrupted write in {folder}")
    return orphans


def save_checkpoint(state: dict, folder: Path, step: int, keep_last: int, best: bool = False) -> Path:
    """Write ``state`` as checkpoint ``step``; a failed write (disk full) leaves the last good checkpoint in place."""
    state = dict(state, format=FORMAT, version=__version__)
    check_plain(state)
    path = checkpoint_path(folder, step)
    try:
        atomic_save(state, path)
        if best:
            tmp = Path(folder) / "best.pt.tmp"
            shutil.copyfile(path, tmp)
            os.replace(tmp, Path(folder) / "best.pt")
    except OSError as e:
        last = list_checkpoints(folder)  # the new file exists only if the write itself succeeded
        kept = f"the last good checkpoint {last[-1]} is kept" if last else "no earlier checkpoint exists"
        why = "the disk is full" if e.errno == errno.ENOSPC else (e.strerror or str(e))
        raise CheckpointError(f"Writing the checkpoint of step {step} to '{folder}' failed ({why}); {kept}. "
                              f"Free space or fix the folder, then the same command resumes.") from None
    prune(folder, keep_last, keep=path)
    return path


def _legacy_numpy() -> list:
    """The numpy array constructors that older mspgsen checkpoints hold (the numpy random state as an array).

    Reading them builds an array from a dtype and raw bytes and calls nothing else, and whatever an array holds
    still passes through the weights-only reader, so they are allowed for reading; new checkpoints store tensors.
    """
    import numpy as np

    core = getattr(np, "_core", None) or np.core
    numeric = [type(np.dtype(c)) for c in "?bhilqBHILQefdgFDG"]  # bool, ints, floats, complex: no object dtype
    return [core.multiarray._reconstruct, np.ndarray, np.dtype, *dict.fromkeys(numeric)]


def _unsafe_names(path: Path) -> list[str]:
    try:
        from torch.serialization import get_unsafe_globals_in_checkpoint

        return list(get_unsafe_globals_in_checkpoint(path))[:3]
    except Exception:  # legacy or broken files: the names are only a hint
        return []


def load_checkpoint(path: Path, map_location: Any = "cpu") -> dict:
    """Read a checkpoint (tensors and plain data only) and check it is one of ours, of a format this version reads."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint '{path}' does not exist.")
    try:
        with torch.serialization.safe_globals(_legacy_numpy()):
            state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        text = str(e)
        if "GLOBAL" in text or "allowlisted" in text:  # the file asks for a class or function: code would run
            names = _unsafe_names(path)
            named = f" (it names {', '.join(names)})" if names else ""
            raise CheckpointError(f"Checkpoint '{path}' needs more than tensors and plain data to load{named}; mspgsen "
                                  f"refuses it because loading it could run code from the file. Move it out of the "
                                  f"run folder; if it is an older mspgsen checkpoint, use one written by this version.") from None
        if isinstance(e, RuntimeError) and ("CUDA" in text or "cuda" in text) and "deserialize" in text:
            raise CheckpointError(f"Checkpoint '{path}' holds CUDA tensors and CUDA is not available here; load it with "
                                  f"device cpu.") from None
        raise UnreadableCheckpoint(f"Checkpoint '{path}' cannot be read ({type(e).__name__}); it is corrupt or not an "
                                   f"mspgsen checkpoint.") from None
    if not isinstance(state, dict) or "format" not in state or "config" not in state:
        raise CheckpointError(f"'{path}' is not an mspgsen checkpoint; give a run folder or a ckpt-*.pt file it wrote.")
    if state["format"] != FORMAT:
        raise CheckpointError(f"Checkpoint '{path}' has format {state['format']} (written by mspgsen {state.get('version')}); "
                              f"this mspgsen {__version__} reads format {FORMAT}: use the version that wrote it.")
    return state


def require(state: dict, path: Path, keys: tuple[str, ...] = REQUIRED) -> None:
    """Refuse a checkpoint that lacks parts a resume or sampling needs (e.g. written by hand without its spec)."""
    missing = [k for k in keys if k not in state]
    if missing:
        raise CheckpointError(f"Checkpoint '{path}' lacks {', '.join(repr(k) for k in missing)}, so it cannot be resumed "
                              f"or sampled from; use another checkpoint of the run.")


def move_aside(path: Path) -> Optional[Path]:
    """Rename an unreadable checkpoint so it is no longer picked up, keeping its bytes for inspection."""
    aside = Path(path).with_name(Path(path).name + ".unreadable")
    try:
        os.replace(path, aside)
    except OSError:
        return None
    return aside


def load_newest_readable(folder: Path, map_location: Any = "cpu",
                         log: Callable[[str], None] = print) -> Optional[tuple[Path, dict]]:
    """The newest checkpoint of ``folder`` that can be read, with a note for each unreadable one moved aside;
    None when the folder holds no checkpoint at all.

    Only files that cannot be read at all are passed over; a file refused for its content (code, another format)
    stops with its sentence, since going around it silently would hide tampering.
    """
    paths = list_checkpoints(folder)
    for path in reversed(paths):
        try:
            return path, load_checkpoint(path, map_location=map_location)
        except UnreadableCheckpoint as e:
            aside = move_aside(path)
            where = f"moved aside to {aside.name}" if aside else "left in place (the folder is not writable)"
            log(f"note: {e} It was {where}; using the checkpoint before it.")
    if paths:  # starting over silently would rewrite the run's logs from step 0
        raise CheckpointError(f"No checkpoint in '{folder}' can be read (the unreadable ones were moved aside as "
                              f"*.unreadable); start the run over with --new, which moves the folder aside.")
    return None


def check_same_model(state: dict, model_name: str, path: Path) -> None:
    saved = state["config"]["model"]["name"]
    if saved != model_name:
        raise CheckpointError(f"Checkpoint '{path}' holds a '{saved}' model, not '{model_name}'; start a new run (--new or "
                              f"another --name) or load it with its own config.")
