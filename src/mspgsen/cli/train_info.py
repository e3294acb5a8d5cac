"""What ``mspgsen train`` says before training: the preset list, the dry run's resolved values, a run's stored config."""
from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Optional

from ..config import Config, dump_config
from ..errors import MspgsenError


def preset_description(name: str, width: int = 100) -> str:
    """The first sentence of the preset file's leading comment, cut to ``width`` characters at a word.

    Each preset opens with a comment saying what it is and where it is from, so the list needs no second copy.
    """
    text = resources.files("mspgsen.config").joinpath("presets", f"{name}.yaml").read_text()
    words = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("#"):
            break
        words.append(line.lstrip("#").strip())
    para = " ".join(words)
    cut = para.find(". ")
    first = para if cut < 0 else para[: cut + 1]
    if len(first) > width:
        first = first[: width - 3].rsplit(" ", 1)[0].rstrip(",;:") + "..."
    return first


def preset_list() -> str:
    from ..config import DEFAULT_PRESET, preset_names

    names = preset_names()
    w = max(len(n) for n in names) + len(" (default)")
    return "\n".join(f"{(n + ' (default)' if n == DEFAULT_PRESET else n):<{w}}  {preset_description(n)}" for n in names)


def stored_config(runs_dir: str | Path, name: str) -> Optional[Path]:
    """RUNS_DIR/NAME/config.yaml when that run exists: training the name alone resumes it with its own config."""
    if not name or "/" in name:
        return None
    p = Path(runs_dir) / name / "config.yaml"
    return p if p.is_file() else None


def resolved_lines(cfg: Config) -> tuple[Config, list[str]]:
    """The config with data.resolution/channels read from the data, and comment lines on what else was resolved."""
    import torch

    from ..data.prepare import prepare_training_data
    from ..engine.build import build_method, data_spec, resolve_device
    from ..engine.summary import budget_text, count_params, human

    lines = []
    try:
        device = resolve_device(cfg.train.device)
        threads = cfg.train.threads or torch.get_num_threads()
        lines.append(f"# device: {device}" + (f", {threads} CPU thread{'s' * (threads != 1)}" if device.type == "cpu" else ""))
    except MspgsenError as e:
        lines.append(f"# device: {e}")
        device = torch.device("cpu")
    lines.append(f"# budget: {budget_text(cfg)}")
    try:
        data = prepare_training_data(cfg.data)
    except MspgsenError as e:
        lines.append(f"# data could not be read, so data.resolution/channels are shown unresolved: {e}")
        return cfg, lines
    out = copy.deepcopy(cfg)
    if data.kind == "images":
        out.data.resolution, out.data.channels = data.resolution, data.channels
        lines.append(f"# data: {len(data)} images, {data.resolution}x{data.resolution}, {data.channels} channel{'s' * (data.channels != 1)}, "
                     f"{data.num_classes or 'no'} classes" + (f"; {'; '.join(data.notes)}" if data.notes else ""))
    else:
        lines.append(f"# data: {len(data)} points of {data.images.shape[1]} dimensions")
    try:
        spec = data_spec(cfg, data)
        method = build_method(cfg, spec, torch.device("cpu"))
        lines.append("# parameters: " + ", ".join(f"{k} {human(count_params(m))}" for k, m in method.nets.items()))
    except MspgsenError as e:
        lines.append(f"# the networks cannot be built: {e}")
    return out, lines


def dry_run_text(cfg: Config) -> str:
    """The resolved config as YAML, headed by what was resolved from the data and the machine."""
    out, lines = resolved_lines(cfg)
    return "\n".join(lines) + "\n" + dump_config(out)
