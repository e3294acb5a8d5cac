"""Where metrics keep what is expensive to recompute (converted weights, reference features, classifiers)."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np


def cache_root() -> Path:
    """``$MSPGSEN_CACHE`` or ``~/.cache/mspgsen``."""
    return Path(os.environ.get("MSPGSEN_CACHE") or "~/.cache/mspgsen").expanduser()


def cache_dir(*parts: str) -> Path:
    d = cache_root().joinpath(*parts)
    d.mkdir(parents=True, exist_ok=True)
    return d


def array_hash(*arrays: np.ndarray, extra: str = "") -> str:
    """Content hash of arrays (shape, dtype and bytes) and a text tag; 20 hex digits."""
    h = hashlib.sha256(extra.encode())
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}|{a.dtype}|".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()[:20]
