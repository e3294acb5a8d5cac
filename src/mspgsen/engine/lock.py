"""One writer per run folder: a lock file naming the process (pid, host) that trains the run.

Two ``train`` commands on the same run would both append to ``stats.jsonl`` and interleave checkpoints. The lock
is a file created with O_EXCL (atomic on local and NFSv3+ file systems); a second process is refused with the
holder named. A lock whose process is gone (a ``kill -9``, a crash, a reboot) is stale: on the same host the pid
is checked and the lock taken over with a note; a lock from another host cannot be checked from here, so it
is reported and the user decides.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Callable, Optional

from ..errors import MspgsenError

LOCK_NAME = "train.lock"


class RunLocked(MspgsenError):
    """Another live process is training this run."""


def process_alive(pid: int) -> bool:
    """Whether a process of this pid exists on this host (one owned by another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def read_lock(path: Path) -> Optional[dict]:
    """The holder recorded in a lock file, or None when it cannot be read (a write cut short)."""
    try:
        info = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and isinstance(info.get("pid"), int) else None


class RunLock:
    """``with RunLock(run_dir):`` holds the run for this process; released on exit, whatever the exit."""

    def __init__(self, run_dir: Path, log: Callable[[str], None] = print) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self.log = log
        self.host = socket.gethostname()
        self.held = False

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as fh:
            json.dump({"pid": os.getpid(), "host": self.host, "since": time.strftime("%Y-%m-%dT%H:%M:%S")}, fh)
        return True

    def acquire(self) -> None:
        for _ in range(3):  # a stale lock removed by us may be re-created by a racing process: look again
            if self._create():
                self.held = True
                return
            info = read_lock(self.path)
            if info is None:
                if time.time() - self._mtime() < 5.0:  # being written right now by another starter
                    raise RunLocked(f"Run '{self.path.parent}' is being started by another process (lock file "
                                    f"{self.path}); wait for it, or delete the file if no other process trains it.")
                self.log(f"note: took over the unreadable lock {self.path}")
            elif info.get("host") != self.host:
                raise RunLocked(f"Run '{self.path.parent}' is locked by pid {info['pid']} on host {info.get('host')} "
                                f"since {info.get('since')}; if no process there trains it any more, delete {self.path}.")
            elif info["pid"] != os.getpid() and process_alive(info["pid"]):
                raise RunLocked(f"Run '{self.path.parent}' is being trained by pid {info['pid']} on host {self.host} "
                                f"(since {info.get('since')}); wait for it to finish, stop it, or train another --name.")
            else:
                self.log(f"note: took over the stale lock of pid {info['pid']} (no longer running) on {self.path.parent}")
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
        raise RunLocked(f"Run '{self.path.parent}' keeps being locked by another process; try again.")

    def _mtime(self) -> float:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0

    def release(self) -> None:
        if self.held:
            info = read_lock(self.path)
            if info is not None and info.get("pid") == os.getpid() and info.get("host") == self.host:
                self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
