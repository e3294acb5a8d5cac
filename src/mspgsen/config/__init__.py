"""Configuration: dataclasses with defaults in code, YAML presets, overrides and one validation pass."""
from .loading import DEFAULT_PRESET, apply_overrides, deep_merge, dump_config, flatten, load_config, parse_override, preset_names, read_preset
from .schema import Config, DataConfig, EvalConfig, OptimConfig, QualityConfig, Spec, TrainConfig, config_from_dict

__all__ = [
    "Config", "DataConfig", "EvalConfig", "OptimConfig", "QualityConfig", "Spec", "TrainConfig", "config_from_dict",
    "DEFAULT_PRESET", "apply_overrides", "deep_merge", "dump_config", "flatten", "load_config", "parse_override", "preset_names", "read_preset",
]
