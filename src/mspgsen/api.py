"""The public Python API: ``train(config)`` and ``load_generator(run)``."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Optional

import torch
from torch import nn

from .config import Config, config_from_dict, load_config
from .errors import CheckpointError


def _as_config(config: Any, overrides: Iterable[str] = ()) -> Config:
    from .config import apply_overrides

    if isinstance(config, Config):
        return config_from_dict(apply_overrides(config.to_plain(), overrides)) if overrides else config
    if isinstance(config, dict):
        return config_from_dict(apply_overrides(config, overrides))
    return load_config(config, overrides)


def train(config: Any = None, *, name: Optional[str] = None, runs_dir: str | Path = "runs", new: bool = False,
          overrides: Iterable[str] = (), log=print):
    """Train (or resume) a run and return its :class:`~mspgsen.engine.trainer.RunResult`.

    ``config`` is a :class:`Config`, a raw mapping, a preset name or a YAML path (None: the default preset).
    """
    from .engine import distributed as ddp
    from .engine.build import resolve_device
    from .engine.run import prepare_run_dir
    from .engine.trainer import Trainer

    cfg = _as_config(config, overrides)
    rank, world = ddp.dist_info()
    if world == 1:
        cfg, run_dir = prepare_run_dir(cfg, name or cfg.model.name, runs_dir, new, log=log)
        return Trainer(cfg, run_dir, log=log).run()
    # Under torchrun rank 0 settles the folder first (moving an old one aside with --new); the others then find it.
    rank, world, _ = ddp.init_distributed(resolve_device(cfg.train.device))
    try:
        if rank == 0:
            cfg, run_dir = prepare_run_dir(cfg, name or cfg.model.name, runs_dir, new, log=log)
        ddp.barrier(world)
        if rank != 0:
            cfg, run_dir = prepare_run_dir(cfg, name or cfg.model.name, runs_dir, False, log=lambda *a, **k: None)
        return Trainer(cfg, run_dir, rank=rank, world_size=world, log=log).run()
    finally:
        ddp.shutdown()


class GeneratorHandle(nn.Module):
    """A trained generator as a plain module: ``handle(z, labels=None) -> images in [-1, 1]`` (full resolution).

    Holds the method too, so methods that post-process G's output (CFG-GAN's stored D steps) sample correctly.
    """

    def __init__(self, method, G: nn.Module, config: Config, step: int) -> None:
        super().__init__()
        self.method, self.G, self.config, self.step = method, G, config, step
        self.z_dim = int(G.z_dim)
        self.resolution = int(getattr(G, "resolution", 0))
        self.channels = int(getattr(G, "channels", 0))
        self.num_classes = int(getattr(G, "num_classes", 0))

    @property
    def device(self) -> torch.device:
        return next(self.G.parameters()).device

    def forward(self, z: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.all_scales(z, labels)[-1]

    def all_scales(self, z: torch.Tensor, labels: Optional[torch.Tensor] = None) -> list[torch.Tensor]:
        if self.num_classes and labels is None:
            labels = torch.arange(z.shape[0], device=z.device) % self.num_classes
        return self.method.generate(self.G, z, labels)

    def z_from_seeds(self, seeds: Iterable[int]) -> torch.Tensor:
        """One latent per seed, each from its own generator, so image k is the same whatever else is drawn."""
        zs = [torch.randn(self.z_dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
        return torch.stack(zs).to(self.device)


def load_generator(run: str | Path, *, runs_dir: str | Path = "runs", device: str = "cpu", ema: bool = True) -> GeneratorHandle:
    """Load the generator of a run folder, run name or checkpoint file; needs neither the data nor a config file."""
    from .engine.build import build_method, spec_from_dict
    from .engine.checkpoint import load_checkpoint
    from .engine.run import find_checkpoint

    path = find_checkpoint(run, runs_dir)
    state = load_checkpoint(path, map_location=device)
    cfg = config_from_dict(state["config"])
    spec = spec_from_dict(state["spec"])
    method = build_method(cfg, spec, torch.device(device))
    try:
        method.load_state_dict(state["method"])
        G = method.G
        if ema and state.get("G_ema") is not None:
            import copy

            G = copy.deepcopy(method.G)
            G.load_state_dict(state["G_ema"])
    except (RuntimeError, KeyError) as e:
        raise CheckpointError(f"Checkpoint '{path}' does not match the model its config describes ({str(e).splitlines()[0][:100]}); "
                              f"it may come from another version of mspgsen.") from None
    G.eval()
    for p in G.parameters():
        p.requires_grad_(False)
    return GeneratorHandle(method, G, cfg, int(state["step"])).eval()
