"""Knobs and controllers: how a run steers itself.

A :class:`Controller` reads the plain numbers a method returns after each step and turns :class:`Knobs`
(learning rates, loss weights, D steps per G step, instance noise...). APFL, the DQN balancer, BEGAN's k_t and
NATS's annealing are all controllers, so each is one switch in the config (``control.<name>.enabled``). The
shared vocabulary (``Knobs``, ``ControlContext``, ``Needs``) lives in :mod:`mspgsen.contract`; a controller
declares what it needs, and validation refuses it on a method that cannot feed it.
"""
from __future__ import annotations

import math
from typing import Any

from ..contract import ControlContext, Knobs, Needs
from ..registry import Registry

CONTROLLERS: Registry = Registry("controller")

__all__ = ["CONTROLLERS", "ControlContext", "Controller", "Knobs", "Needs", "bound_lr_ratio", "build_controllers"]


class Controller:
    """Base of every controller: ``observe`` after each step, and full state for exact resume."""

    def __init__(self, options: Any, cfg: Any) -> None:
        self.options = options
        self.cfg = cfg

    @classmethod
    def needs(cls, options: Any, cfg: Any) -> Needs:
        """The stats this controller reads and the knobs it turns with ``options``; validation checks the method
        provides them, so an enabled controller never silently does nothing."""
        return Needs()

    def setup(self, ctx: ControlContext, knobs: Knobs) -> None:
        """Called once before training (also after a resume, before ``load_state_dict``)."""

    def observe(self, step: int, stats: dict[str, float], knobs: Knobs) -> dict[str, float]:
        """Read the step's stats, turn knobs; return what it did as numbers for stats.jsonl (prefixed by the trainer)."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def build_controllers(cfg: Any) -> dict[str, Controller]:
    """The enabled controllers of ``cfg``, in the order the config lists them."""
    out: dict[str, Controller] = {}
    for name in cfg.enabled_controllers():
        entry = CONTROLLERS.get(name)
        out[name] = entry.obj(cfg.control[name], cfg)
    return out


def bound_lr_ratio(knobs: Knobs, start_ratio: float, max_factor: float) -> bool:
    """Keep lr_d / lr_g within ``max_factor`` of ``start_ratio`` either way (``optim.lr_ratio_max``); returns
    whether it moved the rates.

    Each controller bounds its own moves (APFL's ``lr_min``, the DQN's ``lr_range``), but their products are not
    bounded: in measured runs of the whole system APFL lowered lr_g while the DQN doubled lr_d, until lr_d / lr_g
    was over 100 and the run went backwards. The trainer calls this after every controller has acted.
    Where the ratio is past the bound, both rates move to it around their geometric mean, so the overall step size
    the controllers chose is kept and neither network alone absorbs the correction. 0 turns the bound off.
    """
    if max_factor <= 0:
        return False
    ratio = knobs.lr_d / knobs.lr_g
    lo, hi = start_ratio / max_factor, start_ratio * max_factor
    if lo <= ratio <= hi:
        return False
    target = min(max(ratio, lo), hi)
    mean = math.sqrt(knobs.lr_g * knobs.lr_d)  # kept: lr_g' * lr_d' = lr_g * lr_d
    knobs.lr_g, knobs.lr_d = mean / math.sqrt(target), mean * math.sqrt(target)
    return True
