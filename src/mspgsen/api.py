"""The public Python API, mirroring the CLI: ``train``, ``load_generator``, ``generate``, ``evaluate``, ``export``, ``report``."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterable, Optional

import torch
from torch import nn

from .config import Config, config_from_dict, load_config
from .errors import CheckpointError, ConfigError, MspgsenError


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
    from .engine.checkpoint import clean_orphans
    from .engine.lock import RunLock
    from .engine.run import prepare_run_dir
    from .engine.trainer import Trainer

    cfg = _as_config(config, overrides)
    run_name = name or cfg.model.name
    rank, world = ddp.dist_info()
    if world > 1:  # under torchrun: join the process group before anyone touches the folder
        rank, world, _ = ddp.init_distributed(resolve_device(cfg.train.device))
    try:
        with contextlib.ExitStack() as held:
            if rank == 0:  # rank 0 settles the folder first (--new moves an old one aside once) and holds the lock
                cfg, run_dir = prepare_run_dir(cfg, run_name, runs_dir, new, log=log)
                make_run_dir(run_dir)
                held.enter_context(RunLock(run_dir, log=log))  # one writer per run; orphans go only while we hold it
                clean_orphans(run_dir / "checkpoints", log=log)
            ddp.barrier(world)
            if rank != 0:
                cfg, run_dir = prepare_run_dir(cfg, run_name, runs_dir, False, log=lambda *a, **k: None)
            result = Trainer(cfg, run_dir, rank=rank, world_size=world, log=log).run()
            # Ranks leave together: rank 0's last checkpoint and samples are on disk before any rank exits, and no
            # rank tears its connections down while another is still writing (a finished run only: after an
            # error the other ranks may never arrive).
            ddp.barrier(world)
            return result
    finally:
        if world > 1:
            ddp.shutdown()


def make_run_dir(run_dir: Path) -> None:
    """Create the run folder, or say in one sentence why it cannot be (a file in the way, no permission)."""
    try:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        probe = Path(run_dir) / ".write-test"
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"Cannot write the run folder '{run_dir}' ({e.strerror or e}); choose a --runs-dir you can "
                          f"write to (a folder, not a file).") from None


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

    def z_from_seeds(self, seeds: Iterable[int], trunc: Optional[float] = None) -> torch.Tensor:
        """One latent per seed, each from its own generator, so image k is the same whatever else is drawn.

        ``trunc`` (psi > 0) draws z from a normal truncated to [-psi, psi]: entries outside are drawn again from the
        seed's own generator, so entries already inside stay as they were and the image keeps its likeness.
        """
        from .sampling import truncated_randn

        zs = [truncated_randn(self.z_dim, int(s), trunc) for s in seeds]
        return torch.stack(zs).to(self.device)


def load_generator(run: str | Path, *, runs_dir: str | Path = "runs", device: str = "cpu", ema: bool = True,
                   log=print) -> GeneratorHandle:
    """Load the generator of a run folder, run name or checkpoint file; needs neither the data nor a config file.

    The checkpoint is read as data only (no code runs); an unreadable latest checkpoint of a run folder is moved
    aside for the newest readable one, and one that belongs to another model than the folder's is refused.
    """
    from .engine.build import build_method, spec_from_dict
    from .engine.run import find_checkpoint
    from .engine.safety import check_device, load_for_sampling

    check_device(device)
    path = find_checkpoint(run, runs_dir)
    path, state = load_for_sampling(path, map_location=device, log=log)
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


def generate(run: str | Path, n: Optional[int] = None, *, seeds: Optional[Iterable[int]] = None,
             labels: Optional[Iterable[int]] = None, trunc: Optional[float] = None, runs_dir: str | Path = "runs",
             device: str = "cpu", ema: bool = True, batch_size: int = 64) -> torch.Tensor:
    """Images (N, C, H, W) in [-1, 1] from ``run``, one per seed (``seeds``, or 0..n-1), as ``mspgsen generate``.

    ``labels`` cycle over the images of a conditional model (default 0, 1, 2, ...); ``trunc`` is the truncation psi.
    """
    from .sampling import check_trunc, label_tensor

    handle = load_generator(run, runs_dir=runs_dir, device=device, ema=ema)
    seed_list = list(seeds) if seeds is not None else list(range(64 if n is None else n))
    check_trunc(trunc)
    out = []
    with torch.no_grad():
        for i in range(0, len(seed_list), batch_size):
            part = seed_list[i : i + batch_size]
            y = label_tensor(handle, None if labels is None else list(labels), len(part), offset=i)
            out.append(handle(handle.z_from_seeds(part, trunc), y).cpu())
    return torch.cat(out) if out else torch.zeros(0)


def evaluate(run: Optional[str | Path] = None, *, images: Optional[str | Path] = None, ref: Optional[str] = None,
             metrics: str | Iterable[str] = "fid,kid", n: int = 10000, split: str = "test", runs_dir: str | Path = "runs",
             device: str = "cpu", seed: int = 0, ema: bool = True, batch_size: int = 50, threads: int = 0,
             weights: Optional[str] = None, use_cache: bool = True, show_progress: bool = False) -> dict:
    """Metrics of a run's samples (or of a folder of images) against a reference source, as ``mspgsen evaluate``.

    Returns the result mapping (fid, kid, ... and the protocol: n_fake, n_ref, ref, extractor); nothing is written.
    """
    from .errors import MspgsenError
    from .metrics.cli import _images_from_dir, sample_run
    from .metrics.evaluate import evaluate_images, parse_metrics

    mlist = parse_metrics(metrics if isinstance(metrics, str) else ",".join(metrics))
    if (run is None) == (images is None):
        raise MspgsenError("Give either a run or images=FOLDER to evaluate (not both).")
    if images is not None:
        if not ref:
            raise MspgsenError("images= needs ref=SOURCE: the data the images should be compared with.")
        samples, extra = _images_from_dir(str(images)), {"images": str(images)}
    else:
        handle = load_generator(run, runs_dir=runs_dir, device=device, ema=ema)
        ref = ref or handle.config.eval.ref or handle.config.data.source
        samples, extra = sample_run(handle, n, seed), {"run": str(run), "step": handle.step, "ema": ema}
        if samples.ndim == 2:
            from .metrics.modes import toy_mode_coverage

            return {**extra, "ref": ref, "n_fake": len(samples), **toy_mode_coverage(samples, ref)}
    res = evaluate_images(samples, ref, mlist, n=n, split=split, batch_size=batch_size, threads=threads, device=device,
                          weights=weights, show_progress=show_progress, use_cache=use_cache, seed=seed)
    return {**extra, **res}
