"""The alternating adversarial step: ``knobs.d_steps`` D updates, then ``knobs.g_steps`` G updates.

Single- and multi-scale models train through the same code: the real batch becomes a pyramid of as many scales
as G returns. Subclasses add loss terms through :meth:`GANMethod.extra_d_terms` / :meth:`GANMethod.extra_g_terms`
(MSPG-SEN adds AFE and the contrastive loss this way) instead of rewriting the step.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Literal, Optional

import torch
from torch import nn

from ..control.base import Knobs
from ..data.stream import Batch
from ..errors import ConfigError
from ..losses import LOSSES, feature_matching, gradient_penalty, r1_penalty
from ..models.base import pyramid
from ..utils.shard import local_draw
from .base import METHODS, Method, grad_norm, make_optimizer, set_lr

Tensor = torch.Tensor


@dataclass
class GANOptions:
    loss: Literal["ns", "hinge", "wgan", "lsgan", "rahinge"] = "ns"  # Adversarial loss pair (losses/adversarial.py).
    n_critic: int = 1  # D updates per G update at the start (the d_steps knob).
    gp: float = 0.0  # WGAN-GP gradient-penalty weight (lambda; 10 in WGAN-GP).
    r1: float = 0.0  # R1 penalty weight on real data.
    fm: float = 0.0  # Feature-matching weight (eq 12) at the start (the 'fm' knob weight).
    drift: float = 0.0  # Penalty on D's squared output on real data (ProGAN's epsilon drift, 1e-3).

    def check(self, where: str) -> None:
        if self.n_critic < 1:
            raise ConfigError(f"'{where}.n_critic' must be at least 1, got {self.n_critic}.")
        if min(self.gp, self.r1, self.fm, self.drift) < 0:
            raise ConfigError(f"Loss weights in '{where}' cannot be negative.")

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
        self._last_real: Optional[tuple[list[Tensor], Optional[Tensor]]] = None

    default_weights = {"adv": 1.0}

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
        for _ in range(max(1, knobs.d_steps)):
            stats.update(self.d_step(data.next(), knobs))
        for _ in range(max(1, knobs.g_steps)):
            stats.update(self.g_step(knobs))
        return stats

    def d_step(self, batch: Batch, knobs: Knobs) -> dict[str, float]:
        G, D, opt = self.G, self.D, self.optimizers["D"]
        y = self.labels_for(batch)
        n = len(batch)
        with torch.no_grad(), self.autocast():
            fakes = [f.float() for f in G(self.sample_z(n), y)]
        real = self.real_scales(batch.images, len(fakes))
        self._last_real = (real, y)
        rin, fin = self.noisy(real, knobs.instance_noise), self.noisy(fakes, knobs.instance_noise)
        with self.autocast():
            r = D(rin, y).float()
            f = D(fin, y).float()
            terms = {"adv": knobs.weight("adv", 1.0) * self.loss.d(r, f, knobs.label_smoothing)}
            if knobs.weight("drift"):
                terms["drift"] = knobs.weight("drift") * r.pow(2).mean()
            terms.update(self.extra_d_terms(real, fakes, y, knobs))
        if knobs.weight("gp"):
            terms["gp"] = knobs.weight("gp") * gradient_penalty(D, rin, fin, y)
        if knobs.weight("r1"):
            terms["r1"] = knobs.weight("r1") * r1_penalty(D, rin, y)
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
        return out

    def g_step(self, knobs: Knobs) -> dict[str, float]:
        G, D, opt = self.G, self.D, self.optimizers["G"]
        if self._last_real is None:
            raise RuntimeError("g_step before any d_step")
        real, y_real = self._last_real
        n = real[-1].shape[0]
        y = y_real if y_real is not None else self.random_labels(n)
        fm_w = knobs.weight("fm")
        D.requires_grad_(False)  # G's update needs gradients through D, not of D's weights
        with self.autocast():
            fakes, g_feats = G(self.sample_z(n), y, features=True)
            if fm_w:
                f, f_feats = D(fakes, y, features=True)
            else:
                f = D(fakes, y)
            f = f.float()
            r = None
            if self.loss.needs_real_for_g or fm_w:
                with torch.no_grad():
                    r, r_feats = D(real, y, features=True)
                    r = r.float()
            # 'adv_g' weights G's adversarial term alone (NATS's annealed weight, control/nats.py)
            terms = {"adv": knobs.weight("adv", 1.0) * knobs.weight("adv_g", 1.0) * self.loss.g(f, r)}
            if fm_w:
                terms["fm"] = fm_w * feature_matching(r_feats, f_feats)  # eq (12)
            terms.update(self.extra_g_terms(fakes, g_feats, f, real, y, knobs))
        total = sum(terms.values())
        opt.zero_grad(set_to_none=True)
        total.backward()
        D.requires_grad_(True)
        gn = grad_norm(G)
        opt.step()
        out = {"loss_g": float(total.detach()), "grad_norm_g": gn}
        out.update({f"loss_g_{k}": float(v.detach()) for k, v in terms.items() if k != "adv"})
        return out

    # -- extension points ------------------------------------------------------------------------------------
    def extra_d_terms(self, real: list[Tensor], fakes: list[Tensor], y: Optional[Tensor], knobs: Knobs) -> dict[str, Tensor]:
        """Further weighted loss terms for D's update (none here)."""
        return {}

    def extra_g_terms(self, fakes: list[Tensor], g_feats: list[Tensor], fake_logits: Tensor, real: list[Tensor],
                      y: Optional[Tensor], knobs: Knobs) -> dict[str, Tensor]:
        """Further weighted loss terms for G's update (none here)."""
        return {}
