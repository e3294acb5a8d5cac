"""Adversarial losses as pure functions of D's raw outputs (logits or critic values).

Each loss is a pair ``d_loss(real, fake) -> Tensor`` and ``g_loss(fake, real) -> Tensor`` (``real`` is only read
by the relativistic loss). ``smooth`` is one-sided label smoothing: the real target becomes 1 - smooth.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def ns_d(real: Tensor, fake: Tensor, smooth: float = 0.0) -> Tensor:
    """Non-saturating GAN, D side: -log D(x) - log(1 - D(G(z))) (paper eqs 11 and 17)."""
    if smooth:
        return F.binary_cross_entropy_with_logits(real, torch.full_like(real, 1.0 - smooth)) + F.softplus(fake).mean()
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def ns_g(fake: Tensor, real: Tensor | None = None) -> Tensor:
    """Non-saturating GAN, G side: -log D(G(z)) (paper eq 10)."""
    return F.softplus(-fake).mean()


def hinge_d(real: Tensor, fake: Tensor, smooth: float = 0.0) -> Tensor:
    return F.relu(1.0 - smooth - real).mean() + F.relu(1.0 + fake).mean()


def hinge_g(fake: Tensor, real: Tensor | None = None) -> Tensor:
    return -fake.mean()


def wgan_d(real: Tensor, fake: Tensor, smooth: float = 0.0) -> Tensor:
    """Wasserstein critic: E[D(G(z))] - E[D(x)] (the gradient penalty is added separately)."""
    return fake.mean() - real.mean()


def wgan_g(fake: Tensor, real: Tensor | None = None) -> Tensor:
    return -fake.mean()


def lsgan_d(real: Tensor, fake: Tensor, smooth: float = 0.0) -> Tensor:
    return 0.5 * ((real - (1.0 - smooth)) ** 2).mean() + 0.5 * (fake ** 2).mean()


def lsgan_g(fake: Tensor, real: Tensor | None = None) -> Tensor:
    return 0.5 * ((fake - 1.0) ** 2).mean()


def rahinge_d(real: Tensor, fake: Tensor, smooth: float = 0.0) -> Tensor:
    """Relativistic average hinge (MSG-GAN's default): real judged against the mean fake, and back."""
    return F.relu(1.0 - smooth - (real - fake.mean())).mean() + F.relu(1.0 + (fake - real.mean())).mean()


def rahinge_g(fake: Tensor, real: Tensor | None = None) -> Tensor:
    if real is None:
        raise ValueError("the relativistic loss needs D's output on real images for G's loss")
    return F.relu(1.0 + (real - fake.mean())).mean() + F.relu(1.0 - (fake - real.mean())).mean()


@dataclass(frozen=True)
class AdversarialLoss:
    name: str
    d: Callable[..., Tensor]
    g: Callable[..., Tensor]
    needs_real_for_g: bool = False


LOSSES: dict[str, AdversarialLoss] = {
    "ns": AdversarialLoss("ns", ns_d, ns_g),
    "hinge": AdversarialLoss("hinge", hinge_d, hinge_g),
    "wgan": AdversarialLoss("wgan", wgan_d, wgan_g),
    "lsgan": AdversarialLoss("lsgan", lsgan_d, lsgan_g),
    "rahinge": AdversarialLoss("rahinge", rahinge_d, rahinge_g, needs_real_for_g=True),
}
