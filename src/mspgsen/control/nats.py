"""NATS, the nested annealed training scheme (Wan et al., 2025), as a controller for any alternating GAN.

NATS carries annealed CFG's annealed weight into GANs that have no functional-gradient moves. The project's
reading (the paper's formula is not available; see docs/baselines.md): training runs in cycles of ``T`` steps;
each step is an inner loop of ``inner`` D updates (the ``d_steps`` knob) and one outer G update whose
adversarial term is multiplied by the annealed weight w_t = ``weight`` * factor_t (mspgsen.annealing), written
into the ``adv_g`` knob weight, which the ``gan`` method (and its subclasses) multiplies into G's adversarial loss
only; D's loss is left as it is. NATS declares that it turns ``weights.adv_g`` (:meth:`NATS.needs`), so validation
refuses it on a method that does not honour that knob. Enable with ``--set control.nats=true`` on the dcgan or msggan presets.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..annealing import Schedule, anneal_factor
from ..contract import Needs, weight_knob
from ..errors import ConfigError
from .base import CONTROLLERS, ControlContext, Controller, Knobs


@dataclass
class NATSOptions:
    enabled: bool = False
    T: int = 15  # Steps per annealing cycle (CFG's T).
    schedule: Schedule = "noise"  # Shape of the annealed weight across a cycle.
    end: float = 0.1  # Weight at the last step of a cycle relative to the first.
    rho: float = 7.0  # The noise schedule's spacing exponent.
    weight: float = 1.0  # Weight at the first step of a cycle.
    inner: int = 0  # D updates per G update (the inner loop); 0 keeps the method's own n_critic.

    def check(self, where: str) -> None:
        if self.T < 1 or self.inner < 0 or self.weight <= 0 or not 0.0 < self.end <= 1.0:
            raise ConfigError(f"'{where}' needs T >= 1, inner >= 0, weight > 0 and end in (0, 1].")


@CONTROLLERS.register("nats", options=NATSOptions)
class NATS(Controller):
    @classmethod
    def needs(cls, options: NATSOptions, cfg) -> Needs:
        knobs = {weight_knob("adv_g")} | ({"d_steps"} if options.inner else set())
        return Needs.of(knobs=knobs, hint="for CFG use method.schedule instead")

    def weight_at(self, step: int) -> float:
        """The annealed weight of G's adversarial term for 0-based step ``step``."""
        o = self.options
        return o.weight * anneal_factor(o.schedule, step % o.T, o.T, o.end, o.rho)

    def _apply(self, next_step: int, knobs: Knobs) -> float:
        w = self.weight_at(next_step)
        knobs.weights["adv_g"] = w
        if self.options.inner:
            knobs.d_steps = self.options.inner
        return w

    def setup(self, ctx: ControlContext, knobs: Knobs) -> None:
        self._apply(0, knobs)

    def observe(self, step: int, stats: dict[str, float], knobs: Knobs) -> dict[str, float]:
        # ``step`` steps are done; set the weight of the next one (0-based index ``step``).
        return {"w": self._apply(step, knobs)}
