"""The trainer's one probe of generator quality, whose value every controller reads as ``stats['quality']``.

The signal is, by default, a distance between the statistics of D's features on a real batch and on fresh fakes:
it costs one forward pass of G and D and needs no pretrained network. FID (the metrics room) is the option for
image runs. The trainer measures every ``quality.every`` steps when an enabled controller needs the signal (a
controller declares it in its ``needs``), so every controller sees the same number for the same networks.

Measuring must not disturb training: the probe draws its own latent codes from its own generator, runs under
``no_grad`` with the global RNG forked, and restores every buffer of G and D (BatchNorm statistics, spectral-norm
vectors) afterwards, so a run with and without the probe follows the same data and weights.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Optional

import torch
from torch import nn

from ..contract import SteerableMethod
from ..errors import ConfigError
from ..models.base import pyramid


def _flat_features(feats: Any) -> torch.Tensor:
    """D's features -> (N, F): the last entry of a list, spatial maps averaged over space."""
    if isinstance(feats, (list, tuple)):
        feats = feats[-1]
    if feats.dim() > 2:
        feats = feats.flatten(2).mean(2)
    return feats.float()


def feature_stat_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Distance between diagonal Gaussians fitted to real and fake features (N, F), normalised per feature.

    sum_j ((mu_r - mu_f)^2 + (sd_r - sd_f)^2) / (var_r + var_f + eps) / F: a Fréchet distance with diagonal
    covariances, divided by the features' own spread so that D's drifting feature scale does not read as progress.
    0 for identical statistics; larger is worse.
    """
    real, fake = real.double(), fake.double()
    mu_r, mu_f = real.mean(0), fake.mean(0)
    var_r, var_f = real.var(0, unbiased=False), fake.var(0, unbiased=False)
    num = (mu_r - mu_f).pow(2) + (var_r.sqrt() - var_f.sqrt()).pow(2)
    return float((num / (var_r + var_f + 1e-8)).mean())


@contextlib.contextmanager
def untouched(*modules: nn.Module):
    """Run forward passes that leave no trace: no grad, global RNG forked, buffers (BN stats, SN vectors) restored."""
    saved = [{n: b.detach().clone() for n, b in m.named_buffers()} for m in modules]
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        try:
            yield
        finally:
            for m, bufs in zip(modules, saved):
                for n, b in m.named_buffers():
                    b.copy_(bufs[n])


def _real_input(x: torch.Tensor, scales: int) -> list[torch.Tensor]:
    return pyramid(x, scales) if x.dim() == 4 and scales > 1 else [x]


class QualityProbe:
    """Measures the quality signal from the method's networks, a real-batch supply and its own latent codes.

    ``kind='features'``: :func:`feature_stat_distance` in D's feature space (cheap). ``kind='fid'``: FID from the
    metrics room, for image runs.
    """

    def __init__(self, kind: str = "features", n: int = 256, seed: int = 0) -> None:
        if kind not in ("features", "fid"):
            raise ConfigError(f"Quality signal '{kind}' is unknown; use 'features' or 'fid'.")
        self.kind, self.n = kind, n
        self.gen = torch.Generator().manual_seed(int(seed) & 0x7FFFFFFF)

    def _real(self, next_real: Callable[[], Any], device: torch.device) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        xs, ys, got = [], [], 0
        while got < self.n:
            b = next_real()
            xs.append(b.images)
            ys.append(b.labels)
            got += len(b.images)
        x = torch.cat(xs)[: self.n].to(device)
        y = None if any(v is None for v in ys) else torch.cat(ys)[: self.n].to(device)
        return x, y

    def measure(self, method: SteerableMethod, next_real: Callable[[], Any]) -> float:
        G, D = method.nets["G"], method.nets["D"]
        device = next(G.parameters()).device
        x, y = self._real(next_real, device)
        if getattr(G, "num_classes", 0) == 0:
            y = None
        with untouched(G, D):
            z = method.sample_z(len(x), generator=self.gen)
            fakes = method.generate(G, z, y)
            if self.kind == "fid":
                return fid_quality(x, fakes[-1])
            _, f_real = D(_real_input(x, getattr(G, "scales", 1)), y, features=True)
            _, f_fake = D(list(fakes), y, features=True)
        return feature_stat_distance(_flat_features(f_real), _flat_features(f_fake))

    def state_dict(self) -> dict:
        return {"gen": self.gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.gen.set_state(state["gen"])


def fid_quality(real: torch.Tensor, fake: torch.Tensor) -> float:
    """FID between a real and a generated batch with the metrics room's Inception (image runs only).

    With a few hundred images FID is biased upward, but its trend is what the controllers read.
    """
    if real.dim() != 4:
        raise ConfigError("The 'fid' quality signal needs image data; use quality='features' for 2-D toy points.")
    from ..metrics.features import shared_extractor
    from ..metrics.fid import fid_from_features

    ext = shared_extractor(device=str(real.device))
    return float(fid_from_features(ext(real.cpu()), ext(fake.float().cpu())))
