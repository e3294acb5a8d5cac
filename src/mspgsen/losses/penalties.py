"""Gradient penalties on D, for single images or multi-scale lists alike."""
from __future__ import annotations

from typing import Callable, Optional

import torch

from ..shard import local_draw

Tensor = torch.Tensor


def _flat_grad_norm2(outputs: Tensor, inputs: list[Tensor]) -> Tensor:
    grads = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
    return sum(g.flatten(1).pow(2).sum(1) for g in grads)


def gradient_penalty(D: Callable, real: list[Tensor], fake: list[Tensor], y: Optional[Tensor] = None) -> Tensor:
    """WGAN-GP (Gulrajani et al.): E[(||grad D(x_hat)|| - 1)^2] on random interpolates of real and fake.

    For a multi-scale D every scale is mixed with the same per-sample weight, so x_hat is one point on the
    segment between the two pyramids.
    """
    n = real[0].shape[0]
    eps = local_draw(n, lambda m: torch.rand(m, device=real[0].device, dtype=real[0].dtype))  # this rank's share
    mixed = [torch.lerp(r.detach(), f.detach(), eps.view(-1, *([1] * (r.dim() - 1)))).requires_grad_(True)
             for r, f in zip(real, fake)]
    norm = (_flat_grad_norm2(D(mixed, y), mixed) + 1e-12).sqrt()
    return ((norm - 1.0) ** 2).mean()


def r1_penalty(D: Callable, real: list[Tensor], y: Optional[Tensor] = None) -> Tensor:
    """R1 (Mescheder et al.): 0.5 * E[||grad D(x)||^2] on real data."""
    xs = [r.detach().requires_grad_(True) for r in real]
    return 0.5 * _flat_grad_norm2(D(xs, y), xs).mean()
