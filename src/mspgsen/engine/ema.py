"""Exponential moving average of G's weights, with the half-life counted in images (as StyleGAN2-ADA)."""
from __future__ import annotations

import copy

import torch
from torch import nn


def make_ema(G: nn.Module) -> nn.Module:
    ema = copy.deepcopy(G).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    return ema


def ema_beta(batch: int, images_seen: int, half_life_kimg: float, rampup: float) -> float:
    """Per-step decay so the weights' half-life is ``half_life_kimg`` thousand images (shorter early on with ramp-up)."""
    half_life = half_life_kimg * 1000.0
    if rampup > 0:
        half_life = min(half_life, images_seen * rampup)
    if half_life <= 0:
        return 0.0
    return 0.5 ** (batch / half_life)


@torch.no_grad()
def update_ema(ema: nn.Module, G: nn.Module, beta: float) -> None:
    """ema <- beta * ema + (1 - beta) * G, for all of G's parameters in one batched call (hundreds of tensors in the
    multi-scale generators: one ``lerp_`` each would cost a Python round trip per tensor, every step)."""
    torch._foreach_lerp_(list(ema.parameters()), [p.detach() for p in G.parameters()], 1.0 - beta)
    for be, b in zip(ema.buffers(), G.buffers()):
        be.copy_(b)
