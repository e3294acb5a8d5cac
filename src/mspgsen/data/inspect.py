"""What a data source holds, as the model will see it: counts, shapes, value range, labels, notes, a sample grid."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..utils.images import save_grid
from .array import ImageArray, fit_shape
from .sources import load_source


@dataclass
class Summary:
    source: str
    split: str
    count: int
    kind: str
    raw_shape: tuple[int, ...]  # one example as loaded
    shape: tuple[int, ...]  # one example as the model sees it (after fit_shape)
    dtype: str
    value_range: tuple[float, float]
    class_counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skipped: str = ""
    grid: Optional[Path] = None

    def lines(self) -> list[str]:
        out = [f"source: {self.source} (split {self.split})",
               f"count: {self.count}",
               f"shape: {_shape(self.raw_shape)} as stored" + (f", {_shape(self.shape)} for the model" if self.shape != self.raw_shape else ""),
               f"dtype: {self.dtype}, values {_num(self.value_range[0])}..{_num(self.value_range[1])}"]
        if self.class_counts:
            per = ", ".join(f"{k}: {v}" for k, v in self.class_counts.items())
            out.append(f"labels: {len(self.class_counts)} classes ({per})")
        else:
            out.append("labels: none")
        out += [f"note: {n}" for n in self.notes]
        if self.skipped:
            out.append(f"warning: {self.skipped}")
        if self.grid:
            out.append(f"sample grid: {self.grid}")
        return out


def _shape(s: tuple[int, ...]) -> str:
    return "x".join(str(v) for v in s)


def _num(v: float) -> str:
    return f"{v:g}"


def sample_indices(data: ImageArray, per_class: int = 8, max_classes: int = 16, n: int = 64) -> np.ndarray:
    """One row per class (first ``per_class`` of each) when labelled, else the first ``n``."""
    if data.labels is not None and 0 < len(np.unique(data.labels)) <= max_classes:
        rows = [np.flatnonzero(data.labels == c)[:per_class] for c in np.unique(data.labels)]
        return np.concatenate(rows)
    return np.arange(min(n, len(data)))


def save_points(points: np.ndarray, path: str | Path, size: int = 512) -> Path:
    """Scatter plot of 2-D points as a PNG (toy mixtures), axes scaled to the data with a 5% margin."""
    from PIL import Image, ImageDraw

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lo, hi = points.min(0), points.max(0)
    span = float(max(hi - lo)) or 1.0
    mid = (lo + hi) / 2
    xy = (points - mid) / (span * 1.1) * size + size / 2
    img = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(img)
    for x, y in xy[:5000]:
        d.point((float(x), size - float(y)), fill=(30, 60, 160))
    img.save(path)
    return path


def inspect_source(source: str, split: str = "train", resolution: int = 0, channels: int = 0,
                   grid: str | Path | None = None) -> Summary:
    """Load ``source`` as training would and describe it; write a sample grid PNG when ``grid`` is given."""
    raw = load_source(source, split, resolution=resolution, channels=channels)
    data = fit_shape(raw, resolution, channels)
    counts: dict[str, int] = {}
    if data.labels is not None and len(data):
        ks, ns = np.unique(data.labels, return_counts=True)
        for k, n in zip(ks, ns):
            label = data.class_names[k] if k < len(data.class_names) else str(k)
            counts[str(label)] = int(n)
    x = data.images
    vr = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    out = None
    if grid:
        out = save_points(x, grid) if data.kind == "points" else save_grid(x[sample_indices(data)], grid, nrow=8)
    return Summary(source, split, len(data), data.kind, tuple(raw.images.shape[1:]), tuple(x.shape[1:]), str(x.dtype), vr,
                   counts, list(data.notes), data.skipped_message(), out)
