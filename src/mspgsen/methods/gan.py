"""The alternating adversarial step: ``knobs.d_steps`` D updates, then ``knobs.g_steps`` G updates.

Single- and multi-scale models train through the same code: the real batch becomes a pyramid of as many scales
as G returns, which the step hands to D's and then G's update (:class:`RealBatch`). Subclasses add loss terms
(and stats) through :meth:`GANMethod.extra_d_terms` / :meth:`GANMethod.extra_g_terms` (MSPG-SEN adds AFE and the
contrastive loss this way) instead of rewriting the step; everything an update needs arrives as an argument.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from typing import Literal, Optional

import torch
from torch import nn

from ..contract import Knobs, weight_knob
from ..data.stream import Batch
from ..errors import ConfigError
from ..losses import LOSSES, feature_matching, gradient_penalty, r1_penalty
from ..models.base import pyramid
from ..shard import local_draw
from .augment import diff_augment, parse_policy
from .base import METHODS, Method, grad_norm, make_optimizer, set_lr

Tensor = torch.Tensor


@dataclass
class RealBatch:
    """A real minibatch as D sees it: the pyramid (coarse to fine) and the labels (None when unconditional).

    The step hands it to both updates, so G's update uses the same real images as the last D update without the
    method keeping them between calls. With ``share_fakes`` it also carries the step's one G forward (images and
    features, with their graph): the D update reads it detached, the first G update backpropagates through it.
    """

    scales: list[Tensor]
    labels: Optional[Tensor]
    fakes: Optional[tuple[list[Tensor], list[Tensor]]] = None

    @property
    def size(self) -> int:
        return int(self.scales[-1].shape[0])


@dataclass
class GANOptions:
    loss: Literal["ns", "hinge", "wgan", "lsgan", "rahinge"] = "ns"  # Adversarial loss pair (losses/adversarial.py).
    n_critic: int = 1  # D updates per G update at the start (the d_steps knob).
    gp: float = 0.0  # WGAN-GP gradient-penalty weight (lambda; 10 in WGAN-GP).
    r1: float = 0.0  # R1 penalty weight on real data.
    r1_every: int = 1  # Lazy R1: the penalty on every this many D updates only, weighted by it (StyleGAN2 uses 16).
    fm: float = 0.0  # Feature-matching weight (eq 12) at the start (the 'fm' knob weight).
    drift: float = 0.0  # Penalty on D's squared output on real data (ProGAN's epsilon drift, 1e-3).
    diffaug: str = ""  # DiffAugment policy for every image D sees, e.g. 'translation,cutout' (methods/augment.py).
    share_fakes: bool = False  # One G forward per step for the last D update (detached) and the first G update
    # (through D after its update); the G update then reuses the D update's z instead of drawing its own.

    def check(self, where: str) -> None:
        if self.n_critic < 1:
            raise ConfigError(f"'{where}.n_critic' must be at least 1, got {self.n_critic}.")
        if self.r1_every < 1:
            raise ConfigError(f"'{where}.r1_every' must be at least 1 (1: R1 on every D update), got {self.r1_every}.")
        if min(self.gp, self.r1, self.fm, self.drift) < 0:
            raise ConfigError(f"Loss weights in '{where}' cannot be negative.")
        parse_policy(self.diffaug)

    def check_config(self, cfg) -> None:
        if self.loss == "wgan" and self.gp == 0 and not getattr(cfg.model.options, "spectral_norm", False):
            raise ConfigError("A WGAN critic needs a Lipschitz constraint: set method.gp=10 (WGAN-GP) or model.spectral_norm=true.")


@METHODS.register("gan", options=GANOptions)
class GANMethod(Method):
    """Alternating D and G updates with a chosen loss pair, penalties and feature matching."""

    def __init__(self, options: GANOptions, cfg, nets: nn.ModuleDict, device: torch.device) -> None:
        super().__init__(options, cfg, nets, device)
        self.loss = LOSSES[options.loss]
        self.num_classes = int(getattr(self.G, "num_classes", 0))
        self.optimizers = {
            "G": make_optimizer(self.G.parameters(), cfg.optim, cfg.optim.lr_g),
            "D": make_optimizer(self.D.parameters(), cfg.optim, cfg.optim.lr_d),
        }
        self.aug_policy = parse_policy(options.diffaug)
        self.d_updates = 0  # D updates so far (lazy R1 counts them; the checkpoint keeps the count)
        self.last_r1 = 0.0  # the latest R1 value, reported on the D updates that skip it
        if self.aug_policy and not getattr(self.G, "resolution", 0):
            raise ConfigError("method.diffaug augments images, and this model makes 2-D points; set method.diffaug=''.")

    default_weights = {"adv": 1.0}

    @classmethod
    def reports(cls, options: GANOptions, cfg) -> frozenset[str]:
        base = {"loss_d", "loss_g", "d_real", "d_fake", "acc_real", "acc_fake", "logit_real", "logit_fake",
                "grad_norm_g", "grad_norm_d"}
        base |= {f"loss_d_{k}" for k in ("gp", "r1", "drift") if getattr(options, k)}
        if options.fm:
            base.add("loss_g_fm")
        return frozenset(base)

    @classmethod
    def honours(cls, options: GANOptions, cfg) -> frozenset[str]:
        return super().honours(options, cfg) | {"d_steps", "g_steps", "instance_noise", "label_smoothing"} | {
            weight_knob(t) for t in ("adv", "adv_g", "fm", "gp", "r1", "drift")}

    def initial_knobs(self) -> Knobs:
        k = super().initial_knobs()
        o = self.options
        k.d_steps = o.n_critic
        k.weights.update({"gp": o.gp, "r1": o.r1, "fm": o.fm, "drift": o.drift})
        return k

    # -- helpers ---------------------------------------------------------------------------------------------
    def autocast(self):
        if self.cfg.train.amp and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def labels_for(self, batch: Batch) -> Optional[Tensor]:
        return batch.labels if self.num_classes else None

    def random_labels(self, n: int) -> Optional[Tensor]:
        if not self.num_classes:
            return None
        return local_draw(n, lambda m: torch.randint(0, self.num_classes, (m,), device=self.device))

    def real_scales(self, x: Tensor, n_scales: int) -> list[Tensor]:
        return pyramid(x, n_scales) if n_scales > 1 else [x]

    def augment(self, xs: list[Tensor]) -> list[Tensor]:
        """What D sees: the images after the DiffAugment policy (unchanged without one)."""
        return diff_augment(xs, self.aug_policy) if self.aug_policy else xs

    @staticmethod
    def noisy(xs: list[Tensor], sigma: float) -> list[Tensor]:
        """Instance noise (the APFL loop's way to soften D): the same std on every scale."""
        if sigma <= 0:
            return xs
        return [x + sigma * local_draw(len(x), lambda m: torch.randn(m, *x.shape[1:], device=x.device, dtype=x.dtype))
                for x in xs]

    # -- the step --------------------------------------------------------------------------------------------
    def step(self, data, knobs: Knobs) -> dict[str, float]:
        set_lr(self.optimizers["D"], knobs.lr_d)
        set_lr(self.optimizers["G"], knobs.lr_g)
        stats: dict[str, float] = {}
        real: Optional[RealBatch] = None
        d_steps = max(1, knobs.d_steps)
        for i in range(d_steps):
            real = self.real_batch(data.next())
            if self.options.share_fakes and i == d_steps - 1:
                real = self.with_fakes(real)  # one G forward for the last D update and the first G update
            stats.update(self.d_step(real, knobs))
        assert real is not None
        for j in range(max(1, knobs.g_steps)):
            # G's update reads the last D update's real batch (feature matching, relativistic losses): passed, not kept;
            # G's shared forward only serves the first G update (G has changed after it)
            stats.update(self.g_step(real if j == 0 else replace(real, fakes=None), knobs))
        return stats

    def real_batch(self, batch: Batch) -> RealBatch:
        """A data batch as D sees it: the pyramid of as many scales as G returns, and labels when conditional."""
        return RealBatch(self.real_scales(batch.images, int(getattr(self.G, "scales", 1))), self.labels_for(batch))

    def with_fakes(self, real: RealBatch) -> RealBatch:
        """``real`` carrying G's forward for its labels, with its graph (``share_fakes``)."""
        with self.autocast():
            fakes, g_feats = self.G(self.sample_z(real.size), real.labels, features=True)
        return replace(real, fakes=(fakes, g_feats))

    def d_step(self, real: RealBatch, knobs: Knobs) -> dict[str, float]:
        G, D, opt = self.G, self.D, self.optimizers["D"]
        y, n = real.labels, real.size
        if real.fakes is not None:  # share_fakes: the step's one G forward, which D's loss must not reach
            fakes = [f.detach().float() for f in real.fakes[0]]
        else:
            with torch.no_grad(), self.autocast():
                fakes = [f.float() for f in G(self.sample_z(n), y)]
        rin = self.augment(self.noisy(real.scales, knobs.instance_noise))
        fin = self.augment(self.noisy(fakes, knobs.instance_noise))
        with self.autocast():
            r = D(rin, y).float()
            f, f_feats = D(fin, y, features=True)  # the features carry this forward's own auxiliary losses
            f = f.float()
            terms = {"adv": knobs.weight("adv", 1.0) * self.loss.d(r, f, knobs.label_smoothing)}
            if knobs.weight("drift"):
                terms["drift"] = knobs.weight("drift") * r.pow(2).mean()
            extra, extra_stats = self.extra_d_terms(real.scales, fakes, f_feats, y, knobs)
            terms.update(extra)
        if knobs.weight("gp"):
            terms["gp"] = knobs.weight("gp") * gradient_penalty(D, rin, fin, y)
        every = self.options.r1_every
        if knobs.weight("r1") and self.d_updates % every == 0:
            # lazy regularisation: on 1 update in `every`, weighted `every` times, so its mean pull is unchanged
            terms["r1"] = knobs.weight("r1") * every * r1_penalty(D, rin, y)
        self.d_updates += 1
        total = sum(terms.values())
        opt.zero_grad(set_to_none=True)
        total.backward()
        gn = grad_norm(D)
        opt.step()
        out = {"loss_d": float(total.detach()), "grad_norm_d": gn,
               "d_real": float(torch.sigmoid(r.detach()).mean()), "d_fake": float(torch.sigmoid(f.detach()).mean()),
               "acc_real": float((r.detach() > 0).float().mean()), "acc_fake": float((f < 0).float().mean()),
               "logit_real": float(r.detach().mean()), "logit_fake": float(f.detach().mean())}
        out.update({f"loss_d_{k}": float(v.detach()) for k, v in terms.items() if k != "adv"})
        if "r1" in terms:
            self.last_r1 = out["loss_d_r1"]
        elif knobs.weight("r1"):  # an update lazy R1 skipped: report the latest value, as the penalty's own knob says
            out["loss_d_r1"] = self.last_r1
        out.update(extra_stats)
        return out

    def g_step(self, real: RealBatch, knobs: Knobs) -> dict[str, float]:
        G, D, opt = self.G, self.D, self.optimizers["G"]
        n = real.size
        y = real.labels if real.labels is not None else self.random_labels(n)
        fm_w = knobs.weight("fm")
        D.requires_grad_(False)  # G's update needs gradients through D, not of D's weights
        with self.autocast():
            fakes, g_feats = real.fakes if real.fakes is not None else G(self.sample_z(n), y, features=True)
            seen = self.augment(fakes)
            if fm_w:
                f, f_feats = D(seen, y, features=True)
            else:
                f = D(seen, y)
            f = f.float()
            r = None
            if self.loss.needs_real_for_g or fm_w:
                with torch.no_grad():
                    r, r_feats = D(self.augment(real.scales), y, features=True)
                    r = r.float()
            # 'adv_g' weights G's adversarial term alone (NATS's annealed weight, control/nats.py)
            terms = {"adv": knobs.weight("adv", 1.0) * knobs.weight("adv_g", 1.0) * self.loss.g(f, r)}  # eq (19), main
            if fm_w:
                terms["fm"] = fm_w * feature_matching(r_feats, f_feats)  # eq (12)
            extra, extra_stats = self.extra_g_terms(fakes, g_feats, f, real.scales, y, knobs)
            terms.update(extra)
        total = sum(terms.values())  # eq (20): the main term plus the weighted aux term (and the others)
        opt.zero_grad(set_to_none=True)
        total.backward()
        D.requires_grad_(True)
        gn = grad_norm(G)
        opt.step()
        out = {"loss_g": float(total.detach()), "grad_norm_g": gn}
        out.update({f"loss_g_{k}": float(v.detach()) for k, v in terms.items() if k != "adv"})
        out.update(extra_stats)
        return out

    # -- state -----------------------------------------------------------------------------------------------
    def extra_state(self) -> dict:
        return {"d_updates": self.d_updates, "last_r1": self.last_r1}

    def load_extra_state(self, state: dict) -> None:
        self.d_updates = int(state.get("d_updates", 0))  # a checkpoint from before lazy R1 starts the count at 0
        self.last_r1 = float(state.get("last_r1", 0.0))

    # -- extension points ------------------------------------------------------------------------------------
    def extra_d_terms(self, real: list[Tensor], fakes: list[Tensor], fake_feats: list[Tensor], y: Optional[Tensor],
                      knobs: Knobs) -> tuple[dict[str, Tensor], dict[str, float]]:
        """Further weighted loss terms for D's update and stats to report (none here).

        ``fake_feats`` are D's features of this update's fakes (with their forward's auxiliary losses, if any).
        """
        return {}, {}

    def extra_g_terms(self, fakes: list[Tensor], g_feats: list[Tensor], fake_logits: Tensor, real: list[Tensor],
                      y: Optional[Tensor], knobs: Knobs) -> tuple[dict[str, Tensor], dict[str, float]]:
        """Further weighted loss terms for G's update and stats to report (none here)."""
        return {}, {}
