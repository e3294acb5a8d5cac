"""Soak test of resume: a run killed with SIGKILL at random moments N times ends with the weights of an uninterrupted one.

Not a unit test (it takes minutes): it trains the same tiny run twice through the CLI, once straight through and
once under fire. Each ``kill -9`` lands wherever it lands: during start-up, in a step, in a checkpoint write (its
temporary file is cleaned at the next start), after the lock was taken (the next start takes the stale lock over).
The same command then resumes. At the end every tensor of the final checkpoints (networks, EMA, optimizer states)
is compared bit for bit, and the kills and the comparison are printed.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/soak_kill.py --kills 10 --steps 200 --out /tmp/soak

Extra ``--set key=value`` options pass through to both runs (e.g. another preset's sizes with ``--config``).
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, table  # noqa: E402

SRC = Path(__file__).resolve().parents[1] / "src"
TINY = ["model.ngf=8", "model.ndf=8", "train.progress=false", "train.tensorboard=false", "train.batch_size=16",
        "data.limit=256", "train.sample_every=1000", "train.grid_size=16", "train.log_every=1"]


def command(args, name: str) -> list[str]:
    sets = [x for o in TINY + [f"train.ckpt_every={args.ckpt_every}"] + args.set for x in ("--set", o)]
    return [sys.executable, "-m", "mspgsen", "train", "--config", args.config, "--name", name, "--runs-dir",
            str(args.out), "--steps", str(args.steps), *sets]


def spawn(cmd: list[str]) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(SRC), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def latest_step(run: Path) -> int:
    ck = sorted((run / "checkpoints").glob("ckpt-*.pt")) if (run / "checkpoints").is_dir() else []
    return int(ck[-1].stem.split("-")[1]) if ck else 0


def tensors(obj, prefix: str = ""):
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from tensors(v, f"{prefix}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from tensors(v, f"{prefix}[{i}]")


def compare(a: Path, b: Path) -> tuple[int, int, float]:
    """(tensors compared, tensors differing, largest absolute difference) over networks, EMA and optimizers."""
    sa, sb = (torch.load(p, weights_only=True) for p in (a, b))
    ta = dict(tensors({"method": sa["method"], "G_ema": sa["G_ema"]}))
    tb = dict(tensors({"method": sb["method"], "G_ema": sb["G_ema"]}))
    assert ta.keys() == tb.keys(), "the two checkpoints hold different tensors"
    diff, worst = 0, 0.0
    for k, x in ta.items():
        if not torch.equal(x, tb[k]):
            diff += 1
            if x.is_floating_point():
                worst = max(worst, float((x.double() - tb[k].double()).abs().max()))
    return len(ta), diff, worst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="dcgan", help="preset of both runs")
    ap.add_argument("--steps", type=int, default=200, help="step budget of both runs")
    ap.add_argument("--kills", type=int, default=10, help="SIGKILLs to deliver")
    ap.add_argument("--ckpt-every", type=int, default=7, help="steps between checkpoints (small: kills hit writes)")
    ap.add_argument("--max-wait", type=float, default=6.0, help="a kill comes 0..max-wait seconds after a start")
    ap.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="more overrides for both runs")
    ap.add_argument("--out", type=Path, default=Path("/tmp/mspgsen-soak"))
    args = ap.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    rng = random.Random(args.seed)
    print(f"machine: {machine()}")

    t0 = time.time()
    ref = spawn(command(args, "straight"))
    _, err = ref.communicate()
    if ref.returncode != 0:
        print(f"the uninterrupted run failed: {err.strip()}")
        return 1
    print(f"uninterrupted run: {args.steps} steps in {time.time() - t0:.1f} s")

    rows, kills = [], 0
    run = args.out / "killed"
    while kills < args.kills:
        before = latest_step(run)
        if before >= args.steps:  # the budget was too small for this many kills
            break
        proc = spawn(command(args, "killed"))
        wait = rng.uniform(0.0, args.max_wait)
        time.sleep(wait)
        if proc.poll() is not None:  # finished before the kill: the budget was too small for this many kills
            break
        tmp = list((run / "checkpoints").glob("*.tmp")) if (run / "checkpoints").is_dir() else []
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        rows.append([kills, f"{wait:.2f}", before, latest_step(run), "yes" if tmp else "no"])
    final = spawn(command(args, "killed"))
    _, err = final.communicate()
    if final.returncode != 0:
        print(f"the last resume failed: {err.strip()}")
        return 1
    print(table(["kill", "after s", "ckpt step at start", "ckpt step at kill", "write in progress"], rows))
    a = args.out / "straight" / "checkpoints" / f"ckpt-{args.steps:08d}.pt"
    b = run / "checkpoints" / f"ckpt-{args.steps:08d}.pt"
    n, diff, worst = compare(a, b)
    print(f"\n{kills} kills; final checkpoints compared: {n} tensors, {diff} differ, largest difference {worst:g}")
    print("bit-identical to the uninterrupted run" if diff == 0 else "DIFFERENT from the uninterrupted run")
    return 0 if diff == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
