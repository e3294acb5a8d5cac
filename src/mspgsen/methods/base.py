"""The contract of a training algorithm: one call of :meth:`Method.step` is one optimisation step.

A method owns its networks (``self.nets``, an ``nn.ModuleDict`` with ``G`` and ``D``) and optimizers, pulls as
many real batches as it needs from the :class:`~mspgsen.data.DataStream` (WGAN-GP's critic takes several; a
CFG stage takes T), reads the :class:`~mspgsen.contract.Knobs` and returns plain numbers. It knows nothing of
logging, files, controllers or the loop around it.

A method declares what it offers controllers: :meth:`Method.reports` (the stats present at every step) and
:meth:`Method.honours` (the knobs it reads). Configuration validation compares them with each enabled controller's
``needs`` (see :mod:`mspgsen.contract`), so a controller is never switched on where it would do nothing.

Standard stat names (controllers rely on them; add others freely):
``loss_d``, ``loss_g``, ``d_real`` / ``d_fake`` (mean sigmoid of D's logits), ``acc_real`` / ``acc_fake``
(share of real judged real, fake judged fake), ``grad_norm_g`` / ``grad_norm_d`` (global norm of the last update's
gradients).
"""
from __future__ import annotations

from typing import Any, ClassVar, Iterable, Optional

import torch
from torch import nn

from ..contract import Knobs
from ..registry import Registry
from ..shard import local_draw

METHODS: Registry = Registry("method")


_HAS_FUSED = ("adam", "adamw", "sgd")  # torch's optimizers with a fused (one kernel per parameter) update


def impl_kwargs(name: str, impl: str) -> dict:
    """torch's keyword for ``optim.impl``: ``fused``/``foreach`` flags, or nothing (torch's default).

    Why fused by default: the per-parameter update of a loop costs ~10 small operations per tensor, and the multi-scale
    models hold hundreds of tensors, so on a CPU that fixed cost is a visible part of a step (docs/benchmarks.md).
    """
    if impl == "auto":
        return {"fused": True} if name in _HAS_FUSED else {}
    if impl == "fused":
        return {"fused": True}
    return {"foreach": impl == "foreach"}


def make_optimizer(params: Iterable[nn.Parameter], optim_cfg: Any, lr: float, betas: Optional[tuple] = None) -> torch.optim.Optimizer:
    """One optimizer per network, of the kind ``cfg.optim.name`` names, run the way ``cfg.optim.impl`` says."""
    params = [p for p in params if p.requires_grad]
    name = optim_cfg.name
    how = impl_kwargs(name, getattr(optim_cfg, "impl", "auto"))
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas or tuple(optim_cfg.betas), eps=optim_cfg.eps,
                                weight_decay=optim_cfg.weight_decay, **how)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas or tuple(optim_cfg.betas), eps=optim_cfg.eps,
                                 weight_decay=optim_cfg.weight_decay, **how)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=optim_cfg.alpha, eps=optim_cfg.eps,
                                   weight_decay=optim_cfg.weight_decay, **how)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=optim_cfg.weight_decay, **how)
    raise ValueError(name)


def load_optimizer_state(opt: torch.optim.Optimizer, state: dict) -> None:
    """Load a saved optimizer state but keep how ``opt`` runs its update (``optim.impl``).

    torch's ``load_state_dict`` takes the saved groups' ``fused``/``foreach`` flags, so a run resumed under another
    ``optim.impl`` (or made before fused updates became the default) would silently go on the saved way. The state
    itself has the same layout in every form; only fused updates want the step counts on the parameters' device.
    """
    how = {key: opt.param_groups[0][key] for key in ("fused", "foreach") if key in opt.param_groups[0]}
    opt.load_state_dict(state)
    for group in opt.param_groups:
        group.update(how)
    for p, st in opt.state.items():
        if torch.is_tensor(st.get("step")):
            st["step"] = st["step"].to(device=p.device if how.get("fused") else "cpu", dtype=torch.float32)


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr


def grad_norm(module: nn.Module) -> float:
    """Global L2 norm of the gradients now held by ``module``'s parameters."""
    norms = [p.grad.detach().norm() for p in module.parameters() if p.grad is not None]
    return float(torch.stack(norms).norm()) if norms else 0.0


class Method:
    """Base of every training algorithm (alternating GAN, BEGAN, CFG...)."""

    #: The knobs' loss weights this method reads, with their defaults (``Knobs.weights`` starts from these).
    default_weights: ClassVar[dict[str, float]] = {}

    @classmethod
    def reports(cls, options: Any, cfg: Any) -> frozenset[str]:
        """Names of the stats :meth:`step` returns at every step with these options (controllers may read them)."""
        return frozenset()

    @classmethod
    def honours(cls, options: Any, cfg: Any) -> frozenset[str]:
        """Names of the knobs :meth:`step` reads (``lr_g``, ``weights.fm``, ``extra.k``...; see mspgsen.contract)."""
        return frozenset({"lr_g", "lr_d"})

    def __init__(self, options: Any, cfg: Any, nets: nn.ModuleDict, device: torch.device) -> None:
        self.options, self.cfg, self.nets, self.device = options, cfg, nets, device
        self.optimizers: dict[str, torch.optim.Optimizer] = {}

    @property
    def G(self) -> nn.Module:
        return self.nets["G"]

    @property
    def D(self) -> nn.Module:
        return self.nets["D"]

    def initial_knobs(self) -> Knobs:
        """Knobs at step 0, from the config; controllers change them afterwards."""
        return Knobs(lr_g=self.cfg.optim.lr_g, lr_d=self.cfg.optim.lr_d, weights=dict(self.default_weights))

    def step(self, data, knobs: Knobs) -> dict[str, float]:
        raise NotImplementedError

    def generate(self, G: nn.Module, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> list[torch.Tensor]:
        """Images (coarse to fine) from the generator ``G`` (the EMA copy when sampling). CFG adds its steps."""
        return G(z, y)

    def sample_z(self, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """``n`` latents. From the global generator they are this rank's slice of a global-batch draw
        (``mspgsen.shard``), so N processes draw what one would; an explicit ``generator`` (probes, grids) draws
        all ``n`` on every rank alike."""
        if generator is not None:
            return torch.randn(n, self.G.z_dim, generator=generator, device="cpu").to(self.device)
        return local_draw(n, lambda m: torch.randn(m, self.G.z_dim, device="cpu")).to(self.device)

    def extra_state(self) -> dict:
        """Method state besides networks and optimizers (CFG's stored D copies...)."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    def state_dict(self) -> dict:
        return {"nets": self.nets.state_dict(),
                "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
                "extra": self.extra_state()}

    def load_state_dict(self, state: dict) -> None:
        self.nets.load_state_dict(state["nets"])
        for k, o in self.optimizers.items():
            load_optimizer_state(o, state["optimizers"][k])
        self.load_extra_state(state.get("extra", {}))
