"""A run's state in ``RUN/status.json``: running, finished, interrupted or diverged.

The trainer writes it when a session starts and when it ends, so ``mspgsen runs`` can tell a finished run from one
that was stopped, without loading checkpoints. A 'running' file whose process is gone (a killed job, a crashed
machine) reads as interrupted.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Optional

from .lock import process_alive

STATES = ("running", "finished", "interrupted", "diverged")
FILE = "status.json"


def write_status(run_dir: Path, state: str, step: int, kimg: float, note: str = "") -> None:
    """Write the state atomically (a reader never sees half a file)."""
    assert state in STATES, state
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    body = {"state": state, "step": int(step), "kimg": round(float(kimg), 3), "pid": os.getpid(),
            "host": socket.gethostname(), "time": time.time(), "note": note}
    tmp = run_dir / (FILE + ".tmp")
    tmp.write_text(json.dumps(body) + "\n")
    os.replace(tmp, run_dir / FILE)


def read_status(run_dir: Path) -> Optional[dict]:
    """The stored state, with 'running' turned into 'interrupted' when its process no longer exists on this host."""
    p = Path(run_dir) / FILE
    try:
        st = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    if st.get("state") == "running" and st.get("host") == socket.gethostname() and not process_alive(int(st.get("pid", 0))):
        st["state"] = "interrupted"
        st["note"] = "the training process is gone"
    return st
