"""Plain against fused implementations of MSPG-SEN's layers, one layer at a time, side by side in one process.

    OMP_NUM_THREADS=1 python benchmarks/fused_layers.py                      # the preset's G blocks at 32x32
    OMP_NUM_THREADS=1 python benchmarks/fused_layers.py --res 64 --batch 64 --threads 1
    OMP_NUM_THREADS=1 python benchmarks/fused_layers.py --pointwise --batch 32     # 1x1 convolutions: conv vs matmul

For every block of the ``mspgsen`` preset's G at the chosen resolution (channels from ``model.width`` and
``model.max_ch``) it times a forward and backward pass (``torch.utils.benchmark``, median) of:

* DEMA with ``fused=False`` (a Python loop over heads, three 1x1 convolutions of X) and ``fused=True``;
* the GCTDRN branches with ``fuse='off'`` (three convolutions), ``'kernel'`` (per-sample mixed kernel, one grouped
  convolution) and ``'auto'`` (what the model runs);
* a whole GCTDRN block (with DEMA inside) all plain against all default.

``--pointwise`` instead times a 1x1 convolution as ``F.conv2d`` and as the matrix product of
``mspgsen.nn.layers.matmul_1x1`` (what ``pointwise_conv`` runs) over a grid of input and output channels and map
sizes, interleaved in rounds as below, forward alone (no gradients: generation) and forward+backward (training),
and marks where the models run the matrix product (``pointwise_as_matmul``): the measurement that rule comes from.

Each layer's variants run in interleaved rounds (``--rounds`` of ``--reps`` passes); the median CPU ms is reported.

Same weights on both sides; the script first checks that their outputs agree. Times are this process's CPU time
(``time.process_time``), which other jobs on a shared machine sway less than wall time; the ratios are what to read.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, table  # noqa: E402

from mspgsen.models.multiscale import widths  # noqa: E402
from mspgsen.nn.dema import DEMA  # noqa: E402
from mspgsen.nn.gctdrn import GCTDRNBlock  # noqa: E402
from mspgsen.nn.layers import matmul_1x1, pointwise_as_matmul  # noqa: E402


def fwd_bwd(module: torch.nn.Module, x: torch.Tensor) -> None:
    out, aux = module(x)
    (out.square().mean() + aux["lgcl"]).backward()


def interleaved_cpu_ms(fns: dict, rounds: int, reps: int) -> dict[str, float]:
    """Median CPU ms per call of each function, rounds interleaved so load changes hit all alike."""
    for fn in fns.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t0 = time.process_time()  # CPU time: steadier than wall time on a shared machine
            for _ in range(reps):
                fn()
            times[k].append((time.process_time() - t0) / reps * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def compare(name: str, variants: dict[str, torch.nn.Module], x: torch.Tensor, rounds: int, reps: int) -> list:
    """Median CPU ms per forward+backward of each variant (interleaved rounds), after checking their outputs agree."""
    outs = [m(x)[0] for m in variants.values()]
    for o in outs[1:]:
        torch.testing.assert_close(o, outs[0], rtol=1e-4, atol=1e-5)
    ms = interleaved_cpu_ms({k: (lambda m=m: fwd_bwd(m, x)) for k, m in variants.items()}, rounds, reps)
    base = next(iter(ms.values()))
    return [name, tuple(x.shape), *(f"{v:.1f} ({base / v:.2f}x)" for v in ms.values())]


def pointwise_grid(batch: int, rounds: int, reps: int) -> list:
    """Rows of (in, out, size, forward ms conv / matmul, training ms conv / matmul, what the models run)."""
    rows = []
    for size in (8, 16, 32, 64):
        for ci in (1, 3, 8, 16, 32, 64):
            for co in (1, 3, 8, 16, 64):
                if size == 64 and ci * co > 256:
                    continue  # wide maps at 64x64 are not in these models and take long
                x, w, b = torch.randn(batch, ci, size, size), torch.randn(co, ci, 1, 1), torch.randn(co)
                grad = torch.randn(batch, co, size, size)
                xg, wg, bg = (t.clone().requires_grad_() for t in (x, w, b))
                conv = torch.nn.functional.conv2d
                torch.testing.assert_close(matmul_1x1(x, w, b), conv(x, w, b), rtol=1e-4, atol=1e-4)

                def forward(f, x=x, w=w, b=b):
                    with torch.no_grad():
                        f(x, w, b)

                def train(f, x=xg, w=wg, b=bg, grad=grad):
                    f(x, w, b).backward(grad)

                t = interleaved_cpu_ms({"fc": lambda: forward(conv), "fm": lambda: forward(matmul_1x1),
                                        "tc": lambda: train(conv), "tm": lambda: train(matmul_1x1)}, rounds, reps)
                ms = [t["fc"], t["fm"], t["tc"], t["tm"]]
                fwd_ratio, train_ratio = ms[0] / ms[1], ms[2] / ms[3]
                runs = "yes" if pointwise_as_matmul(ci, co) else "-"
                rows.append([ci, co, size, f"{ms[0]:.3f} / {ms[1]:.3f} ({fwd_ratio:.2f}x)",
                             f"{ms[2]:.3f} / {ms[3]:.3f} ({train_ratio:.2f}x)", runs])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--res", type=int, default=32, help="image resolution of the model")
    ap.add_argument("--width", type=int, default=8, help="model.width of the preset")
    ap.add_argument("--max-ch", type=int, default=64, help="model.max_ch of the preset")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds per layer (the median is reported)")
    ap.add_argument("--reps", type=int, default=2, help="forward+backward passes per variant and round")
    ap.add_argument("--pointwise", action="store_true", help="time 1x1 convolutions as conv and as matmul instead")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.pointwise:
        rows = pointwise_grid(a.batch, a.rounds, max(a.reps, 5))
        print(f"Machine: {machine()}; {a.threads} thread(s); batch {a.batch}; CPU ms of a 1x1 convolution as "
              "F.conv2d / as a matrix product (conv time over matmul time: above 1x the matrix product is faster)")
        print(table(["in ch", "out ch", "map", "forward", "forward+backward", "models use the matmul"], rows))
        return
    layer_tables(a)


def layer_tables(a: argparse.Namespace) -> None:
    chans = widths(a.res, a.width, a.max_ch)
    ins = [chans[0], *chans[:-1]]
    dema_rows, branch_rows, block_rows = [], [], []
    for s, (ci, co) in enumerate(zip(ins, chans)):
        size = 4 * 2 ** s
        x = torch.randn(a.batch, ci, size, size)
        plain = DEMA(ci, fused=False)
        fused = copy.deepcopy(plain)
        fused.fused = True
        dema_rows.append(compare(f"DEMA {ci}ch", {"plain": plain, "fused": fused}, x, a.rounds, a.reps))
        block = GCTDRNBlock(ci, co, attention="none", norm="pixel", fuse="off")
        variants = {}
        for mode in ("off", "kernel", "auto"):
            variants[mode] = copy.deepcopy(block)
            variants[mode].fuse = mode
        branch_rows.append(compare(f"branches {ci}->{co}", variants, x, a.rounds, a.reps))
        plain_block = GCTDRNBlock(ci, co, norm="pixel", fuse="off", dema_kwargs={"fused": False})
        new_block = copy.deepcopy(plain_block)
        new_block.fuse, new_block.attn.fused = "auto", True
        block_rows.append(compare(f"GCTDRN+DEMA {ci}->{co}", {"plain": plain_block, "default": new_block}, x,
                                  a.rounds, a.reps))
    print(f"Machine: {machine()}; {a.threads} thread(s); batch {a.batch}; "
          "CPU ms per forward+backward (ratio to the first)")
    print(table(["layer", "input", "plain", "fused"], dema_rows))
    print()
    print(table(["layer", "input", "off (3 convs)", "kernel (mixed)", "auto"], branch_rows))
    print()
    print(table(["layer", "input", "plain", "default"], block_rows))


if __name__ == "__main__":
    main()
