"""Do the controllers make training balance itself? No controller vs APFL vs the DQN balancer vs both.

Same model, same budget, several seeds, on the 2-D ring of 8 Gaussians and the 5x5 grid (VEEGAN/PacGAN protocols:
2,500 samples, a mode is covered when a sample lies within 3 sigma of it, HQ = share of samples within 3 sigma of
some mode) and on the bundled Fashion-MNIST subset (small DCGAN). Printed per (data, controller), mean +- sd over
seeds: modes covered, HQ share, the final losses, the within-run spread of G's loss over the second half
(oscillation), the quality signal the controllers steer by (D-feature statistics distance of the final networks)
and a model-free data-space distance (diagonal Fréchet distance of raw coordinates / pixels to held-out data,
over their total variance).

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/controllers_toy.py --seeds 5 --out /tmp/ctl_bench

A thin wrapper over the suite runner (``mspgsen bench``; benchmarks/suites/controllers-*.yaml are the suites of the
published tables): each data set is one suite, each run ``<out>/runs/DATA-VARIANT-sSEED``; a rerun skips what is
measured and resumes what was interrupted. ``<out>/DATA/results.md`` has mean ± sd per variant, ``<out>/results.jsonl``
every run in this script's format; ``--table`` only prints what is measured.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from mspgsen.bench import parse_suite, run_suite, write_results

VARIANTS = ("none", "apfl", "dqn", "both")
TOY = ("ring8", "grid25")
# One quality probe (the trainer's) every 25 steps feeds both controllers; APFL's stall window counts those
# measurements, so 12 (toy) and 6 (images) keep the 300- and 150-step windows of the runs in docs/controllers.md.
QUALITY = {"every": 25, "n": 512}
QUALITY_IMG = {"every": 25, "n": 256}
APFL_OPTS = {"enabled": True, "every": 25, "stall_window": 12}
DQN_OPTS = {"enabled": True, "every": 25, "warmup": 8, "batch": 16, "eps_decay": 20.0}
APFL_OPTS_IMG = {**APFL_OPTS, "stall_window": 6}
DQN_OPTS_IMG = {**DQN_OPTS, "eps_decay": 4.0, "warmup": 4, "batch": 8}


TOY_SIZE = {"width": 64, "batch": 128}  # the toy MLPs' hidden units and batch size (--toy-width, --toy-batch)


def make_config(data: str, variant: str, seed: int, steps: int) -> dict:
    toy = data in TOY
    control = {}
    if variant in ("apfl", "both"):
        control["apfl"] = {**(APFL_OPTS if toy else APFL_OPTS_IMG), "horizon": steps}  # stages as shares of this budget
    if variant in ("dqn", "both"):
        control["dqn"] = DQN_OPTS if toy else DQN_OPTS_IMG
    train = {"steps": steps, "progress": False, "tensorboard": False, "ema_kimg": 0, "sample_every": 10 ** 6,
             "ckpt_every": 10 ** 6, "log_every": 10, "threads": 1}
    if toy:
        mlp = {"name": "mlp", "g_hidden": TOY_SIZE["width"], "d_hidden": TOY_SIZE["width"]}
        return {"seed": seed, "data": {"source": data}, "model": mlp,
                "method": {"name": "gan", "loss": "ns"}, "optim": {"lr_g": 1e-3, "lr_d": 1e-3}, "control": control,
                "quality": QUALITY, "train": {**train, "batch_size": TOY_SIZE["batch"]}}
    return {"seed": seed, "data": {"source": "fashion-mnist-subset", "labels": False},
            "model": {"name": "dcgan", "ngf": 16, "ndf": 16, "z_dim": 64}, "method": {"name": "gan", "loss": "ns"},
            "optim": {"lr_g": 2e-4, "lr_d": 2e-4}, "control": control, "quality": QUALITY_IMG,
            "train": {**train, "batch_size": 64}}


def suite_for(data: str, variants: list[str], seeds: int, steps: int, out: Path) -> dict:
    """The suite one data set of this study is: a variant per controller setting, named DATA-VARIANT, so the run
    folders keep this script's names (OUT/runs/DATA-VARIANT-sSEED)."""
    toy = data in TOY
    return {"name": f"controllers-{data}", "seeds": seeds, "budget": {"steps": steps},
            "variants": [{"name": f"{data}-{v}", "config": make_config(data, v, 0, steps)} for v in variants],
            "data": data if toy else "test", "n": 2500 if toy else 1000, "ema": False, "report": False, "plot": False,
            "metrics": (["modes"] if toy else []) + ["osc", "losses", "data_dist", "d_quality"],
            "runs_dir": str(out / "runs"), "run_name": "{variant}-s{seed}"}


def as_result(data: str, row: dict) -> dict:
    """A runner row in this script's result format."""
    return {"data": data, "variant": row["variant"].split("-", 1)[1], "seed": row["seed"], "steps": row["step"],
            "train_s": round(60.0 * (row.get("minutes") or 0.0), 1), "modes": row.get("modes"),
            "num_modes": row.get("num_modes"), "hq": row.get("hq"), "data_dist": row.get("data_dist"),
            "d_quality": row.get("d_quality"), "loss_d": row.get("loss_d"), "loss_g": row.get("loss_g"),
            "loss_g_osc": row.get("loss_g_osc")}


def fmt(vals: list[float], pct: bool = False, digits: int = 3) -> str:
    vals = [v for v in vals if v is not None and np.isfinite(v)]
    if not vals:
        return "-"
    k = 100.0 if pct else 1.0
    m = statistics.mean(vals) * k
    s = statistics.stdev(vals) * k if len(vals) > 1 else 0.0
    return f"{m:.{1 if pct else digits}f} ± {s:.{1 if pct else digits}f}"


def table(results: list[dict]) -> str:
    head = ("| data | controller | seeds | modes covered | HQ % | loss_d (end) | loss_g (end) | loss_g osc. | "
            "D-feature quality | data-space dist. | train s/run |")
    lines = [head, "|" + "---|" * 11]
    for data in (*TOY, "fashion"):
        for v in VARIANTS:
            rs = [r for r in results if r["data"] == data and r["variant"] == v]
            if not rs:
                continue
            modes = fmt([r.get("modes") for r in rs], digits=1) if data in TOY else "-"
            if data in TOY:
                modes += f" / {rs[0]['num_modes']}"
            lines.append(
                f"| {data} | {v} | {len(rs)} | {modes} | {fmt([r.get('hq') for r in rs], pct=True) if data in TOY else '-'} | "
                f"{fmt([r['loss_d'] for r in rs])} | {fmt([r['loss_g'] for r in rs])} | {fmt([r['loss_g_osc'] for r in rs])} | "
                f"{fmt([r['d_quality'] for r in rs])} | {fmt([r['data_dist'] for r in rs])} | "
                f"{statistics.mean(r['train_s'] for r in rs):.0f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--toy-steps", type=int, default=2000)
    ap.add_argument("--image-steps", type=int, default=250)
    ap.add_argument("--toy-width", type=int, default=TOY_SIZE["width"], help="hidden units of the toy MLPs")
    ap.add_argument("--toy-batch", type=int, default=TOY_SIZE["batch"])
    ap.add_argument("--data", default="ring8,grid25,fashion")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--out", default="runs/controllers_bench")
    ap.add_argument("--jobs", type=int, default=1, help="runs at a time (separate processes, one thread each)")
    ap.add_argument("--table", action="store_true", help="only print the table of finished runs")
    args = ap.parse_args()
    torch.set_num_threads(1)
    TOY_SIZE.update(width=args.toy_width, batch=args.toy_batch)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for data in args.data.split(","):
        steps = args.toy_steps if data in TOY else args.image_steps
        suite = parse_suite(suite_for(data, args.variants.split(","), args.seeds, steps, out), "from the command line")
        outcomes = run_suite(suite, jobs=args.jobs, train=not args.table, log=lambda *a, **k: None)
        write_results(suite, outcomes, out / data)
        results += [as_result(data, r) for o in outcomes for r in o.rows]
        for o in outcomes:
            if o.error:
                print(f"error: {o.variant} seed {o.seed}: {o.error}", flush=True)
    with open(out / "results.jsonl", "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in results)
    steps = {d: sorted({r["steps"] for r in results if (r["data"] in TOY) == (d == "toy")}) for d in ("toy", "fashion")}
    print(f"\ntoy: mlp width {TOY_SIZE['width']}, batch {TOY_SIZE['batch']}, steps {steps['toy']}; "
          f"fashion: dcgan ngf=ndf=16, batch 64, steps {steps['fashion']}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; torch threads 1; "
          f"torch {torch.__version__}; {datetime.date.today().isoformat()}")
    print(table(results))


if __name__ == "__main__":
    main()
