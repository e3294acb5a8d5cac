"""APFL, the adaptive feedback loop of section III-C (eqs 8-14), as a controller that works with any method.

Every step the performance monitors take in the method's stats; every ``every`` steps the feedback rules turn
the knobs; whenever the trainer's quality probe has measured (``quality.every``, :mod:`mspgsen.engine.quality`)
its value arrives as ``stats['quality']`` and feeds the stall rule, the monitor stages and the meta module.

Rules (what moves which knob; bounds in the options):

* D too strong (mean D accuracy above ``acc_high``, or G's gradient vanishing: grad_norm_g / grad_norm_d below
  ``grad_ratio_low``): soften D's feedback: lr_d times ``lr_factor``, instance noise and one-sided label
  smoothing up one step, one D step fewer (or, at one D step, one G step more).
* D weak (accuracy below ``acc_low``): withdraw that softening step by step (never beyond the run's own settings).
* G stalls (the quality signal has not improved by ``stall_tol`` over ``stall_window`` measurements): raise the
  feature-matching weight (eq 12) by ``fm_step`` and lower lr_g by ``stall_lr_g`` (a plateau response).
* Base schedule: StepLR of eqs (8)-(9) on both learning rates.
* Stages: early (simplified D feedback: noise and smoothing floors, a lower lr_d), middle (full feedback), late
  (label smoothing as regularisation, instance noise annealed away, both lrs lowered to refine). Switches come from
  the monitors or from a schedule over ``train.steps``.
* The meta-learning module (fig. 4, :mod:`.meta`) picks ``acc_high`` and the base fm weight per episode.

APFL changes the knobs by differences of its own contributions (ratios for learning rates), so other controllers
(the DQN balancer, a schedule) can turn the same knobs without being overwritten.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Optional

from ..contract import QUALITY, Needs, weight_knob
from ..errors import ConfigError
from .base import CONTROLLERS, ControlContext, Controller, Knobs
from .meta import MetaTargets
from .monitors import PerformanceMonitor
from .schedules import schedule_factor

STAGES = ("early", "middle", "late")


@dataclass
class APFLOptions:
    MOVED: ClassVar[dict[str, str]] = {
        "quality": "the trainer's one probe measures for every controller; set quality.signal",
        "quality_every": "the trainer's one probe measures for every controller; set quality.every",
        "quality_n": "the trainer's one probe measures for every controller; set quality.n",
    }
    enabled: bool = False  # Turn on the APFL feedback loop (section III-C).
    every: int = 50  # Steps between feedback decisions; the monitors update every step.
    ema: float = 0.9  # Per-step factor of the monitors' running averages.
    lr_kind: Literal["step", "exp"] = "step"  # Base schedule of eqs (8)-(9): StepLR or its per-step form.
    lr_step: int = 0  # Base schedule period in steps (0: no base decay).
    lr_gamma: float = 0.5  # Base schedule factor per period.
    acc_high: float = 0.85  # Mean D accuracy above which D is too strong (the meta module overrides it).
    acc_low: float = 0.6  # Mean D accuracy below which APFL withdraws its softening of D.
    grad_ratio_low: float = 0.01  # grad_norm_g / grad_norm_d below which G's gradient counts as vanishing (0: off).
    lr_factor: float = 0.8  # lr_d multiplier per decision while D is too strong (its inverse while D is weak).
    lr_min: float = 0.1  # Lowest multiplier APFL's rules put on either lr.
    noise_step: float = 0.02  # Instance-noise std added per decision while D is too strong.
    noise_max: float = 0.2  # Most instance noise APFL's rules add.
    smoothing_step: float = 0.05  # Label smoothing added per decision while D is too strong.
    smoothing_max: float = 0.3  # Most label smoothing APFL's rules add.
    max_g_steps: int = 3  # At one D step, 'fewer D steps' means one G step more, up to this many.
    stall_window: int = 4  # Quality measurements (one per quality.every steps) without improvement that make a stall.
    stall_tol: float = 0.02  # Relative improvement below which quality counts as flat.
    stall_lr_g: float = 0.7  # lr_g multiplier on each stall.
    fm: float = 0.0  # Base feature-matching weight (eq 12) when the meta module is off.
    fm_step: float = 0.5  # Feature-matching weight added on each stall.
    fm_max: float = 5.0  # Most feature-matching weight the stall rule adds.
    stages: Literal["off", "schedule", "monitor"] = "monitor"  # How stage switches are made (off: always middle).
    horizon: int = 10000  # Steps that early_end and late_start are shares of (fixed, so resuming never moves a stage point).
    early_end: float = 0.15  # Share of the horizon at which the early stage ends (monitor mode: at the latest).
    late_start: float = 0.75  # Share of the horizon at which the late stage starts (monitor mode: at the latest).
    early_noise: float = 0.05  # Early stage: instance-noise floor (simplified D feedback).
    early_smoothing: float = 0.2  # Early stage: label-smoothing floor.
    early_lr_d: float = 0.5  # Early stage: multiplier of lr_d.
    late_smoothing: float = 0.1  # Late stage: label-smoothing floor (regularisation).
    late_noise_decay: float = 0.5  # Late stage: instance noise from the rules is multiplied by this per decision.
    late_lr: float = 0.5  # Late stage: multiplier of both lrs (refinement).
    meta: Literal["off", "bandit"] = "bandit"  # Meta-learning module of fig. 4: discounted-UCB bandit over targets.
    meta_acc: tuple[float, ...] = (0.75, 0.85, 0.95)  # Candidate values of acc_high for the meta module.
    meta_fm: tuple[float, ...] = (0.0, 1.0)  # Candidate base feature-matching weights for the meta module.
    meta_episode: int = 3  # Quality measurements per meta episode (one arm per episode).
    meta_c: float = 0.5  # Exploration constant of the bandit.

    def check(self, where: str) -> None:
        for k in ("every", "stall_window", "meta_episode", "max_g_steps", "horizon"):
            if getattr(self, k) < 1:
                raise ConfigError(f"'{where}.{k}' must be at least 1, got {getattr(self, k)}.")
        if not 0.0 < self.acc_low < self.acc_high <= 1.0:
            raise ConfigError(f"'{where}.acc_low' must be below '{where}.acc_high', both in (0, 1].")
        if not 0.0 < self.lr_factor < 1.0 or not 0.0 < self.stall_lr_g <= 1.0:
            raise ConfigError(f"'{where}.lr_factor' must be in (0, 1) and '{where}.stall_lr_g' in (0, 1].")
        if not 0.0 <= self.early_end <= self.late_start <= 1.0:
            raise ConfigError(f"'{where}.early_end' and '{where}.late_start' must satisfy 0 <= early_end <= late_start <= 1.")
        if self.meta == "bandit" and (not self.meta_acc or not self.meta_fm):
            raise ConfigError(f"'{where}.meta_acc' and '{where}.meta_fm' need at least one value each for the bandit.")


@CONTROLLERS.register("apfl", options=APFLOptions)
class APFL(Controller):
    """Adaptive performance feedback loop: monitors, feedback rules, stages and the meta module (section III-C)."""

    @classmethod
    def needs(cls, options: APFLOptions, cfg: Any) -> Needs:
        o = options
        stats = {"acc_real", "acc_fake", QUALITY} | ({"grad_norm_g", "grad_norm_d"} if o.grad_ratio_low > 0 else set())
        knobs = {"lr_g", "lr_d", "instance_noise", "label_smoothing", "d_steps", "g_steps"}
        if o.fm_step > 0 or o.fm > 0 or (o.meta == "bandit" and any(o.meta_fm)):
            knobs.add(weight_knob("fm"))  # the stall rule and the meta module lean on feature matching (eq 12)
        return Needs.of(stats, knobs)

    def __init__(self, options: APFLOptions, cfg: Any) -> None:
        super().__init__(options, cfg)
        o = options
        # Stage points are shares of a fixed horizon, not of train.steps: the budget may grow when a run is resumed,
        # and N + N steps must switch stages where 2N steps in one go do.
        self.total = int(o.horizon)
        self.monitor = PerformanceMonitor(beta=o.ema)
        self.meta: Optional[MetaTargets] = (MetaTargets(o.meta_acc, o.meta_fm, o.meta_episode, o.meta_c)
                                            if o.meta == "bandit" else None)
        self.ctx: Optional[ControlContext] = None
        self.stage = 0 if o.stages != "off" else 1
        # The rules' own state.
        self.mult_g = 1.0
        self.mult_d = 1.0
        self.noise = 0.0
        self.smoothing = 0.0
        self.fm_boost = 0.0
        self.d_delta = 0
        self.g_delta = 0
        self.stage_stalls = 0
        self.stall_mark = 0
        self.counts = {"soften": 0, "restore": 0, "stall": 0}
        self.last = {"d_rule": 0.0, "stall": 0.0}
        # What APFL has put into the knobs so far (it only ever applies differences of these).
        self.applied = {"lr_g": 1.0, "lr_d": 1.0, "noise": 0.0, "smoothing": 0.0, "fm": 0.0, "d": 0, "g": 0}

    # ---- wiring -------------------------------------------------------------------------------------------
    def setup(self, ctx: ControlContext, knobs: Knobs) -> None:
        self.ctx = ctx

    @property
    def acc_high(self) -> float:
        return self.meta.targets["acc_high"] if self.meta else self.options.acc_high

    @property
    def fm_base(self) -> float:
        return self.meta.targets["fm"] if self.meta else self.options.fm

    # ---- the loop -----------------------------------------------------------------------------------------
    def observe(self, step: int, stats: dict[str, float], knobs: Knobs) -> dict[str, float]:
        o = self.options
        self.monitor.update(stats)
        self.last = {}
        switched = False
        q = stats.get(QUALITY)  # present on the steps the trainer's probe measured
        if q is not None:
            self.monitor.add_quality(step, float(q))
            if self.meta is not None and self.meta.observe_quality(float(q)):
                self.last["meta_reward"] = self.meta.last_reward
            self._stall_rule()
            switched = self._monitor_stage()
        switched = self._scheduled_stage(step) or switched
        if switched:
            self.last["stage_switch"] = 1.0
        if step % o.every == 0:
            self._d_rule(knobs)
        self._apply(step, knobs)
        # Event keys appear only on the steps they happen, so the trainer's window mean logs them unblurred.
        out = dict(self.last)
        out.update({
            "acted": float(any(v != 0.0 for v in self.last.values())), "stage": float(self.stage), "lr_g": knobs.lr_g, "lr_d": knobs.lr_d,
            "instance_noise": knobs.instance_noise, "label_smoothing": knobs.label_smoothing, "fm": knobs.weight("fm"),
            "d_steps": float(knobs.d_steps), "g_steps": float(knobs.g_steps), "d_acc": self.monitor.get("d_acc"),
            "grad_ratio": self.monitor.get("grad_ratio"), "quality": self.monitor.last_quality,
            "acc_high": self.acc_high, "meta_arm": float(self.meta.arm) if self.meta else -1.0,
            "n_soften": float(self.counts["soften"]), "n_restore": float(self.counts["restore"]),
            "n_stall": float(self.counts["stall"]),
        })
        return out

    def _d_rule(self, knobs: Knobs) -> None:
        """Soften D when it is too strong or G's gradient vanishes; withdraw the softening when D is weak."""
        o = self.options
        acc = self.monitor.get("d_acc")
        ratio = self.monitor.get("grad_ratio")
        vanishing = o.grad_ratio_low > 0 and ratio == ratio and ratio < o.grad_ratio_low
        if (acc == acc and acc > self.acc_high) or vanishing:
            self.mult_d = max(self.mult_d * o.lr_factor, o.lr_min)
            self.noise = min(self.noise + o.noise_step, o.noise_max)
            self.smoothing = min(self.smoothing + o.smoothing_step, o.smoothing_max)
            if knobs.d_steps > 1:
                self.d_delta -= 1
            elif knobs.g_steps < o.max_g_steps:
                self.g_delta += 1
            self.counts["soften"] += 1
            self.last["d_rule"] = 1.0
        elif acc == acc and acc < o.acc_low and self._softened():
            self.mult_d = min(self.mult_d / o.lr_factor, 1.0)
            self.noise = max(self.noise - o.noise_step, 0.0)
            self.smoothing = max(self.smoothing - o.smoothing_step, 0.0)
            if self.g_delta > 0:
                self.g_delta -= 1
            elif self.d_delta < 0:
                self.d_delta += 1
            self.counts["restore"] += 1
            self.last["d_rule"] = -1.0
        else:
            self.last["d_rule"] = 0.0
        if self.stage == 2:
            self.noise *= o.late_noise_decay  # late stage: anneal instance noise away

    def _softened(self) -> bool:
        """Whether the D rule has softening of its own to withdraw."""
        return self.mult_d < 1.0 or self.noise > 0 or self.smoothing > 0 or self.g_delta > 0 or self.d_delta < 0

    def _stall_rule(self) -> None:
        """When quality has been flat for a window, lean on feature matching (eq 12) and lower lr_g."""
        o = self.options
        if len(self.monitor.quality) - self.stall_mark < o.stall_window:
            return  # wait for a fresh window after the last reaction
        if self.monitor.quality_stalled(o.stall_window, o.stall_tol):
            self.fm_boost = min(self.fm_boost + o.fm_step, o.fm_max)
            self.mult_g = max(self.mult_g * o.stall_lr_g, o.lr_min)
            self.stall_mark = len(self.monitor.quality)
            self.counts["stall"] += 1
            self.stage_stalls += 1
            self.last["stall"] = 1.0

    def _monitor_stage(self) -> bool:
        """Stage switches from the monitors: early ends when D discriminates and quality's fast fall is over;
        late starts when quality stalls twice in the middle stage with D in balance (the two have converged)."""
        o = self.options
        if o.stages != "monitor":
            return False
        acc = self.monitor.get("d_acc")
        if self.stage == 0 and len(self.monitor.quality) >= 3 and acc == acc and acc >= o.acc_low \
                and self.monitor.quality_trend(2) < 0.1:
            return self._enter(1)
        if self.stage == 1 and self.stage_stalls >= 2 and acc == acc and o.acc_low <= acc <= self.acc_high:
            return self._enter(2)
        return False

    def _scheduled_stage(self, step: int) -> bool:
        """Switches at shares of ``horizon`` (the schedule; in monitor mode the latest points)."""
        o = self.options
        if o.stages == "off" or not self.total:
            return False
        frac = step / self.total
        if self.stage < 2 and frac >= o.late_start:
            return self._enter(2)
        if self.stage < 1 and frac >= o.early_end:
            return self._enter(1)
        return False

    def _enter(self, stage: int) -> bool:
        self.stage = stage
        self.stage_stalls = 0
        return True

    def _targets(self, step: int) -> dict[str, float]:
        """APFL's whole contribution to the knobs now: schedule x rules x stage."""
        o = self.options
        sched = schedule_factor(o.lr_kind, step, o.lr_step, o.lr_gamma)  # eqs (8)-(9)
        stage_d = o.early_lr_d if self.stage == 0 else (o.late_lr if self.stage == 2 else 1.0)
        stage_g = o.late_lr if self.stage == 2 else 1.0
        noise_floor = o.early_noise if self.stage == 0 else 0.0
        smooth_floor = o.early_smoothing if self.stage == 0 else (o.late_smoothing if self.stage == 2 else 0.0)
        return {"lr_g": sched * self.mult_g * stage_g, "lr_d": sched * self.mult_d * stage_d,
                "noise": max(self.noise, noise_floor), "smoothing": max(self.smoothing, smooth_floor),
                "fm": self.fm_base + self.fm_boost, "d": self.d_delta, "g": self.g_delta}

    def _apply(self, step: int, knobs: Knobs) -> None:
        new, old = self._targets(step), self.applied
        knobs.lr_g *= new["lr_g"] / old["lr_g"]
        knobs.lr_d *= new["lr_d"] / old["lr_d"]
        knobs.instance_noise = max(0.0, knobs.instance_noise + new["noise"] - old["noise"])
        knobs.label_smoothing = min(0.5, max(0.0, knobs.label_smoothing + new["smoothing"] - old["smoothing"]))
        knobs.weights["fm"] = max(0.0, knobs.weight("fm") + new["fm"] - old["fm"])
        knobs.d_steps = max(1, knobs.d_steps + int(new["d"] - old["d"]))
        knobs.g_steps = max(1, knobs.g_steps + int(new["g"] - old["g"]))
        self.applied = new

    # ---- checkpoint ---------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "monitor": self.monitor.state_dict(),
            "meta": self.meta.state_dict() if self.meta else None, "stage": self.stage,
            "mult_g": self.mult_g, "mult_d": self.mult_d, "noise": self.noise, "smoothing": self.smoothing,
            "fm_boost": self.fm_boost, "d_delta": self.d_delta, "g_delta": self.g_delta,
            "stage_stalls": self.stage_stalls, "stall_mark": self.stall_mark, "counts": dict(self.counts),
            "applied": dict(self.applied),
        }

    def load_state_dict(self, state: dict) -> None:
        self.monitor.load_state_dict(state["monitor"])
        if self.meta is not None and state.get("meta") is not None:
            self.meta.load_state_dict(state["meta"])
        for k in ("stage", "d_delta", "g_delta", "stage_stalls", "stall_mark"):
            setattr(self, k, int(state[k]))
        for k in ("mult_g", "mult_d", "noise", "smoothing", "fm_boost"):
            setattr(self, k, float(state[k]))
        self.counts = {k: int(v) for k, v in state["counts"].items()}
        self.applied = dict(state["applied"])
