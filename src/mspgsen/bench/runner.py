"""Running a suite: train what is missing, resume what was interrupted, skip what is done, measure at every mark.

A run is one (variant, seed) folder. For each mark in turn it trains until the run's own counter reaches the mark
(steps and kimg count the whole run, resumes included; minutes are the training clock ``elapsed_s`` the trainer keeps
in every checkpoint, so start-up and measurement never count), then measures the EMA generator and appends one row
to ``RUN/<log_name>``. A mark with a row is never trained or measured again, so a suite started again after an
interruption resumes (exactly: the trainer's resume) where its runs stand. Runs can go ``jobs`` at a time, each in
its own process at ``threads`` threads.
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..errors import Interrupted, MspgsenError
from .suite import HOLDOUT_TRAIN, Suite, Variant


@dataclass
class RunOutcome:
    """What one (variant, seed) gave: its measurement rows, or the sentence that stopped it."""

    variant: str
    seed: int
    run_dir: Path
    rows: list[dict] = field(default_factory=list)
    error: Optional[str] = None
    trained: bool = False  # whether this call trained at all (False: everything was measured already)
    notes: list[str] = field(default_factory=list)  # marks that could not be measured, and why


def machine() -> str:
    """CPU model and core count, torch version: written beside every number."""
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    dev = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{cpu}, {os.cpu_count()} cores visible{dev}, torch {torch.__version__}"


def cpu_isa() -> str:
    """The instruction set torch's CPU kernels were chosen for (AVX512, AVX2, ...): kept in every row, because the
    kernels, and so the low bits of every step, depend on it."""
    import torch

    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):
        return "unknown"


def numerics(row: dict) -> tuple:
    """What fixes a run's arithmetic besides its config and seed: the processor (or GPU) model, torch's version, the
    device and, where recorded, the instruction set; the number of cores visible does not (a suite's runs have fixed
    threads). Two rows with the same key lie on one trajectory when their run trained from step 0 on each."""
    import re

    name = re.sub(r", \d+ cores visible", "", str(row.get("machine") or "machine not recorded"))
    return name, row.get("device") or "cpu", row.get("cpu_isa")


def same_numerics(row: dict) -> bool:
    """Whether a measured row came from a machine that computes as this one does (an unrecorded instruction set
    is taken from the machine name alone)."""
    here = numerics({"machine": machine(), "device": measure_device(), "cpu_isa": cpu_isa()})
    there = numerics(row)
    return there[:2] == here[:2] and there[2] in (None, here[2])


def measure_device() -> str:
    """Where sampling and Inception run: the GPU where there is one (the trainer's 'auto' does the same)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def read_log(path: Path) -> dict[float, dict]:
    """Rows already measured, by mark; a half-written last line (a killed process) is ignored."""
    if not path.is_file():
        return {}
    out: dict[float, dict] = {}
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "mark" in row:
            out[float(row["mark"])] = row
    return out


def append_row(path: Path, row: dict) -> None:
    """Append one JSON line; a half-written last line that a killed process left is dropped first, so the new row
    does not join it on one unreadable line."""
    if path.is_file() and path.stat().st_size:
        text = path.read_text()
        if not text.endswith("\n"):
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text[: text.rfind("\n") + 1])
            os.replace(tmp, path)
    with open(path, "a") as fh:
        fh.write(json.dumps(row) + "\n")


def newest_checkpoint(run_dir: Path) -> Optional[Path]:
    """The run's newest checkpoint file, or None before the first (or with no folder); nothing is loaded."""
    from ..engine.checkpoint import latest_checkpoint

    return latest_checkpoint(run_dir / "checkpoints") if run_dir.is_dir() else None


def run_progress(run_dir: Path) -> dict:
    """Step, images seen and training seconds at the run's newest checkpoint (zeros before the first)."""
    from ..engine.checkpoint import load_checkpoint

    path = newest_checkpoint(run_dir)
    if path is None:
        return {"step": 0, "images": 0, "elapsed_s": 0.0}
    state = load_checkpoint(path)
    stream = state.get("stream") if isinstance(state.get("stream"), dict) else {}
    return {"step": int(state["step"]), "images": int(stream.get("images_seen", 0)),
            "elapsed_s": float(state.get("elapsed_s", 0.0))}


def budget_overrides(suite: Suite, mark: float, progress: dict) -> Optional[list[str]]:
    """The budget that brings a run to ``mark``; None when the run is there already."""
    if suite.unit == "steps":
        return None if progress["step"] >= mark else [f"train.steps={int(mark)}", "train.kimg=0", "train.minutes=0"]
    if suite.unit == "kimg":
        return None if progress["images"] >= mark * 1000 - 1e-6 else [f"train.kimg={mark}", "train.steps=0", "train.minutes=0"]
    left = mark - progress["elapsed_s"] / 60.0  # a session's minutes add to the clock of the sessions before
    return None if left <= 1e-3 else [f"train.minutes={left:.6g}", "train.steps=0", "train.kimg=0"]


def past_mark(suite: Suite, mark: float, progress: dict) -> bool:
    """Whether the run's newest checkpoint lies beyond ``mark`` by more than the step that reached it (a mark added
    to a suite after its runs went further: measuring now would label later weights with the earlier mark)."""
    step = max(progress["step"], 1)
    if suite.unit == "steps":
        return progress["step"] > mark
    if suite.unit == "kimg":
        return progress["images"] - mark * 1000 > progress["images"] / step
    # a session stops at the first step past its minutes; that step may hold a quality probe, a sample grid or a
    # checkpoint, so allow several steps' time and 10 s before calling the run past the mark
    return progress["elapsed_s"] - mark * 60 > 5 * progress["elapsed_s"] / step + 10.0


def run_overrides(suite: Suite, variant: Variant, seed: int) -> list[str]:
    """Everything a run of this suite sets besides its budget: threads, quiet progress, seed, data, then the
    suite's and the variant's own overrides (the variant's win)."""
    fixed = [f"train.threads={suite.threads}", "train.progress=false", f"seed={seed}"]
    if suite.source is not None:
        fixed.append(f"data.source={suite.source}")
    if suite.ref == "holdout":
        fixed.append(f"data.limit={HOLDOUT_TRAIN}")
    return fixed + suite.overrides + variant.overrides


def measured_marks(suite: Suite, variant: Variant, seed: int, training: bool = False,
                   log: Callable[..., None] = print) -> dict[float, dict]:
    """The suite's marks measured already for this (variant, seed): the run's own log, and the suite's ledger for
    the marks the log lacks (a run folder from another session or machine that is not here). A row of the log that
    the ledger lacks (measured before the suite had a ledger) is added to it. A row that lacks only columns read from
    the run's log (a log metric added to the suite later) is completed from the run's stats.jsonl when the folder is
    this run's; a ledger row that cannot be completed does not count.

    With ``training`` (the runner is about to train the run's missing marks) and no checkpoint here, the run trains
    again from step 0; the ledger's rows measured on a machine that computes differently (``same_numerics``) then
    do not count, and their marks are measured again on the way, so that one run's rows lie on one trajectory: the
    same config and seed on another kind of CPU is another run."""
    from .ledger import ledger_marks, run_matches_spec, variant_spec

    run_dir = suite.run_dir(variant, seed)
    own = {m: r for m, r in read_log(run_dir / suite.log_name).items() if m in suite.marks}
    kept = ledger_marks(suite, variant, seed, columns=suite.columns(logs=False))
    if training and any(m not in {**kept, **own} for m in suite.marks) and newest_checkpoint(run_dir) is None:
        other = sorted(m for m, r in kept.items() if m not in own and not same_numerics(r))
        if other:
            where = "; ".join(sorted({numerics(kept[m])[0] for m in other}))
            marks = ", ".join(f"{m:g}" for m in other)
            log(f"{run_dir.name}: trains from step 0 on {machine()}; the ledger's rows at {marks} {suite.unit} came "
                f"from another machine ({where}), so they are measured again on this one (a run's rows lie on one "
                f"trajectory)")
            kept = {m: r for m, r in kept.items() if m not in other}
    done = {**kept, **own}
    spec_ok: dict[str, bool] = {}

    def this_run() -> bool:  # the folder was trained with this specification (checked once, only when needed)
        if "ok" not in spec_ok:
            spec_ok["ok"] = run_matches_spec(run_dir, variant_spec(suite, variant, seed))
        return spec_ok["ok"]

    filled = completed_from_logs(suite, run_dir, done, this_run)
    for m, row in filled.items():
        append_row(run_dir / suite.log_name, row)
        if suite.ledger is not None:
            from .ledger import append_ledger, commit_id, spec_key

            append_ledger(suite.ledger, {**kept.get(m, {}), **row, "spec": spec_key(variant_spec(suite, variant, seed)),
                                         "logs_filled": [c for c in suite.log_columns() if c not in done[m]],
                                         "logs_filled_commit": commit_id()})
    done.update(filled)
    cols = suite.columns()
    for m in [m for m in kept if m not in own and any(c not in done[m] for c in cols)]:
        del done[m]  # a ledger row without every column the suite asks for does not count
    missing = [m for m in sorted(own) if m not in kept and m not in filled and all(c in own[m] for c in cols)]
    if missing and suite.ledger is not None and this_run():
        for m in missing:
            record(suite, variant, seed, own[m])
    return done


def completed_from_logs(suite: Suite, run_dir: Path, rows: dict[float, dict],
                        this_run: Callable[[], bool]) -> dict[float, dict]:
    """The rows that lack only log-read columns, completed from the run's stats.jsonl up to each row's step; a row
    is completed only when the folder is this run's (``this_run``) and it has trained at least to that step."""
    want = suite.log_columns()
    other = suite.columns(logs=False)
    lacking = {m: r for m, r in rows.items()
               if any(c not in r for c in want) and all(c in r for c in other) and isinstance(r.get("step"), int)}
    if not lacking or not (run_dir / "stats.jsonl").is_file() or not this_run():
        return {}
    from ..engine.logger import read_stats
    from .measure import log_metrics

    reached = run_progress(run_dir)["step"]
    stats = read_stats(run_dir)
    out = {}
    for m, r in lacking.items():
        if r["step"] <= reached:
            got = log_metrics(stats, suite.metrics, upto=r["step"])
            out[m] = {**r, **{c: got.get(c) for c in want if c not in r}}
    return out


def logged_rows(suite: Suite, variant: Variant, seed: int) -> list[dict]:
    """The rows measured already at the suite's marks (run log and ledger; nothing is trained or measured)."""
    return [{**r, "variant": variant.name, "seed": seed} for m, r in sorted(measured_marks(suite, variant, seed).items())]


def record(suite: Suite, variant: Variant, seed: int, row: dict) -> None:
    """Keep a measured row in the suite's ledger (when it has one) with its specification and source commit."""
    if suite.ledger is None:
        return
    from .ledger import append_ledger, commit_id, spec_key, variant_spec

    append_ledger(suite.ledger, {**row, "spec": spec_key(variant_spec(suite, variant, seed)), "commit": commit_id()})


def check_not_diverged(run_dir: Path) -> None:
    """Refuse to train a run again that diverged when last trained: it would go the same way from its last good
    checkpoint (training is deterministic), costing the time to get there again on every call of the suite."""
    from ..engine.status import read_status

    st = read_status(run_dir) if run_dir.is_dir() else None
    if st and st.get("state") == "diverged":
        why = f" ({st['note'].rstrip('.')})" if st.get("note") else ""
        raise MspgsenError(f"{run_dir.name} diverged at step {st.get('step')} when last trained{why}; it is not "
                           f"trained again (--retry-diverged tries it once more from its last good checkpoint).")


def run_one(suite: Suite, variant: Variant, seed: int, log: Callable[..., None] = print,
            retry_diverged: bool = False, speed: Optional[float] = None) -> RunOutcome:
    """Bring one run through every mark of the suite, measuring at each; returns its rows (old and new).
    ``speed``: this host's probe (``probe_host``), kept in each row measured now."""
    from ..api import load_generator, train
    from ..engine.logger import read_stats

    run_dir = suite.run_dir(variant, seed)
    out = RunOutcome(variant.name, seed, run_dir)
    log_path = run_dir / suite.log_name
    done = measured_marks(suite, variant, seed, training=True, log=log)
    if not retry_diverged and any(m not in done for m in suite.marks):
        check_not_diverged(run_dir)
    if all(m in done for m in suite.marks):  # said, so that a run of --jobs N that ends at once is not a mystery
        log(f"{run_dir.name}: every mark ({', '.join(f'{m:g}' for m in suite.marks)} {suite.unit}) is measured "
            f"already; nothing to train")
    reference = None
    for mark in suite.marks:
        if mark in done:
            out.rows.append({**done[mark], "variant": variant.name, "seed": seed})
            continue
        progress = run_progress(run_dir)
        budget = budget_overrides(suite, mark, progress)
        if budget is None and past_mark(suite, mark, progress):
            out.notes.append(f"mark {mark:g} not measured: the run was already at step {progress['step']} "
                             f"({progress['images'] / 1000:.1f} kimg, {progress['elapsed_s'] / 60:.1f} min) when the mark "
                             f"was asked for; a new run (another runs_dir or run_name) measures it")
            log(f"{run_dir.name}: {out.notes[-1]}")
            continue
        if budget is not None:
            res = train(variant.base, name=run_dir.name, runs_dir=run_dir.parent,
                        overrides=run_overrides(suite, variant, seed) + budget, log=log)
            out.trained = True
            if res.stopped_by == "interrupted":  # never measure a run short of its mark as if it were there
                raise Interrupted(f"Interrupted {run_dir.name} at step {res.step} with its checkpoint written; run the "
                                  f"same command again to resume it exactly.", code=res.exit_code)
            if res.signal:  # the stop request came as the run reached its mark: honour it, measure next time
                raise Interrupted(f"Stopped {run_dir.name} on request at its mark {mark:g} (step {res.step}) with its "
                                  f"checkpoint written; run the same command again to measure it and go on.",
                                  code=res.exit_code)
        G = load_generator(run_dir, ema=suite.ema, device=measure_device(), log=log)
        if reference is None and any(m in ("fid", "kid", "pr", "dc", "cls") for m in suite.metrics):
            from .measure import reference_for

            reference = reference_for(suite, G.config.data.source)
        from .measure import measure

        got = measure(G, suite, G.config.data.source, seed, read_stats(run_dir), reference)
        prog = run_progress(run_dir)
        # "preset" is the row's name in tables (the variant's): the key fid_vs_time.py's logs have always used
        row = {"variant": variant.name, "preset": variant.name, "base": variant.preset or "inline", "seed": seed, "mark": mark,
               "unit": suite.unit, "minutes": round(prog["elapsed_s"] / 60.0, 3), "step": prog["step"],
               "kimg": round(prog["images"] / 1000.0, 2), **got, "n": suite.n, "threads": suite.threads,
               "machine": machine(), "device": measure_device(), "cpu_isa": cpu_isa(),
               **({"host_speed": round(speed, 1)} if speed is not None else {}),
               "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        append_row(log_path, row)
        record(suite, variant, seed, row)
        log(json.dumps(row))
        out.rows.append(row)
    return out


def _quiet_log(prefix: str) -> Callable[..., None]:
    def log(*args, **_kw) -> None:
        print(prefix, *args, file=sys.stderr, flush=True)

    return log


def _stopped(suite: Suite, variant: Variant, seed: int, error: str) -> RunOutcome:
    """The outcome of a run stopped by a user error: the sentence, and the marks it had measured before."""
    return RunOutcome(variant.name, seed, suite.run_dir(variant, seed), rows=logged_rows(suite, variant, seed),
                      error=error)


def _task(suite: Suite, variant: Variant, seed: int, retry_diverged: bool = False,
          speed: Optional[float] = None) -> RunOutcome:
    """One run in a worker process; a user error (a diverged run, a refused config) is kept as that run's result."""
    import torch

    torch.set_num_threads(suite.threads)
    name = suite.run_name.format(variant=variant.name, seed=seed)
    try:
        return run_one(suite, variant, seed, log=_quiet_log(f"[{name}]"), retry_diverged=retry_diverged, speed=speed)
    except Interrupted:
        raise
    except MspgsenError as e:
        return _stopped(suite, variant, seed, str(e))


def probe_host(suite: Suite, log: Callable[..., None] = print, seconds: float = 9.0) -> Optional[float]:
    """For a suite whose budget is minutes and that has marks left to measure: this host's speed (bench/speed.py),
    measured once, before any run trains (so alone, as the suite's minutes must be), and said beside the probes of
    the rows measured before. None for a suite of steps or kimg (equal work on any host) or with nothing left."""
    if suite.unit != "minutes":
        return None
    before = [r for v, s in suite.tasks() for r in logged_rows(suite, v, s)]
    if len(before) == len(suite.tasks()) * len(suite.marks):
        return None
    from .speed import PROBE_PRESET, host_speed, row_probes, speed_spread

    speed = host_speed(suite.threads, seconds=seconds, device=measure_device())
    log(f"host speed: {speed:.1f} img/s (the {PROBE_PRESET} preset's training step, {suite.threads} thread(s), "
        f"{measure_device()}), kept in every row measured now")
    probes = row_probes(before)
    if probes and speed_spread(probes + [speed]) > suite.speed_tolerance:
        log(f"host speed: the suite's rows measured before had {min(probes):.1f}-{max(probes):.1f} img/s; at a "
            f"minutes budget, rows measured here are not seeds of the same measurement as those (more than "
            f"{suite.speed_tolerance:.0%} apart), and the table will say so")
    elif before and len(probes) < len(before):
        log(f"host speed: {len(before) - len(probes)} of the suite's {len(before)} rows measured before have no "
            f"probe; whether this host is as fast as theirs is not known")
    return speed


def run_suite(suite: Suite, jobs: int = 1, train: bool = True, log: Callable[..., None] = print,
              retry_diverged: bool = False) -> list[RunOutcome]:
    """Every run of the suite, ``jobs`` at a time in separate processes (1: in this process).

    ``train=False`` only collects what is measured already (nothing is trained or measured). A run that diverged
    when last trained is not trained again unless ``retry_diverged``; its measured marks are kept either way.
    """
    if jobs < 1:
        raise MspgsenError(f"--jobs must be at least 1, got {jobs}.")
    tasks = suite.tasks()
    if not train:
        return [RunOutcome(v.name, s, suite.run_dir(v, s), rows=logged_rows(suite, v, s)) for v, s in tasks]
    Path(suite.runs_dir).mkdir(parents=True, exist_ok=True)
    speed = probe_host(suite, log)
    if jobs == 1:
        outcomes = []
        for v, s in tasks:
            log(f"bench: {suite.run_name.format(variant=v.name, seed=s)}")
            try:
                outcomes.append(run_one(suite, v, s, log=log, retry_diverged=retry_diverged, speed=speed))
            except Interrupted:
                raise
            except MspgsenError as e:
                log(f"bench: {suite.run_name.format(variant=v.name, seed=s)} stopped: {e}")  # now, not only at the end
                outcomes.append(_stopped(suite, v, s, str(e)))
        return outcomes
    import multiprocessing

    # a fresh spawned process per run: no torch state, thread setting or memory carries from one run to the next
    pool = multiprocessing.get_context("spawn").Pool(jobs, maxtasksperchild=1)
    try:
        pending = [pool.apply_async(_task, (suite, v, s, retry_diverged, speed)) for v, s in tasks]
        pool.close()
        outcomes = [p.get() for p in pending]
        pool.join()
        return outcomes
    except BaseException:
        pool.terminate()  # SIGTERM: a run stops after its checkpoint (atomic writes), so the same command resumes
        pool.join()
        raise
