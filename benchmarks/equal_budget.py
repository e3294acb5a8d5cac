"""Presets trained with the same budget on the bundled data, then measured the same way: the project's results.

    python benchmarks/equal_budget.py --presets dcgan,msggan,mspgsen --minutes 5 --seeds 0 --n 1000
    python benchmarks/equal_budget.py --presets mspgsen --minutes 5 --set model.dema=false   # an ablation row

Each (preset, seed) trains a run ``RUNS/eb-PRESET-sSEED`` with ``--minutes`` of wall-clock (or ``--kimg``), so
presets that are slower per image see fewer images: on a CPU that is the budget a user has. Then ``--n`` images
from the EMA generator are compared with the bundled test split (1,000 images) by FID, KID, precision/recall and
density/coverage on the standard Inception features, and by the project's classifier scores. The real-vs-real
row (train subset against the test split, same n) gives the floor of FID at this sample size (docs/metrics.md).
Runs already trained are resumed (a finished budget is not trained again), so the script can be re-run to add
presets or seeds.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, table  # noqa: E402

import mspgsen  # noqa: E402
from mspgsen.data.prepare import prepare_training_data  # noqa: E402
from mspgsen.config import load_config  # noqa: E402
from mspgsen.metrics.cli import sample_run  # noqa: E402
from mspgsen.metrics.evaluate import evaluate_images  # noqa: E402

METRICS = ["fid", "kid", "pr", "dc", "cls"]
COLUMNS = ["fid", "kid", "precision", "recall", "density", "coverage", "cls_score", "cls_classes_covered"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="dcgan,msggan,mspgsen")
    ap.add_argument("--seeds", default="0", help="comma-separated seeds")
    b = ap.add_mutually_exclusive_group()
    b.add_argument("--minutes", type=float, default=5.0, help="wall-clock budget per run")
    b.add_argument("--kimg", type=float, default=None, help="budget in thousands of real images instead")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=1000, help="generated and reference images per measurement")
    ap.add_argument("--runs-dir", default="runs/equal-budget")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="override for every preset")
    ap.add_argument("--tag", default="", help="suffix of the run names (to keep ablation runs apart)")
    ap.add_argument("--json", default=None, help="also write the rows to this file")
    a = ap.parse_args()
    budget = [f"train.kimg={a.kimg}", "train.minutes=0"] if a.kimg else [f"train.minutes={a.minutes}", "train.kimg=0"]
    common = budget + ["train.steps=0", f"train.threads={a.threads}", "train.progress=false"] + a.overrides
    rows = []
    for preset in a.presets.split(","):
        for seed in (int(s) for s in a.seeds.split(",")):
            name = f"eb-{preset}{a.tag}-s{seed}"
            res = mspgsen.train(preset, name=name, runs_dir=a.runs_dir, overrides=common + [f"seed={seed}"],
                                log=lambda *x: print(*x, file=sys.stderr))
            G = mspgsen.load_generator(res.run_dir)
            imgs = sample_run(G, a.n, seed=1000 + seed)
            m = evaluate_images(imgs, "fashion-mnist-subset", METRICS, n=a.n, split="test", threads=a.threads)
            rows.append({"preset": preset + a.tag, "seed": seed, "steps": res.step, "kimg": round(res.kimg, 1),
                         **{k: m.get(k) for k in COLUMNS}})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    real = prepare_training_data(load_config("dcgan").data)  # the bundled train split, 32x32
    rng = np.random.default_rng(0)
    idx = rng.choice(len(real), size=min(a.n, len(real)), replace=False)
    m = evaluate_images(real.images[idx], "fashion-mnist-subset", METRICS, n=a.n, split="test", threads=a.threads)
    rows.append({"preset": "real train images", "seed": "-", "steps": "-", "kimg": "-", **{k: m.get(k) for k in COLUMNS}})
    budget_text = f"{a.kimg} kimg" if a.kimg else f"{a.minutes} minutes"
    print(f"Machine: {machine()}; {a.threads} threads; budget {budget_text} per run; n = {a.n} vs the bundled test split;"
          f" overrides: {a.overrides or 'none'}")
    print(table(["preset", "seed", "steps", "kimg"] + COLUMNS,
                [[r[k] if r[k] is not None else "-" for k in ["preset", "seed", "steps", "kimg"] + COLUMNS] for r in rows]))
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
