"""Mode counting: 2-D toy mixtures (ring of 8, grid of 25) and stacked 10-class data (1000 modes).

The toy protocol follows VEEGAN / PacGAN: a mode is *covered* when at least one generated point lies within
3 standard deviations of its centre, and a point is *high quality* (HQ) when it lies within 3 standard deviations
of some centre. Counting with a minimum number of points per mode is possible (``min_count``) because some papers
ask for more than one; the default of 1 is the common reading.
"""
from __future__ import annotations

import numpy as np

from ..data.toy import MIXTURES, mixture_centers, mixture_sigma
from ..errors import DataError


def assign_to_modes(points: np.ndarray, centers: np.ndarray, radius: float) -> np.ndarray:
    """Index of the nearest centre for each point, or -1 when the nearest centre is farther than ``radius``."""
    pts = np.asarray(points, dtype=np.float64)
    d2 = ((pts[:, None, :] - centers[None, :, :]) ** 2).sum(-1)
    nearest = d2.argmin(1)
    ok = d2[np.arange(len(pts)), nearest] <= radius * radius
    return np.where(ok, nearest, -1)


def toy_mode_coverage(points: np.ndarray, mixture: str, n_sigma: float = 3.0, min_count: int = 1) -> dict:
    """Modes covered and high-quality share of 2-D samples from a generator trained on ``mixture``.

    Returns ``modes_covered`` (int), ``num_modes`` (int), ``hq_share`` (float in [0, 1]) and
    ``mode_counts`` (list of HQ points per mode, for histograms).
    """
    if mixture not in MIXTURES:
        raise DataError(f"Unknown toy mixture '{mixture}'; use one of {', '.join(MIXTURES)}.")
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise DataError(f"Toy mode coverage needs points of shape (N, 2), got {pts.shape}; pass generator outputs unflattened.")
    centers = mixture_centers(mixture)
    if len(pts) == 0:
        return {"modes_covered": 0, "num_modes": len(centers), "hq_share": 0.0, "mode_counts": [0] * len(centers)}
    finite = np.isfinite(pts).all(1)
    idx = np.full(len(pts), -1)
    if finite.any():
        idx[finite] = assign_to_modes(pts[finite], centers, n_sigma * mixture_sigma(mixture))
    counts = np.bincount(idx[idx >= 0], minlength=len(centers))
    return {
        "modes_covered": int((counts >= min_count).sum()),
        "num_modes": int(len(centers)),
        "hq_share": float((idx >= 0).mean()),
        "mode_counts": counts.tolist(),
    }


def stacked_mode_coverage(digit_labels: np.ndarray, num_classes: int = 10) -> dict:
    """Modes covered and KL(generated mode histogram || uniform) for stacked data.

    ``digit_labels`` is (N, K): the classifier's label for each of the K stacked channels (K = 3 for stacked MNIST,
    giving ``num_classes ** K`` = 1000 modes). The KL follows the usual stacked-MNIST protocol (VEEGAN, PacGAN):
    KL(p_model || uniform) = sum p log(p * M), natural log.
    """
    lab = np.asarray(digit_labels, dtype=np.int64)
    if lab.ndim != 2:
        raise DataError(f"Stacked mode coverage needs labels of shape (N, K), got {lab.shape}.")
    k = lab.shape[1]
    num_modes = num_classes**k
    if len(lab) == 0:
        return {"modes_covered": 0, "num_modes": num_modes, "kl_to_uniform": float("inf")}
    code = np.zeros(len(lab), dtype=np.int64)
    for j in range(k):
        code = code * num_classes + lab[:, j]
    counts = np.bincount(code, minlength=num_modes).astype(np.float64)
    p = counts / counts.sum()
    nz = p > 0
    kl = float((p[nz] * np.log(p[nz] * num_modes)).sum())
    return {"modes_covered": int(nz.sum()), "num_modes": int(num_modes), "kl_to_uniform": kl}
