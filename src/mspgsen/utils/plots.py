"""Scatter plots of 2-D samples with Pillow (toy mixtures), no plotting library needed."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np


def save_points(points: np.ndarray, path: Path, reference: Optional[np.ndarray] = None, size: int = 400) -> Path:
    """Draw generated points (blue) over reference points (grey) on a square canvas fitted to both."""
    from PIL import Image, ImageDraw

    pts = np.asarray(points, dtype=np.float64)
    allp = pts if reference is None else np.concatenate([pts, np.asarray(reference, dtype=np.float64)])
    lo, hi = np.percentile(allp, 0.5, axis=0), np.percentile(allp, 99.5, axis=0)
    span = float(max(hi - lo)) * 1.15 or 1.0
    mid = (lo + hi) / 2

    def to_px(p: np.ndarray) -> np.ndarray:
        return ((p - mid) / span + 0.5) * (size - 1)

    img = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(img)
    if reference is not None:
        for x, y in to_px(np.asarray(reference, dtype=np.float64)):
            d.point((x, size - 1 - y), fill=(170, 170, 170))
    for x, y in to_px(pts):
        d.ellipse((x - 1, size - 2 - y, x + 1, size - y), fill=(30, 80, 200))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return Path(path)
