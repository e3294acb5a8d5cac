"""The vocabulary that methods, controllers and the trainer share, in a leaf module that imports none of them.

Methods read :class:`Knobs` and controllers turn them; a controller reaches the method only through
:class:`ControlContext`, whose ``method`` is typed by the :class:`SteerableMethod` protocol (what a controller may
call). Each side also *declares* what it offers or needs, so configuration validation can refuse a pairing in
which a controller would silently do nothing (a rule reading a stat the method never reports, an action turning
a knob the method never reads):

* a method declares the stats it reports at every step (``Method.reports``) and the knobs it honours
  (``Method.honours``), by the names below;
* a controller declares :class:`Needs` (``Controller.needs``);
* :func:`unmet` compares the two and words the refusal.

Keeping this apart from ``mspgsen.methods`` and ``mspgsen.control`` is what lets dependencies point one way: both
import this module, neither imports the other.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Optional, Protocol

#: The stat the trainer's one quality probe adds to a step's stats on the steps it measures (lower is better).
QUALITY = "quality"

#: Knobs every name of which is a field of :class:`Knobs`; loss weights are named ``weights.<term>`` and
#: method-specific values ``extra.<name>`` (see :func:`weight_knob`, :func:`extra_knob`).
SCALAR_KNOBS = ("lr_g", "lr_d", "d_steps", "g_steps", "instance_noise", "label_smoothing")


def weight_knob(term: str) -> str:
    """Name of the knob that weighs loss term ``term`` (``Knobs.weights[term]``)."""
    return f"weights.{term}"


def extra_knob(name: str) -> str:
    """Name of the method-specific knob ``Knobs.extra[name]``."""
    return f"extra.{name}"


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
    extra: dict[str, float] = field(default_factory=dict)  # Method-specific values, e.g. BEGAN's 'k'.

    def weight(self, name: str, default: float = 0.0) -> float:
        return float(self.weights.get(name, default))

    def state_dict(self) -> dict:
        return copy.deepcopy(asdict(self))

    def load_state_dict(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, copy.deepcopy(v))


class SteerableMethod(Protocol):
    """What a controller may use of a method: its networks (``nets['G']``, ``nets['D']``), latents and samples.

    Controllers never call ``step`` or touch optimizers; they act through :class:`Knobs` alone.
    """

    nets: Any  # an nn.ModuleDict with at least 'G' and 'D'
    device: Any

    def sample_z(self, n: int, generator: Any = None) -> Any: ...

    def generate(self, G: Any, z: Any, y: Any = None) -> list: ...


@dataclass
class ControlContext:
    """What a controller may reach besides the stats: the method, a real-batch supply and the run."""

    method: SteerableMethod
    next_real: Callable[[], Any]  # A real batch that does not disturb the training data order.
    rank: int = 0
    world_size: int = 1
    run_dir: Any = None


@dataclass(frozen=True)
class Needs:
    """What a controller must find for its rules to act: stats to read and knobs to turn (names as above)."""

    stats: frozenset[str] = frozenset()
    knobs: frozenset[str] = frozenset()
    hint: str = ""  # Advice appended to a refusal, e.g. which option to use instead.

    @staticmethod
    def of(stats: Iterable[str] = (), knobs: Iterable[str] = (), hint: str = "") -> "Needs":
        return Needs(frozenset(stats), frozenset(knobs), hint)


def _names(xs: Iterable[str]) -> str:
    xs = sorted(xs)
    return xs[0] if len(xs) == 1 else ", ".join(xs[:-1]) + " and " + xs[-1]


def unmet(controller: str, needs: Needs, method: str, reports: Iterable[str], honours: Iterable[str],
          provided: Iterable[str] = (QUALITY,), fits: Iterable[str] = ()) -> Optional[str]:
    """The one-sentence refusal when ``method`` cannot feed ``controller``, or None when it can.

    ``provided`` are stats the trainer adds itself (the quality probe); ``fits`` names methods that would do.
    """
    missing_stats = needs.stats - set(reports) - set(provided)
    missing_knobs = needs.knobs - set(honours)
    if not missing_stats and not missing_knobs:
        return None
    parts = []
    if missing_stats:
        parts.append(f"reads {_names(missing_stats)}, which method '{method}' does not report")
    if missing_knobs:
        parts.append(f"turns {_names(missing_knobs)}, which method '{method}' ignores")
    fits = sorted(fits)
    instead = f" (methods that fit: {', '.join(fits)})" if fits else ""
    hint = f"; {needs.hint}" if needs.hint else ""
    return (f"control.{controller} {', and '.join(parts)}, so its rules would act on nothing there; switch it off "
            f"or pick another method{instead}{hint}.")
