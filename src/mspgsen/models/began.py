"""BEGAN (Berthelot et al., 2017) networks, and the skip-connected variant of BEGAN-SLR (Yin et al., 2020).

G is a decoder: a linear map from z to an 8x8 tensor of ``n`` channels, then blocks of two 3x3 convolutions with
ELU, each block followed by 2x nearest-neighbour upsampling, and a last 3x3 convolution to the image. D is an
auto-encoder: an encoder (3x3 convolutions with ELU, stride-2 convolutions to subsample, channels growing
n, 2n, 3n... down to 8x8, then a linear map to the embedding h) and a decoder of the same form as G.

``skips=True`` is BEGAN-SLR: in G and in D's decoder each convolution block's input is added to its output, so
features pass across the block unchanged (the paper: "the input is additionally connected to the output for each
convolution block"; the join by addition is the project's reading, see docs/baselines.md).

Model convention (models/base.py) says ``D(xs) -> (N,)`` logits. BEGAN's D judges by reconstruction error, so
``D.forward`` returns the per-sample auto-encoder loss negated, ``-L(v)`` (higher = judged more real, like a
logit); the ``began`` method calls :meth:`BEGANDiscriminator.reconstruct` and computes L(v) itself.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Optional

import torch
from torch import nn

from ..errors import ConfigError
from .base import MODELS, DataSpec

BASE = 8  # the smallest feature map, 8x8 in both papers whatever the image size


@dataclass
class BEGANOptions:
    z_dim: int = 64  # Latent size N_z; the embedding h of D's auto-encoder has the same size (as in BEGAN).
    n: int = 64  # Filters per convolution (BEGAN's n; the paper used 64 or 128).
    skips: bool = False  # BEGAN-SLR: each block's input added to its output in G and in D's decoder.
    eta: Literal[1, 2] = 1  # Norm of the auto-encoder loss L(v) = |v - D(v)|^eta (D.forward only; the method has its own).

    def check(self, where: str) -> None:
        if self.z_dim < 1 or self.n < 1:
            raise ConfigError(f"'{where}.z_dim' and '{where}.n' must be at least 1.")


class ConvBlock(nn.Module):
    """Two 3x3 convolutions with ELU; with ``skip`` the block's input is added to its output."""

    def __init__(self, cin: int, cout: int, skip: bool) -> None:
        super().__init__()
        self.skip = skip and cin == cout
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1), nn.ELU(), nn.Conv2d(cout, cout, 3, 1, 1), nn.ELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.skip else y


def _n_up(resolution: int) -> int:
    if resolution < BASE or resolution & (resolution - 1):
        raise ConfigError(f"The began model needs square images whose side is a power of two of at least {BASE}, got {resolution}.")
    return int(math.log2(resolution // BASE))


class Decoder(nn.Module):
    """h -> 8x8xn -> (block, 2x NN upsample) * k -> block -> 3x3 conv to the image (linear output, as in BEGAN)."""

    def __init__(self, h_dim: int, n: int, channels: int, resolution: int, skips: bool) -> None:
        super().__init__()
        self.n = n
        self.fc = nn.Linear(h_dim, BASE * BASE * n)
        k = _n_up(resolution)
        self.blocks = nn.ModuleList(ConvBlock(n, n, skips) for _ in range(k + 1))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.out = nn.Conv2d(n, channels, 3, 1, 1)

    def forward(self, h: torch.Tensor, features: bool = False):
        x = self.fc(h).view(h.shape[0], self.n, BASE, BASE)
        feats = []
        for i, b in enumerate(self.blocks):
            x = b(x)
            feats.append(x)
            if i < len(self.blocks) - 1:
                x = self.up(x)
        img = self.out(x)
        return (img, feats) if features else img


class Encoder(nn.Module):
    """image -> 3x3 conv -> (block, stride-2 conv to the next width) * k -> block -> linear to h."""

    def __init__(self, h_dim: int, n: int, channels: int, resolution: int) -> None:
        super().__init__()
        k = _n_up(resolution)
        self.inp = nn.Sequential(nn.Conv2d(channels, n, 3, 1, 1), nn.ELU())
        layers = []
        for i in range(k):
            layers += [ConvBlock(n * (i + 1), n * (i + 1), False),
                       nn.Sequential(nn.Conv2d(n * (i + 1), n * (i + 2), 3, 2, 1), nn.ELU())]  # stride-2 subsampling
        layers.append(ConvBlock(n * (k + 1), n * (k + 1), False))
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(BASE * BASE * n * (k + 1), h_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(self.inp(x)).flatten(1))


class BEGANGenerator(nn.Module):
    def __init__(self, o: BEGANOptions, spec: DataSpec) -> None:
        super().__init__()
        self.z_dim, self.resolution, self.channels = o.z_dim, spec.resolution, spec.channels
        self.num_classes, self.scales = 0, 1
        self.decoder = Decoder(o.z_dim, o.n, spec.channels, spec.resolution, o.skips)

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None, features: bool = False):
        img, feats = self.decoder(z, features=True)
        return ([img], feats) if features else [img]


class BEGANDiscriminator(nn.Module):
    """The auto-encoder D. ``forward`` gives -L(v) per sample; ``reconstruct`` gives D(v)."""

    def __init__(self, o: BEGANOptions, spec: DataSpec) -> None:
        super().__init__()
        self.scales, self.eta = 1, o.eta
        self.encoder = Encoder(o.z_dim, o.n, spec.channels, spec.resolution)
        self.decoder = Decoder(o.z_dim, o.n, spec.channels, spec.resolution, o.skips)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))

    def forward(self, xs: list[torch.Tensor], y: Optional[torch.Tensor] = None, features: bool = False):
        x = xs[-1]
        h = self.encoder(x)
        rec, feats = self.decoder(h, features=True)
        score = -recon_loss(x, rec, self.eta)
        return (score, feats) if features else score


def recon_loss(x: torch.Tensor, rec: torch.Tensor, eta: int = 1) -> torch.Tensor:
    """L(v) = |v - D(v)|^eta per sample, the mean over pixels (BEGAN eq 1; Yin et al. section 2)."""
    return (x - rec).abs().pow(eta).flatten(1).mean(1)


@MODELS.register("began", options=BEGANOptions)
def build_began(o: BEGANOptions, spec: DataSpec) -> nn.ModuleDict:
    """BEGAN generator and auto-encoder discriminator (BEGAN-SLR with ``skips``)."""
    if not spec.is_images:
        raise ConfigError("The began model needs image data; for 2-D toy mixtures use model.name=mlp.")
    if spec.num_classes:
        raise ConfigError("The began model is unconditional; set model.conditional=false.")
    return nn.ModuleDict({"G": BEGANGenerator(o, spec), "D": BEGANDiscriminator(o, spec)})
