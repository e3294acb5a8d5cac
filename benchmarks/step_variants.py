"""Training-step time of one preset under several override sets, interleaved in one process (ratios, not absolutes).

    OMP_NUM_THREADS=1 python benchmarks/step_variants.py --preset mspgsen --res 32 \\
        --variant plain=model.fused=false --variant default= --variant no-dema=model.dema=false

Each variant is built once (same seed); then rounds of ``--steps`` steps run variant after variant, so a change of
machine load hits every variant alike. Time is this process's CPU time (``time.process_time``), which other jobs on a
shared machine sway less than wall time. Reported: the median over rounds of CPU ms per step and img/s per CPU
second, and the ratio to the first variant. Inputs are random images of the data's shape (as
benchmarks/throughput.py). A variant is ``name=override[,override...]`` (overrides as ``--set`` takes them; empty:
the preset itself).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, table  # noqa: E402
from mspgsen.bench.speed import RandomStream  # noqa: E402
from mspgsen.config import load_config  # noqa: E402
from mspgsen.engine.build import build_method  # noqa: E402
from mspgsen.models.base import DataSpec  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="mspgsen")
    ap.add_argument("--res", type=int, default=32)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3, help="steps per variant and round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--variant", action="append", default=[], help="name=override,override (repeatable)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="override for every variant")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    variants = {}
    for v in a.variant or ["preset="]:
        name, _, over = v.partition("=")
        torch.manual_seed(0)
        cfg = load_config(a.preset, [f"data.resolution={a.res}", *a.overrides, *(o for o in over.split(",") if o)])
        method = build_method(cfg, DataSpec(a.res, a.channels), torch.device("cpu"))
        stream = RandomStream(cfg.train.batch_size, a.channels, a.res)
        knobs = method.initial_knobs()
        method.step(stream, knobs)  # warm-up
        variants[name] = (method, stream, knobs, [])
    for _ in range(a.rounds):
        for method, stream, knobs, times in variants.values():
            t0 = time.process_time()  # CPU time of this process: less swayed by other jobs than wall time
            for _ in range(a.steps):
                method.step(stream, knobs)
            times.append((time.process_time() - t0) / a.steps)
    base = statistics.median(next(iter(variants.values()))[3])
    rows = []
    for name, (method, stream, _, times) in variants.items():
        ms = statistics.median(times)
        rows.append([name, f"{ms * 1e3:.1f}", f"{len(stream.x) / ms:.1f}", f"{base / ms:.2f}x"])
    print(f"Machine: {machine()}; preset {a.preset}, {a.res}x{a.res}x{a.channels}, {a.threads} thread(s), "
          f"{a.rounds} rounds of {a.steps} steps; overrides: {a.overrides or 'none'}")
    print(table(["variant", "CPU ms/step", "img/CPU s", "vs first"], rows))


if __name__ == "__main__":
    main()
