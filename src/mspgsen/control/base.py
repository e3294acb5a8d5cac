"""Knobs and controllers: how a run steers itself.

A :class:`Controller` reads the plain numbers a method returns after each step and turns :class:`Knobs`
(learning rates, loss weights, D steps per G step, instance noise...). APFL, the DQN balancer, BEGAN's k_t and
NATS's annealing are all controllers, so each is one switch in the config (``control.<name>.enabled``) and works
with any method that reads the knobs.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from ..registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from ..data import Batch
    from ..methods.base import Method

CONTROLLERS: Registry = Registry("controller")


@dataclass
class Knobs:
    """What controllers may turn. Methods read them at every step; the checkpoint keeps them."""

    lr_g: float  # Generator learning rate, applied to G's optimizer before each G update.
    lr_d: float  # Discriminator learning rate, applied before each D update.
    d_steps: int = 1  # D updates per step (WGAN-GP's n_critic).
    g_steps: int = 1  # G updates per step.
    weights: dict[str, float] = field(default_factory=dict)  # Loss-term weights by name: 'adv', 'fm', 'aux', 'lgcl', 'gp', 'r1'...
    instance_noise: float = 0.0  # Std of Gaussian noise added to D's inputs, real and fake.
    label_smoothing: float = 0.0  # One-sided: D's target for real is 1 - this.
    extra: dict[str, float] = field(default_factory=dict)  # Method-specific values, e.g. BEGAN's 'k', NATS's 'nats_w'.

    def weight(self, name: str, default: float = 0.0) -> float:
        return float(self.weights.get(name, default))

    def state_dict(self) -> dict:
        return copy.deepcopy(asdict(self))

    def load_state_dict(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, copy.deepcopy(v))


@dataclass
class ControlContext:
    """What a controller may reach besides the stats: the method (its networks), a real-batch supply and the run."""

    method: "Method"
    next_real: Callable[[], "Batch"]  # A real batch that does not disturb the training data order.
    rank: int = 0
    world_size: int = 1
    run_dir: Any = None


class Controller:
    """Base of every controller: ``observe`` after each step, and full state for exact resume."""

    def __init__(self, options: Any, cfg: Any) -> None:
        self.options = options
        self.cfg = cfg

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
