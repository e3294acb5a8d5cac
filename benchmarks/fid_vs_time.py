"""FID against training time: each preset trains once per seed and is measured at several marks of wall-clock.

    python benchmarks/fid_vs_time.py --presets dcgan,msggan,mspgsen --seeds 0,1,2 --marks 2,5,10,20 --threads 2
    python benchmarks/fid_vs_time.py --ref holdout --presets mspgsen --set method.diffaug=translation --tag=-da

A run ``RUNS/ft-PRESET[TAG]-sSEED`` trains until its training clock (the ``elapsed_s`` the trainer keeps in every
checkpoint: the time of the training loop, start-up and measurement excluded) reaches the first mark; then its EMA
generator is measured (FID and KID, ``--n`` images against ``--n`` reference images, the protocol of
``benchmarks/equal_budget.py``); then the same run resumes (resume is exact) up to the next mark, and so on. The
measurement never runs on the training clock. Every measurement is appended to ``RUN/fid_vs_time.jsonl``, so an
interrupted benchmark started again skips what is measured and resumes the run where its last checkpoint stands.

``--ref test`` (the default) measures against the bundled test split: for reporting, once settings are fixed.
``--ref holdout`` trains on the first 5,000 training images only and measures against the other 1,000: for
choosing settings without looking at the test split.

It prints one table (mean and sd over seeds at every mark, and each seed) and, with ``--plot``, draws FID against
minutes, one curve per preset (mean over seeds, the spread shaded). ``--from-json A.json,B.json`` trains and measures
nothing: it tables and plots rows that earlier commands wrote with ``--json``, or the ``results.json`` of ``mspgsen
bench`` (a run, one variant and seed, found in a later file replaces that run's rows from the earlier ones;
``--rename OLD=NEW`` renames a variant first; ``--presets``
picks and orders the variants shown), so one figure can hold runs measured by several commands. A thin wrapper over the suite runner
(``mspgsen bench``): these options describe a suite whose runs keep this script's folder names and log, so runs
measured before the runner existed stay valid; RUNS/results.md and results.json hold the runner's table too.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, table  # noqa: E402

from mspgsen.bench import parse_suite, run_suite, write_results  # noqa: E402
from mspgsen.bench.runner import read_log  # noqa: E402

LOG = "fid_vs_time.jsonl"


def suite_from_args(a, marks: list[float]) -> dict:
    """The suite these options describe: one variant per preset, named PRESET+TAG, runs ft-PRESET[TAG]-sSEED."""
    return {"name": "fid-vs-time", "variants": [{"name": p + a.tag, "preset": p} for p in a.presets.split(",")],
            "seeds": [int(s) for s in a.seeds.split(",")], "budget": {a.unit: marks[-1]},
            "marks": marks, "threads": a.threads, "n": a.n, "set": a.overrides, "runs_dir": a.runs_dir,
            "run_name": "ft-{variant}-s{seed}", "log_name": LOG, "data": a.ref, "metrics": ["fid", "kid"],
            "report": False, "plot": False}


def measured(run_dir: Path) -> dict[float, dict]:
    """The rows of one run's log, by mark."""
    return read_log(run_dir / LOG)


def summarize(rows: list[dict], marks: list[float], unit: str = "min") -> tuple[list[str], list[list]]:
    rows = [{**r, "preset": r.get("variant", r["preset"])} for r in rows]
    presets = list(dict.fromkeys(r["preset"] for r in rows))
    headers = ["preset", "seeds"] + [f"FID @{m:g} {unit}" for m in marks] + [f"kimg @{marks[-1]:g} {unit}"]
    out = []
    for p in presets:
        line: list = [p, len({r["seed"] for r in rows if r["preset"] == p})]
        for m in marks:
            v = [r["fid"] for r in rows if r["preset"] == p and r["mark"] == m]
            line.append(f"{statistics.mean(v):.1f} ± {statistics.stdev(v):.1f}" if len(v) > 1
                        else (f"{v[0]:.1f}" if v else "-"))
        k = [r["kimg"] for r in rows if r["preset"] == p and r["mark"] == marks[-1] and r["kimg"] is not None]
        line.append(f"{statistics.mean(k):.0f}" if k else "-")
        out.append(line)
    return headers, out


def describe_rows(rows: list[dict]) -> dict[str, str]:
    """Machine, reference data (the rows' 'ref': what FID was measured against), threads and n as the stored rows
    record them (each distinct value, or 'not recorded'), so a table or plot of rows measured elsewhere names where
    they were measured, not the machine that draws them."""
    def values(key: str) -> str:
        found = sorted({str(r[key]) for r in rows if r.get(key) not in (None, "")})
        return " / ".join(found) if found else "not recorded"
    return {"machine": values("machine"), "data": values("ref"), "threads": values("threads"), "n": values("n")}


def merge_json(paths: list[str], renames: dict[str, str]) -> list[dict]:
    """The rows of several stored files: those ``--json`` writes (a list of rows) or the ``results.json`` of
    ``mspgsen bench`` (its runs' rows). Each run (variant and seed, after ``renames``) keeps its rows from the last
    file that has it, so a later file holding one seed taken further replaces that seed and keeps the others."""
    by_run: dict[tuple[str, int], list[dict]] = {}
    for path in paths:
        try:
            rows = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise SystemExit(f"error: cannot read rows from {path} ({e}); give files written by --json.")
        if isinstance(rows, dict) and isinstance(rows.get("runs"), list):  # the suite runner's results.json
            rows = [r for run in rows["runs"] if isinstance(run, dict) for r in run.get("rows") or []]
        if not isinstance(rows, list) or not all(isinstance(r, dict) and "preset" in r for r in rows):
            raise SystemExit(f"error: {path} does not hold the rows --json writes (a list of rows with a 'preset') "
                             f"nor a results.json of mspgsen bench; give files written by either.")
        mine: dict[tuple[str, int], list[dict]] = {}
        for r in rows:
            name = renames.get(r.get("variant", r["preset"]), r.get("variant", r["preset"]))
            mine.setdefault((name, r.get("seed")), []).append({**r, "variant": name, "preset": name})
        by_run.update(mine)
    return [r for rows in by_run.values() for r in rows]


def plot(rows: list[dict], marks: list[float], path: str, title: str, xlabel: str = "training minutes") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for p in dict.fromkeys(r["preset"] for r in rows):
        xs, mean, lo, hi = [], [], [], []
        for m in marks:
            v = [r["fid"] for r in rows if r["preset"] == p and r["mark"] == m]
            if v:
                xs.append(m)
                mean.append(statistics.mean(v))
                lo.append(min(v))
                hi.append(max(v))
        line, = ax.plot(xs, mean, marker="o", label=p)
        ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("FID (n=1,000; lower is better)")
    ax.set_xscale("log")
    ax.set_xticks(marks)
    ax.set_xticklabels([f"{m:g}" for m in marks])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # the log axis's own labels would crowd the marks
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="dcgan,msggan,mspgsen")
    ap.add_argument("--seeds", default="0", help="comma-separated seeds")
    ap.add_argument("--marks", default="2,5,10,20", help="training minutes (or kimg) at which to measure")
    ap.add_argument("--unit", choices=["minutes", "kimg"], default="minutes",
                    help="what the marks count: training-clock minutes, or thousands of real images shown (to compare "
                         "settings by what they learn per image, whatever else loads the machine)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=1000, help="generated and reference images per measurement")
    ap.add_argument("--ref", choices=["test", "holdout"], default="test")
    ap.add_argument("--runs-dir", default=None, help="default: runs/fid-vs-time[-holdout][-kimg]")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="override for every preset")
    ap.add_argument("--tag", default="", help="suffix of the run names (to keep variants apart)")
    ap.add_argument("--json", default=None, help="also write every row to this file")
    ap.add_argument("--plot", default=None, help="write FID against minutes to this image")
    ap.add_argument("--table-only", action="store_true", help="print what is measured; train and measure nothing")
    ap.add_argument("--from-json", default=None,
                    help="comma-separated files written by --json or mspgsen bench's results.json: table and plot "
                         "their rows, train nothing")
    ap.add_argument("--rename", action="append", default=[], help="OLD=NEW: a variant's name in --from-json rows")
    a = ap.parse_args()
    marks = sorted(float(m) for m in a.marks.split(","))
    a.runs_dir = a.runs_dir or ("runs/fid-vs-time" + ("-holdout" if a.ref == "holdout" else "")
                                + ("-kimg" if a.unit == "kimg" else ""))
    ref_text = ("1,000 held-out training images (trained on the other 5,000)" if a.ref == "holdout"
                else "the bundled test split")
    if a.from_json:
        if a.json or a.table_only or a.overrides or a.tag:
            raise SystemExit("error: --from-json tables and plots stored rows; --json, --table-only, --set and --tag "
                             "apply to runs this command measures, so leave them out.")
        bad = [r for r in a.rename if "=" not in r]
        if bad:
            raise SystemExit(f"error: --rename takes OLD=NEW, got {bad[0]!r}.")
        renames = dict(r.split("=", 1) for r in a.rename)
        merged = merge_json(a.from_json.split(","), renames)
        shown = a.presets.split(",")
        rows = sorted((r for r in merged if r["preset"] in shown and r["mark"] in marks),
                      key=lambda r: (shown.index(r["preset"]), r["seed"], r["mark"]))
        a.seeds = ",".join(str(s) for s in sorted({r["seed"] for r in rows}))
    else:
        suite = parse_suite(suite_from_args(a, marks), "from the command line")
        outcomes = run_suite(suite, train=not a.table_only, log=lambda *x, **k: print(*x, file=sys.stderr))
        for o in outcomes:
            if o.error:
                print(f"error: {o.variant} seed {o.seed}: {o.error}", file=sys.stderr)
        if not a.table_only:
            write_results(suite, outcomes, Path(a.runs_dir))
        rows = [r for o in outcomes for r in o.rows]
    headers, lines = summarize(rows, marks, "min" if a.unit == "minutes" else "kimg")
    if a.from_json:  # rows measured elsewhere: say what they record, not what this command's options would run
        d = describe_rows(rows)
        print(f"Machine: {d['machine']}; {d['threads']} threads; FID n = {d['n']} against {d['data']}; seeds "
              f"{a.seeds} (rows from {a.from_json})")
        caption = f"{d['threads']} threads, n={d['n']} vs {d['data']}; seeds {a.seeds}"
    else:
        print(f"Machine: {machine()}; {a.threads} threads; FID n = {a.n} against {ref_text}; seeds {a.seeds}; "
              f"overrides: {a.overrides or 'none'}")
        caption = f"bundled Fashion-MNIST, {a.threads} threads, n={a.n} vs {a.ref}; seeds {a.seeds}"
    print(table(headers, lines))
    print()
    print(table(["preset", "seed", "mark (min)", "train min", "step", "kimg", "FID", "KID"],
                [[r["preset"], r["seed"], r["mark"], r["minutes"], r["step"], r["kimg"], r["fid"], r["kid"]] for r in rows]))
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    if a.plot and rows:
        plot(rows, marks, a.plot, caption,
             "training minutes" if a.unit == "minutes" else "kimg (thousands of real images shown)")


if __name__ == "__main__":
    main()
