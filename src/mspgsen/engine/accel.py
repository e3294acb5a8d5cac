"""The GPU options of a run: bf16 autocast (``train.amp``), channels_last, torch.compile, SyncBatchNorm.

Each is checked against the device and the method before any work, and refused with a sentence where it cannot
apply, rather than silently doing nothing.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import ConfigError

#: Methods whose step runs under the method's autocast context (methods/gan.py and its subclasses).
AMP_METHODS = ("gan", "mspgsen")


def check_accel(cfg: Any, device: torch.device, world_size: int) -> None:
    """Refuse the options that cannot apply to this run."""
    t, method = cfg.train, cfg.method.name
    if t.amp:
        if device.type != "cuda":
            raise ConfigError("train.amp is bfloat16 autocast on CUDA and this run is on the CPU (fp16/bf16 autocast "
                              "there is slower than float32); set train.amp=false or train on a GPU.")
        if not torch.cuda.is_bf16_supported():
            raise ConfigError(f"train.amp needs bfloat16, which GPU '{torch.cuda.get_device_name(device)}' lacks; "
                              f"set train.amp=false.")
        if method not in AMP_METHODS:
            raise ConfigError(f"train.amp applies to the methods {', '.join(AMP_METHODS)}; method '{method}' has no "
                              f"mixed-precision path, so set train.amp=false.")
    if t.channels_last and device.type != "cuda":
        raise ConfigError("train.channels_last speeds up convolutions on CUDA only and this run is on the CPU; "
                          "set train.channels_last=false.")
    if t.sync_batchnorm:
        if device.type != "cuda":
            raise ConfigError("train.sync_batchnorm needs CUDA (torch's SyncBatchNorm runs on GPUs only); on the CPU "
                              "each process normalises its own slice of the batch, so set train.sync_batchnorm=false.")
        if world_size == 1:
            raise ConfigError("train.sync_batchnorm joins the batch statistics of several processes and this run has "
                              "one; set train.sync_batchnorm=false or launch with torchrun.")
    if t.compile:
        opts = cfg.method.options
        if float(getattr(opts, "gp", 0.0) or 0.0) > 0 or float(getattr(opts, "r1", 0.0) or 0.0) > 0:
            raise ConfigError("train.compile cannot be used with a gradient penalty (method.gp / method.r1): "
                              "torch.compile does not differentiate twice; set train.compile=false.")
        if getattr(cfg.model.options, "spectral_norm", False):
            # measured (torch 2.13, CPU): D with spectral norm, called on real and fake images before one backward,
            # fails in the compiled backward ("modified by an inplace operation": the power iteration's vectors)
            raise ConfigError("train.compile cannot be used with spectral norm on D (model.spectral_norm): the "
                              "compiled backward fails on the power iteration's in-place updates; set "
                              "train.compile=false or model.spectral_norm=false.")
        if method == "cfg":
            raise ConfigError("train.compile does not apply to method 'cfg' (its networks change shape of use each "
                              "stage and would recompile); set train.compile=false.")


def apply_accel(method: Any, cfg: Any) -> None:
    """Convert and compile the method's networks in place (state-dict keys are unchanged, so checkpoints stay
    interchangeable with runs that did not use these options)."""
    t = cfg.train
    nets: nn.ModuleDict = method.nets
    if t.sync_batchnorm:
        for name in list(nets.keys()):
            nets[name] = nn.SyncBatchNorm.convert_sync_batchnorm(nets[name])
    if t.channels_last:
        nets.to(memory_format=torch.channels_last)
    if t.compile:
        for m in nets.values():
            m.compile()


def has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())
