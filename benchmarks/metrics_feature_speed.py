"""Feature-extraction speed: our plain FID Inception (BN folded, channels_last) vs the TorchScript file as shipped.

Both get the same uint8 32x32 images, resized to 299 by our preprocessing; images/s at 1 and 2 threads.
On a shared machine, read the load average printed with the table: another process on the second core can
make 2 threads slower than 1.

    PYTHONPATH=src python benchmarks/metrics_feature_speed.py --images 32 --batch-size 16
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import time

import torch

from mspgsen.metrics.inception import preprocess
from mspgsen.metrics.weights import default_weights_path, load_fid_inception


def rate(fn, x: torch.Tensor, batch: int, repeats: int) -> float:
    with torch.no_grad():
        fn(preprocess(x[:batch]))  # warm-up
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            for i in range(0, len(x), batch):
                fn(preprocess(x[i : i + batch]))
            best = min(best, time.perf_counter() - t)
    return len(x) / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    x = torch.randint(0, 256, (args.images, 3, 32, 32), dtype=torch.uint8)
    ours, _ = load_fid_inception()
    scripted = torch.jit.load(str(default_weights_path()), map_location="cpu").eval()
    rows = []
    for th in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(th)
        r_ours = rate(ours, x, args.batch_size, args.repeats)
        r_ts = rate(lambda t: scripted(t.contiguous()), x, args.batch_size, args.repeats)
        rows.append((th, r_ours, r_ts))
    print(f"{platform.machine()} {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, torch {torch.__version__}, "
          f"{datetime.date.today()}, {args.images} images 32x32 -> 299, batch {args.batch_size}, best of {args.repeats}\n")
    print("| threads | ours (plain, channels_last) img/s | TorchScript as shipped img/s | speed-up |")
    print("|---|---|---|---|")
    for th, a, b in rows:
        print(f"| {th} | {a:.1f} | {b:.1f} | {a / b:.2f}x |")


if __name__ == "__main__":
    main()
