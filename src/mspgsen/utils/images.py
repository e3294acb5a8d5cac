"""Image grids, strips and GIFs with Pillow only (no torchvision).

Every writer accepts the two forms images take in the project: model output, float in [-1, 1] (a torch tensor
or numpy array, (N, C, H, W)), and data, uint8 numpy (N, C, H, W). A list of such batches or of single
(C, H, W) images is stacked first.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np


def to_uint8(images: Any) -> np.ndarray:
    """Images in any supported form -> uint8 numpy (N, C, H, W).

    Floats are read as [-1, 1] (the model range) and clipped; uint8 passes through. A 3-D array is one (C, H, W)
    image when its first side is 1, 3 or 4, else an (N, H, W) grey batch; (N, H, W, C) is moved to channels-first.
    """
    if isinstance(images, (list, tuple)):
        parts = [to_uint8(im if _ndim(im) == 4 else _unsqueeze(im)) for im in images]
        return np.concatenate(parts, 0) if parts else np.zeros((0, 1, 1, 1), np.uint8)
    if hasattr(images, "detach"):  # torch tensor, without importing torch
        images = images.detach().float().cpu().numpy()
    arr = np.asarray(images)
    if arr.ndim == 2:
        arr = arr[None, None]
    elif arr.ndim == 3:
        arr = arr[None] if arr.shape[0] in (1, 3, 4) else arr[:, None]  # one (C, H, W) image, else (N, H, W) grey
    if arr.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {arr.shape}")
    if arr.shape[1] not in (1, 3, 4) and arr.shape[-1] in (1, 3, 4):
        arr = arr.transpose(0, 3, 1, 2)
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    arr = (np.clip(arr.astype(np.float32), -1.0, 1.0) + 1.0) * 127.5
    return np.ascontiguousarray(np.rint(arr).astype(np.uint8))


def _ndim(x: Any) -> int:
    return len(x.shape) if hasattr(x, "shape") else np.asarray(x).ndim


def _unsqueeze(x: Any) -> Any:
    return x[None]


def make_grid(images: Any, nrow: int | None = None, padding: int = 2, pad_value: int = 0) -> np.ndarray:
    """Tile a batch into one uint8 (H, W, C) picture; ``nrow`` images per row (default: near-square)."""
    x = to_uint8(images)
    n, c, h, w = x.shape
    if n == 0:
        raise ValueError("cannot make a grid of zero images")
    if c == 4:  # RGBA -> composite on white, so transparent parts do not turn black
        a = x[:, 3:4].astype(np.float32) / 255.0
        x = np.rint(x[:, :3] * a + 255.0 * (1 - a)).astype(np.uint8)
        c = 3
    ncol = nrow or max(1, math.ceil(math.sqrt(n)))
    nrows = math.ceil(n / ncol)
    out = np.full((nrows * (h + padding) + padding, ncol * (w + padding) + padding, c), pad_value, np.uint8)
    for i in range(n):
        r, k = divmod(i, ncol)
        top, left = padding + r * (h + padding), padding + k * (w + padding)
        out[top : top + h, left : left + w] = x[i].transpose(1, 2, 0)
    return out


def _pil(grid: np.ndarray):
    from PIL import Image

    return Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)


def save_grid(images: Any, path: str | Path, nrow: int | None = None, padding: int = 2, pad_value: int = 0,
              scale: int = 1) -> Path:
    """Write a grid of images as PNG (or any format Pillow knows from the suffix); returns the path.

    ``scale`` enlarges the picture by an integer factor with nearest-neighbour, so 32x32 samples stay crisp.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = _pil(make_grid(images, nrow, padding, pad_value))
    if scale > 1:
        from PIL import Image

        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    img.save(path)
    return path


def save_strip(images: Any, path: str | Path, padding: int = 2, pad_value: int = 0) -> Path:
    """One row of images (an interpolation path, a coarse-to-fine pyramid after resizing to one size)."""
    x = to_uint8(images)
    return save_grid(x, path, nrow=len(x), padding=padding, pad_value=pad_value)


def save_gif(frames: Sequence[Any], path: str | Path, nrow: int | None = None, duration_ms: int = 100,
             loop: int = 0, padding: int = 2) -> Path:
    """An animated GIF whose frames are grids of batches (samples over training, a walk through z).

    Each element of ``frames`` is a batch in any supported form; a single (C, H, W) image is one frame of one.
    """
    if not frames:
        raise ValueError("cannot write a GIF with no frames")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pics = []
    for f in frames:
        x = to_uint8(f if _ndim(f) == 4 else _unsqueeze(f))
        pics.append(_pil(make_grid(x, nrow, padding)))
    pics[0].save(path, save_all=True, append_images=pics[1:], duration=duration_ms, loop=loop)
    return path
