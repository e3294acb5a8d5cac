"""k-NN manifold metrics on features: precision and recall (Kynkaanniemi et al. 2019, k=3) and density and
coverage (Naeem et al. 2020, k=5).

Each real (fake) sample gets a ball whose radius is the distance to its k-th nearest other real (fake) sample.
precision: share of fakes inside some real ball; recall: share of reals inside some fake ball; density: mean
number of real balls (k_dc radius) holding each fake, divided by k_dc; coverage: share of reals whose ball holds
at least one fake. Distances are Euclidean, float64, computed block by block so memory stays at one
``chunk x N`` block and the result does not depend on the block size.
"""
from __future__ import annotations

import numpy as np
import torch


def _kth_radius(x: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    """Distance of each row of x to its k-th nearest other row (self, at distance 0, is skipped)."""
    out = torch.empty(len(x), dtype=torch.float64)
    for i in range(0, len(x), chunk):
        d = torch.cdist(x[i : i + chunk], x)
        out[i : i + chunk] = d.kthvalue(k + 1, dim=1).values
    return out


def prdc(real: np.ndarray, fake: np.ndarray, k_pr: int = 3, k_dc: int = 5, chunk: int = 512) -> dict[str, float]:
    """precision, recall (k_pr) and density, coverage (k_dc) of fake features against real features."""
    r = torch.as_tensor(np.asarray(real), dtype=torch.float64)
    f = torch.as_tensor(np.asarray(fake), dtype=torch.float64)
    kmax = max(k_pr, k_dc)
    if len(r) <= kmax or len(f) <= k_pr:
        raise ValueError(f"precision/recall/density/coverage need more than {kmax} samples per set")
    # one kthvalue pass per k keeps this simple; radii are cheap next to the real x fake block
    r_pr, r_dc = _kth_radius(r, k_pr, chunk), _kth_radius(r, k_dc, chunk)
    f_pr = _kth_radius(f, k_pr, chunk)
    in_real = torch.zeros(len(f), dtype=torch.bool)  # fake j inside some real k_pr-ball
    density_count = torch.zeros(len(f), dtype=torch.float64)
    real_in_fake = torch.zeros(len(r), dtype=torch.bool)  # real i inside some fake k_pr-ball
    nn_fake = torch.full((len(r),), float("inf"), dtype=torch.float64)  # distance of real i to its nearest fake
    for j in range(0, len(f), chunk):
        d = torch.cdist(f[j : j + chunk], r)  # (c, N_real)
        in_real[j : j + chunk] = (d <= r_pr[None]).any(1)
        density_count[j : j + chunk] = (d <= r_dc[None]).sum(1).double()
        real_in_fake |= (d <= f_pr[j : j + chunk, None]).any(0)
        nn_fake = torch.minimum(nn_fake, d.min(0).values)
    return {
        "precision": float(in_real.double().mean()),
        "recall": float(real_in_fake.double().mean()),
        "density": float(density_count.sum() / (k_dc * len(f))),
        "coverage": float((nn_fake <= r_dc).double().mean()),
    }
