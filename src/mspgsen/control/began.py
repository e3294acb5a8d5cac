"""BEGAN's k_t, the proportional control that keeps E[L(G(z))] = gamma E[L(x)] (Berthelot et al., 2017).

    k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1)        (Yin et al., 2020, eq 6)

The ``began`` method reads ``knobs.extra['k']`` and reports ``L_real`` and ``L_fake``; gamma is the method's own
option (it also enters M_global), so the two never disagree. k_t is the controller's state, kept in checkpoints.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..contract import Needs, extra_knob
from ..errors import ConfigError
from .base import CONTROLLERS, ControlContext, Controller, Knobs


def k_update(k: float, l_real: float, l_fake: float, gamma: float, lambda_k: float) -> float:
    """One step of k_t (eq 6, third line), clipped to [0, 1]."""
    return min(1.0, max(0.0, k + lambda_k * (gamma * l_real - l_fake)))


@dataclass
class BEGANKOptions:
    enabled: bool = False
    lambda_k: float = 0.001  # Learning rate of k_t (0.001 in BEGAN).
    k0: float = 0.0  # k_0 (0 in BEGAN).

    def check(self, where: str) -> None:
        if self.lambda_k < 0 or not 0.0 <= self.k0 <= 1.0:
            raise ConfigError(f"'{where}.lambda_k' must be >= 0 and '{where}.k0' in [0, 1].")

    def check_config(self, cfg) -> None:
        if self.enabled and not hasattr(cfg.method.options, "gamma"):
            raise ConfigError(f"control.began_k steers BEGAN's k_t and needs method.name=began, not '{cfg.method.name}'.")


@CONTROLLERS.register("began_k", options=BEGANKOptions)
class BEGANK(Controller):
    @classmethod
    def needs(cls, options: BEGANKOptions, cfg) -> Needs:
        return Needs.of(stats=("L_real", "L_fake"), knobs=(extra_knob("k"),))

    def __init__(self, options: BEGANKOptions, cfg) -> None:
        super().__init__(options, cfg)
        self.gamma = float(cfg.method.options.gamma)
        self.k = float(options.k0)

    def setup(self, ctx: ControlContext, knobs: Knobs) -> None:
        knobs.extra["k"] = self.k

    def observe(self, step: int, stats: dict[str, float], knobs: Knobs) -> dict[str, float]:
        self.k = k_update(self.k, stats["L_real"], stats["L_fake"], self.gamma, self.options.lambda_k)
        knobs.extra["k"] = self.k
        return {"k": self.k}

    def state_dict(self) -> dict:
        return {"k": self.k}

    def load_state_dict(self, state: dict) -> None:
        self.k = float(state["k"])
