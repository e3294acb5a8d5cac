"""Do the controllers make training balance itself? No controller vs APFL vs the DQN balancer vs both.

Same model, same budget, several seeds, on the 2-D ring of 8 Gaussians and the 5x5 grid (VEEGAN/PacGAN protocols:
2,500 samples, a mode is covered when a sample lies within 3 sigma of it, HQ = share of samples within 3 sigma of
some mode) and on the bundled Fashion-MNIST subset (small DCGAN). Printed per (data, controller), mean +- sd over
seeds: modes covered, HQ share, the final losses, the within-run spread of G's loss over the second half
(oscillation), the quality signal the controllers steer by (D-feature statistics distance of the final networks)
and a model-free data-space distance (diagonal Fréchet distance of raw coordinates / pixels to held-out data,
over their total variance).

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/controllers_toy.py --seeds 5 --out /tmp/ctl_bench

Results are appended to <out>/results.jsonl as runs finish (a rerun skips finished runs); ``--table`` only prints.
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


def data_space_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Diagonal Fréchet distance of raw coordinates / pixels, divided by the data's total variance (model-free).

    Normalised globally, not per dimension, so constant pixels (the padded border) do not dominate.
    """
    real, fake = real.double(), fake.double()
    num = (real.mean(0) - fake.mean(0)).pow(2).sum() + (real.std(0) - fake.std(0)).pow(2).sum()
    return float(num / (real.var(0).sum() + fake.var(0).sum() + 1e-12))


def run_one(data: str, variant: str, seed: int, steps: int, runs_dir: Path) -> dict:
    import mspgsen
    from mspgsen.api import load_generator
    from mspgsen.engine.quality import QualityProbe
    from mspgsen.data import load_source, to_model_range
    from mspgsen.data.stream import Batch
    from mspgsen.engine.logger import read_stats

    t0 = time.time()
    name = f"{data}-{variant}-s{seed}"
    res = mspgsen.train(make_config(data, variant, seed, steps), name=name, runs_dir=runs_dir, new=True, log=lambda *a, **k: None)
    train_s = time.time() - t0
    rows = read_stats(res.run_dir)
    G = load_generator(res.run_dir, ema=False)
    n = 2500 if data in TOY else 1000
    with torch.no_grad():
        fake = torch.cat([G(G.z_from_seeds(range(10 ** 6 * (seed + 1) + i, 10 ** 6 * (seed + 1) + min(i + 500, n))))
                          for i in range(0, n, 500)])
    test = load_source(data if data in TOY else "fashion-mnist-subset", "test")
    if data in TOY:
        real = to_model_range(test.images[:n])
    else:
        from mspgsen.data import fit_shape
        real = to_model_range(fit_shape(test, G.resolution, G.channels).images[:n])
    out = {"data": data, "variant": variant, "seed": seed, "steps": res.step, "train_s": round(train_s, 1),
           "data_dist": data_space_distance(real.flatten(1), fake.flatten(1))}
    if data in TOY:
        from mspgsen.metrics.modes import toy_mode_coverage
        cov = toy_mode_coverage(fake.numpy(), data)
        out.update(modes=cov["modes_covered"], num_modes=cov["num_modes"], hq=cov["hq_share"])
    pos = {"i": 0}

    def next_real() -> Batch:
        i = pos["i"]
        pos["i"] = (i + 256) % max(len(real) - 256, 1)
        return Batch(real[i:i + 256], None)

    out["d_quality"] = QualityProbe("features", 512 if data in TOY else 256, seed=seed).measure(G.method, next_real)
    half = rows[len(rows) // 2:]
    last = rows[-max(len(rows) // 4, 1):]
    lg = [r["loss_g"] for r in half if isinstance(r.get("loss_g"), float)]
    out.update(loss_d=float(np.mean([r["loss_d"] for r in last])), loss_g=float(np.mean([r["loss_g"] for r in last])),
               loss_g_osc=float(np.std(lg)) if lg else float("nan"))
    final = rows[-1]
    out["apfl_soften"] = final.get("apfl/n_soften")
    out["apfl_stall"] = final.get("apfl/n_stall")
    acts = {k.split("/n_", 1)[1]: v for k, v in final.items() if k.startswith("dqn/n_")}
    out["dqn_top"] = ",".join(f"{k}:{int(v)}" for k, v in sorted(acts.items(), key=lambda kv: -kv[1])[:3]) if acts else ""
    return out


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
            "D-feature quality | data-space dist. | s/run | DQN top actions (seed 0) |")
    lines = [head, "|" + "---|" * 12]
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
                f"{statistics.mean(r['train_s'] for r in rs):.0f} | {rs[0].get('dqn_top') or '-'} |")
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
    ap.add_argument("--table", action="store_true", help="only print the table of finished runs")
    args = ap.parse_args()
    torch.set_num_threads(1)
    TOY_SIZE.update(width=args.toy_width, batch=args.toy_batch)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "results.jsonl"
    results = [json.loads(l) for l in log.read_text().splitlines() if l.strip()] if log.exists() else []
    if not args.table:
        done = {(r["data"], r["variant"], r["seed"]) for r in results}
        for data in args.data.split(","):
            steps = args.toy_steps if data in TOY else args.image_steps
            for seed in range(args.seeds):  # seeds outermost, so a cut-short run still compares all variants
                for v in args.variants.split(","):
                    if (data, v, seed) in done:
                        continue
                    r = run_one(data, v, seed, steps, out / "runs")
                    results.append(r)
                    with open(log, "a") as fh:
                        fh.write(json.dumps(r) + "\n")
                    print(json.dumps(r), flush=True)
    steps = {d: sorted({r["steps"] for r in results if (r["data"] in TOY) == (d == "toy")}) for d in ("toy", "fashion")}
    print(f"\ntoy: mlp width {TOY_SIZE['width']}, batch {TOY_SIZE['batch']}, steps {steps['toy']}; "
          f"fashion: dcgan ngf=ndf=16, batch 64, steps {steps['fashion']}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; torch threads 1; "
          f"torch {torch.__version__}; {datetime.date.today().isoformat()}")
    print(table(results))


if __name__ == "__main__":
    main()
