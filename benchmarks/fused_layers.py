"""Plain against fused implementations of MSPG-SEN's layers, one layer at a time, side by side in one process.

    OMP_NUM_THREADS=1 python benchmarks/fused_layers.py                      # the preset's G blocks at 32x32
    OMP_NUM_THREADS=1 python benchmarks/fused_layers.py --res 64 --batch 64 --threads 1

For every block of the ``mspgsen`` preset's G at the chosen resolution (channels from ``model.width`` and
``model.max_ch``) it times a forward and backward pass (``torch.utils.benchmark``, median) of:

* DEMA with ``fused=False`` (a Python loop over heads, three 1x1 convolutions of X) and ``fused=True``;
* the GCTDRN branches with ``fuse='off'`` (three convolutions), ``'kernel'`` (per-sample mixed kernel, one grouped
  convolution) and ``'auto'`` (what the model runs);
* a whole GCTDRN block (with DEMA inside) all plain against all default.

Same weights on both sides; the script first checks that their outputs agree. Times are this process's CPU time
(``time.process_time``), which other jobs on a shared machine sway less than wall time; the ratios ("x faster") are
what to read.
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch
from torch.utils import benchmark

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, table  # noqa: E402

from mspgsen.models.multiscale import widths  # noqa: E402
from mspgsen.nn.dema import DEMA  # noqa: E402
from mspgsen.nn.gctdrn import GCTDRNBlock  # noqa: E402


def fwd_bwd_ms(module: torch.nn.Module, x: torch.Tensor, seconds: float) -> float:
    def run() -> None:
        out, aux = module(x)
        (out.square().mean() + aux["lgcl"]).backward()

    timer = benchmark.Timer("run()", globals={"run": run}, timer=time.process_time)  # CPU time: steadier when shared
    return timer.blocked_autorange(min_run_time=seconds).median * 1e3


def compare(name: str, variants: dict[str, torch.nn.Module], x: torch.Tensor, seconds: float) -> list:
    outs = [m(x)[0] for m in variants.values()]
    for o in outs[1:]:
        torch.testing.assert_close(o, outs[0], rtol=1e-4, atol=1e-5)
    ms = {k: fwd_bwd_ms(m, x, seconds) for k, m in variants.items()}
    base = next(iter(ms.values()))
    return [name, tuple(x.shape), *(f"{v:.1f} ({base / v:.2f}x)" for v in ms.values())]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--res", type=int, default=32, help="image resolution of the model")
    ap.add_argument("--width", type=int, default=8, help="model.width of the preset")
    ap.add_argument("--max-ch", type=int, default=64, help="model.max_ch of the preset")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=1.0, help="minimum measuring time per cell")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    chans = widths(a.res, a.width, a.max_ch)
    ins = [chans[0], *chans[:-1]]
    dema_rows, branch_rows, block_rows = [], [], []
    for s, (ci, co) in enumerate(zip(ins, chans)):
        size = 4 * 2 ** s
        x = torch.randn(a.batch, ci, size, size)
        plain = DEMA(ci, fused=False)
        fused = copy.deepcopy(plain)
        fused.fused = True
        dema_rows.append(compare(f"DEMA {ci}ch", {"plain": plain, "fused": fused}, x, a.seconds))
        block = GCTDRNBlock(ci, co, attention="none", norm="pixel", fuse="off")
        variants = {}
        for mode in ("off", "kernel", "auto"):
            variants[mode] = copy.deepcopy(block)
            variants[mode].fuse = mode
        branch_rows.append(compare(f"branches {ci}->{co}", variants, x, a.seconds))
        plain_block = GCTDRNBlock(ci, co, norm="pixel", fuse="off", dema_kwargs={"fused": False})
        new_block = copy.deepcopy(plain_block)
        new_block.fuse, new_block.attn.fused = "auto", True
        block_rows.append(compare(f"GCTDRN+DEMA {ci}->{co}", {"plain": plain_block, "default": new_block}, x,
                                  a.seconds))
    print(f"Machine: {machine()}; {a.threads} thread(s); batch {a.batch}; CPU ms per forward+backward (ratio to the first)")
    print(table(["layer", "input", "plain", "fused"], dema_rows))
    print()
    print(table(["layer", "input", "off (3 convs)", "kernel (mixed)", "auto"], branch_rows))
    print()
    print(table(["layer", "input", "plain", "default"], block_rows))


if __name__ == "__main__":
    main()
