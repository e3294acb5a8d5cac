"""BEGAN's step (Berthelot et al., 2017; Yin et al., 2020 eq 6): D an auto-encoder, losses on reconstruction errors.

    L_D = L(x) - k_t L(G(z_D))        L_G = L(G(z_G))        k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z_G))), 0, 1)

with L(v) = |v - D(v)|^eta. The k_t update lives in the ``began_k`` controller (control/began.py): the method reads
``knobs.extra['k']`` and reports ``L_real`` = L(x), ``L_fake`` = L(G(z_G)) and the convergence measure
``M_global`` = L(x) + |gamma L(x) - L(G(z_G))| (Yin et al. eq 7) at every step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from ..contract import Knobs, extra_knob
from ..errors import ConfigError
from ..models.began import recon_loss
from .base import METHODS, Method, grad_norm, make_optimizer, set_lr

Tensor = torch.Tensor


def m_global(l_real: float, l_fake: float, gamma: float) -> float:
    """The convergence measure M_global = L(x) + |gamma L(x) - L(G(z))| (Yin et al. eq 7; lower is better)."""
    return l_real + abs(gamma * l_real - l_fake)


@dataclass
class BEGANMethodOptions:
    gamma: float = 0.5  # Diversity ratio E[L(G(z))] / E[L(x)] that k_t steers towards (both papers: 0.5 in their figures).

    def check(self, where: str) -> None:
        if not 0.0 < self.gamma <= 1.0:
            raise ConfigError(f"'{where}.gamma' must be in (0, 1], got {self.gamma}.")

    def check_config(self, cfg) -> None:
        if cfg.model.name != "began":
            raise ConfigError(f"method 'began' needs the auto-encoder discriminator of model 'began', not '{cfg.model.name}'; set model.name=began.")
        opts = cfg.control.get("began_k")
        if opts is None or not opts.enabled:
            raise ConfigError("method 'began' needs its k_t controller; set control.began_k=true (the began preset does).")


@METHODS.register("began", options=BEGANMethodOptions)
class BEGANMethod(Method):
    """One D update on L(x) - k L(G(z)), then one G update on L(G(z)) (each repeated d_steps / g_steps times)."""

    def __init__(self, options: BEGANMethodOptions, cfg, nets: nn.ModuleDict, device: torch.device) -> None:
        super().__init__(options, cfg, nets, device)
        if not hasattr(self.D, "reconstruct"):
            raise ConfigError("method 'began' needs a discriminator with reconstruct(); use model.name=began.")
        self.eta = int(getattr(self.D, "eta", 1))
        self.optimizers = {
            "G": make_optimizer(self.G.parameters(), cfg.optim, cfg.optim.lr_g),
            "D": make_optimizer(self.D.parameters(), cfg.optim, cfg.optim.lr_d),
        }

    @classmethod
    def reports(cls, options: BEGANMethodOptions, cfg) -> frozenset[str]:
        # no acc_real / acc_fake or d_real / d_fake: an auto-encoder D gives reconstruction errors, not a verdict
        return frozenset({"loss_d", "loss_g", "L_real", "L_fake", "L_fake_d", "M_global", "k", "grad_norm_d",
                          "grad_norm_g"})

    @classmethod
    def honours(cls, options: BEGANMethodOptions, cfg) -> frozenset[str]:
        return super().honours(options, cfg) | {"d_steps", "g_steps", extra_knob("k")}

    def initial_knobs(self) -> Knobs:
        k = super().initial_knobs()
        k.extra["k"] = 0.0  # the began_k controller sets its k0 in setup()
        return k

    def loss_of(self, x: Tensor) -> Tensor:
        """Per-sample L(v) = |v - D(v)|^eta."""
        return recon_loss(x, self.D.reconstruct(x), self.eta)

    def step(self, data, knobs: Knobs) -> dict[str, float]:
        set_lr(self.optimizers["D"], knobs.lr_d)
        set_lr(self.optimizers["G"], knobs.lr_g)
        k = float(knobs.extra.get("k", 0.0))
        stats: dict[str, float] = {}
        n = 0
        for _ in range(max(1, knobs.d_steps)):
            x = data.next().images
            n = x.shape[0]
            stats.update(self.d_step(x, k))
        for _ in range(max(1, knobs.g_steps)):
            stats.update(self.g_step(n))
        stats["M_global"] = m_global(stats["L_real"], stats["L_fake"], self.options.gamma)  # eq (7)
        stats["k"] = k
        return stats

    def d_step(self, x: Tensor, k: float) -> dict[str, float]:
        with torch.no_grad():
            fake = self.G(self.sample_z(x.shape[0]))[-1]
        l_real = self.loss_of(x).mean()
        l_fake = self.loss_of(fake).mean()
        loss = l_real - k * l_fake  # eq (6), D side
        opt = self.optimizers["D"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = grad_norm(self.D)
        opt.step()
        return {"loss_d": float(loss.detach()), "L_real": float(l_real.detach()), "L_fake_d": float(l_fake.detach()),
                "grad_norm_d": gn}

    def g_step(self, n: int) -> dict[str, float]:
        self.D.requires_grad_(False)
        l_fake = self.loss_of(self.G(self.sample_z(n))[-1]).mean()  # eq (6), G side
        opt = self.optimizers["G"]
        opt.zero_grad(set_to_none=True)
        l_fake.backward()
        self.D.requires_grad_(True)
        gn = grad_norm(self.G)
        opt.step()
        return {"loss_g": float(l_fake.detach()), "L_fake": float(l_fake.detach()), "grad_norm_g": gn}

    def generate(self, G: nn.Module, z: Tensor, y: Optional[Tensor] = None) -> list[Tensor]:
        """G's decoder output is linear (as in BEGAN); samples are clipped to the image range [-1, 1]."""
        return [x.clamp(-1.0, 1.0) for x in G(z)]
