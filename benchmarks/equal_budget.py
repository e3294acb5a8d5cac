"""Presets trained with the same budget on the bundled data, then measured the same way: a thin wrapper over the
suite runner (``mspgsen bench``; benchmarks/suites/baselines-equal-time.yaml is the suite of the published table).

    python benchmarks/equal_budget.py --presets dcgan,msggan,mspgsen --minutes 5 --seeds 0 --n 1000
    python benchmarks/equal_budget.py --presets mspgsen --minutes 5 --set model.dema=false --tag=-nodema  # an ablation row

Each (preset, seed) is a run ``RUNS/eb-PRESET[TAG]-sSEED`` trained until its training clock (the ``elapsed_s`` the
trainer keeps in every checkpoint) reaches ``--minutes`` (or its images shown reach ``--kimg``), so presets that are
slower per image see fewer images: on a CPU that is the budget a user has. Then ``--n`` images from the EMA generator
are compared with the bundled test split (1,000 images) by FID, KID, precision/recall and density/coverage on the
standard Inception features, and by the project's classifier scores. The real-vs-real row (train subset against the
test split, same n) gives the floor of FID at this sample size (docs/metrics.md). A run already measured is skipped
and an interrupted one resumed, so the script can be re-run to add presets or seeds.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, table  # noqa: E402

from mspgsen.bench import parse_suite, run_suite, write_results  # noqa: E402
from mspgsen.config import load_config  # noqa: E402
from mspgsen.data.prepare import prepare_training_data  # noqa: E402
from mspgsen.metrics.evaluate import evaluate_images  # noqa: E402

METRICS = ["fid", "kid", "pr", "dc", "cls"]
COLUMNS = ["fid", "kid", "precision", "recall", "density", "coverage", "cls_score", "cls_classes_covered"]


def suite_from_args(a) -> dict:
    """The suite these options describe (one variant per preset, named PRESET+TAG)."""
    budget = {"kimg": a.kimg} if a.kimg else {"minutes": a.minutes}
    return {"name": "equal-budget", "variants": [{"name": p + a.tag, "preset": p} for p in a.presets.split(",")],
            "seeds": [int(s) for s in a.seeds.split(",")], "budget": budget, "threads": a.threads, "n": a.n,
            "set": a.overrides, "runs_dir": a.runs_dir, "run_name": "eb-{variant}-s{seed}", "data": "test",
            "metrics": METRICS, "report": False}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="dcgan,msggan,mspgsen")
    ap.add_argument("--seeds", default="0", help="comma-separated seeds")
    b = ap.add_mutually_exclusive_group()
    b.add_argument("--minutes", type=float, default=5.0, help="training-clock budget per run")
    b.add_argument("--kimg", type=float, default=None, help="budget in thousands of real images instead")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=1000, help="generated and reference images per measurement")
    ap.add_argument("--runs-dir", default="runs/equal-budget")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="override for every preset")
    ap.add_argument("--tag", default="", help="suffix of the run names (to keep ablation runs apart)")
    ap.add_argument("--json", default=None, help="also write the rows to this file")
    a = ap.parse_args()
    suite = parse_suite(suite_from_args(a), "from the command line")
    outcomes = run_suite(suite, log=lambda *x, **k: print(*x, file=sys.stderr))
    write_results(suite, outcomes, Path(a.runs_dir))
    for o in outcomes:
        if o.error:
            print(f"error: {o.variant} seed {o.seed}: {o.error}", file=sys.stderr)
    rows = [{"preset": r["variant"], "seed": r["seed"], "steps": r["step"], "kimg": r["kimg"],
             **{k: r.get(k) for k in COLUMNS}} for o in outcomes for r in o.rows]
    real = prepare_training_data(load_config("dcgan").data)  # the bundled train split, 32x32
    rng = np.random.default_rng(0)
    idx = rng.choice(len(real), size=min(a.n, len(real)), replace=False)
    m = evaluate_images(real.images[idx], "fashion-mnist-subset", METRICS, n=a.n, split="test", threads=a.threads)
    rows.append({"preset": "real train images", "seed": "-", "steps": "-", "kimg": "-", **{k: m.get(k) for k in COLUMNS}})
    budget_text = f"{a.kimg} kimg" if a.kimg else f"{a.minutes} training minutes"
    print(f"Machine: {machine()}; {a.threads} threads; budget {budget_text} per run; n = {a.n} vs the bundled test split;"
          f" overrides: {a.overrides or 'none'}")
    print(table(["preset", "seed", "steps", "kimg"] + COLUMNS,
                [[r[k] if r[k] is not None else "-" for k in ["preset", "seed", "steps", "kimg"] + COLUMNS] for r in rows]))
    print(f"\nmean ± sd over seeds: {Path(a.runs_dir) / 'results.md'}")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
