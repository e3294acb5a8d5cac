"""A suite's ledger: every row the suite has measured, in one JSON-lines file kept beside the suite (in version
control), so that a suite measured over several sessions, machines or GPU loans goes on where the last one stopped
even where the run folders are gone.

The run folders hold what resumes a run exactly (checkpoints); they are large and stay on the machine that trained
them. The ledger holds only the measurements. Before training, the runner counts a mark as measured when the run's
own log has it or when the ledger has a row for that variant, seed and mark that

* was made from the same *specification*: the variant's preset or inline config with the suite's and the variant's
  overrides (threads, seed and data included, the budget and progress display left out), and the suite's
  measurement protocol (unit, reference, n, EMA). A preset edited since, or an override changed, no longer matches,
  so the row is not reused; and
* holds every column the suite asks for now. A column read from the run's log alone (oscillation, losses, knobs)
  that a suite asks for after the row was measured is filled in from the run's stats.jsonl where the run folder is
  here, and the completed row is appended (with ``logs_filled``: those columns, and the commit that filled them).

What a ledger cannot see is a change of code that computes a different function for the same config; after such a
change, start the ledger afresh (move the file aside). Rows carry the machine, device, threads, date and commit
they were measured with, and the tables say so, because a minutes budget buys different work on different machines.
A run whose later mark is missing and whose folder is gone trains again from the start to that mark; the marks the
ledger already has from this kind of machine are not measured again on the way, those from another processor, GPU,
torch version or instruction set are (runner.measured_marks): the same config and seed computes another trajectory
there, and one run's rows must lie on one trajectory.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .suite import Suite, Variant

#: Overrides that say how a run is shown or how far it goes, not what it is (the mark sets the budget).
_NOT_SPEC = ("train.progress", "train.steps", "train.kimg", "train.minutes")


def variant_spec(suite: "Suite", variant: "Variant", seed: int) -> dict:
    """What makes a measured row of this (variant, seed) the same measurement: the raw config the run trains with
    (before the code's defaults fill it in, so a new option with its default does not invalidate old rows) and the
    suite's measurement protocol."""
    from ..config.loading import apply_overrides, read_preset
    from .runner import run_overrides

    raw = dict(variant.config) if variant.config is not None else read_preset(str(variant.preset))
    raw = apply_overrides(raw, [o for o in run_overrides(suite, variant, seed) if o.split("=", 1)[0] not in _NOT_SPEC])
    return {"config": raw, "unit": suite.unit, "ref": suite.ref, "n": suite.n, "ema": suite.ema}


def run_matches_spec(run_dir: Path, spec: dict) -> bool:
    """Whether the run folder was trained with the specification's config: the engine would resume it under that
    config (engine.run.resume_differences finds no difference). A row a run logged is added to the ledger only
    then: a run left from before the suite was edited must not be filed under the edited suite's specification."""
    import yaml

    from ..config.schema import config_from_dict
    from ..engine.run import resume_differences
    from ..errors import MspgsenError

    try:
        stored = yaml.safe_load((Path(run_dir) / "config.yaml").read_text())
        if not isinstance(stored, dict):
            return False
        diff, _ = resume_differences(stored, config_from_dict(spec["config"]).to_plain())
    except (OSError, yaml.YAMLError, MspgsenError):  # no folder, an unreadable config, or a spec the code can no
        return False  # longer build: not a match
    return not diff


def spec_key(spec: dict) -> str:
    """A short fingerprint of a specification (sha256 of its canonical JSON)."""
    text = json.dumps(spec, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_ledger(path: Optional[Path]) -> list[dict]:
    """Every row of the ledger (none when there is no file); a line that is not a JSON object is skipped."""
    if path is None or not Path(path).is_file():
        return []
    rows = []
    for line in Path(path).read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "mark" in row and "spec" in row:
            rows.append(row)
    return rows


def ledger_marks(suite: "Suite", variant: "Variant", seed: int, rows: Optional[list[dict]] = None,
                 columns: Optional[list[str]] = None) -> dict[float, dict]:
    """The suite's marks that the ledger has measured for this (variant, seed) under the same specification, with
    every column the suite asks for (or those of ``columns``); a later row of the same mark wins."""
    if suite.ledger is None:
        return {}
    key = spec_key(variant_spec(suite, variant, seed))
    cols = suite.columns() if columns is None else columns
    out: dict[float, dict] = {}
    for row in read_ledger(suite.ledger) if rows is None else rows:
        mark = float(row["mark"])
        if (row.get("spec") == key and row.get("variant") == variant.name and row.get("seed") == seed
                and mark in suite.marks and all(c in row for c in cols)):
            out[mark] = row
    return out


def commit_id() -> Optional[str]:
    """The source tree's git commit (with '+changes' when it has uncommitted edits), or None outside a checkout."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True, text=True,
                              timeout=10)
        if head.returncode:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def append_ledger(path: Path, row: dict) -> None:
    """Append one row under an exclusive lock: runs of ``--jobs 2`` write to one ledger."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.seek(0, 2)
            if fh.tell():  # a line that a killed writer left half-written stays on its own line
                fh.seek(fh.tell() - 1)
                if fh.read(1) != "\n":
                    fh.write("\n")
            fh.write(json.dumps(row) + "\n")
            fh.flush()
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
