"""``.npz`` arrays: the simplest way to hand the project any data set already in memory elsewhere.

Images under ``x`` or ``images`` (or ``x_<split>``), labels under ``y`` or ``labels`` (or ``y_<split>``), optional
``class_names``. Layouts (N, H, W), (N, H, W, C) and (N, C, H, W) with C in 1-4 are accepted; values uint8, integers
in 0..255, or floats in [0, 1] or [-1, 1] (converted to uint8 and noted). Anything else stops with one sentence.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from .array import ImageArray

_IMAGE_KEYS = ("x_{split}", "images_{split}", "x", "images", "X")
_LABEL_KEYS = ("y_{split}", "labels_{split}", "y", "labels", "Y")
_CH = (1, 2, 3, 4)


def _pick(keys: list[str], cands: tuple[str, ...], split: str) -> str | None:
    for c in cands:
        k = c.format(split=split)
        if k in keys:
            return k
    return None


def to_nchw(x: np.ndarray, where: str) -> np.ndarray:
    """(N, H, W) / (N, H, W, C) / (N, C, H, W) -> (N, C, H, W); channels-first wins when both ends could be C."""
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4:
        if x.shape[1] in _CH and (x.shape[3] not in _CH or x.shape[2] == x.shape[3]):
            return x
        if x.shape[3] in _CH:
            return x.transpose(0, 3, 1, 2)
        raise DataError(f"{where} has shape {x.shape}, with neither {x.shape[1]} nor {x.shape[3]} a channel count (1-4); "
                        "give grey, RGB or RGBA images.")
    raise DataError(f"{where} has shape {x.shape}; expected images (N, H, W), (N, H, W, C) or (N, C, H, W).")


def to_uint8_images(x: np.ndarray, where: str) -> tuple[np.ndarray, str]:
    """Convert pixel values to uint8 and say how (an empty string when they already were)."""
    if x.dtype == np.uint8:
        return x, ""
    if x.size == 0:
        return x.astype(np.uint8), ""
    if np.issubdtype(x.dtype, np.integer):
        lo, hi = int(x.min()), int(x.max())
        if lo >= 0 and hi <= 255:
            return x.astype(np.uint8), f"converted {x.dtype} values 0..255 to uint8"
        raise DataError(f"{where} holds {x.dtype} values in {lo}..{hi}; give uint8 or integers in 0..255.")
    if np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all():
            raise DataError(f"{where} holds NaN or infinite values; clean the array before use.")
        lo, hi = float(x.min()), float(x.max())
        if lo >= 0.0 and hi <= 1.0:
            return np.rint(x * 255.0).astype(np.uint8), "read float values as [0, 1] and scaled to uint8"
        if lo >= -1.0 and hi <= 1.0:
            return np.rint((x + 1.0) * 127.5).astype(np.uint8), "read float values as [-1, 1] and scaled to uint8"
        raise DataError(f"{where} holds floats in [{lo:g}, {hi:g}]; scale them to [0, 1] or [-1, 1], or give uint8.")
    raise DataError(f"{where} has dtype {x.dtype}; give uint8 or floats in [0, 1] or [-1, 1].")


def labels_from(y: np.ndarray, n: int, where: str) -> np.ndarray:
    """One non-negative integer class index per image, as int64."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"{where} holds labels of shape {y.shape} for {n} images; give one integer label per image.")
    ok = np.issubdtype(y.dtype, np.integer) or (np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0))
    if not ok or (n and y.min() < 0):
        raise DataError(f"{where} holds labels that are not non-negative integers; give class indices 0..K-1.")
    return y.astype(np.int64)


def load_npz(path: str | Path, split: str = "train") -> ImageArray:
    """Read an ``.npz`` of images (and labels) into an ImageArray of uint8 (N, C, H, W)."""
    path = Path(path)
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise DataError(f"Cannot read '{path}' as an .npz file ({e}); save it with numpy.savez.") from None
    with z:
        keys = list(z.keys())
        kx = _pick(keys, _IMAGE_KEYS, split)
        if kx is None:
            raise DataError(f"'{path}' has no image array (keys found: {', '.join(keys) or 'none'}); store images under 'x' or 'images'.")
        where = f"Array '{kx}' in '{path}'"
        try:
            x = z[kx]
            ky = _pick(keys, _LABEL_KEYS, split)
            y = z[ky] if ky else None
            names = [str(s) for s in z["class_names"]] if "class_names" in keys else []
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
            raise DataError(f"{where} cannot be read ({e}); re-save the file with numpy.savez.") from None
    x = to_nchw(x, where)
    if x.shape[0] == 0:
        raise DataError(f"{where} holds no images; give a non-empty array.")
    x, how = to_uint8_images(x, where)
    labels = labels_from(y, len(x), f"Array '{ky}' in '{path}'") if y is not None else None
    k = int(labels.max()) + 1 if labels is not None and len(labels) else 0
    k = max(k, len(names))
    return ImageArray(np.ascontiguousarray(x), labels, path.stem, k if labels is not None else 0,
                      names or ([str(i) for i in range(k)] if labels is not None else []), [how] if how else [])
