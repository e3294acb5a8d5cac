"""Feature matching (paper eq 12): G matches the mean of D's intermediate features on real data."""
from __future__ import annotations

import torch

Tensor = torch.Tensor


def feature_matching(real_feats: list[Tensor], fake_feats: list[Tensor]) -> Tensor:
    """sum_i 1/N_i ||E[phi_i(x)] - E[phi_i(G(z))]||^2  (eq 12), N_i = size of the i-th feature vector.

    The expectation over the batch is taken before the distance (Salimans et al.'s form): pairing individual
    real and fake samples would ask G to copy particular images.
    """
    if len(real_feats) != len(fake_feats):
        raise ValueError("real and fake feature lists differ in length")
    total = fake_feats[0].new_zeros(())
    for r, f in zip(real_feats, fake_feats):
        mr = r.detach().flatten(1).mean(0)
        mf = f.flatten(1).mean(0)
        total = total + (mr - mf).pow(2).sum() / mr.numel()  # eq (12)
    return total
