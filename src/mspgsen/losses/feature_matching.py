"""Feature matching loss (eq 12): ``sum_i 1/N_i * ||phi_i(x) - phi_i(G(z))||_2^2``.

``phi_i`` are D's intermediate feature maps (``D(xs, y, features=True)``). ``N_i`` is the number of elements of
layer i's map per sample, so each layer counts by its mean square error. The paper does not say whether the features
are compared per sample or as batch means; the project compares batch means (as Salimans et al.'s feature matching
does), since real and fake samples are not paired: matching per sample would ask G to copy the particular real images
of the batch.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch


def feature_matching_loss(real_feats: Sequence[torch.Tensor], fake_feats: Sequence[torch.Tensor]) -> torch.Tensor:
    """Eq (12) over layers; real features are detached (the loss trains G only). Returns a float32 scalar."""
    if len(real_feats) != len(fake_feats) or not real_feats:
        raise ValueError(f"feature_matching_loss needs the same non-zero number of real and fake feature maps, got "
                         f"{len(real_feats)} and {len(fake_feats)}")
    total = real_feats[0].new_zeros((), dtype=torch.float32)
    for r, f in zip(real_feats, fake_feats):
        if r.shape[1:] != f.shape[1:]:
            raise ValueError(f"feature_matching_loss: layer shapes differ, {tuple(r.shape[1:])} vs "
                             f"{tuple(f.shape[1:])}")
        diff = r.detach().float().mean(dim=0) - f.float().mean(dim=0)
        total = total + diff.pow(2).mean()  # eq (12): 1/N_i * ||phi_i(x) - phi_i(G(z))||^2
    return total
