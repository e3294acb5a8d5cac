"""CFG-GAN (composite functional gradient GAN; Johnson and Zhang, 2018), and annealed CFG (Wan et al., 2025).

One :meth:`CFGMethod.step` is one *stage*, in the order of the authors' algorithm:

1. if the previous stage left moves D_0..D_{T-1}, fit G by least squares to the images the composite generator
   (the previous G followed by those moves) makes from N latent draws (``fit_epochs`` passes of ``fit_batch``);
   the moves are then spent;
2. for t = 0..T-1: train D with the logistic loss on U real minibatches against fakes of the current composite
   generator (G followed by the moves D_0..D_{t-1}), then store a frozen copy D_t;
3. the composite generator moves a fake x by  x <- x + eta_t * grad_x D_t(x)  for t = 0..T-1.

Between stages (and in every checkpoint) the method therefore holds G *and* the moves computed on that very G, so
sampling (``generate``: ``mspgsen generate``, ``load_generator``, grids) applies each move exactly once, to the
generator it belongs to. Fitting at the start of the next stage rather than at the end of this one changes no
training number: the same draws happen in the same order, the fit is only reported one step later. With
``schedule`` other than ``constant`` the step eta_t is annealed across the T moves (mspgsen.annealing): annealed CFG.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..annealing import Schedule, anneal_values
from ..contract import Knobs
from ..errors import ConfigError
from ..losses.adversarial import ns_d
from ..shard import local_draw
from .base import METHODS, Method, grad_norm, make_optimizer, set_lr

Tensor = torch.Tensor


@dataclass
class CFGOptions:
    T: int = 15  # D updates (and stored copies / moves) per stage.
    U: int = 1  # Real minibatches per D update (the d_steps knob).
    N: int = 640  # Latent draws whose moved images G is fitted to at the end of a stage.
    eta: float = 0.5  # Step size of the moves (0.5 for MNIST-like data with batch norm in D, per the authors' code).
    fit_epochs: int = 10  # Passes over the N moved images when fitting G.
    fit_batch: int = 64  # Minibatch of the G fit.
    schedule: Schedule = "constant"  # eta_t across the T moves: constant (CFG), linear, geometric, noise (annealed CFG).
    end: float = 0.1  # Annealed schedules: eta_{T-1} / eta_0.
    rho: float = 7.0  # The noise schedule's spacing exponent.

    def check(self, where: str) -> None:
        for k in ("T", "U", "N", "fit_epochs", "fit_batch"):
            if getattr(self, k) < 1:
                raise ConfigError(f"'{where}.{k}' must be at least 1, got {getattr(self, k)}.")
        if self.eta <= 0 or not 0.0 < self.end <= 1.0 or self.rho <= 0:
            raise ConfigError(f"'{where}.eta' and '{where}.rho' must be positive and '{where}.end' in (0, 1].")


def move(x: Tensor, copies: list[nn.Module], etas: list[float], y: Optional[Tensor] = None) -> Tensor:
    """The composite generator's moves: x <- x + eta_t grad_x D_t(x) for each stored D_t in order."""
    with torch.enable_grad():
        for D_t, eta in zip(copies, etas):
            x = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(D_t([x], y).sum(), x)
            x = x + eta * g
    return x.detach()


def frozen_copy(D: nn.Module) -> nn.Module:
    """A copy of D for the moves: eval mode (batch norm uses running statistics), no parameter gradients."""
    c = copy.deepcopy(D).eval()
    c.requires_grad_(False)
    return c


@METHODS.register("cfg", options=CFGOptions)
class CFGMethod(Method):
    """One stage per step: T D updates with stored copies, then the least-squares fit of G."""

    def __init__(self, options: CFGOptions, cfg, nets: nn.ModuleDict, device: torch.device) -> None:
        super().__init__(options, cfg, nets, device)
        if int(getattr(self.G, "scales", 1)) != 1:
            raise ConfigError("method 'cfg' moves single images; use a single-scale model such as model.name=dcgan.")
        self.num_classes = int(getattr(self.G, "num_classes", 0))
        self.etas = anneal_values(options.schedule, options.eta, options.T, options.end, options.rho)
        self.copies: list[nn.Module] = []  # the last stage's D_0..D_{T-1}, computed on the present G
        self.optimizers = {
            "G": make_optimizer(self.G.parameters(), cfg.optim, cfg.optim.lr_g),
            "D": make_optimizer(self.D.parameters(), cfg.optim, cfg.optim.lr_d),
        }

    @classmethod
    def reports(cls, options: CFGOptions, cfg) -> frozenset[str]:
        # loss_g, grad_norm_g and fit_start come from the fit, which the first stage does not have
        return frozenset({"loss_d", "d_real", "d_fake", "acc_real", "acc_fake", "grad_norm_d", "eta_first", "eta_last"})

    @classmethod
    def honours(cls, options: CFGOptions, cfg) -> frozenset[str]:
        return super().honours(options, cfg) | {"d_steps"}  # d_steps is U; a stage has no G steps, noise or weights

    def initial_knobs(self) -> Knobs:
        k = super().initial_knobs()
        k.d_steps = self.options.U
        return k

    def random_labels(self, n: int) -> Optional[Tensor]:
        if not self.num_classes:
            return None
        return local_draw(n, lambda m: torch.randint(0, self.num_classes, (m,), device=self.device))

    def composite(self, G: nn.Module, z: Tensor, y: Optional[Tensor], copies: list[nn.Module]) -> Tensor:
        with torch.no_grad():
            x = G(z, y)[-1].float()
        return move(x, copies, self.etas[: len(copies)], y)

    # -- the stage -------------------------------------------------------------------------------------------
    def step(self, data, knobs: Knobs) -> dict[str, float]:
        set_lr(self.optimizers["D"], knobs.lr_d)
        set_lr(self.optimizers["G"], knobs.lr_g)
        stats: dict[str, float] = {}
        if self.copies:  # the previous stage's moves: fit the G they were computed on, then they are spent
            stats.update(self.fit_generator(self.copies))
            self.copies = []
        copies: list[nn.Module] = []
        sums = {"loss_d": 0.0, "d_real": 0.0, "d_fake": 0.0, "acc_real": 0.0, "acc_fake": 0.0, "grad_norm_d": 0.0}
        n_upd = 0
        for _t in range(self.options.T):
            for _u in range(max(1, knobs.d_steps)):
                out = self.d_update(data.next(), copies)
                for k in sums:
                    sums[k] += out[k]
                n_upd += 1
            copies.append(frozen_copy(self.D))  # D_t
        self.copies = copies  # G and its moves: what sampling and the next stage's fit use
        stats.update({k: v / n_upd for k, v in sums.items()})
        stats["eta_first"], stats["eta_last"] = self.etas[0], self.etas[-1]
        return stats

    def d_update(self, batch, copies: list[nn.Module]) -> dict[str, float]:
        real = batch.images
        n = real.shape[0]
        y_real = batch.labels if self.num_classes else None
        y_fake = self.random_labels(n)
        fake = self.composite(self.G, self.sample_z(n), y_fake, copies)
        r = self.D([real], y_real).float()
        f = self.D([fake], y_fake).float()
        loss = ns_d(r, f)  # the logistic loss
        opt = self.optimizers["D"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = grad_norm(self.D)
        opt.step()
        r, f = r.detach(), f.detach()
        return {"loss_d": float(loss.detach()), "grad_norm_d": gn,
                "d_real": float(torch.sigmoid(r).mean()), "d_fake": float(torch.sigmoid(f).mean()),
                "acc_real": float((r > 0).float().mean()), "acc_fake": float((f < 0).float().mean())}

    def fit_generator(self, copies: list[nn.Module]) -> dict[str, float]:
        """Draw N latents, move G's images with ``copies`` and fit G to them by least squares."""
        z = self.sample_z(self.options.N)
        y = self.random_labels(self.options.N)
        target, start = self.moved_targets(z, y, copies)
        out = self.fit_to(z, y, target)
        out["fit_start"] = start
        return out

    def moved_targets(self, z: Tensor, y: Optional[Tensor], copies: list[nn.Module]) -> tuple[Tensor, float]:
        """The composite generator's images of ``z`` (in chunks), and their mean squared distance from G's own."""
        b, parts, sq = self.options.fit_batch, [], 0.0
        for i in range(0, z.shape[0], b):
            ys = y[i : i + b] if y is not None else None
            with torch.no_grad():
                x0 = self.G(z[i : i + b], ys)[-1].float()
            x = move(x0, copies, self.etas[: len(copies)], ys)
            parts.append(x)
            sq += float(((x - x0) ** 2).sum())
        target = torch.cat(parts)
        return target, sq / target.numel()

    def fit_to(self, z: Tensor, y: Optional[Tensor], target: Tensor) -> dict[str, float]:
        """``fit_epochs`` passes of least squares ||G(z) - target||^2 over shuffled minibatches of ``fit_batch``."""
        o, opt, n = self.options, self.optimizers["G"], z.shape[0]
        last, gn = 0.0, 0.0
        for _ in range(o.fit_epochs):
            perm = torch.randperm(n, device=self.device)
            total = 0.0
            for i in range(0, n, o.fit_batch):
                idx = perm[i : i + o.fit_batch]
                out = self.G(z[idx], y[idx] if y is not None else None)[-1].float()
                loss = F.mse_loss(out, target[idx])  # least squares
                opt.zero_grad(set_to_none=True)
                loss.backward()
                gn = grad_norm(self.G)
                opt.step()
                total += float(loss.detach()) * len(idx)
            last = total / n
        return {"loss_g": last, "grad_norm_g": gn}

    # -- sampling and state ----------------------------------------------------------------------------------
    def generate(self, G: nn.Module, z: Tensor, y: Optional[Tensor] = None) -> list[Tensor]:
        """G's image moved by the stored D copies (the composite generator), clipped to [-1, 1].

        The copies were computed on this G (the fit that spends them comes at the next stage), so each move is
        applied once, to the generator it was learnt against.
        """
        return [self.composite(G, z, y, self.copies).clamp(-1.0, 1.0)]

    def extra_state(self) -> dict:
        return {"copies": [c.state_dict() for c in self.copies]}

    def load_extra_state(self, state: dict) -> None:
        self.copies = []
        for sd in state.get("copies", []):
            c = frozen_copy(self.D)
            c.load_state_dict(sd)
            self.copies.append(c)
