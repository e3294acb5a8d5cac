"""Make the bundled class-balanced Fashion-MNIST subset from the full IDX files.

    apt-get install dataset-fashion-mnist      # puts the files in /usr/share/datasets/fashion-mnist
    python scripts/make_bundled_subset.py      # writes src/mspgsen/data/bundled/fashion_mnist_subset.npz

The subset takes the first 600 train and 100 test images of each of the 10 classes (file order), so it is the
same on every machine; the sha256 of the output is printed so a re-run can be compared.
"""
from __future__ import annotations

import argparse
import hashlib
import io
from pathlib import Path

import numpy as np

from mspgsen.data.idx import read_idx


def balanced(labels: np.ndarray, per_class: int) -> np.ndarray:
    idx = [np.flatnonzero(labels == c)[:per_class] for c in range(10)]
    return np.sort(np.concatenate(idx))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "src/mspgsen/data/bundled/fashion_mnist_subset.npz"))
    ap.add_argument("--train-per-class", type=int, default=600)
    ap.add_argument("--test-per-class", type=int, default=100)
    a = ap.parse_args()
    src = Path(a.src)
    arrays = {}
    for split, prefix, k in (("train", "train", a.train_per_class), ("test", "t10k", a.test_per_class)):
        x = read_idx(src / f"{prefix}-images-idx3-ubyte.gz")
        y = read_idx(src / f"{prefix}-labels-idx1-ubyte.gz")
        keep = balanced(y, k)
        arrays[f"x_{split}"] = x[keep]
        arrays[f"y_{split}"] = y[keep].astype(np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_bytes(buf.getvalue())
    print(f"wrote {a.out}: {len(buf.getvalue()) / 1e6:.2f} MB, sha256 {hashlib.sha256(buf.getvalue()).hexdigest()}")
    for k, v in arrays.items():
        print(f"  {k}: {v.shape} {v.dtype}")


if __name__ == "__main__":
    main()
