"""Throughput of the presets: parameters, FLOPs, training and generation images/s, at 1 and 2 CPU threads.

    python benchmarks/throughput.py                                   # every preset at 32x32, 1 and 2 threads
    python benchmarks/throughput.py --presets dcgan,msggan,mspgsen --res 32,64 --threads 1
    python benchmarks/throughput.py --presets mspgsen --set model.dema=false   # the cost of one component
    python benchmarks/throughput.py --presets dcgan,mspgsen --row mspgsen:model.fused=false   # old code beside new

Each preset trains through its own method (``Method.step``: WGAN-GP's five critic steps, a CFG stage... all
count) on random images of the bundled data's shape (1 channel; ``--channels 3`` for colour), after warm-up
steps; "train img/s" counts the real images the method consumed. ``--row PRESET:overrides`` adds a row of a preset
with its own overrides (the old code beside the new: ``mspgsen:model.fused=false``); ``--plain-1x1`` adds, after
each preset, its row with every 1x1 convolution run by ``F.conv2d`` instead of the matrix product of
``mspgsen.nn.layers.pointwise_conv`` (the same weights; the code before that change). "generate img/s" is G (and the
method's sampling steps) on batches of 64 without gradients. FLOPs are counted by torch.utils.flop_counter
(convolutions and matrix products, the bulk of the work; element-wise operations are not counted): G's forward per
image, and one training step per real image.
All rows come from one process, one after the other, so the ratios ("vs dcgan") are what to compare; absolute
numbers move with whatever else the machine is doing.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, table  # noqa: E402

from mspgsen.config import load_config, preset_names  # noqa: E402
from mspgsen.data.stream import Batch  # noqa: E402
from mspgsen.engine.build import build_method  # noqa: E402
from mspgsen.models.base import DataSpec, count_parameters  # noqa: E402
from mspgsen.nn.layers import plain_pointwise  # noqa: E402


class RandomStream:
    """Stands in for the DataStream: random images in [-1, 1] of one shape, counted like real ones."""

    def __init__(self, batch: int, channels: int, res: int) -> None:
        self.x = torch.rand(batch, channels, res, res) * 2 - 1
        self.images_seen = 0

    def next(self, batch_size: int | None = None) -> Batch:
        n = batch_size or len(self.x)
        self.images_seen += n
        return Batch(self.x[:n].clone())


def measure(preset: str, res: int, threads: int, seconds: float, overrides: list[str], channels: int = 1,
            label: str = "") -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = load_config(preset, [f"data.resolution={res}", *overrides])
    method = build_method(cfg, DataSpec(res, channels), torch.device("cpu"))
    knobs = method.initial_knobs()
    stream = RandomStream(cfg.train.batch_size, channels, res)
    params = {k: count_parameters(v) for k, v in method.nets.items()}
    G = method.G
    z = torch.randn(64, G.z_dim)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        G(z[:8])
    g_flops = fc.get_total_flops() / 8
    method.step(stream, knobs)  # warm-up
    before = stream.images_seen
    try:
        with FlopCounterMode(display=False) as fc:
            method.step(stream, knobs)
        step_flops = fc.get_total_flops() / (stream.images_seen - before)
    except RuntimeError:  # the flop counter's module hooks refuse autograd.grad inside a step (CFG's moves)
        step_flops = float("nan")
    before, t0, steps = stream.images_seen, time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds or steps < 2:
        method.step(stream, knobs)
        steps += 1
    train_ips = (stream.images_seen - before) / (time.perf_counter() - t0)
    G.eval()
    with torch.no_grad():
        method.generate(G, z)
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < seconds / 4 or n < 2:
            method.generate(G, z)
            n += 1
    gen_ips = 64 * n / (time.perf_counter() - t0)
    return {"preset": label or preset, "res": res, "threads": threads, "G": params.get("G", 0), "D": params.get("D", 0),
            "other": sum(v for k, v in params.items() if k not in ("G", "D")), "g_mflop": g_flops / 1e6,
            "step_mflop": step_flops / 1e6 if step_flops == step_flops else "n/a", "train": train_ips, "gen": gen_ips}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default=",".join(p for p in preset_names()), help="comma-separated presets")
    ap.add_argument("--res", default="32", help="comma-separated resolutions")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--seconds", type=float, default=10.0, help="measuring time per row")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="config override for every preset")
    ap.add_argument("--row", action="append", default=[],
                    help="an extra row, PRESET:override,override (e.g. mspgsen:model.fused=false); repeatable")
    ap.add_argument("--channels", type=int, default=1, help="image channels (3: colour)")
    ap.add_argument("--plain-1x1", action="store_true",
                    help="after each preset, a row of it with 1x1 convolutions run as convolutions (the code before)")
    a = ap.parse_args()
    jobs = []
    for p in (p for p in a.presets.split(",") if p):
        jobs.append((p, [], p, False))
        if a.plain_1x1:
            jobs.append((p, [], f"{p} (1x1 as conv)", True))
    for spec in a.row:
        preset, _, over = spec.partition(":")
        jobs.append((preset, [o for o in over.split(",") if o], spec, False))
    rows = []
    for res in (int(r) for r in a.res.split(",")):
        for th in (int(t) for t in a.threads.split(",")):
            for preset, extra, label, plain in jobs:
                with plain_pointwise() if plain else contextlib.nullcontext():
                    r = measure(preset, res, th, a.seconds, [*a.overrides, *extra], a.channels, label)
                rows.append(r)
                print(f"  {label} {res}px @ {th} threads: train {r['train']:.1f} img/s", file=sys.stderr, flush=True)
    base = {(r["res"], r["threads"]): r["train"] for r in rows if r["preset"] == "dcgan"}
    print(f"Machine: {machine()}; overrides: {a.overrides or 'none'}")
    print(table(["preset", "res", "threads", "G params", "D params", "other params", "G MFLOP/img", "step MFLOP/img",
                 "train img/s", "generate img/s", "train vs dcgan"],
                [[r["preset"], r["res"], r["threads"], f"{r['G']:,}", f"{r['D']:,}", f"{r['other']:,}", r["g_mflop"],
                  r["step_mflop"], r["train"], r["gen"],
                  (f"{r['train'] / base[(r['res'], r['threads'])]:.2f}x" if (r["res"], r["threads"]) in base else "-")]
                 for r in rows]))


if __name__ == "__main__":
    main()
