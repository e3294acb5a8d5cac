"""``mspgsen report`` (package ``reporting``, so it does not shadow the API function ``mspgsen.report``): one self-contained HTML page about one run or several side by side.

``runfiles`` reads a run folder, ``plots`` draws the curves with matplotlib, ``page`` writes the HTML with every
picture inlined as a data URI, so the file can be mailed or attached to an issue and still show everything.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

from .page import build_report


def report(runs: str | Path | Iterable[str | Path], out: Optional[str | Path] = None, *, runs_dir: str | Path = "runs",
           max_grids: int = 6) -> Path:
    """``mspgsen.report``: write the self-contained HTML report of one run or several side by side; returns its path."""
    return build_report(runs if isinstance(runs, (str, Path)) else list(runs), out, runs_dir=runs_dir, max_grids=max_grids)


__all__ = ["build_report", "report"]
