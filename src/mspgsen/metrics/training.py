"""The periodic measurement the trainer makes every ``cfg.eval.every_kimg`` kimg (best checkpoint follows it).

It uses a smaller sample than a final evaluation (``cfg.eval.n``, default 1000), so its FID is biased upwards
against a 10k/50k evaluation and is meant for comparing checkpoints of one run, not for papers.
The Inception network and the reference features are loaded once and reused across calls.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from .evaluate import evaluate_images
from .features import to_uint8
from .modes import toy_mode_coverage
from .reference import Reference, load_reference

_REFS: dict[tuple, Reference] = {}


def _reference(cfg: Any, resolution: int, channels: int, n: int) -> Reference:
    source = cfg.eval.ref or cfg.data.source
    key = (source, resolution, channels, n)
    if key not in _REFS:
        _REFS[key] = load_reference(source, "test", resolution, channels, n, seed=0)
    return _REFS[key]


def _device(cfg: Any) -> str:
    want = str(getattr(getattr(cfg, "train", None), "device", "cpu") or "cpu")
    return "cuda" if want != "cpu" and torch.cuda.is_available() else "cpu"


def measure_during_training(generate_fn: Callable[[int], torch.Tensor], cfg: Any, n: int) -> dict[str, float]:
    """Numbers for the log and the best-checkpoint choice (lower is better for ``cfg.eval.metric``).

    ``generate_fn(n)`` returns images, uint8 or in [-1, 1], (n, C, H, W); or (n, 2) points for toy mixtures, for
    which mode coverage is returned instead (``modes_missed`` is the lower-is-better number).
    """
    out = generate_fn(n)
    x = torch.as_tensor(out).detach().cpu()
    if x.ndim == 2:  # toy mixture points
        r = toy_mode_coverage(x.numpy(), cfg.eval.ref or cfg.data.source)
        return {"modes_covered": float(r["modes_covered"]), "modes_missed": float(r["num_modes"] - r["modes_covered"]),
                "hq_share": r["hq_share"]}
    imgs = to_uint8(x).numpy()
    metric = str(getattr(cfg.eval, "metric", "fid")).lower()
    wanted = ["fid"] + (["kid"] if metric == "kid" else [])
    ref = _reference(cfg, imgs.shape[-1], imgs.shape[1], n)
    res = evaluate_images(imgs, ref, wanted, n=n, batch_size=int(getattr(cfg.eval, "batch_size", 50)),
                          device=_device(cfg), kid_subset_size=min(1000, n))
    return {k: float(v) for k, v in res.items() if k in ("fid", "kid", "kid_std") and isinstance(v, (int, float, np.floating))}
