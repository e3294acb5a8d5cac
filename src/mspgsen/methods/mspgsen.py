"""The MSPG-SEN training step: the alternating GAN step plus AFE, L_LGCL and the progressive scale schedule.

Added to :class:`~mspgsen.methods.gan.GANMethod` through its extension points:

* progressive (section III-C's early/middle/late stages): before every step D's per-scale join weights are set
  from the training progress (:meth:`MSPGSENMethod.scale_weights`): the coarsest scale always counts fully, and
  scale ``s`` ramps from ``progressive_floor`` to 1 during the ``s``-th of ``S - 1`` equal parts of
  ``progressive_length`` (kimg or steps). D therefore judges coarse structure first, and G's fine heads receive a
  gradient scaled by the same weight. ``progressive=false`` keeps every weight at 1 (plain MSG-GAN).
* L_LGCL (eq 7): the DEMA blocks' contrastive losses of the forward (carried by its feature list), weighted by the ``lgcl`` knob, added to G's
  loss (G's blocks) and to D's loss (D's blocks, when D has DEMA).
* AFE (eqs 17-20): during G's update, D_aux first takes one step of eq (18) on D-encoded real features against
  G's (detached) features at ``afe_scale``, with its own optimizer; then G's loss gets ``aux * -log D_aux(F_gen)``
  (eq 19's aux term, weighted by the ``aux`` knob, lambda_aux of eq 20): G's total loss is the main term plus
  lambda_aux times the aux term, summed in ``GANMethod.g_step``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import torch
from torch import nn

from ..contract import Knobs, weight_knob
from ..errors import ConfigError
from ..losses.afe import afe_d_loss, afe_g_loss
from ..nn.afe import afe_features
from ..shard import shard
from .base import METHODS, make_optimizer, set_lr
from .gan import GANMethod, GANOptions, RealBatch

Tensor = torch.Tensor
MULTISCALE_MODELS = ("mspgsen", "msggan")


@dataclass
class MSPGSENMethodOptions(GANOptions):
    progressive: bool = True  # Move D's per-scale weights from coarse to fine over training; off: plain MSG-GAN.
    progressive_unit: Literal["kimg", "step"] = "kimg"  # What progressive_length counts.
    progressive_length: float = 20.0  # kimg (or steps) until every scale has full weight.
    progressive_floor: float = 0.1  # Weight of a scale before its turn (> 0 keeps every to-RGB head learning).
    aux: float = 0.1  # lambda_aux (eq 20): weight of G's AFE term, the 'aux' knob's start value (needs model.afe).
    lgcl: float = 0.1  # Weight of L_LGCL (eq 7), the 'lgcl' knob's start value (needs DEMA with lgcl in the model).
    aux_lr_ratio: float = 1.0  # D_aux's learning rate as a multiple of the lr_d knob.
    noise_start: float = 0.0  # Linear noise plan (section IV): instance-noise std on D's inputs at the start ...
    noise_length: float = 0.0  # ... falling linearly to 0 over this many kimg (or steps: progressive_unit); 0: off.

    def check(self, where: str) -> None:
        super().check(where)
        if self.progressive_length <= 0:
            raise ConfigError(f"'{where}.progressive_length' must be positive, got {self.progressive_length}.")
        if not 0.0 <= self.progressive_floor <= 1.0:
            raise ConfigError(f"'{where}.progressive_floor' must lie in [0, 1], got {self.progressive_floor}.")
        if min(self.noise_start, self.noise_length) < 0:
            raise ConfigError(f"'{where}.noise_start' and '.noise_length' cannot be negative.")
        if min(self.aux, self.lgcl) < 0 or self.aux_lr_ratio <= 0:
            raise ConfigError(f"'{where}.aux' and '.lgcl' cannot be negative and '.aux_lr_ratio' must be positive.")

    def check_config(self, cfg) -> None:
        super().check_config(cfg)
        if cfg.model.name not in MULTISCALE_MODELS:
            raise ConfigError(f"method.name=mspgsen needs a multi-scale model ({', '.join(MULTISCALE_MODELS)}), got "
                              f"model.name={cfg.model.name}; use method.name=gan for it.")


def progressive_weights(n_scales: int, progress: float, floor: float) -> list[float]:
    """Per-scale weights, coarse to fine, at ``progress`` in [0, 1] (1 and beyond: all scales at 1).

    Scale 0 is always 1; scale ``s >= 1`` ramps linearly from ``floor`` to 1 while progress goes from
    ``(s - 1) / (S - 1)`` to ``s / (S - 1)``: early training is coarse, the middle adds the middle scales, the late
    stage weighs every scale fully.
    """
    if n_scales <= 1:
        return [1.0] * n_scales
    p = min(max(progress, 0.0), 1.0) * (n_scales - 1)
    return [1.0] + [floor + (1.0 - floor) * min(max(p - (s - 1), 0.0), 1.0) for s in range(1, n_scales)]


@METHODS.register("mspgsen", options=MSPGSENMethodOptions)
class MSPGSENMethod(GANMethod):
    """GANMethod + progressive scale weights + L_LGCL + AFE (D_aux with its own optimizer)."""

    def __init__(self, options: MSPGSENMethodOptions, cfg, nets: nn.ModuleDict, device: torch.device) -> None:
        super().__init__(options, cfg, nets, device)
        self.D_aux: Optional[nn.Module] = nets["D_aux"] if "D_aux" in nets else None
        if self.D_aux is not None:
            self.optimizers["D_aux"] = make_optimizer(self.D_aux.parameters(), cfg.optim,
                                                      cfg.optim.lr_d * options.aux_lr_ratio)
        self.steps_done = 0
        self.images_seen = 0

    @classmethod
    def has_afe(cls, cfg) -> bool:
        """Whether the model holds D_aux (the mspgsen model with afe on), i.e. whether the 'aux' knob acts."""
        return bool(getattr(cfg.model.options, "afe", False))

    @classmethod
    def reports(cls, options: MSPGSENMethodOptions, cfg) -> frozenset[str]:
        extra = {"loss_daux", "daux_real", "daux_fake", "loss_g_aux"} if cls.has_afe(cfg) and options.aux else set()
        if options.noise_start:
            extra.add("noise_plan")
        return super().reports(options, cfg) | extra

    @classmethod
    def honours(cls, options: MSPGSENMethodOptions, cfg) -> frozenset[str]:
        return super().honours(options, cfg) | {weight_knob("lgcl")} | ({weight_knob("aux")} if cls.has_afe(cfg) else set())

    def initial_knobs(self) -> Knobs:
        k = super().initial_knobs()
        k.weights.update({"aux": self.options.aux if self.D_aux is not None else 0.0, "lgcl": self.options.lgcl})
        return k

    # -- progressive -----------------------------------------------------------------------------------------
    def progress(self) -> float:
        o = self.options
        done = self.images_seen / 1000.0 if o.progressive_unit == "kimg" else float(self.steps_done)
        return done / o.progressive_length

    def planned_noise(self) -> float:
        """The linear noise plan's std now: ``noise_start`` falling linearly to 0 at ``noise_length`` (section IV)."""
        o = self.options
        if not (o.noise_start and o.noise_length):
            return 0.0
        done = self.images_seen / 1000.0 if o.progressive_unit == "kimg" else float(self.steps_done)
        return o.noise_start * max(0.0, 1.0 - done / o.noise_length)

    def noisy(self, xs: list[Tensor], sigma: float) -> list[Tensor]:
        """Instance noise: the knob's (APFL's) std plus the linear noise plan's."""
        return super().noisy(xs, sigma + self.planned_noise())

    def scale_weights(self) -> list[float]:
        n = int(getattr(self.G, "scales", 1))
        if not self.options.progressive:
            return [1.0] * n
        return progressive_weights(n, self.progress(), self.options.progressive_floor)

    # -- the step --------------------------------------------------------------------------------------------
    def step(self, data, knobs: Knobs) -> dict[str, float]:
        w = self.scale_weights()
        if hasattr(self.D, "set_scale_weights"):
            self.D.set_scale_weights(w)
        stats = super().step(data, knobs)
        self.steps_done += 1
        stats.update({f"scale_w{s}": v for s, v in enumerate(w)})
        if self.options.noise_start:
            stats["noise_plan"] = self.planned_noise()
        return stats

    def d_step(self, real: RealBatch, knobs: Knobs) -> dict[str, float]:
        self.images_seen += real.size * shard()[1]  # global images, as the schedule is stated in kimg
        return super().d_step(real, knobs)

    def g_step(self, real: RealBatch, knobs: Knobs) -> dict[str, float]:
        try:
            return super().g_step(real, knobs)
        finally:
            if self.D_aux is not None:
                self.D_aux.requires_grad_(True)

    def extra_d_terms(self, real, fakes, fake_feats, y, knobs: Knobs) -> tuple[dict[str, Tensor], dict[str, float]]:
        lg = getattr(fake_feats, "lgcl", None)  # D's DEMA blocks on this update's fakes (None without DEMA in D)
        w = knobs.weight("lgcl")
        return ({"lgcl": w * lg} if (w and lg is not None) else {}), {}  # eq (7)

    def extra_g_terms(self, fakes, g_feats, fake_logits, real, y, knobs: Knobs) -> tuple[dict[str, Tensor], dict[str, float]]:
        terms: dict[str, Tensor] = {}
        stats: dict[str, float] = {}
        lg = getattr(g_feats, "lgcl", None)  # G's DEMA blocks on this forward
        if knobs.weight("lgcl") and lg is not None:
            terms["lgcl"] = knobs.weight("lgcl") * lg  # eq (7)
        if self.D_aux is not None and knobs.weight("aux"):
            aux, stats = self.afe_term(fakes, g_feats, real, knobs)
            terms["aux"] = knobs.weight("aux") * aux  # eqs (19)-(20): L_G_total = L_G + lambda_aux * aux term
        return terms, stats

    # -- AFE -------------------------------------------------------------------------------------------------
    def afe_term(self, fakes: list[Tensor], g_feats: list[Tensor], real: list[Tensor],
                 knobs: Knobs) -> tuple[Tensor, dict[str, float]]:
        """One D_aux update (eq 18), then G's aux term ``-log D_aux(F_gen)`` (eq 19) with D_aux frozen, and D_aux's stats."""
        G, D, D_aux = self.G, self.D, self.D_aux
        s = G.afe_scale
        real_feat, fake_feat = afe_features(
            G.afe_mode, g_feat=g_feats[s], real_images=list(real), fake_images=list(fakes),
            d_encode=lambda xs: D.encode(xs, s), adapter=getattr(G, "afe_adapter", None))
        opt = self.optimizers["D_aux"]
        set_lr(opt, knobs.lr_d * self.options.aux_lr_ratio)
        D_aux.requires_grad_(True)
        r, f = D_aux(real_feat), D_aux(fake_feat.detach())
        loss_aux_d = afe_d_loss(r, f)  # eq (18), the project's reading: real features vs G's
        opt.zero_grad(set_to_none=True)
        loss_aux_d.backward()
        opt.step()
        D_aux.requires_grad_(False)  # G's term trains G (and its adapter), not D_aux
        stats = {"loss_daux": float(loss_aux_d.detach()), "daux_real": float(torch.sigmoid(r.detach()).mean()),
                 "daux_fake": float(torch.sigmoid(f.detach()).mean())}
        return afe_g_loss(D_aux(fake_feat)), stats  # eq (19), aux term

    # -- state -----------------------------------------------------------------------------------------------
    def extra_state(self) -> dict:
        return {**super().extra_state(), "steps_done": self.steps_done, "images_seen": self.images_seen}

    def load_extra_state(self, state: dict) -> None:
        super().load_extra_state(state)
        self.steps_done = int(state.get("steps_done", 0))
        self.images_seen = int(state.get("images_seen", 0))
