"""Decode speed of an image folder, first load (decode + resize + crop) vs. the .npz cache on the second load.

Writes N JPEGs of 178x218 (CelebA's aligned size) into a temporary folder and prints a table.
Usage: OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/data_folder.py [N] [RESOLUTION]
"""
from __future__ import annotations

import datetime
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    res = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MSPGSEN_CACHE"] = str(Path(tmp) / "cache")
        from mspgsen.data import folder

        folder.CACHE_MIN_FILES = 0
        src = Path(tmp) / "faces"
        src.mkdir()
        rng = np.random.default_rng(0)
        base = rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)
        for i in range(n):
            Image.fromarray(np.roll(base, i, axis=1)).save(src / f"{i:06d}.jpg", quality=90)
        rows = []
        for label in ("first load (decode, resize, crop)", "second load (npz cache)"):
            t = time.perf_counter()
            d = folder.load_image_folder(src, resolution=res)
            dt = time.perf_counter() - t
            rows.append((label, len(d), dt, len(d) / dt))
    print(f"# image folder load, {n} JPEGs 178x218 -> {res}x{res}; {platform.processor() or platform.machine()}, "
          f"threads OMP={os.environ.get('OMP_NUM_THREADS', '?')}, {datetime.date.today()}")
    print("| load | images | seconds | images/s |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.2f} | {r[3]:.0f} |")


if __name__ == "__main__":
    main()
