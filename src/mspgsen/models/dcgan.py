"""DCGAN (Radford et al., 2016): transposed-conv G with batch norm, strided-conv D with leaky ReLU.

Width, spectral norm in D and D's normalisation are options; with labels, G concatenates a class embedding to z
and D adds a projection term (Miyato and Koyama, 2018).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Optional

import torch
from torch import nn

from ..errors import ConfigError
from .base import MODELS, DataSpec


@dataclass
class DCGANOptions:
    z_dim: int = 100  # Latent size.
    ngf: int = 64  # G width: channels of the last hidden layer (doubling towards 4x4).
    ndf: int = 64  # D width: channels of the first layer (doubling towards 4x4).
    max_ch: int = 512  # Channel cap of either network.
    spectral_norm: bool = False  # Spectral norm on D's layers.
    d_norm: Literal["batch", "layer", "none"] = "batch"  # D normalisation ('layer' for WGAN-GP, whose penalty is per sample).
    conditional: bool = False  # Use the data's labels (embedding in G, projection in D).

    def check(self, where: str) -> None:
        for k in ("z_dim", "ngf", "ndf", "max_ch"):
            if getattr(self, k) < 1:
                raise ConfigError(f"'{where}.{k}' must be at least 1, got {getattr(self, k)}.")

    def check_config(self, cfg) -> None:
        gp = getattr(cfg.method.options, "gp", 0.0)
        if gp and self.d_norm == "batch":
            raise ConfigError("Batch norm in D mixes samples and breaks the per-sample gradient penalty; set model.d_norm=layer or none.")


def _ch(base: int, mult: int, cap: int) -> int:
    return min(base * mult, cap)


class DCGANGenerator(nn.Module):
    def __init__(self, o: DCGANOptions, spec: DataSpec) -> None:
        super().__init__()
        if spec.resolution < 8:
            raise ConfigError(f"DCGAN needs images of at least 8x8, got {spec.resolution}.")
        self.z_dim, self.resolution, self.channels = o.z_dim, spec.resolution, spec.channels
        self.num_classes, self.scales = spec.num_classes, 1
        n_up = int(math.log2(spec.resolution)) - 2  # 4x4 -> resolution
        chans = [_ch(o.ngf, 2 ** (n_up - 1 - i), o.max_ch) for i in range(n_up)]  # e.g. 32x32: [4,2,1] * ngf
        self.embed = nn.Embedding(spec.num_classes, o.z_dim) if spec.num_classes else None
        in_dim = o.z_dim * (2 if self.embed is not None else 1)
        self.stem = nn.Sequential(nn.ConvTranspose2d(in_dim, chans[0], 4, 1, 0, bias=False), nn.BatchNorm2d(chans[0]), nn.ReLU(True))
        ups = []
        for a, b in zip(chans[:-1], chans[1:]):
            ups += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
        self.body = nn.Sequential(*ups)
        self.head = nn.Sequential(nn.ConvTranspose2d(chans[-1], spec.channels, 4, 2, 1), nn.Tanh())
        self.apply(_dcgan_init)

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None, features: bool = False):
        if self.embed is not None:
            if y is None:
                raise ValueError("this generator is conditional: pass labels")
            z = torch.cat([z, self.embed(y)], 1)
        h = self.stem(z[:, :, None, None])
        feats = []
        for layer in self.body:
            h = layer(h)
            if isinstance(layer, nn.ReLU):
                feats.append(h)
        img = self.head(h)
        return ([img], feats) if features else [img]


class DCGANDiscriminator(nn.Module):
    def __init__(self, o: DCGANOptions, spec: DataSpec) -> None:
        super().__init__()
        self.scales = 1
        n_down = int(math.log2(spec.resolution)) - 2
        chans = [_ch(o.ndf, 2 ** i, o.max_ch) for i in range(n_down)]
        sn = nn.utils.parametrizations.spectral_norm if o.spectral_norm else (lambda m: m)

        def norm(c: int) -> nn.Module:
            if o.d_norm == "batch":
                return nn.BatchNorm2d(c)
            if o.d_norm == "layer":
                return nn.GroupNorm(1, c)
            return nn.Identity()

        blocks = [nn.Sequential(sn(nn.Conv2d(spec.channels, chans[0], 4, 2, 1)), nn.LeakyReLU(0.2, True))]
        for a, b in zip(chans[:-1], chans[1:]):
            blocks.append(nn.Sequential(sn(nn.Conv2d(a, b, 4, 2, 1, bias=o.d_norm == "none")), norm(b), nn.LeakyReLU(0.2, True)))
        self.blocks = nn.ModuleList(blocks)
        self.out = sn(nn.Conv2d(chans[-1], 1, 4, 1, 0))
        self.embed = sn(nn.Embedding(spec.num_classes, chans[-1])) if spec.num_classes else None
        self.apply(_dcgan_init)

    def forward(self, xs: list[torch.Tensor], y: Optional[torch.Tensor] = None, features: bool = False):
        h = xs[-1]
        feats = []
        for b in self.blocks:
            h = b(h)
            feats.append(h)
        logits = self.out(h).flatten()
        if self.embed is not None:
            if y is None:
                raise ValueError("this discriminator is conditional: pass labels")
            logits = logits + (self.embed(y) * h.sum((2, 3))).sum(1)  # projection term
        return (logits, feats) if features else logits


def _dcgan_init(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


@MODELS.register("dcgan", options=DCGANOptions)
def build_dcgan(o: DCGANOptions, spec: DataSpec) -> nn.ModuleDict:
    """DCGAN generator and discriminator."""
    if not spec.is_images:
        raise ConfigError("The dcgan model needs image data; for 2-D toy mixtures use model.name=mlp.")
    return nn.ModuleDict({"G": DCGANGenerator(o, spec), "D": DCGANDiscriminator(o, spec)})
