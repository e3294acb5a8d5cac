"""Performance monitors of APFL and the cheap quality signal both controllers steer by.

The monitors keep running averages of what a method reports every step (D's accuracy on real and fake, the loss
gap, the ratio of the gradient norms reaching G and D) and a short history of a quality signal measured every few
hundred steps. The quality signal is, by default, a distance between the statistics of D's features on a real
batch and on fresh fakes: it costs one forward pass of G and D and needs no pretrained network. FID (the metrics
room) is the option for image runs.

Measuring must not disturb training: the probe draws its own latent codes from its own generator, runs under
``no_grad`` with the global RNG forked, and restores every buffer of G and D (BatchNorm statistics, spectral-norm
vectors) afterwards, so a run with and without the probe follows the same data and weights.
"""
from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, Iterable, Optional

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError

#: Stats the monitors smooth (the names methods report, see mspgsen.methods.base) and derived ones.
SMOOTHED = ("acc_real", "acc_fake", "d_real", "d_fake", "loss_d", "loss_g", "grad_norm_g", "grad_norm_d",
            "loss_gap", "grad_ratio", "d_acc")


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


class PerformanceMonitor:
    """Running averages (EMA with factor ``beta`` per step) of the balance signals, and the quality history.

    ``d_acc`` is the mean of D's accuracy on real and on fake; ``loss_gap`` is loss_g - loss_d; ``grad_ratio`` is
    grad_norm_g / grad_norm_d (a vanishing G gradient drives it to zero). Missing or non-finite stats are skipped.
    """

    def __init__(self, beta: float = 0.9, history: int = 64) -> None:
        self.beta = beta
        self.history = history
        self.ema: dict[str, float] = {}
        self.quality: list[tuple[int, float]] = []  # (step, value); lower is better

    def update(self, stats: dict[str, float]) -> None:
        vals = {k: float(v) for k, v in stats.items() if k in SMOOTHED and _finite(v)}
        if "loss_g" in vals and "loss_d" in vals:
            vals["loss_gap"] = vals["loss_g"] - vals["loss_d"]
        if "grad_norm_g" in vals and "grad_norm_d" in vals:
            vals["grad_ratio"] = vals["grad_norm_g"] / (vals["grad_norm_d"] + 1e-12)
        if "acc_real" in vals and "acc_fake" in vals:
            vals["d_acc"] = 0.5 * (vals["acc_real"] + vals["acc_fake"])
        for k, v in vals.items():
            old = self.ema.get(k)
            self.ema[k] = v if old is None else self.beta * old + (1.0 - self.beta) * v

    def get(self, name: str, default: float = float("nan")) -> float:
        return self.ema.get(name, default)

    def add_quality(self, step: int, value: float) -> None:
        if _finite(value):
            self.quality.append((int(step), float(value)))
            del self.quality[:-self.history]

    @property
    def last_quality(self) -> float:
        return self.quality[-1][1] if self.quality else float("nan")

    def quality_trend(self, window: int = 2) -> float:
        """Relative improvement of quality over the last ``window`` measurements (> 0: better; 0 when too few)."""
        if len(self.quality) < 2:
            return 0.0
        old = self.quality[-min(window, len(self.quality) - 1) - 1][1]
        new = self.quality[-1][1]
        return (old - new) / (abs(old) + 1e-12)

    def quality_stalled(self, window: int, tol: float) -> bool:
        """True when the best of the last ``window`` measurements is not ``tol`` (relative) better than the best before."""
        if len(self.quality) < window + 1:
            return False
        values = [q for _, q in self.quality]
        before = min(values[:-window])
        recent = min(values[-window:])
        return recent > before * (1.0 - tol) if before > 0 else recent >= before

    def state_dict(self) -> dict:
        return {"ema": dict(self.ema), "quality": list(self.quality)}

    def load_state_dict(self, state: dict) -> None:
        self.ema = {k: float(v) for k, v in state["ema"].items()}
        self.quality = [(int(s), float(q)) for s, q in state["quality"]]


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
    if x.dim() == 4 and scales > 1:
        from ..models.base import pyramid
        return pyramid(x, scales)
    return [x]


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

    def measure(self, method: Any, next_real: Callable[[], Any]) -> float:
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


def window_mean(rows: Iterable[dict[str, float]], key: str, default: float = 0.0) -> float:
    vals = [float(r[key]) for r in rows if key in r and _finite(r[key])]
    return float(np.mean(vals)) if vals else default
