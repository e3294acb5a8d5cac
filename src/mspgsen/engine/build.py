"""From a validated config to live objects: the data spec, the networks and the method."""
from __future__ import annotations

import torch

from ..config import Config
from ..data import ImageArray
from ..errors import ConfigError
from ..methods.base import METHODS, Method
from ..models.base import MODELS, DataSpec


def data_spec(cfg: Config, data: ImageArray) -> DataSpec:
    conditional = bool(getattr(cfg.model.options, "conditional", False))
    if conditional and (data.labels is None or data.num_classes < 2):
        raise ConfigError(f"model.conditional is true but data source '{cfg.data.source}' has no class labels; "
                          f"set model.conditional=false or use labelled data.")
    if data.kind == "points":
        return DataSpec(0, 0, data.num_classes if conditional else 0, dim=int(data.images.shape[1]))
    return DataSpec(data.resolution, data.channels, data.num_classes if conditional else 0)


def spec_from_dict(d: dict) -> DataSpec:
    return DataSpec(**d)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device is '{name}' but this machine has no CUDA GPU; use train.device=cpu or auto.")
    return dev


def build_method(cfg: Config, spec: DataSpec, device: torch.device) -> Method:
    """Networks of ``cfg.model`` for ``spec``, moved to ``device``, inside the method ``cfg.method``."""
    nets = MODELS.get(cfg.model.name).obj(cfg.model.options, spec).to(device)
    return METHODS.get(cfg.method.name).obj(cfg.method.options, cfg, nets, device)
