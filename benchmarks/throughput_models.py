"""Parameters, FLOPs per image and training images/s of model presets side by side (one CPU thread by default).

    PYTHONPATH=src python benchmarks/throughput_models.py                      # dcgan, msggan, mspgsen at 32 and 64
    PYTHONPATH=src python benchmarks/throughput_models.py --presets mspgsen --set model.separable=true

FLOPs are counted by torch.utils.flop_counter.FlopCounterMode (convolutions and matrix products, the bulk of the
work; element-wise operations are not counted), for G's forward per image and for one whole training step of the
preset's method per real image (D and G updates, penalties and auxiliary networks included). Images/s counts real
images consumed per second of training steps, after warm-up steps. Data are random tensors, so the figures measure
the networks and the method, not data loading.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

from mspgsen.config.loading import load_config  # noqa: E402
from mspgsen.data.stream import Batch  # noqa: E402
from mspgsen.engine.build import build_method  # noqa: E402
from mspgsen.models.base import DataSpec, count_parameters  # noqa: E402


class RandomStream:
    """Stands in for DataStream: random images in [-1, 1] of one shape."""

    def __init__(self, batch: int, channels: int, res: int) -> None:
        self.x = torch.rand(batch, channels, res, res) * 2 - 1

    def next(self) -> Batch:
        return Batch(self.x.clone())


def measure(preset: str, res: int, channels: int, batch: int, steps: int, warmup: int, overrides: list[str]) -> dict:
    torch.manual_seed(0)
    cfg = load_config(preset, [f"data.resolution={res}", f"train.batch_size={batch}", *overrides])
    method = build_method(cfg, DataSpec(res, channels), torch.device("cpu"))
    stream = RandomStream(batch, channels, res)
    knobs = method.initial_knobs()
    params = {k: count_parameters(v) for k, v in method.nets.items()}
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        method.G(torch.randn(batch, method.G.z_dim))
    g_flops = fc.get_total_flops() / batch
    for _ in range(warmup):
        method.step(stream, knobs)
    with FlopCounterMode(display=False) as fc:
        method.step(stream, knobs)
    per_step_images = batch * max(1, knobs.d_steps)
    step_flops = fc.get_total_flops() / per_step_images
    t0 = time.perf_counter()
    for _ in range(steps):
        method.step(stream, knobs)
    dt = time.perf_counter() - t0
    return {"preset": preset, "res": res, "G": params.get("G", 0), "D": params.get("D", 0),
            "other": sum(v for k, v in params.items() if k not in ("G", "D")),
            "g_gflop": g_flops / 1e9, "step_gflop": step_flops / 1e9, "img_s": per_step_images * steps / dt}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["dcgan", "msggan", "mspgsen"])
    ap.add_argument("--res", nargs="+", type=int, default=[32, 64])
    ap.add_argument("--channels", type=int, default=1, help="image channels (the bundled data has 1)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], help="override applied to every preset, e.g. model.width=8")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(f"# {machine()} | threads {torch.get_num_threads()} | batch {a.batch} | channels {a.channels}")
    print(f"# overrides: {a.set or 'none'}")
    print(f"{'preset':<16}{'res':>5}{'G params':>11}{'D params':>11}{'other':>9}{'G GFLOP/img':>13}"
          f"{'step GFLOP/img':>16}{'img/s':>9}{'vs dcgan':>10}")
    base: dict[int, float] = {}
    for res in a.res:
        for p in a.presets:
            r = measure(p, res, a.channels, a.batch, a.steps, a.warmup, a.set)
            if p == "dcgan":
                base[res] = r["img_s"]
            rel = f"{r['img_s'] / base[res]:.2f}x" if res in base else "-"
            print(f"{p:<16}{res:>5}{r['G']:>11,}{r['D']:>11,}{r['other']:>9,}{r['g_gflop']:>13.4f}"
                  f"{r['step_gflop']:>16.4f}{r['img_s']:>9.1f}{rel:>10}", flush=True)


if __name__ == "__main__":
    main()
