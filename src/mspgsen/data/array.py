"""An in-memory image data set and the shape fixes every source shares (channels, pad to 32, resize)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..errors import DataError


@dataclass
class ImageArray:
    """Images as uint8 (N, C, H, W), labels as int64 (N,) or None, and what was done to them on the way in.

    Toy 2-D mixtures use the same container with float32 points of shape (N, 2) and ``kind == 'points'``.
    """

    images: np.ndarray
    labels: Optional[np.ndarray] = None
    name: str = ""
    num_classes: int = 0
    class_names: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. "padded 28x28 -> 32x32 with black borders"
    skipped: int = 0  # unreadable files skipped while loading
    kind: str = "images"  # 'images' or 'points'
    skipped_files: list[str] = field(default_factory=list)  # the first few skipped paths, for the one report

    def skipped_message(self) -> str:
        """One sentence about skipped files, or '' when none were (the trainer and inspect print it once)."""
        if not self.skipped:
            return ""
        eg = f", e.g. '{self.skipped_files[0]}'" if self.skipped_files else ""
        return f"Skipped {self.skipped} unreadable or truncated file(s) in '{self.name}'{eg}."

    def replace(self, **changes) -> "ImageArray":
        """A copy with some fields changed (keeps every other field, including ones added later)."""
        from dataclasses import replace

        return replace(self, **changes)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def channels(self) -> int:
        return int(self.images.shape[1]) if self.kind == "images" else 0

    @property
    def resolution(self) -> int:
        return int(self.images.shape[-1]) if self.kind == "images" else 0

    def subset(self, n: int) -> "ImageArray":
        if n <= 0 or n >= len(self):
            return self
        return self.replace(images=self.images[:n], labels=None if self.labels is None else self.labels[:n],
                            notes=list(self.notes))


def next_pow2(n: int) -> int:
    p = 1
    while p < n:
        p *= 2
    return p


def composite_on_white(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 2 or 4, H, W) grey+alpha / RGBA -> (N, 1 or 3, H, W) composited over white.

    White, not black, because transparent backgrounds (icons, emoji) are drawn to be seen on a light page.
    """
    c = images.shape[1]
    if c not in (2, 4):
        return images
    a = images[:, c - 1 : c].astype(np.float32) / 255.0
    rgb = images[:, : c - 1].astype(np.float32)
    return np.clip(np.rint(rgb * a + 255.0 * (1.0 - a)), 0, 255).astype(np.uint8)


def to_channels(images: np.ndarray, channels: int, name: str) -> np.ndarray:
    """Grey <-> RGB conversion of uint8 (N, C, H, W). RGB -> grey uses ITU-R 601 luma."""
    c = images.shape[1]
    if channels in (0, c):
        return images
    if c == 1 and channels == 3:
        return np.repeat(images, 3, axis=1)
    if c == 3 and channels == 1:
        w = np.array([0.299, 0.587, 0.114], dtype=np.float32).reshape(1, 3, 1, 1)
        return np.clip((images.astype(np.float32) * w).sum(1, keepdims=True) + 0.5, 0, 255).astype(np.uint8)
    raise DataError(f"Data set '{name}' has {c} channels and cannot be turned into {channels}; set data.channels to 1 or 3.")


def pad_to(images: np.ndarray, size: int) -> np.ndarray:
    """Centre-pad uint8 (N, C, H, W) with zeros (black) to size x size (28 -> 32 for MNIST-like data)."""
    n, c, h, w = images.shape
    if h == size and w == size:
        return images
    top, left = (size - h) // 2, (size - w) // 2
    out = np.zeros((n, c, size, size), dtype=images.dtype)
    out[:, :, top : top + h, left : left + w] = images
    return out


def resize_square(images: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 (N, C, S, S) to (N, C, size, size) with Pillow (antialiased)."""
    from PIL import Image

    n, c, h, w = images.shape
    if h == size and w == size:
        return images
    out = np.empty((n, c, size, size), dtype=np.uint8)
    for i in range(n):
        for ch in range(c):
            out[i, ch] = np.asarray(Image.fromarray(images[i, ch]).resize((size, size), Image.BICUBIC if size > h else Image.LANCZOS))
    return out


def fit_shape(data: ImageArray, resolution: int = 0, channels: int = 0) -> ImageArray:
    """Make images square, power-of-two sided and of the wanted channels; note each change in ``data.notes``.

    Data smaller than a power of two (28x28) is padded with black borders, never stretched; other sizes are
    resized. ``resolution=0`` keeps the data's own size, padded up to the next power of two.
    """
    if data.kind != "images":
        return data
    imgs = data.images
    if imgs.ndim != 4:
        raise DataError(f"Data set '{data.name}' has images of shape {imgs.shape[1:]}; expected (channels, height, width).")
    if imgs.shape[2] != imgs.shape[3]:
        raise DataError(f"Data set '{data.name}' has non-square {imgs.shape[2]}x{imgs.shape[3]} arrays; crop them square first.")
    notes = list(data.notes)
    c0 = imgs.shape[1]
    if c0 in (2, 4):
        imgs = composite_on_white(imgs)
        notes.append(f"composited {'RGBA' if c0 == 4 else 'grey+alpha'} on white")
        c0 = imgs.shape[1]
    imgs = to_channels(imgs, channels, data.name)
    if imgs.shape[1] != c0:
        notes.append(f"converted {c0} -> {imgs.shape[1]} channels")
    side = imgs.shape[-1]
    target = resolution or next_pow2(side)
    if side != target:
        if side < target and next_pow2(side) == target:
            imgs = pad_to(imgs, target)
            notes.append(f"padded {side}x{side} -> {target}x{target} with black borders (multi-scale models want powers of two)")
        else:
            imgs = resize_square(imgs, target)
            notes.append(f"resized {side}x{side} -> {target}x{target}")
    return data.replace(images=imgs, notes=notes)
