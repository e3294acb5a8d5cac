"""Training and generation images/s of each preset, at 1 and 2 CPU threads, on the bundled data.

    python benchmarks/throughput.py [--presets dcgan,wgan-gp] [--threads 1,2] [--seconds 20]

Each preset trains through its own method (``Method.step``: WGAN-GP's five critic steps, a CFG stage... all
count), after a warm-up, for about ``--seconds``; images/s counts the real images the method consumed.
Generation is a batch of 64 from G (no gradients). Presets are measured one after the other in the same process,
so their ratios are comparable; absolute numbers depend on what else the machine is doing.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, table  # noqa: E402

from mspgsen.config import load_config, preset_names  # noqa: E402
from mspgsen.data import DataStream, make_sampler  # noqa: E402
from mspgsen.data.prepare import prepare_training_data  # noqa: E402
from mspgsen.engine.build import build_method, data_spec  # noqa: E402


def measure(preset: str, threads: int, seconds: float, overrides: list[str]) -> tuple[float, float, float]:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = load_config(preset, overrides)
    data = prepare_training_data(cfg.data)
    method = build_method(cfg, data_spec(cfg, data), torch.device("cpu"))
    knobs = method.initial_knobs()
    stream = DataStream(data.images, data.labels, cfg.train.batch_size, make_sampler(len(data), 0))
    method.step(stream, knobs)  # warm-up
    start_imgs, t0, steps = stream.images_seen, time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds or steps < 2:
        method.step(stream, knobs)
        steps += 1
    train_ips = (stream.images_seen - start_imgs) / (time.perf_counter() - t0)
    G = method.G.eval()
    z = torch.randn(64, G.z_dim)
    y = torch.arange(64) % G.num_classes if G.num_classes else None
    with torch.no_grad():
        method.generate(G, z, y)
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < seconds / 4 or n < 2:
            method.generate(G, z, y)
            n += 1
    gen_ips = 64 * n / (time.perf_counter() - t0)
    return train_ips, gen_ips, steps / max(time.perf_counter() - t0, 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default=",".join(p for p in preset_names()), help="comma-separated presets")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--seconds", type=float, default=20.0, help="measuring time per preset and thread count")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="config override for every preset")
    a = ap.parse_args()
    rows = []
    for preset in a.presets.split(","):
        for th in (int(t) for t in a.threads.split(",")):
            tr, gen, _ = measure(preset, th, a.seconds, a.overrides)
            rows.append([preset, th, tr, gen])
            print(f"  {preset} @ {th} threads: train {tr:.1f} img/s, generate {gen:.1f} img/s", file=sys.stderr)
    base = {r[1]: r[2] for r in rows if r[0] == "dcgan"}
    for r in rows:
        r.append(r[2] / base[r[1]] if r[1] in base else float("nan"))
    print(f"Machine: {machine()}")
    print(table(["preset", "threads", "train img/s", "generate img/s", "train vs dcgan"], rows))


if __name__ == "__main__":
    main()
