"""The configuration of one run: dataclasses with every default in code.

A YAML preset states only what differs from these defaults. The ``model``, ``method`` and ``control`` sections
are open: their keys are checked against the options dataclass that the chosen component registered
(:mod:`mspgsen.registry`), so components plug in without editing this file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ConfigError
from ..registry import build_dataclass, suggest, to_plain


@dataclass
class DataConfig:
    source: str = "fashion-mnist-subset"  # A built-in name, a folder of images, IDX/npz file or CIFAR-10 folder.
    split: str = "train"  # Which split of the source to train on, where it has several.
    resolution: int = 0  # Side of the square images the model sees; 0: the data's own, padded up to a power of two.
    channels: int = 0  # 1 (grey) or 3 (RGB); 0: the data's own.
    labels: bool = True  # Keep class labels where the source has them.
    limit: int = 0  # Use only the first N images (0: all of them).

    def check(self, where: str) -> None:
        if self.resolution and (self.resolution < 4 or self.resolution & (self.resolution - 1)):
            raise ConfigError(f"'{where}.resolution' must be a power of two of at least 4, got {self.resolution}.")
        if self.channels not in (0, 1, 3):
            raise ConfigError(f"'{where}.channels' must be 1, 3 or 0 (the data's own), got {self.channels}.")
        if self.limit < 0:
            raise ConfigError(f"'{where}.limit' must be >= 0, got {self.limit}.")


@dataclass
class OptimConfig:
    name: Literal["adam", "adamw", "rmsprop", "sgd"] = "adam"  # Optimizer of both G and D.
    lr_g: float = 2e-4  # Generator learning rate (the starting value of the lr_g knob).
    lr_d: float = 2e-4  # Discriminator learning rate (the starting value of the lr_d knob).
    betas: tuple[float, float] = (0.5, 0.999)  # Adam/AdamW betas.
    eps: float = 1e-8  # Optimizer epsilon.
    weight_decay: float = 0.0  # Decoupled for AdamW, L2 otherwise.
    alpha: float = 0.99  # RMSprop smoothing constant.
    impl: Literal["auto", "fused", "foreach", "loop"] = "auto"  # How torch runs the update (the same update,
    # rounded differently): fused, one kernel per parameter; foreach, batched over parameters; loop, a few operations
    # per parameter; auto, fused where torch has it (adam, adamw, sgd).
    lr_ratio_max: float = 0.0  # Most factor by which controllers may move lr_d / lr_g from its starting ratio,
    # either way (0: no bound); where they go past it, both rates move to the bound around their geometric mean.

    def check(self, where: str) -> None:
        if self.lr_g <= 0 or self.lr_d <= 0:
            raise ConfigError(f"'{where}.lr_g' and '{where}.lr_d' must be positive.")
        if self.lr_ratio_max != 0 and self.lr_ratio_max < 1:
            raise ConfigError(f"'{where}.lr_ratio_max' must be 0 (no bound) or at least 1 (1 keeps the starting "
                              f"ratio), got {self.lr_ratio_max}.")
        if self.impl == "fused" and self.name == "rmsprop":
            raise ConfigError(f"'{where}.impl=fused' does not exist for rmsprop in torch; use 'auto', 'foreach' "
                              "or 'loop'.")


@dataclass
class TrainConfig:
    batch_size: int = 64  # Images per step: the global batch, split evenly over the processes under torchrun.
    steps: int = 0  # Budget in steps; the first budget reached ends the run.
    kimg: float = 0.0  # Budget in thousands of real images shown.
    minutes: float = 0.0  # Budget in wall-clock minutes (this session's, resumes add up).
    log_every: int = 10  # Steps between lines of stats.jsonl.
    sample_every: int = 200  # Steps between sample grids (EMA weights, fixed seeds).
    ckpt_every: int = 200  # Steps between checkpoints.
    keep_last: int = 3  # Checkpoints kept besides the best.
    grid_size: int = 64  # Images in a sample grid.
    ema_kimg: float = 10.0  # Half-life of the EMA of G's weights, in thousands of images (0: no EMA).
    ema_rampup: float = 0.05  # EMA half-life is at most this fraction of images seen (0: no ramp-up).
    device: str = "auto"  # 'cpu', 'cuda', 'cuda:1' or 'auto'.
    threads: int = 0  # torch CPU threads (0: torch's default).
    amp: bool = False  # bfloat16 autocast on CUDA (methods gan and mspgsen).
    channels_last: bool = False  # NHWC memory layout for the networks on CUDA.
    compile: bool = False  # torch.compile the networks (not with a gradient penalty or spectral norm on D).
    sync_batchnorm: bool = False  # Under torchrun on CUDA, BatchNorm uses the whole global batch's statistics.
    progress: bool = True  # Show a progress bar.
    tensorboard: bool = True  # Write TensorBoard events beside stats.jsonl.

    def check(self, where: str) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"'{where}.batch_size' must be at least 1, got {self.batch_size}.")
        if min(self.steps, self.kimg, self.minutes) < 0:
            raise ConfigError(f"The budget ('{where}.steps', '.kimg', '.minutes') cannot be negative.")
        for k in ("log_every", "sample_every", "ckpt_every", "keep_last", "grid_size"):
            if getattr(self, k) < 1:
                raise ConfigError(f"'{where}.{k}' must be at least 1, got {getattr(self, k)}.")


@dataclass
class EvalConfig:
    every_kimg: float = 0.0  # Measure during training every this many kimg (0: never); the best checkpoint follows it.
    metric: str = "fid"  # The metric that picks the best checkpoint (lower is better).
    n: int = 1000  # Generated images per measurement during training.
    batch_size: int = 50  # Feature-extraction batch size.
    ref: str = ""  # Reference data source; '' = the training source, test split where there is one.


@dataclass
class QualityConfig:
    signal: Literal["features", "fid"] = "features"  # D-feature statistics distance (cheap) or FID (image runs).
    every: int = 50  # Steps between measurements; measured only when an enabled controller reads the signal.
    n: int = 256  # Real and generated samples per measurement.

    def check(self, where: str) -> None:
        if self.every < 1 or self.n < 2:
            raise ConfigError(f"'{where}.every' must be at least 1 and '{where}.n' at least 2, got {self.every} and {self.n}.")


@dataclass
class Spec:
    """A registered component chosen by name, with its validated options."""

    name: str
    options: Any

    def to_plain(self) -> dict:
        return {"name": self.name, **to_plain(self.options)}


@dataclass
class Config:
    seed: int = 0  # Seeds torch, numpy and python; the data order and the sample grid follow it.
    data: DataConfig = field(default_factory=DataConfig)
    model: Spec = field(default_factory=lambda: Spec("dcgan", None))
    method: Spec = field(default_factory=lambda: Spec("gan", None))
    optim: OptimConfig = field(default_factory=OptimConfig)
    control: dict[str, Any] = field(default_factory=dict)  # controller name -> options (with 'enabled')
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)  # The trainer's one quality probe for controllers.

    def to_plain(self) -> dict:
        return {
            "seed": self.seed,
            "data": to_plain(self.data),
            "model": self.model.to_plain(),
            "method": self.method.to_plain(),
            "optim": to_plain(self.optim),
            "control": {k: to_plain(v) for k, v in self.control.items()},
            "train": to_plain(self.train),
            "eval": to_plain(self.eval),
            "quality": to_plain(self.quality),
        }

    def enabled_controllers(self) -> list[str]:
        return [name for name, opts in self.control.items() if getattr(opts, "enabled", False)]


_SECTIONS = ("seed", "data", "model", "method", "optim", "control", "train", "eval", "quality")


def _spec(raw: Any, registry, where: str, default: str) -> Spec:
    if raw is None:
        raw = {}
    if isinstance(raw, str):
        raw = {"name": raw}
    if not isinstance(raw, dict):
        raise ConfigError(f"'{where}' must be a mapping with a 'name', got {raw!r}.")
    raw = dict(raw)
    name = raw.pop("name", default)
    entry = registry.get(str(name), where=f"{where}.name")
    return Spec(entry.name, build_dataclass(entry.options, raw, where))


def config_from_dict(raw: dict) -> Config:
    """Validate a merged raw mapping into a :class:`Config` (the one validation pass)."""
    from ..components import CONTROLLERS, METHODS, MODELS  # registers every built-in component

    if not isinstance(raw, dict):
        raise ConfigError(f"A config must be a mapping of sections, got {type(raw).__name__}.")
    for key in raw:
        if key not in _SECTIONS:
            raise ConfigError(f"Unknown config section '{key}'.{suggest(key, _SECTIONS)} Valid sections: {', '.join(_SECTIONS)}.")
    cfg = Config(
        seed=build_dataclass(_Seed, {"seed": raw.get("seed", 0)}, "").seed,
        data=build_dataclass(DataConfig, raw.get("data"), "data"),
        model=_spec(raw.get("model"), MODELS, "model", "dcgan"),
        method=_spec(raw.get("method"), METHODS, "method", "gan"),
        optim=build_dataclass(OptimConfig, raw.get("optim"), "optim"),
        train=build_dataclass(TrainConfig, raw.get("train"), "train"),
        eval=build_dataclass(EvalConfig, raw.get("eval"), "eval"),
        quality=build_dataclass(QualityConfig, raw.get("quality"), "quality"),
    )
    control_raw = raw.get("control") or {}
    if not isinstance(control_raw, dict):
        raise ConfigError(f"'control' must be a mapping of controller names, got {control_raw!r}.")
    for name, opts in control_raw.items():
        entry = CONTROLLERS.get(str(name), where="control")
        if isinstance(opts, bool):  # `--set control.apfl=true` is short for control.apfl.enabled=true
            opts = {"enabled": opts}
        cfg.control[entry.name] = build_dataclass(entry.options, opts, f"control.{name}")
    check_combinations(cfg)
    return cfg


@dataclass
class _Seed:
    seed: int = 0


def check_combinations(cfg: Config) -> None:
    """Reject combinations that cannot work, before any work is done.

    Each component's options may define ``check_config(cfg)`` for the rules that concern it.
    """
    for opts in (cfg.model.options, cfg.method.options, *cfg.control.values()):
        hook = getattr(opts, "check_config", None)
        if callable(hook):
            hook(cfg)
    check_contract(cfg)


def check_contract(cfg: Config) -> None:
    """Refuse an enabled controller that the method cannot feed (a stat it never reports, a knob it ignores).

    Methods declare ``reports`` / ``honours`` and controllers ``needs`` (mspgsen.contract); a controller that
    would silently do nothing is a comparison the user cannot trust, so it is refused before any work.
    """
    from ..components import CONTROLLERS, METHODS
    from ..contract import unmet

    method = METHODS.get(cfg.method.name).obj
    reports = method.reports(cfg.method.options, cfg)
    honours = method.honours(cfg.method.options, cfg)
    for name in cfg.enabled_controllers():
        needs = CONTROLLERS.get(name).obj.needs(cfg.control[name], cfg)
        if unmet(name, needs, cfg.method.name, reports, honours) is None:
            continue
        fits = []
        for other in METHODS.names():
            entry = METHODS.get(other)
            opts = entry.options()
            if unmet(name, needs, other, entry.obj.reports(opts, cfg), entry.obj.honours(opts, cfg)) is None:
                fits.append(other)
        raise ConfigError(unmet(name, needs, cfg.method.name, reports, honours, fits=fits))
