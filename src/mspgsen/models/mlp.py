"""``mlp``: small fully connected G and D for the 2-D toy mixtures (ring8, grid25).

The mode-counting experiments of VEEGAN and PacGAN use MLPs of a few hundred units; these follow the project's
model conventions (G returns a list of one tensor, D takes a list and can return its last hidden layer as
features for feature matching and the controllers' quality signal), so every method and controller runs on them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from ..errors import ConfigError
from .base import MODELS, DataSpec, check_scales


@dataclass
class MLPOptions:
    z_dim: int = 16  # Latent size.
    g_hidden: int = 128  # Width of G's hidden layers.
    d_hidden: int = 128  # Width of D's hidden layers.
    g_layers: int = 3  # Hidden layers of G.
    d_layers: int = 3  # Hidden layers of D.

    def check(self, where: str) -> None:
        for k in ("z_dim", "g_hidden", "d_hidden", "g_layers", "d_layers"):
            if getattr(self, k) < 1:
                raise ConfigError(f"'{where}.{k}' must be at least 1, got {getattr(self, k)}.")

    def check_config(self, cfg) -> None:
        from ..data.toy import MIXTURES
        if cfg.data.source in ("fashion-mnist-subset", "fashion-mnist", "mnist"):
            raise ConfigError(f"Model 'mlp' is for 2-D point data ({', '.join(MIXTURES)}); "
                              f"'{cfg.data.source}' holds images, so choose an image model such as dcgan.")


class MLPGenerator(nn.Module):
    """z -> [points (N, dim)]."""

    def __init__(self, z_dim: int, dim: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.z_dim, self.resolution, self.channels, self.num_classes, self.scales = z_dim, 0, 0, 0, 1
        self.dim = dim
        mods: list[nn.Module] = []
        width = z_dim
        for _ in range(layers):
            mods += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        self.body = nn.Sequential(*mods)
        self.head = nn.Linear(width, dim)

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None, features: bool = False):
        h = self.body(z)
        out = [self.head(h)]
        return (out, [h]) if features else out


class MLPDiscriminator(nn.Module):
    """[points (N, dim)] -> logits (N,); with ``features=True`` also [last hidden layer (N, hidden)]."""

    def __init__(self, dim: int, hidden: int, layers: int) -> None:
        super().__init__()
        mods: list[nn.Module] = []
        width = dim
        for _ in range(layers):
            mods += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
            width = hidden
        self.body = nn.Sequential(*mods)
        self.head = nn.Linear(width, 1)

    def forward(self, xs: list[torch.Tensor], y: Optional[torch.Tensor] = None, features: bool = False):
        check_scales(xs, 1, "mlp D")
        h = self.body(xs[-1].flatten(1))
        logits = self.head(h)[:, 0]
        return (logits, [h]) if features else logits


@MODELS.register("mlp", options=MLPOptions)
def build_mlp(options: MLPOptions, spec: DataSpec) -> nn.ModuleDict:
    """MLP G and D for 2-D toy points."""
    dim = spec.dim or 2
    return nn.ModuleDict({"G": MLPGenerator(options.z_dim, dim, options.g_hidden, options.g_layers),
                          "D": MLPDiscriminator(dim, options.d_hidden, options.d_layers)})
