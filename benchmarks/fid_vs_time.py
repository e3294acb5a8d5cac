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
minutes, one curve per preset (mean over seeds, the spread shaded).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, table  # noqa: E402

import mspgsen  # noqa: E402
from mspgsen.config import load_config  # noqa: E402
from mspgsen.data import ImageArray  # noqa: E402
from mspgsen.data.prepare import prepare_training_data  # noqa: E402
from mspgsen.engine.checkpoint import latest_checkpoint, load_checkpoint  # noqa: E402
from mspgsen.metrics.cli import sample_run  # noqa: E402
from mspgsen.metrics.evaluate import evaluate_images  # noqa: E402

HOLDOUT_TRAIN = 5000  # --ref holdout: train on the first 5,000 bundled training images, measure on the rest
LOG = "fid_vs_time.jsonl"


def holdout_reference() -> ImageArray:
    """The bundled training images that a ``--ref holdout`` run never sees, shaped as the generators' output."""
    data = prepare_training_data(load_config("dcgan").data)  # bundled train split, padded to 32x32
    return ImageArray(data.images[HOLDOUT_TRAIN:], None, "fashion-mnist-subset[holdout]", 0, [], list(data.notes))


def training_minutes(run_dir: Path) -> float:
    """Minutes on the run's training clock at its latest checkpoint (0 before the first)."""
    path = latest_checkpoint(run_dir / "checkpoints")
    return float(load_checkpoint(path)["elapsed_s"]) / 60.0 if path else 0.0


def measured(run_dir: Path) -> dict[float, dict]:
    path = run_dir / LOG
    if not path.is_file():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {float(r["mark"]): r for r in rows}


def run_one(preset: str, seed: int, marks: list[float], a, reference) -> list[dict]:
    name = f"ft-{preset}{a.tag}-s{seed}"
    run_dir = Path(a.runs_dir) / name
    done = measured(run_dir)
    fixed = [f"train.threads={a.threads}", "train.progress=false", "train.steps=0", f"seed={seed}"]
    fixed += ["train.kimg=0"] if a.unit == "minutes" else []
    if a.ref == "holdout":
        fixed.append(f"data.limit={HOLDOUT_TRAIN}")
    rows = []
    for mark in marks:
        if mark in done:
            rows.append(done[mark])
            continue
        if a.unit == "kimg":  # the kimg budget counts every image the run has seen, resumes included
            budget = [f"train.kimg={mark}", "train.minutes=0"]
        else:
            left = mark - training_minutes(run_dir) if run_dir.exists() else mark
            budget = [f"train.minutes={left}"] if left > 1e-3 else []
        if budget:
            mspgsen.train(preset, name=name, runs_dir=a.runs_dir, overrides=fixed + budget + a.overrides,
                          log=lambda *x: print(*x, file=sys.stderr))
        G = mspgsen.load_generator(run_dir)
        imgs = sample_run(G, a.n, seed=1000 + seed)
        m = evaluate_images(imgs, reference, ["fid", "kid"], n=a.n, split="test", threads=a.threads)
        row = {"preset": preset + a.tag, "seed": seed, "mark": mark, "minutes": round(training_minutes(run_dir), 3),
               "step": G.step, "kimg": None, "fid": m["fid"], "kid": m["kid"], "ref": m["ref"], "n": a.n,
               "threads": a.threads, "machine": machine()}
        state = load_checkpoint(latest_checkpoint(run_dir / "checkpoints"))
        row["kimg"] = round(state["stream"]["images_seen"] / 1000.0, 2) if isinstance(state.get("stream"), dict) \
            and "images_seen" in state["stream"] else None
        with open(run_dir / LOG, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(json.dumps(row), file=sys.stderr, flush=True)
        rows.append(row)
    return rows


def summarize(rows: list[dict], marks: list[float], unit: str = "min") -> tuple[list[str], list[list]]:
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
    a = ap.parse_args()
    marks = sorted(float(m) for m in a.marks.split(","))
    a.runs_dir = a.runs_dir or ("runs/fid-vs-time" + ("-holdout" if a.ref == "holdout" else "")
                                + ("-kimg" if a.unit == "kimg" else ""))
    seeds = [int(s) for s in a.seeds.split(",")]
    if a.ref == "holdout":
        reference, ref_text = holdout_reference(), "1,000 held-out training images (trained on the other 5,000)"
    else:
        reference, ref_text = "fashion-mnist-subset", "the bundled test split"
    rows = []
    for preset in a.presets.split(","):
        for seed in seeds:
            if a.table_only:
                got = measured(Path(a.runs_dir) / f"ft-{preset}{a.tag}-s{seed}")
                rows += [got[m] for m in marks if m in got]
            else:
                rows += run_one(preset, seed, marks, a, reference)
    headers, lines = summarize(rows, marks, "min" if a.unit == "minutes" else "kimg")
    print(f"Machine: {machine()}; {a.threads} threads; FID n = {a.n} against {ref_text}; seeds {a.seeds}; "
          f"overrides: {a.overrides or 'none'}")
    print(table(headers, lines))
    print()
    print(table(["preset", "seed", "mark (min)", "train min", "step", "kimg", "FID", "KID"],
                [[r["preset"], r["seed"], r["mark"], r["minutes"], r["step"], r["kimg"], r["fid"], r["kid"]] for r in rows]))
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    if a.plot and rows:
        plot(rows, marks, a.plot, f"bundled Fashion-MNIST, {a.threads} threads, n={a.n} vs {a.ref}; seeds {a.seeds}",
             "training minutes" if a.unit == "minutes" else "kimg (thousands of real images shown)")


if __name__ == "__main__":
    main()
