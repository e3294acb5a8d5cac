"""Annealing schedules: the step size eta_t of annealed CFG, and the weight NATS puts on G's adversarial term.

The NATS paper (Wan et al., 2025) derives an annealed weight in front of CFG's discriminator term, but only its
abstract is available to the project, so the formula is not. These schedules are the project's own reading,
offered as a choice; each maps position t = 0..T-1 of a cycle to a multiplier of a base value, starting at 1:

* ``constant``: 1 (plain CFG).
* ``linear``: from 1 down to ``end`` in equal steps.
* ``geometric``: from 1 down to ``end`` by a constant ratio.
* ``noise``: in the manner of score-based models (annealed Langevin dynamics, NCSN), the step follows the
  square of a decreasing noise level, eta_t ~ sigma_t^2 / sigma_0^2, with sigma_t spaced as in Karras et al.'s
  sampler (exponent ``rho``; 7 there) from sigma_0 down to sigma_0 sqrt(end). It starts and ends where
  ``geometric`` does; rho = 1 spaces sigma evenly, and a large rho tends to the geometric schedule.
"""
from __future__ import annotations

import math
from typing import Literal

Schedule = Literal["constant", "linear", "geometric", "noise"]
SCHEDULES: tuple[str, ...] = ("constant", "linear", "geometric", "noise")


def anneal_factor(schedule: str, t: int, T: int, end: float = 0.1, rho: float = 7.0) -> float:
    """Multiplier at position ``t`` of a cycle of ``T`` (1 at t = 0, ``end`` at t = T-1 except for constant)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}")
    if not 0 <= t < T:
        raise ValueError(f"t={t} outside a cycle of {T}")
    if schedule == "constant" or T == 1:
        return 1.0
    s = t / (T - 1)
    if schedule == "linear":
        return 1.0 + s * (end - 1.0)
    if schedule == "geometric":
        return end ** s
    # noise: sigma_t / sigma_0 with Karras spacing between 1 and sqrt(end), then squared
    r = math.sqrt(end)
    sigma = (1.0 + s * (r ** (1.0 / rho) - 1.0)) ** rho
    return sigma * sigma


def anneal_values(schedule: str, base: float, T: int, end: float = 0.1, rho: float = 7.0) -> list[float]:
    """``base`` times each factor of a cycle of ``T``: CFG's eta_0..eta_{T-1}."""
    return [base * anneal_factor(schedule, t, T, end, rho) for t in range(T)]
