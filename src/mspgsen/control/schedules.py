"""Learning-rate schedules of eqs (8)-(9), as pure functions and as the ``lr_schedule`` controller.

Eqs (8)-(9) write eta <- eta * gamma^(1/step) and name PyTorch's StepLR. We read them as a decay by ``gamma`` every
``step_size`` steps, either at once (``kind='step'``, StepLR) or spread evenly over the period (``kind='exp'``,
multiplying by gamma^(1/step_size) at every step, the literal per-step reading of the equations).

Controllers change the learning-rate knobs multiplicatively (by the ratio of the new factor to the old one), so a
schedule composes with APFL's and the DQN's own adjustments instead of overwriting them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..contract import Needs
from ..errors import ConfigError
from .base import CONTROLLERS, Controller, Knobs


def step_factor(step: int, step_size: int, gamma: float) -> float:
    """StepLR: gamma ** floor(step / step_size) (eqs 8-9); 1.0 when ``step_size`` is 0 (no decay)."""
    if step_size <= 0:
        return 1.0
    return float(gamma ** (step // step_size))  # eqs (8)-(9)


def exp_factor(step: int, step_size: int, gamma: float) -> float:
    """Per-step reading of eqs (8)-(9): eta is multiplied by gamma^(1/step_size) at every step."""
    if step_size <= 0:
        return 1.0
    return float(gamma ** (step / step_size))  # eqs (8)-(9), gamma^(1/step_size) per step


def schedule_factor(kind: str, step: int, step_size: int, gamma: float, floor: float = 0.0) -> float:
    """The base-schedule multiplier of the learning rates at ``step`` (never below ``floor``)."""
    f = step_factor(step, step_size, gamma) if kind == "step" else exp_factor(step, step_size, gamma)
    return max(f, floor)


class ScheduleTracker:
    """Applies a schedule to the lr knobs as a ratio of successive factors, so other controllers' changes survive."""

    def __init__(self, kind: str, step_size: int, gamma: float, floor: float = 0.0, which: str = "both") -> None:
        self.kind, self.step_size, self.gamma, self.floor, self.which = kind, step_size, gamma, floor, which
        self.factor = 1.0

    def advance(self, step: int, knobs: Knobs) -> float:
        """Move to the factor after ``step`` completed steps (the next update's lr), rescaling the knobs; returns it."""
        new = schedule_factor(self.kind, step, self.step_size, self.gamma, self.floor)
        if new != self.factor:
            ratio = new / self.factor
            if self.which in ("both", "g"):
                knobs.lr_g *= ratio
            if self.which in ("both", "d"):
                knobs.lr_d *= ratio
            self.factor = new
        return self.factor

    def state_dict(self) -> dict:
        return {"factor": self.factor}

    def load_state_dict(self, state: dict) -> None:
        self.factor = float(state["factor"])


@dataclass
class LRScheduleOptions:
    enabled: bool = False  # Decay both learning rates on a schedule (eqs 8-9).
    kind: Literal["step", "exp"] = "step"  # 'step': StepLR, times gamma every step_size steps; 'exp': gamma^(1/step_size) per step.
    step_size: int = 1000  # Steps per decay period.
    gamma: float = 0.5  # Factor applied per period.
    floor: float = 0.01  # The schedule never takes the lrs below this share of their start.
    which: Literal["both", "g", "d"] = "both"  # Which learning rates follow the schedule.

    def check(self, where: str) -> None:
        if self.step_size < 1:
            raise ConfigError(f"'{where}.step_size' must be at least 1, got {self.step_size}.")
        if not 0.0 < self.gamma <= 1.0:
            raise ConfigError(f"'{where}.gamma' must be in (0, 1], got {self.gamma}.")
        if not 0.0 <= self.floor <= 1.0:
            raise ConfigError(f"'{where}.floor' must be in [0, 1], got {self.floor}.")


@CONTROLLERS.register("lr_schedule", options=LRScheduleOptions)
class LRSchedule(Controller):
    """StepLR (or its per-step form) on lr_g and lr_d: the base schedule of eqs (8)-(9)."""

    @classmethod
    def needs(cls, options: LRScheduleOptions, cfg) -> Needs:
        return Needs.of(knobs={"both": ("lr_g", "lr_d"), "g": ("lr_g",), "d": ("lr_d",)}[options.which])

    def __init__(self, options: LRScheduleOptions, cfg) -> None:
        super().__init__(options, cfg)
        o = options
        self.tracker = ScheduleTracker(o.kind, o.step_size, o.gamma, o.floor, o.which)

    def observe(self, step: int, stats: dict[str, float], knobs: Knobs) -> dict[str, float]:
        f = self.tracker.advance(step, knobs)
        return {"factor": f, "lr_g": knobs.lr_g, "lr_d": knobs.lr_d}

    def state_dict(self) -> dict:
        return self.tracker.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.tracker.load_state_dict(state)
