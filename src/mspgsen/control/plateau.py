"""Halve both learning rates when a monitored stat stops improving (BEGAN's rule for M_global).

BEGAN and BEGAN-SLR lower the learning rate by a factor of 2 when the convergence measure stalls. "Stalls" is
read here as: the mean of ``stat`` over a window of ``window`` steps has not beaten the best window mean by a
relative ``threshold`` for ``patience`` steps. It only turns the ``lr_g`` / ``lr_d`` knobs, so it works with
any method that reports ``stat``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..contract import Needs
from ..errors import ConfigError
from .base import CONTROLLERS, Controller, Knobs


@dataclass
class LRPlateauOptions:
    enabled: bool = False
    stat: str = "M_global"  # The stat to watch (lower is better).
    window: int = 100  # Steps averaged into one comparison.
    patience: int = 2000  # Steps without a better window mean before the rates are cut.
    factor: float = 0.5  # Multiplier of lr_g and lr_d at each cut (BEGAN: halve).
    threshold: float = 0.01  # Relative improvement a window mean needs to count as better.
    min_lr: float = 1e-6  # The rates are never cut below this.

    def check(self, where: str) -> None:
        if self.window < 1 or self.patience < 1:
            raise ConfigError(f"'{where}.window' and '{where}.patience' must be at least 1.")
        if not 0.0 < self.factor < 1.0:
            raise ConfigError(f"'{where}.factor' must be in (0, 1), got {self.factor}.")


@CONTROLLERS.register("lr_plateau", options=LRPlateauOptions)
class LRPlateau(Controller):
    @classmethod
    def needs(cls, options: LRPlateauOptions, cfg) -> Needs:
        return Needs.of(stats=(options.stat,), knobs=("lr_g", "lr_d"))

    def __init__(self, options: LRPlateauOptions, cfg) -> None:
        super().__init__(options, cfg)
        self.best = math.inf
        self.since = 0  # steps since the last better window
        self.acc, self.count, self.cuts = 0.0, 0, 0

    def observe(self, step: int, stats: dict[str, float], knobs: Knobs) -> dict[str, float]:
        o = self.options
        if o.stat not in stats:
            raise ConfigError(f"control.lr_plateau watches '{o.stat}' but the method reports no such stat; set control.lr_plateau.stat.")
        self.acc += float(stats[o.stat])
        self.count += 1
        if self.count >= o.window:
            mean = self.acc / self.count
            self.acc, self.count = 0.0, 0
            if self._better(mean):
                self.best, self.since = mean, 0
            else:
                self.since += o.window
                if self.since >= o.patience:
                    knobs.lr_g = max(o.min_lr, knobs.lr_g * o.factor)
                    knobs.lr_d = max(o.min_lr, knobs.lr_d * o.factor)
                    self.cuts += 1
                    self.since = 0
                    self.best = mean
        return {"cuts": float(self.cuts)}

    def _better(self, mean: float) -> bool:
        if math.isinf(self.best):
            return True
        return mean < self.best - self.options.threshold * abs(self.best)

    def state_dict(self) -> dict:
        return {"best": self.best, "since": self.since, "acc": self.acc, "count": self.count, "cuts": self.cuts}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.since = float(state["best"]), int(state["since"])
        self.acc, self.count, self.cuts = float(state["acc"]), int(state["count"]), int(state["cuts"])
