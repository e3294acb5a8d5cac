"""The health of a run: what counts as diverged, checked before anything is written.

Divergence does not always show as NaN. With absurd learning rates a GAN's losses and weights grow past any
sensible size while staying finite, and BatchNorm's running variance overflows to infinity; saving such a state
and pruning the earlier checkpoints would lose the run. The rule (documented in docs/architecture.md):

* every loss the method reports is finite and at most :data:`LOSS_LIMIT` in magnitude, checked every step;
* every floating-point parameter and buffer of the networks, of G's EMA and of the optimizer states is finite
  and at most :data:`WEIGHT_LIMIT` in magnitude, checked before each checkpoint is written.

A healthy GAN sits many orders of magnitude below both limits (losses are O(1) to O(1e3) even for WGAN critics,
weights O(1) to O(1e2)), so a breach means the run has left training, not that it is training hard.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Optional

import torch

LOSS_LIMIT = 1e8  # largest |loss| a training step may report
WEIGHT_LIMIT = 1e8  # largest |value| a parameter, buffer, EMA or optimizer moment may hold


def bad_loss(stats: dict[str, float]) -> Optional[tuple[str, float]]:
    """The first loss that is not finite or exceeds :data:`LOSS_LIMIT`, with its value; None when all are sane."""
    for k, v in stats.items():
        if k.startswith("loss") and (not math.isfinite(v) or abs(v) > LOSS_LIMIT):
            return k, v
    return None


def _tensors(obj: Any, prefix: str) -> Iterable[tuple[str, torch.Tensor]]:
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _tensors(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _tensors(v, f"{prefix}[{i}]")


def bad_tensor(state: dict) -> Optional[tuple[str, str]]:
    """The first floating tensor in ``state`` that is not finite or exceeds :data:`WEIGHT_LIMIT`, and what is wrong."""
    for name, t in _tensors(state, ""):
        if not t.is_floating_point() or t.numel() == 0:
            continue
        finite = torch.isfinite(t)
        if not bool(finite.all()):
            return name, "holds inf or NaN"
        peak = float(t.detach().abs().max())
        if peak > WEIGHT_LIMIT:
            return name, f"reached {peak:.3g}"
    return None
