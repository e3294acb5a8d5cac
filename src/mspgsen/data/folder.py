"""A folder of images (PNG, JPEG, WebP, BMP; searched recursively), decoded into memory at one resolution.

Each image is composited on white when it has transparency, resized so its shorter side equals the resolution,
and centre-cropped square. Subfolder names become class labels when every image sits in one of at least two
class subfolders; otherwise there are none. Unreadable or truncated files are skipped and counted, never fatal,
unless nothing readable is left. A ``train``/``test`` subfolder is used for that split when present.

Decoded arrays of large folders are cached as ``.npz`` under the cache folder, keyed by the file list, sizes,
modification times, resolution and channels, so a second run starts in seconds.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import DataError
from .array import ImageArray
from .download import cache_dir

EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
CACHE_MIN_FILES = 500  # smaller folders decode faster than a cache is worth
_KEEP_SKIPPED = 5


def list_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursive, hidden files and folders left out), in a stable order."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(Path(root) / f for f in sorted(files) if f.lower().endswith(EXTENSIONS) and not f.startswith("."))
    return out


def is_image_folder(folder: Path) -> bool:
    return folder.is_dir() and any(True for _ in _iter_images(folder))


def _iter_images(folder: Path):
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for f in files:
            if f.lower().endswith(EXTENSIONS) and not f.startswith("."):
                yield f


def _open_rgb_or_grey(path: Path, resolution: int):
    """Decode one file into a PIL image of mode 'L' or 'RGB', transparency composited on white."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about odd-but-readable metadata; a bad file raises below
        im = Image.open(path)
        if resolution and im.format == "JPEG":
            im.draft("RGB" if im.mode != "L" else "L", (resolution, resolution))  # decode at a reduced size, much faster
        im.load()  # raises OSError on truncated data (LOAD_TRUNCATED_IMAGES stays False)
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("1", "I", "I;16", "F"):
        im = im.convert("L")
    if im.mode == "LA" or im.mode == "La":
        bg = Image.new("L", im.size, 255)
        bg.paste(im.convert("L"), mask=im.getchannel("A"))
        return bg
    if im.mode in ("RGBA", "RGBa"):
        bg = Image.new("RGB", im.size, (255, 255, 255))
        bg.paste(im.convert("RGB"), mask=im.getchannel("A"))
        return bg
    if im.mode != "L" and im.mode != "RGB":
        im = im.convert("RGB")  # CMYK, YCbCr, ...
    return im


def square(im, size: int):
    """Resize so the shorter side is ``size`` (area-averaging when shrinking), then centre-crop to size x size."""
    from PIL import Image

    w, h = im.size
    if (w, h) != (size, size):
        s = size / min(w, h)
        nw, nh = max(size, round(w * s)), max(size, round(h * s))
        im = im.resize((nw, nh), Image.LANCZOS if s < 1 else Image.BICUBIC)
        left, top = (nw - size) // 2, (nh - size) // 2
        im = im.crop((left, top, left + size, top + size))
    return im


def _labels_for(files: list[Path], folder: Path) -> tuple[np.ndarray | None, list[str]]:
    rel = [f.relative_to(folder).parts for f in files]
    if not rel or any(len(p) < 2 for p in rel):
        return None, []
    classes = sorted({p[0] for p in rel})
    if len(classes) < 2:
        return None, []
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[p[0]] for p in rel], dtype=np.int64), classes


def _cache_key(folder: Path, files: list[Path], resolution: int, channels: int) -> str:
    h = hashlib.sha1(f"{folder.resolve()}|{resolution}|{channels}|v1".encode())
    for f in files:
        st = f.stat()
        h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def load_image_folder(path: str | Path, split: str = "train", resolution: int = 0, channels: int = 0,
                      use_cache: bool = True) -> ImageArray:
    """Decode every image under ``path`` into uint8 (N, C, H, W) at ``resolution`` (0: the first image's shorter side).

    ``channels`` 0 keeps grey when every image is grey and gives RGB otherwise.
    """
    root = Path(path)
    folder = root / split if (root / split).is_dir() else root
    files = list_images(folder)
    if not files:
        raise DataError(f"Folder '{folder}' holds no images ({', '.join(e[1:] for e in EXTENSIONS)}); point data.source at a folder of pictures.")
    name = root.name or str(root)
    key = cache_file = None
    if use_cache and len(files) >= CACHE_MIN_FILES:
        key = _cache_key(folder, files, resolution, channels)
        cache_file = cache_dir() / "folders" / f"{key}.npz"
        if cache_file.exists():
            try:
                with np.load(cache_file, allow_pickle=False) as z:
                    labels = z["labels"] if "labels" in z else None
                    skipped_files = [str(s) for s in z["skipped_files"]]
                    return ImageArray(z["images"], labels, name, len(z["classes"]), [str(c) for c in z["classes"]],
                                      [f"decoded images read from cache {cache_file}"], int(z["skipped"]),
                                      skipped_files=skipped_files)
            except Exception:  # a damaged cache is rebuilt, never fatal
                pass
    labels, classes = _labels_for(files, folder)
    pics, keep, skipped = [], [], []
    size = resolution
    for i, f in enumerate(files):
        try:
            im = _open_rgb_or_grey(f, size)
        except Exception:  # unreadable, truncated, not an image, too large: skip and count
            skipped.append(str(f))
            continue
        if not size:
            size = min(im.size)
        pics.append(square(im, size))
        keep.append(i)
    if not pics:
        raise DataError(f"None of the {len(files)} image files in '{folder}' could be read (e.g. '{skipped[0]}'); check the files.")
    grey = all(p.mode == "L" for p in pics)
    want = channels or (1 if grey else 3)
    mode = "L" if want == 1 else "RGB"
    arr = np.stack([np.asarray(p.convert(mode) if p.mode != mode else p) for p in pics])
    arr = arr[:, None] if arr.ndim == 3 else arr.transpose(0, 3, 1, 2)
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    if labels is not None:
        labels = labels[np.array(keep)]
    notes = []
    if folder != root:
        notes.append(f"used the '{split}' subfolder")
    elif split != "train":
        notes.append(f"no '{split}' subfolder, so split '{split}' is every image in the folder")
    notes.append(f"decoded {len(pics)} images, resized and centre-cropped to {size}x{size}")
    out = ImageArray(arr, labels, name, len(classes) if labels is not None else 0, classes if labels is not None else [],
                     notes, len(skipped), skipped_files=skipped[:_KEEP_SKIPPED])
    if cache_file is not None:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_name(cache_file.stem + ".part.npz")
            extra = {"labels": labels} if labels is not None else {}
            np.savez(tmp, images=arr, classes=np.array(out.class_names, dtype=str), skipped=len(skipped),
                     skipped_files=np.array(out.skipped_files, dtype=str), **extra)
            tmp.replace(cache_file)
        except OSError:
            pass  # a read-only cache folder only costs speed
    return out
