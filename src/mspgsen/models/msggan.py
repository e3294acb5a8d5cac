"""MSG-GAN (Karnewar and Wang, CVPR 2020): the multi-scale backbone with plain conv blocks.

G: equalized-learning-rate 3x3 convs with leaky ReLU and pixel norm, one to-RGB head per scale, z on the
hypersphere. D: the mirror path with every scale's image joined at its resolution, minibatch stddev before the last
block. Train it with ``method.name=gan`` and ``method.loss=rahinge`` (preset ``msggan``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import nn

from ..errors import ConfigError
from .base import MODELS, DataSpec
from .multiscale import COMBINES, MultiScaleDiscriminator, MultiScaleGenerator, PlainBlock, widths


@dataclass
class MSGGANOptions:
    z_dim: int = 512  # Latent size (MSG-GAN: 512).
    width: int = 64  # G channels at full resolution, doubling per halving up to max_ch.
    max_ch: int = 512  # Channel cap of G (MSG-GAN: 512).
    d_width: int = 0  # D channels at full resolution (0: same as width).
    d_max_ch: int = 0  # D channel cap (0: same as max_ch).
    normalize_z: bool = True  # Put z on the hypersphere of radius sqrt(z_dim) (MSG-GAN).
    pixel_norm: bool = True  # Pixel norm after every conv of G (MSG-GAN).
    eq_lr: bool = True  # Equalized learning rate in G and D (MSG-GAN).
    mbstd_group: int = 4  # Minibatch-stddev group size before D's last block (0: off).
    combine: Literal["cat", "simple", "cat_lin", "sum"] = "cat"  # How each scale joins D's path (see models/multiscale.py).
    spectral_norm: bool = False  # Spectral norm on D's layers (turns eq_lr off in D).
    out_act: Literal["tanh", "linear"] = "tanh"  # Output of the to-RGB heads: tanh into [-1, 1], or linear (MSG-GAN).
    conditional: bool = False  # Use the data's labels (embedding in G, projection in D).

    def check(self, where: str) -> None:
        if min(self.z_dim, self.width, self.max_ch) < 1 or min(self.d_width, self.d_max_ch, self.mbstd_group) < 0:
            raise ConfigError(f"Sizes in '{where}' must be positive (d_width, d_max_ch, mbstd_group may be 0).")
        if self.combine not in COMBINES:
            raise ConfigError(f"'{where}.combine' must be one of {', '.join(COMBINES)}, got {self.combine!r}.")


def d_widths(o, res: int) -> list[int]:
    return widths(res, o.d_width or o.width, o.d_max_ch or o.max_ch)


@MODELS.register("msggan", options=MSGGANOptions)
def build_msggan(o: MSGGANOptions, spec: DataSpec) -> nn.ModuleDict:
    """MSG-GAN's multi-scale G and D."""
    if not spec.is_images:
        raise ConfigError("The msggan model needs image data; for 2-D toy mixtures use model.name=mlp.")
    res = spec.resolution
    G = MultiScaleGenerator(
        o.z_dim, res, spec.channels, spec.num_classes, widths(res, o.width, o.max_ch),
        lambda i, c, r: PlainBlock(i, c, pixel_norm=o.pixel_norm, eq_lr=o.eq_lr),
        normalize_z=o.normalize_z, eq_lr=o.eq_lr, pixel_norm=o.pixel_norm, out_act=o.out_act)
    D = MultiScaleDiscriminator(
        res, spec.channels, spec.num_classes, d_widths(o, res),
        lambda i, c, r: PlainBlock(i, c, pixel_norm=False, eq_lr=o.eq_lr, sn=o.spectral_norm),
        combine=o.combine, mbstd_group=o.mbstd_group, eq_lr=o.eq_lr, sn=o.spectral_norm)
    return nn.ModuleDict({"G": G, "D": D})
