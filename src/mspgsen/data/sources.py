"""Data sources by name or path -> :class:`ImageArray`.

Built-in names: ``fashion-mnist-subset`` (bundled, the default), ``fashion-mnist`` and ``mnist`` (IDX files found
on this machine), ``ring8`` and ``grid25`` (2-D toy mixtures). Paths: a folder of IDX files, an ``.npz``, a folder
of images, a CIFAR-10 python folder.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..errors import DataError
from .array import ImageArray
from .idx import read_idx
from .toy import MIXTURES, sample_mixture

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
FASHION_DIRS = ["/usr/share/datasets/fashion-mnist", "~/.cache/mspgsen/fashion-mnist", "data/fashion-mnist"]
MNIST_DIRS = ["~/.cache/mspgsen/mnist", "data/mnist", "/usr/share/datasets/mnist"]


@dataclass(frozen=True)
class BuiltinSource:
    name: str
    description: str
    load: Callable[[str], ImageArray]
    where: Callable[[], str]  # where it was found, or how to get it


def _bundled_path() -> Path:
    return Path(str(resources.files("mspgsen.data").joinpath("bundled", "fashion_mnist_subset.npz")))


def load_bundled(split: str = "train") -> ImageArray:
    if split not in ("train", "test"):
        raise DataError(f"The bundled subset has splits 'train' and 'test', not '{split}'.")
    with np.load(_bundled_path()) as z:
        x, y = z[f"x_{split}"], z[f"y_{split}"].astype(np.int64)
    return ImageArray(x[:, None], y, "fashion-mnist-subset", 10, FASHION_CLASSES)


def _idx_names(split: str) -> list[tuple[str, str]]:
    prefix = "train" if split == "train" else "t10k"
    return [(f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"),
            (f"{prefix}-images.idx3-ubyte", f"{prefix}-labels.idx1-ubyte")]


def find_idx_pair(folder: Path, split: str) -> Optional[tuple[Path, Path]]:
    for img, lab in _idx_names(split):
        for ext in (".gz", ""):
            pi, pl = folder / (img + ext), folder / (lab + ext)
            if pi.exists():
                return pi, (pl if pl.exists() else None)
    return None


def load_idx_folder(folder: Path, split: str, name: str, class_names: list[str] | None = None) -> ImageArray:
    pair = find_idx_pair(folder, split)
    if pair is None:
        raise DataError(f"No {split} IDX files (e.g. {_idx_names(split)[0][0]}[.gz]) in '{folder}'.")
    x = read_idx(pair[0])
    if x.ndim != 3:
        raise DataError(f"IDX images '{pair[0]}' have shape {x.shape}; expected (N, height, width).")
    y = read_idx(pair[1]).astype(np.int64) if pair[1] else None
    if y is not None and len(y) != len(x):
        raise DataError(f"'{pair[1]}' holds {len(y)} labels for {len(x)} images in '{pair[0]}'; use matching files.")
    return ImageArray(x[:, None], y, name, 10 if y is not None else 0, class_names or [str(i) for i in range(10)])


def _first_dir(cands: list[str], split: str = "train") -> Optional[Path]:
    for c in cands:
        p = Path(c).expanduser()
        if p.is_dir() and find_idx_pair(p, split):
            return p
    return None


def _load_named_idx(name: str, cands: list[str], classes: list[str] | None, how: str) -> Callable[[str], ImageArray]:
    def load(split: str) -> ImageArray:
        d = _first_dir(cands, split)
        if d is None:
            raise DataError(f"Data set '{name}' was not found in {', '.join(cands)}; {how}")
        return load_idx_folder(d, split, name, classes)

    return load


def _toy(name: str) -> Callable[[str], ImageArray]:
    def load(split: str) -> ImageArray:
        pts, k = sample_mixture(name, 50_000 if split == "train" else 2_500, seed=0 if split == "train" else 1)
        return ImageArray(pts, k, name, len(np.unique(k)), kind="points")

    return load


def _where(cands: list[str], how: str) -> Callable[[], str]:
    def where() -> str:
        d = _first_dir(cands)
        return f"found in {d}" if d else f"not found; {how}"

    return where


BUILTINS: dict[str, BuiltinSource] = {
    "fashion-mnist-subset": BuiltinSource(
        "fashion-mnist-subset", "6,000 train / 1,000 test Fashion-MNIST images, class-balanced, bundled",
        load_bundled, lambda: f"bundled at {_bundled_path()}"),
    "fashion-mnist": BuiltinSource(
        "fashion-mnist", "Fashion-MNIST, 60,000 train / 10,000 test (IDX files)",
        _load_named_idx("fashion-mnist", FASHION_DIRS, FASHION_CLASSES, "install it with `apt-get install dataset-fashion-mnist`."),
        _where(FASHION_DIRS, "`apt-get install dataset-fashion-mnist`")),
    "mnist": BuiltinSource(
        "mnist", "MNIST, 60,000 train / 10,000 test (IDX files)",
        _load_named_idx("mnist", MNIST_DIRS, None, "put the four -ubyte files in ~/.cache/mspgsen/mnist."),
        _where(MNIST_DIRS, "put the four -ubyte files in ~/.cache/mspgsen/mnist")),
}
for _name in MIXTURES:
    BUILTINS[_name] = BuiltinSource(_name, f"2-D toy mixture '{_name}' (mode-coverage experiments)", _toy(_name), lambda: "generated")


def load_source(source: str, split: str = "train", resolution: int = 0, channels: int = 0) -> ImageArray:
    """Load a built-in name or a path into memory.

    Arrays come back in their own shape (see :func:`fit_shape`); image folders, which have no single native size,
    are resized and centre-cropped to ``resolution`` (0: the first image's shorter side) with ``channels`` (0: RGB
    unless every image is grey).
    """
    if source in BUILTINS:
        return BUILTINS[source].load(split)
    p = Path(source).expanduser()
    if not p.exists():
        from ..registry import suggest

        raise DataError(f"Data source '{source}' is neither a built-in name nor an existing path.{suggest(source, BUILTINS)} "
                        f"Built-in: {', '.join(BUILTINS)}.")
    if p.is_dir() and find_idx_pair(p, split):
        return load_idx_folder(p, split, p.name)
    raise DataError(f"Data source '{source}' is of a kind this version cannot read yet.")
