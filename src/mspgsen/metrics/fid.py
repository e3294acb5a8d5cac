"""Fréchet Inception Distance and Kernel Inception Distance from features (float64 throughout).

FID = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)).  The trace of the square root is computed from the
symmetric matrix A = S1^(1/2) S2 S1^(1/2), which has the same eigenvalues as S1 S2 but is symmetric positive
semi-definite, so ``eigh`` is exact up to rounding and no complex parts or retries are needed (the usual
``scipy.linalg.sqrtm`` of the non-symmetric product can return complex values for near-singular covariances,
e.g. when there are fewer samples than the 2048 feature dimensions).

KID is the unbiased squared MMD with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random
subsets (Binkowski et al. 2018); subsets are drawn from a seeded generator, so the result is deterministic.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class GaussianStats:
    mu: np.ndarray  # (d,) float64
    sigma: np.ndarray  # (d, d) float64
    n: int


def gaussian_stats(features: np.ndarray) -> GaussianStats:
    """Mean and unbiased covariance (ddof=1) of (N, d) features, in float64."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"need at least 2 feature vectors of shape (N, d), got {f.shape}")
    return GaussianStats(f.mean(0), np.cov(f, rowvar=False), len(f))


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def trace_sqrt_product(s1: np.ndarray, s2: np.ndarray, factor1: np.ndarray | None = None) -> float:
    """tr((S1 S2)^(1/2)) for symmetric PSD S1, S2.

    With ``factor1`` = A such that S1 = A^T A (A is (n, d), n < d: centred features / sqrt(n - 1)), the non-zero
    eigenvalues of S1 S2 are those of the small symmetric A S2 A^T, so no d x d decomposition is needed.
    """
    if factor1 is not None:
        a = factor1 @ s2 @ factor1.T
    else:
        r = _psd_sqrt(s1)
        a = r @ s2 @ r
    w = np.linalg.eigvalsh((a + a.T) / 2)
    return float(np.sqrt(np.clip(w, 0, None)).sum())


def frechet_distance(a: GaussianStats, b: GaussianStats) -> float:
    diff = a.mu - b.mu
    d = float(diff @ diff + np.trace(a.sigma) + np.trace(b.sigma) - 2 * trace_sqrt_product(a.sigma, b.sigma))
    return max(d, 0.0)


def fid_from_features(f1: np.ndarray, f2: np.ndarray) -> float:
    """FID of two feature sets; when one set has fewer samples than dimensions, its low-rank factor is used."""
    a, b = gaussian_stats(f1), gaussian_stats(f2)
    if min(a.n, b.n) >= a.mu.shape[0]:
        return frechet_distance(a, b)
    if b.n < a.n:
        a, b, f1, f2 = b, a, f2, f1
    factor = (np.asarray(f1, dtype=np.float64) - a.mu) / np.sqrt(a.n - 1)
    diff = a.mu - b.mu
    d = float(diff @ diff + np.trace(a.sigma) + np.trace(b.sigma) - 2 * trace_sqrt_product(a.sigma, b.sigma, factor))
    return max(d, 0.0)


def _poly_mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    m, n = len(x), len(y)
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sxx + syy - 2 * kxy.mean())


def kid_from_features(f1: np.ndarray, f2: np.ndarray, subsets: int = 100, subset_size: int = 1000,
                      seed: int = 0) -> tuple[float, float]:
    """(mean, std) over subsets of the unbiased polynomial-kernel MMD^2; subset size is capped by the smaller set."""
    x = np.asarray(f1, dtype=np.float64)
    y = np.asarray(f2, dtype=np.float64)
    m = min(subset_size, len(x), len(y))
    if m < 2:
        raise ValueError("KID needs at least 2 samples in each set")
    rng = np.random.default_rng(seed)
    vals = np.array([_poly_mmd2_unbiased(x[rng.choice(len(x), m, replace=False)], y[rng.choice(len(y), m, replace=False)])
                     for _ in range(max(1, subsets))])
    return float(vals.mean()), float(vals.std())
