"""FID scale on the bundled Fashion-MNIST subset: what real-vs-real, blurred and noise images score.

Reference: a seeded subset of n train-split images (n = 1000 and 5000), padded to 32x32 like a generator's output.
Compared sets (1000 images each, the size of the test split): the test split; the test split blurred (Gaussian,
sigma 1 px); uniform noise. Prints a Markdown table and writes JSON next to it with --json.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/metrics_fid_scale.py --threads 1 --json fid_scale.json
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F

from mspgsen.metrics.evaluate import feature_metrics
from mspgsen.metrics.features import InceptionFeatures
from mspgsen.metrics.reference import load_reference, reference_features


def blur(images: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    r = int(np.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    x = torch.from_numpy(images).float()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    x = F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return x.round().clamp(0, 255).to(torch.uint8).numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="fashion-mnist-subset")
    ap.add_argument("--sizes", default="1000,5000")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=50)
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")]
    t0 = time.time()
    ext = InceptionFeatures(batch_size=args.batch_size, threads=args.threads, show_progress=True)
    test = load_reference(args.source, "test", resolution=32)
    others = {
        "test split": test.data.images,
        "test split, blurred (sigma 1 px)": blur(test.data.images),
        "uniform noise": np.random.default_rng(0).integers(0, 256, test.data.images.shape, dtype=np.uint8),
    }
    feats = {}
    for name, imgs in others.items():
        ref = load_reference(test.data.__class__(imgs, name=name), resolution=32)  # cache by content
        ref.source = name
        feats[name] = reference_features(ref, ext)
    rows = []
    for n in sizes:
        ref = load_reference(args.source, "train", resolution=32, n=n, seed=0)
        real = reference_features(ref, ext)
        for name, f in feats.items():
            m = feature_metrics(real, f, ["fid", "kid", "pr", "dc"])
            rows.append({"compared": name, "n_ref": len(real), "n_other": len(f), **m})
            print(rows[-1], flush=True)
    info = {"command": "python benchmarks/metrics_fid_scale.py " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v != ""),
            "machine": f"{platform.machine()} {platform.processor() or ''} ({torch.get_num_threads()} torch threads)".strip(),
            "torch": torch.__version__, "date": datetime.date.today().isoformat(), "seconds": round(time.time() - t0),
            "extractor": ext.extractor_id, "rows": rows}
    print(f"\nreference: seeded train subset of {args.source}, 32x32; {info['machine']}; torch {info['torch']}; {info['date']}\n")
    print("| compared with train reference | n ref | n other | FID | KID x1000 | precision | recall | density | coverage |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['compared']} | {r['n_ref']} | {r['n_other']} | {r['fid']:.2f} | {1000 * r['kid']:.2f} | {r['precision']:.3f} | "
              f"{r['recall']:.3f} | {r['density']:.3f} | {r['coverage']:.3f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(info, f, indent=1)


if __name__ == "__main__":
    main()
