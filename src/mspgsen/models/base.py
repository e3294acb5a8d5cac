"""The contract every G/D family follows, and the registry that builds them by name.

Conventions (shared by single- and multi-scale families, so one method trains both):

* ``G(z, y=None) -> list[Tensor]``: images in [-1, 1] ordered coarse to fine; the last is full resolution.
  Single-scale generators return a list of one. ``G(z, y, features=True)`` returns ``(images, feats)`` where
  ``feats`` is a list of intermediate feature maps (for AFE).
* ``D(xs, y=None) -> Tensor (N,)``: raw logits (or critic values); ``xs`` is the list of images G made, or the
  real pyramid of the same length. ``D(xs, y, features=True)`` returns ``(logits, feats)`` (feature matching).
* Every G carries ``z_dim``, ``resolution``, ``channels``, ``num_classes`` (0: unconditional) and ``scales``.

A family registers ``build(options, spec) -> nn.ModuleDict`` holding at least ``G`` and ``D`` (and any extra
networks its method needs, e.g. ``D_aux``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import Registry

MODELS: Registry = Registry("model")


@dataclass(frozen=True)
class DataSpec:
    """What a model needs to know of the data: its shape and number of classes."""

    resolution: int  # side of square images (0 for toy points)
    channels: int  # 1 or 3 (0 for toy points)
    num_classes: int = 0  # > 0 only when the run is conditional
    dim: int = 0  # toy points' dimension (0 for images)

    @property
    def is_images(self) -> bool:
        return self.resolution > 0


def pyramid(x: torch.Tensor, n: int) -> list[torch.Tensor]:
    """Real images -> ``n`` scales by 2x average pooling, coarse to fine (MSG-GAN's real pyramid)."""
    out = [x]
    for _ in range(n - 1):
        out.append(F.avg_pool2d(out[-1], 2))
    return out[::-1]


def check_scales(xs: list[torch.Tensor], expected: int, who: str) -> None:
    if not isinstance(xs, (list, tuple)) or len(xs) != expected:
        got = len(xs) if isinstance(xs, (list, tuple)) else "a tensor"
        raise ValueError(f"{who} expects a list of {expected} images (one per scale), got {got}")


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
