"""What a training session prints before its first step: the data as the model sees it, the networks, the budget.

A user who pointed ``--data`` at a folder learns here how many images were found, at which size, how alpha or grey
was handled and whether labels were kept, before minutes are spent on the wrong thing.
"""
from __future__ import annotations

import torch

from ..config import Config


def count_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def human(n: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return str(int(n))


def budget_text(cfg: Config) -> str:
    t = cfg.train
    parts = [f"{t.steps} steps" if t.steps else "", f"{t.kimg:g} kimg" if t.kimg else "", f"{t.minutes:g} minutes" if t.minutes else ""]
    parts = [p for p in parts if p]
    return (" or ".join(parts) + " (whichever comes first)" * (len(parts) > 1)) if parts else "none"


def data_lines(cfg: Config, data) -> list[str]:
    """Source, count, shape, how it was adapted, labels."""
    if data.kind == "points":
        return [f"data:     {cfg.data.source}: {len(data)} points of {data.images.shape[1]} dimensions"]
    labels = "none"
    if data.labels is not None:
        conditional = bool(getattr(cfg.model.options, "conditional", False))
        labels = f"{data.num_classes} classes, " + ("the model is conditional on them" if conditional else "kept but unused (unconditional model)")
    elif not cfg.data.labels:
        labels = "dropped (data.labels=false)"
    src = cfg.data.source if data.name in ("", cfg.data.source) else f"{cfg.data.source} ({data.name})"
    lines = [f"data:     {src}, split {cfg.data.split}: {len(data)} images, "
             f"{data.resolution}x{data.resolution}, {data.channels} channel{'s' * (data.channels != 1)}",
             f"labels:   {labels}"]
    notes = [n for n in data.notes]
    lines.append("adapted:  " + ("; ".join(notes) if notes else "nothing (alpha, grey and size used as found)"))
    return lines


def training_summary(cfg: Config, data, nets: torch.nn.ModuleDict, device: torch.device, world_size: int = 1) -> str:
    """The lines printed at the start of training."""
    nets_txt = ", ".join(f"{k} {human(count_params(m))}" for k, m in nets.items())
    n = torch.get_num_threads()
    where = f"{device}" + (f", {n} CPU thread{'s' * (n != 1)}" if device.type == "cpu" else "")
    if world_size > 1:
        where += f", {world_size} processes"
    lines = data_lines(cfg, data) + [
        f"model:    {cfg.model.name} / method {cfg.method.name}; parameters: {nets_txt}",
        f"budget:   {budget_text(cfg)}; batch {cfg.train.batch_size}",
        f"device:   {where}",
    ]
    return "\n".join(lines)
