"""Throughput of the presets: parameters, FLOPs, training and generation images/s, at 1 and 2 CPU threads.

    python benchmarks/throughput.py                                   # every preset at 32x32, 1 and 2 threads
    python benchmarks/throughput.py --presets dcgan,msggan,mspgsen --res 32,64 --threads 1
    python benchmarks/throughput.py --presets mspgsen --set model.dema=false   # the cost of one component
    python benchmarks/throughput.py --presets dcgan,mspgsen --row mspgsen:model.fused=false   # old code beside new
    python benchmarks/throughput.py --presets dcgan --row dcgan:train.compile=true   # torch.compile beside eager

Each preset trains through its own method (``Method.step``: WGAN-GP's five critic steps, a CFG stage... all
count) on random images of the bundled data's shape (1 channel; ``--channels 3`` for colour), after warm-up
steps; "train img/s" counts the real images the method consumed. ``--row PRESET:overrides`` adds a row of a preset
with its own overrides (the old code beside the new: ``mspgsen:model.fused=false``); ``--plain-1x1`` adds, after
each preset, its row with every 1x1 convolution run by ``F.conv2d`` instead of the matrix product of
``mspgsen.nn.layers.pointwise_conv`` (the same weights; the code before that change). "generate img/s" is G (and the
method's sampling steps) on batches of 64 without gradients. FLOPs are counted by torch.utils.flop_counter
(convolutions and matrix products, the bulk of the work; element-wise operations are not counted): G's forward per
image, and one training step per real image. "first step s" is the warm-up step's time: with ``train.compile=true``
in a row's overrides its networks are compiled in place (as the trainer does) and that step includes compiling.
All rows come from one process, so the ratios ("vs dcgan") are what to compare; absolute numbers move with
whatever else the machine is doing. By default each row is timed once, one row after the other, and a machine whose
speed drifts during the run moves the later rows. ``--rounds R`` builds every row of a thread count first, then
times them in R interleaved rounds of ``--seconds / R`` each, so drift hits every row alike: "train img/s" is then
the median over rounds, "train range" the slowest and fastest round, and "vs dcgan" the median of the per-round
ratios to the DCGAN row of the same round.
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, table  # noqa: E402

from mspgsen.bench.speed import RandomStream  # noqa: E402
from mspgsen.config import load_config, preset_names  # noqa: E402
from mspgsen.engine.accel import apply_accel, check_accel  # noqa: E402
from mspgsen.engine.build import build_method  # noqa: E402
from mspgsen.models.base import DataSpec, count_parameters  # noqa: E402
from mspgsen.nn.layers import plain_pointwise  # noqa: E402


@dataclass
class Row:
    """One row of the table: a preset (with overrides) built once, and what was timed of it."""

    label: str
    res: int
    threads: int
    plain_1x1: bool
    method: object
    stream: RandomStream
    knobs: object
    info: dict
    train: list[float] = field(default_factory=list)  # images/s of each timed round

    def layout(self):
        """Where the row's layers run: the 1x1 convolutions as plain convolutions for a ``(1x1 as conv)`` row."""
        return plain_pointwise() if self.plain_1x1 else contextlib.nullcontext()


def build(preset: str, res: int, threads: int, overrides: list[str], channels: int = 1, label: str = "",
          plain_1x1: bool = False) -> Row:
    """The preset's method on random data, warmed up, with its parameters and FLOPs counted."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = load_config(preset, [f"data.resolution={res}", *overrides])
    method = build_method(cfg, DataSpec(res, channels), torch.device("cpu"))
    if cfg.train.compile:  # a train.compile=true row: the networks compiled in place, as the trainer does
        check_accel(cfg, torch.device("cpu"), 1)
        apply_accel(method, cfg)
    knobs = method.initial_knobs()
    stream = RandomStream(cfg.train.batch_size, channels, res)
    params = {k: count_parameters(v) for k, v in method.nets.items()}
    row = Row(label or preset, res, threads, plain_1x1, method, stream, knobs, {})
    with row.layout():
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            method.G(torch.randn(8, method.G.z_dim))
        g_flops = fc.get_total_flops() / 8
        t0 = time.perf_counter()
        method.step(stream, knobs)  # warm-up (with train.compile: the compilation)
        warmup = time.perf_counter() - t0
        before = stream.images_seen
        try:
            with FlopCounterMode(display=False) as fc:
                method.step(stream, knobs)
            step_flops = fc.get_total_flops() / (stream.images_seen - before)
        except RuntimeError:  # the flop counter's module hooks refuse autograd.grad inside a step (CFG's moves)
            step_flops = float("nan")
    row.info = {"G": params.get("G", 0), "D": params.get("D", 0),
                "other": sum(v for k, v in params.items() if k not in ("G", "D")), "g_mflop": g_flops / 1e6,
                "step_mflop": step_flops / 1e6 if step_flops == step_flops else "n/a", "warmup_s": warmup}
    return row


def time_train(row: Row, seconds: float) -> float:
    """Training images/s of the row over at least ``seconds`` (and 2 steps)."""
    torch.set_num_threads(row.threads)
    with row.layout():
        before, t0, steps = row.stream.images_seen, time.perf_counter(), 0
        while time.perf_counter() - t0 < seconds or steps < 2:
            row.method.step(row.stream, row.knobs)
            steps += 1
        ips = (row.stream.images_seen - before) / (time.perf_counter() - t0)
    row.train.append(ips)
    return ips


def time_generate(row: Row, seconds: float) -> float:
    """Images/s of G (and the method's sampling steps) on batches of 64 without gradients."""
    torch.set_num_threads(row.threads)
    G = row.method.G
    z = torch.randn(64, G.z_dim)
    G.eval()
    with row.layout(), torch.no_grad():
        row.method.generate(G, z)
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < seconds or n < 2:
            row.method.generate(G, z)
            n += 1
    G.train()
    return 64 * n / (time.perf_counter() - t0)


def ratio_to_dcgan(row: Row, base: Row | None) -> str:
    """The median over rounds of the row's images/s over the DCGAN row's of the same round."""
    if base is None:
        return "-"
    return f"{statistics.median(a / b for a, b in zip(row.train, base.train)):.2f}x"


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
    ap.add_argument("--rounds", type=int, default=1,
                    help="time the rows of a thread count in this many interleaved rounds (median and range)")
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
    if a.rounds < 1:
        raise SystemExit(f"error: --rounds must be at least 1, got {a.rounds}.")
    done: list[tuple[Row, float]] = []
    for res in (int(r) for r in a.res.split(",")):
        for th in (int(t) for t in a.threads.split(",")):
            # one round: each row alone, so only one method is held in memory; more: all rows, interleaved
            for group_jobs in ([[j] for j in jobs] if a.rounds == 1 else [jobs]):
                group = [build(preset, res, th, [*a.overrides, *extra], a.channels, label, plain)
                         for preset, extra, label, plain in group_jobs]
                for r in range(a.rounds):
                    for row in group:
                        time_train(row, a.seconds / a.rounds)
                    print(f"  {res}px @ {th} threads, round {r + 1}/{a.rounds}: "
                          + ", ".join(f"{row.label} {row.train[-1]:.1f} img/s" for row in group), file=sys.stderr,
                          flush=True)
                for row in group:
                    done.append((row, time_generate(row, a.seconds / 4)))
                    row.method = None  # free it before the next group is built
    base = {(r.res, r.threads): r for r, _ in done if r.label == "dcgan"}
    headers = ["preset", "res", "threads", "G params", "D params", "other params", "G MFLOP/img", "step MFLOP/img",
               "train img/s"] + (["train range"] if a.rounds > 1 else []) + ["generate img/s", "train vs dcgan",
                                                                             "first step s"]
    lines = []
    for r, gen in done:
        i = r.info
        lines.append([r.label, r.res, r.threads, f"{i['G']:,}", f"{i['D']:,}", f"{i['other']:,}", i["g_mflop"],
                      i["step_mflop"], statistics.median(r.train)]
                     + ([f"{min(r.train):.0f}-{max(r.train):.0f}"] if a.rounds > 1 else [])
                     + [gen, ratio_to_dcgan(r, base.get((r.res, r.threads))), i["warmup_s"]])
    print(f"Machine: {machine()}; overrides: {a.overrides or 'none'}"
          + (f"; {a.rounds} interleaved rounds of {a.seconds / a.rounds:g} s per row" if a.rounds > 1 else ""))
    print(table(headers, lines))


if __name__ == "__main__":
    main()
