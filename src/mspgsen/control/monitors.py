"""Performance monitors of APFL: running averages of the balance signals and the history of the quality signal.

The monitors keep running averages of what a method reports every step (D's accuracy on real and fake, the loss
gap, the ratio of the gradient norms reaching G and D) and a short history of the quality signal. That signal is
measured by the trainer's one probe (:mod:`mspgsen.engine.quality`) and arrives in the stats as ``quality``; the
controllers only read numbers, they never run networks themselves.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

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


def window_mean(rows: Iterable[dict[str, float]], key: str, default: float = 0.0) -> float:
    vals = [float(r[key]) for r in rows if key in r and _finite(r[key])]
    return float(np.mean(vals)) if vals else default
