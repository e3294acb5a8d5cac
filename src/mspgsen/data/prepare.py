"""The one call the trainer makes to get its data: load, limit, fix the shape, keep or drop labels."""
from __future__ import annotations

from typing import Any

from ..errors import DataError
from .array import ImageArray, fit_shape
from .sources import load_source


def prepare_training_data(cfg_data: Any, split: str | None = None) -> ImageArray:
    """``cfg.data`` (a DataConfig) -> an ImageArray ready for the DataStream.

    Image folders are resized on load (they have no native size); every other source is brought to
    ``resolution``/``channels`` by :func:`fit_shape`, which notes padding (28 -> 32) and conversions.
    Labels are dropped when ``cfg_data.labels`` is false, so conditional models see none.
    """
    split = split or getattr(cfg_data, "split", "train")
    resolution = int(getattr(cfg_data, "resolution", 0) or 0)
    channels = int(getattr(cfg_data, "channels", 0) or 0)
    data = load_source(cfg_data.source, split, resolution=resolution, channels=channels)
    limit = int(getattr(cfg_data, "limit", 0) or 0)
    if limit:
        data = data.subset(limit)
    if len(data) == 0:
        raise DataError(f"Data source '{cfg_data.source}' (split '{split}') holds no examples; point data.source at a non-empty data set.")
    data = fit_shape(data, resolution, channels)
    if not getattr(cfg_data, "labels", True) and data.labels is not None:
        data = data.replace(labels=None, num_classes=0, class_names=[],
                            notes=data.notes + ["labels dropped (data.labels: false)"])
    return data
