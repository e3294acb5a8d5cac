"""2-D Gaussian mixtures used to count modes (protocols of VEEGAN and PacGAN).

ring8: 8 modes evenly on a circle of radius 1, std 0.01.  grid25: 25 modes on {-4,-2,0,2,4}^2, std 0.05.
"""
from __future__ import annotations

import numpy as np

MIXTURES = {"ring8": 0.01, "grid25": 0.05}


def mixture_centers(name: str) -> np.ndarray:
    if name == "ring8":
        a = np.arange(8) * (2 * np.pi / 8)
        return np.stack([np.cos(a), np.sin(a)], 1).astype(np.float64)
    if name == "grid25":
        g = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
        return np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    raise KeyError(name)


def mixture_sigma(name: str) -> float:
    return MIXTURES[name]


def sample_mixture(name: str, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n points of the mixture (float32 (n, 2)) and the index of the mode each came from."""
    rng = np.random.default_rng(seed)
    centers = mixture_centers(name)
    k = rng.integers(0, len(centers), size=n)
    pts = centers[k] + rng.normal(0.0, mixture_sigma(name), size=(n, 2))
    return pts.astype(np.float32), k.astype(np.int64)
