"""DEMA vs SAGAN self-attention at equal channels: parameters, FLOPs per image, CPU time of forward+backward.

The paper claims DEMA is cheap; this measures it. FLOPs are counted by torch's FlopCounterMode (matmuls and
convolutions of one forward, batch 1); time is the median of ``--repeats`` forward+backward passes.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/dema_vs_selfattention.py --channels 64 --sizes 16 32 64
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from mspgsen.nn.attention import SelfAttention2d
from mspgsen.nn.dema import DEMA


def _loss(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = module(x)
    if isinstance(out, tuple):  # DEMA: (out, aux) - include its contrastive loss, as training would
        return out[0].square().mean() + out[1]["lgcl"]
    return out.square().mean()


def _flops(module: torch.nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(x[:1])
    return counter.get_total_flops()


def _ms(module: torch.nn.Module, x: torch.Tensor, repeats: int) -> float:
    times = []
    for i in range(repeats + 2):  # two warm-up passes
        module.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        _loss(module, x).backward()
        if i >= 2:
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64])
    ap.add_argument("--batch", type=int, default=4, help="batch of the timed passes (ms is per batch)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    c = args.channels
    blocks = {"DEMA": DEMA(c), "SAGAN self-attention": SelfAttention2d(c, gamma_init=1.0)}
    print(f"# DEMA vs self-attention, C={c}, batch {args.batch} for timing")
    print(f"# machine: {platform.machine()} {platform.processor() or ''} ({os.cpu_count()} logical CPUs), "
          f"{platform.platform()}, torch {torch.__version__}")
    print(f"# threads: {torch.get_num_threads()}, date: {dt.datetime.now().isoformat(timespec='minutes')}")
    print()
    print("| block | size | params | MFLOPs / image (fwd) | FLOPs / pixel | ms fwd+bwd / batch |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        x = torch.randn(args.batch, c, size, size)
        for name, block in blocks.items():
            params = sum(p.numel() for p in block.parameters())
            flops = _flops(block, x)
            ms = _ms(block, x, args.repeats)
            print(f"| {name} | {size}x{size} | {params:,} | {flops / 1e6:.1f} | {flops / size / size:,.0f} | "
                  f"{ms:.1f} |")


if __name__ == "__main__":
    main()
