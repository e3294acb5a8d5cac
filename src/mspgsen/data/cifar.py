"""CIFAR-10 in its python format: pickled batches (``data_batch_1..5``, ``test_batch``) in a folder or in
``cifar-10-python.tar.gz``. Each batch is a dict with ``b'data'`` (N, 3072) uint8 in R, G, B planes of 32x32
and ``b'labels'``.

The pickles are read with an unpickler that only builds dicts, lists, bytes and numpy arrays, so a hostile
file cannot run code.
"""
from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import DataError
from .array import ImageArray

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCHES = ["test_batch"]
FOLDER = "cifar-10-batches-py"
_ALLOWED = {"_reconstruct", "ndarray", "dtype", "scalar", "_frombuffer"}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[0] == "numpy" and name in _ALLOWED:
            return super().find_class(module, name)
        if module in ("builtins", "__builtin__") and name in ("dict", "list", "bytes", "bytearray", "set", "tuple"):
            return super().find_class(module, name)
        if module == "_codecs" and name == "encode":
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_batch(fh: IO[bytes], where: str) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch -> (images uint8 (N, 3, 32, 32), labels int64 (N,))."""
    try:
        d = _ArrayUnpickler(fh, encoding="bytes").load()
    except Exception as e:  # any unpickling failure is a bad file, whatever the exception type
        raise DataError(f"'{where}' is not a readable CIFAR-10 python batch ({type(e).__name__}: {e}); re-download it.") from None
    if not isinstance(d, dict):
        raise DataError(f"'{where}' does not hold a CIFAR-10 batch dict; give the python version of CIFAR-10.")
    d = {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}
    if "data" not in d or ("labels" not in d and "fine_labels" not in d):
        raise DataError(f"'{where}' lacks 'data' or 'labels'; give the python version of CIFAR-10.")
    x = np.asarray(d["data"])
    if x.ndim != 2 or x.shape[1] != 3072:
        raise DataError(f"'{where}' holds data of shape {x.shape}; CIFAR-10 batches hold (N, 3072) uint8 rows.")
    y = np.asarray(d.get("labels", d.get("fine_labels")), dtype=np.int64)
    if len(y) != len(x):
        raise DataError(f"'{where}' holds {len(y)} labels for {len(x)} images; the batch is damaged, re-download it.")
    return x.astype(np.uint8).reshape(-1, 3, 32, 32), y


def find_cifar_folder(path: Path) -> Path | None:
    """The folder holding the batches: ``path`` itself or its ``cifar-10-batches-py`` child."""
    for d in (path, path / FOLDER):
        if d.is_dir() and any((d / b).exists() for b in TRAIN_BATCHES + TEST_BATCHES):
            return d
    return None


def is_cifar_archive(path: Path) -> bool:
    return path.is_file() and path.name.endswith((".tar.gz", ".tgz", ".tar")) and "cifar" in path.name.lower()


def _names(split: str) -> list[str]:
    if split not in ("train", "test"):
        raise DataError(f"CIFAR-10 has splits 'train' and 'test', not '{split}'.")
    return TRAIN_BATCHES if split == "train" else TEST_BATCHES


def _result(parts: list[tuple[np.ndarray, np.ndarray]], name: str, where: str, split: str) -> ImageArray:
    if not parts:
        raise DataError(f"No CIFAR-10 {split} batches ({', '.join(_names(split))}) in '{where}'; give the full python version.")
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    return ImageArray(x, y, name, 10, list(CIFAR10_CLASSES))


def load_cifar_folder(path: str | Path, split: str = "train", name: str = "cifar10") -> ImageArray:
    path = Path(path)
    folder = find_cifar_folder(path)
    if folder is None:
        raise DataError(f"'{path}' holds no CIFAR-10 batches (data_batch_1..5, test_batch).")
    parts = []
    for b in _names(split):
        f = folder / b
        if f.exists():
            with open(f, "rb") as fh:
                parts.append(read_batch(fh, str(f)))
    return _result(parts, name, str(folder), split)


def load_cifar_archive(path: str | Path, split: str = "train", name: str = "cifar10") -> ImageArray:
    """Read the batches straight out of ``cifar-10-python.tar.gz`` without unpacking it to disk."""
    path = Path(path)
    want = set(_names(split))
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for m in tar.getmembers():
                base = m.name.rsplit("/", 1)[-1]
                if m.isfile() and base in want:
                    fh = tar.extractfile(m)
                    parts[base] = read_batch(io.BytesIO(fh.read()), f"{path}:{m.name}")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"Cannot read archive '{path}' ({e}); re-download cifar-10-python.tar.gz.") from None
    return _result([parts[b] for b in _names(split) if b in parts], name, str(path), split)
