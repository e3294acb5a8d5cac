"""Shared pieces of the controller tests: a tiny method on the mlp toy model and a replayable real-batch supply."""
from __future__ import annotations

import torch

from mspgsen.config.schema import Config, TrainConfig
from mspgsen.data.stream import Batch
from mspgsen.data.toy import sample_mixture
from mspgsen.models.base import DataSpec
from mspgsen.models.mlp import MLPOptions, build_mlp


class TinyMethod:
    """Just what controllers reach: nets G and D, sample_z and generate."""

    def __init__(self, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.nets = build_mlp(MLPOptions(z_dim=4, g_hidden=16, d_hidden=16, g_layers=2, d_layers=2), DataSpec(0, 0, dim=2))
        self.device = torch.device("cpu")

    def sample_z(self, n, generator=None):
        return torch.randn(n, self.nets["G"].z_dim, generator=generator)

    def generate(self, G, z, y=None):
        return G(z, y)


class RealSupply:
    """ring8 batches in a fixed order; ``pos`` is its whole state, so a resumed test replays the same batches."""

    def __init__(self, batch: int = 64) -> None:
        self.pts = torch.from_numpy(sample_mixture("ring8", 4096, seed=3)[0])
        self.batch, self.pos = batch, 0

    def __call__(self) -> Batch:
        i = (self.pos * self.batch) % (len(self.pts) - self.batch)
        self.pos += 1
        return Batch(self.pts[i:i + self.batch], None)


def cfg_with(steps: int = 0, seed: int = 0) -> Config:
    return Config(seed=seed, train=TrainConfig(steps=steps))


def synthetic_stats(step: int, acc: float = 0.7, gn_g: float = 1.0, gn_d: float = 1.0, **extra) -> dict:
    s = {"loss_d": 1.2, "loss_g": 0.9, "d_real": acc, "d_fake": 1 - acc, "acc_real": acc, "acc_fake": acc,
         "grad_norm_g": gn_g, "grad_norm_d": gn_d}
    s.update(extra)
    return s
