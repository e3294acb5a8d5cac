"""Differentiable augmentation of everything D sees (DiffAugment, Zhao et al., NeurIPS 2020).

With few training images D memorises them and its gradient stops teaching G. Transforming real *and* generated
images with the same random, differentiable operations before every D evaluation (D's update and G's update alike)
keeps D from memorising while G still learns the un-augmented distribution, because the operations are applied to
both sides and gradients flow through them to G.

Multi-scale models hand D a pyramid of images; each image of one sample is transformed with the *same* random
parameters at every scale (a shift of the same fraction of the side, a cutout of the same region), so the scales
stay views of one picture, as D's multi-scale joins assume.

Policies (comma-separated, applied in this order): ``color`` (brightness, saturation on RGB, contrast),
``translation`` (shift by up to 1/8 of the side, zeros shifted in) and ``cutout`` (a square of half the side set
to zero).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..shard import local_draw

Tensor = torch.Tensor
POLICIES = ("color", "translation", "cutout")


def parse_policy(text: str) -> list[str]:
    """``'translation,cutout'`` -> ``['translation', 'cutout']`` in application order; '' -> []."""
    names = [p.strip() for p in str(text).split(",") if p.strip()]
    bad = [p for p in names if p not in POLICIES]
    if bad:
        raise ConfigError(f"Unknown augmentation {', '.join(bad)!s} in method.diffaug; choose from {', '.join(POLICIES)} "
                          f"(comma-separated, e.g. translation,cutout).")
    return [p for p in POLICIES if p in names]


def _rand(n: int, device, *rest: int) -> Tensor:
    """Uniform draws for this rank's ``n`` samples, sliced from the global batch's draw (shard.py)."""
    return local_draw(n, lambda m: torch.rand(m, *rest, device=device))


def _color(xs: list[Tensor], n: int, device) -> list[Tensor]:
    bright = _rand(n, device, 1, 1, 1) - 0.5
    sat = _rand(n, device, 1, 1, 1) * 2.0
    con = _rand(n, device, 1, 1, 1) + 0.5
    out = []
    for x in xs:
        x = x + bright.to(x.dtype)
        if x.shape[1] > 1:
            m = x.mean(dim=1, keepdim=True)
            x = (x - m) * sat.to(x.dtype) + m
        m = x.mean(dim=(1, 2, 3), keepdim=True)
        out.append((x - m) * con.to(x.dtype) + m)
    return out


def _translate(x: Tensor, fx: Tensor, fy: Tensor) -> Tensor:
    """Shift each image by round(f * side) pixels (f in [-1/8, 1/8]), zeros shifted in; differentiable in x."""
    n, _, h, w = x.shape
    sy = torch.round(fy * h).long()
    sx = torch.round(fx * w).long()
    gy = (torch.arange(h, device=x.device)[None, :] - sy[:, None] + 1).clamp(0, h + 1)  # +1: the zero border
    gx = (torch.arange(w, device=x.device)[None, :] - sx[:, None] + 1).clamp(0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    b = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[b, gy[:, :, None], gx[:, None, :]].permute(0, 3, 1, 2)


def _cutout(x: Tensor, cx: Tensor, cy: Tensor, size: float = 0.5) -> Tensor:
    """Zero a square of ``size`` x side centred at fractions (cx, cy) of the image."""
    _, _, h, w = x.shape
    half_h, half_w = max(1, int(h * size + 0.5)) / 2.0, max(1, int(w * size + 0.5)) / 2.0
    ys = torch.arange(h, device=x.device, dtype=torch.float32)[None, :] + 0.5
    xs = torch.arange(w, device=x.device, dtype=torch.float32)[None, :] + 0.5
    in_y = ((ys - cy[:, None] * h).abs() < half_h)  # (n, h)
    in_x = ((xs - cx[:, None] * w).abs() < half_w)  # (n, w)
    keep = ~(in_y[:, :, None] & in_x[:, None, :])
    return x * keep[:, None].to(x.dtype)


def diff_augment(xs: Sequence[Tensor], policy: Sequence[str]) -> list[Tensor]:
    """Augment a pyramid (coarse to fine, one sample per row) with one random draw per sample shared by all scales."""
    xs = list(xs)
    if not policy or not xs:
        return xs
    n, device = xs[-1].shape[0], xs[-1].device
    if "color" in policy:
        xs = _color(xs, n, device)
    if "translation" in policy:
        fx = (_rand(n, device) - 0.5) / 4.0  # [-1/8, 1/8] of the side
        fy = (_rand(n, device) - 0.5) / 4.0
        xs = [_translate(x, fx, fy) for x in xs]
    if "cutout" in policy:
        cx, cy = _rand(n, device), _rand(n, device)
        xs = [_cutout(x, cx, cy) for x in xs]
    return xs
