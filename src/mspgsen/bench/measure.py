"""Measuring one run at one mark: its EMA generator against a reference (images), its mode coverage (toy mixtures),
and what its logs say about training (loss oscillation, final losses).

Kept apart from the runner so that every row of every suite is measured one way: the protocol of docs/metrics.md
(``n`` generated images from seed 1000 + run seed, against ``n`` reference images).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .suite import BUNDLED, HOLDOUT_TRAIN, IMAGE_METRICS, TOY, Suite


def reference_for(suite: Suite, source: str):
    """What generated images are compared with: a source name evaluate_images loads, or an ImageArray."""
    from ..config import load_config
    from ..data import ImageArray
    from ..data.prepare import prepare_training_data

    if suite.ref == "holdout":
        data = prepare_training_data(load_config("dcgan").data)  # bundled train split, padded as the models see it
        return ImageArray(data.images[HOLDOUT_TRAIN:], None, f"{BUNDLED}[holdout]", 0, [], list(data.notes))
    if suite.ref == "train" and source not in TOY:
        from ..config.schema import DataConfig

        data = prepare_training_data(DataConfig(source=source))
        return ImageArray(data.images, None, f"{source}[train]", 0, [], list(data.notes))
    return source


def data_space_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """Diagonal Frechet distance of raw coordinates or pixels, over the data's total variance (needs no network).

    Normalised globally rather than per dimension, so constant pixels (a padded border) do not dominate.
    """
    real, fake = real.reshape(len(real), -1).astype(np.float64), fake.reshape(len(fake), -1).astype(np.float64)
    num = ((real.mean(0) - fake.mean(0)) ** 2).sum() + ((real.std(0, ddof=1) - fake.std(0, ddof=1)) ** 2).sum()
    return float(num / (real.var(0, ddof=1).sum() + fake.var(0, ddof=1).sum() + 1e-12))


def real_in_model_range(suite: Suite, source: str, G):
    """The reference data as the generator's output looks: shaped like G's images, in [-1, 1] (points as they are)."""
    from ..data import fit_shape, load_source, to_model_range

    real = load_source(source, "test" if suite.ref == "test" else "train")
    if source not in TOY:
        real = fit_shape(real, G.resolution, G.channels)
    return to_model_range(real.images[HOLDOUT_TRAIN:] if suite.ref == "holdout" else real.images[:suite.n]).float()


def probe_quality(G, real, seed: int) -> float:
    """The trainer's quality probe (D-feature statistics distance) on the loaded networks: what the controllers
    steered by, measured the same way for runs with and without them."""
    from ..data.stream import Batch
    from ..engine.quality import QualityProbe

    n = 512 if real.ndim == 2 else 256
    pos = {"i": 0}

    def next_real() -> Batch:
        i = pos["i"]
        pos["i"] = (i + n) % max(len(real) - n, 1)
        return Batch(real[i:i + n], None)

    return float(QualityProbe("features", n, seed=seed).measure(G.method, next_real))


def log_metrics(rows: list[dict], wanted: list[str], upto: Optional[int] = None) -> dict:
    """Oscillation (sd of loss_g over the second half of the logged steps), mean losses over the last quarter, and
    what the controllers did to the knobs (highest and lowest lr_d / lr_g of the logged 10-step means; mean D
    updates per step). ``upto``: only the rows logged at or before that step (a mark the run has gone past)."""
    if upto is not None:
        rows = [r for r in rows if isinstance(r.get("step"), (int, float)) and r["step"] <= upto]
    out: dict = {}
    if "osc" in wanted:
        lg = [r["loss_g"] for r in rows[len(rows) // 2:] if isinstance(r.get("loss_g"), (int, float))]
        out["loss_g_osc"] = float(np.std(lg)) if len(lg) > 1 else None
    if "losses" in wanted:
        last = rows[-max(len(rows) // 4, 1):]
        for k in ("loss_d", "loss_g"):
            v = [r[k] for r in last if isinstance(r.get(k), (int, float))]
            out[k] = float(np.mean(v)) if v else None
    if "knobs" in wanted:
        ratios = [r["knob/lr_d"] / r["knob/lr_g"] for r in rows
                  if isinstance(r.get("knob/lr_d"), (int, float)) and isinstance(r.get("knob/lr_g"), (int, float))
                  and r["knob/lr_g"] > 0]
        d_steps = [r["knob/d_steps"] for r in rows if isinstance(r.get("knob/d_steps"), (int, float))]
        out["lr_ratio_max"] = float(max(ratios)) if ratios else None
        out["lr_ratio_min"] = float(min(ratios)) if ratios else None
        out["d_steps_mean"] = float(np.mean(d_steps)) if d_steps else None
    return out


def measure(G, suite: Suite, source: str, seed: int, rows: list[dict], reference=None) -> dict:
    """The suite's metrics of one loaded generator; ``rows`` are the run's stats.jsonl lines up to now."""
    from ..metrics.cli import sample_run

    out: dict = {}
    fake = sample_run(G, suite.n, seed=1000 + seed)
    image = [m for m in suite.metrics if m in IMAGE_METRICS]
    if image:
        from ..metrics.evaluate import evaluate_images

        ref = reference if reference is not None else reference_for(suite, source)
        m = evaluate_images(fake, ref, image, n=suite.n, split="test", threads=suite.threads, device=str(G.device.type))
        out.update({k: m.get(k) for k in ("fid", "kid", "precision", "recall", "density", "coverage", "cls_score",
                                           "cls_classes_covered") if k in m})
        out["ref"] = m.get("ref")
    if "modes" in suite.metrics:
        from ..metrics.modes import toy_mode_coverage

        cov = toy_mode_coverage(np.asarray(fake), source)
        out.update(modes=int(cov["modes_covered"]), num_modes=int(cov["num_modes"]), hq=float(cov["hq_share"]))
    if "data_dist" in suite.metrics or "d_quality" in suite.metrics:
        real_x = real_in_model_range(suite, source, G)
    if "data_dist" in suite.metrics:
        fake_x = np.asarray(fake, dtype=np.float64) if fake.dtype != np.uint8 else fake.astype(np.float64) / 127.5 - 1
        out["data_dist"] = data_space_distance(real_x.double().numpy(), fake_x)
    if "d_quality" in suite.metrics:
        out["d_quality"] = probe_quality(G, real_x, seed)
    out.update(log_metrics(rows, suite.metrics))
    return out
