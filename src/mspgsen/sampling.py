"""Latents and labels for sampling a trained generator, shared by the CLI verbs and the Python API."""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from .errors import MspgsenError

_ROUNDS = 200  # redraw rounds before the few entries still outside are drawn uniformly inside (tiny psi only)


def check_trunc(trunc: Optional[float]) -> None:
    if trunc is not None and not trunc > 0:
        raise MspgsenError(f"--trunc must be a positive psi such as 0.7 (smaller: more typical, less varied images), got {trunc}.")


def truncated_randn(dim: int, seed: int, trunc: Optional[float] = None) -> torch.Tensor:
    """A standard normal vector from its own seeded generator, optionally truncated to [-trunc, trunc].

    Truncation redraws only the entries outside the interval, so the same seed with and without ``trunc`` share
    every entry already inside. After many rounds (psi far below 0.1) the last few are drawn uniformly in the
    interval, where the truncated density is nearly flat anyway.
    """
    check_trunc(trunc)
    g = torch.Generator().manual_seed(int(seed))
    z = torch.randn(dim, generator=g)
    if trunc is None:
        return z
    for _ in range(_ROUNDS):
        bad = z.abs() > trunc
        if not bad.any():
            return z
        z[bad] = torch.randn(int(bad.sum()), generator=g)
    bad = z.abs() > trunc
    z[bad] = (torch.rand(int(bad.sum()), generator=g) * 2 - 1) * trunc
    return z


def label_tensor(handle, labels: Optional[Sequence[int]], n: int, offset: int = 0) -> Optional[torch.Tensor]:
    """Class labels for ``n`` images of a conditional model (``labels`` cycled; default 0, 1, 2, ...), checked."""
    if not handle.num_classes:
        if labels:
            raise MspgsenError("Labels were given but this model is unconditional.")
        return None
    vals = list(labels) if labels else list(range(handle.num_classes))
    bad = [v for v in vals if not 0 <= v < handle.num_classes]
    if bad:
        raise MspgsenError(f"Labels {bad} are out of range: this model has classes 0..{handle.num_classes - 1}.")
    return torch.tensor([vals[(offset + i) % len(vals)] for i in range(n)], device=handle.device)
