"""Data sources by name or path -> :class:`ImageArray`.

Built-in names: ``fashion-mnist-subset`` (bundled, the default), ``fashion-mnist``, ``mnist`` and ``cifar10``
(found on this machine, else downloaded with checksums by users who have a network), ``noto-emoji`` (64x64 colour,
fetched with npm: data/emoji.py), ``ring8`` and ``grid25``
(2-D toy mixtures). Paths: an ``.npz``, an IDX file or a folder of them, CIFAR-10 python batches (folder or
``cifar-10-python.tar.gz``), or a folder of images.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..errors import DataError
from .array import ImageArray
from .cifar import FOLDER, find_cifar_folder, is_cifar_archive, load_cifar_archive, load_cifar_folder
from .download import DownloadError, cache_dir, download
from .folder import is_image_folder, load_image_folder
from .idx import read_idx
from .npz import load_npz
from .toy import MIXTURES, sample_mixture

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DEBIAN_FASHION = "/usr/share/datasets/fashion-mnist"  # `apt-get install dataset-fashion-mnist`


def fashion_dirs() -> list[str]:
    return [DEBIAN_FASHION, str(cache_dir() / "fashion-mnist"), "data/fashion-mnist"]


def mnist_dirs() -> list[str]:
    return [str(cache_dir() / "mnist"), "data/mnist", "/usr/share/datasets/mnist"]


def cifar_paths() -> list[str]:
    c = cache_dir() / "cifar10"
    return [str(c / FOLDER), str(c / "cifar-10-python.tar.gz"), f"data/{FOLDER}", "data/cifar-10-python.tar.gz"]


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
    if split not in ("train", "test"):
        raise DataError(f"IDX data sets have splits 'train' and 'test', not '{split}'.")
    prefix = "train" if split == "train" else "t10k"
    return [(f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"),
            (f"{prefix}-images.idx3-ubyte", f"{prefix}-labels.idx1-ubyte")]


def find_idx_pair(folder: Path, split: str) -> Optional[tuple[Path, Optional[Path]]]:
    for img, lab in _idx_names(split):
        for ext in (".gz", ""):
            pi = folder / (img + ext)
            if pi.exists():
                for lext in (ext, ".gz", ""):
                    if (folder / (lab + lext)).exists():
                        return pi, folder / (lab + lext)
                return pi, None
    return None


def _labelled(x: np.ndarray, y: Optional[np.ndarray], name: str, class_names: Optional[list[str]]) -> ImageArray:
    k = max(int(y.max()) + 1 if y is not None and len(y) else 0, len(class_names or []))
    names = class_names or [str(i) for i in range(k)]
    return ImageArray(x[:, None], y, name, k if y is not None else 0, names if y is not None else [])


def _read_idx_images(path: Path) -> np.ndarray:
    x = read_idx(path)
    if x.ndim != 3:
        raise DataError(f"IDX file '{path}' has shape {x.shape}; expected images (N, height, width).")
    return x


def _read_idx_labels(path: Path, n: int, images: Path) -> np.ndarray:
    y = read_idx(path).astype(np.int64)
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"'{path}' holds {len(y)} labels for {n} images in '{images}'; use matching files.")
    return y


def load_idx_folder(folder: Path, split: str, name: str, class_names: list[str] | None = None) -> ImageArray:
    pair = find_idx_pair(folder, split)
    if pair is None:
        raise DataError(f"No {split} IDX files (e.g. {_idx_names(split)[0][0]}[.gz]) in '{folder}'.")
    x = _read_idx_images(pair[0])
    y = _read_idx_labels(pair[1], len(x), pair[0]) if pair[1] else None
    return _labelled(x, y, name, class_names)


def load_idx_file(path: Path) -> ImageArray:
    """One IDX image file; its labels are the sibling named with images->labels and idx3->idx1, when present."""
    x = _read_idx_images(path)
    lab = path.with_name(path.name.replace("images", "labels").replace("idx3", "idx1"))
    y = _read_idx_labels(lab, len(x), path) if lab != path and lab.exists() else None
    return _labelled(x, y, path.name.split(".")[0], None)


def _first_dir(cands: list[str], split: str = "train") -> Optional[Path]:
    for c in cands:
        p = Path(c).expanduser()
        if p.is_dir() and find_idx_pair(p, split):
            return p
    return None


def _load_named_idx(name: str, cands: Callable[[], list[str]], classes: list[str] | None, how: str) -> Callable[[str], ImageArray]:
    """Load from the first folder that has the files; else download them into the cache (users with a network)."""

    def load(split: str) -> ImageArray:
        d = _first_dir(cands(), split)
        if d is None:
            try:
                d = download(name)
            except DownloadError as e:
                raise DataError(f"Data set '{name}' is not in {', '.join(cands())} and could not be downloaded ({e.reason}); "
                                f"{how.format(cache=cache_dir())}") from None
        return load_idx_folder(d, split, name, classes)

    return load


def _find_cifar() -> Optional[Path]:
    for c in cifar_paths():
        p = Path(c).expanduser()
        if (p.is_dir() and find_cifar_folder(p)) or is_cifar_archive(p):
            return p
    return None


def _load_cifar10(split: str) -> ImageArray:
    p = _find_cifar()
    if p is None:
        try:
            p = download("cifar10") / "cifar-10-python.tar.gz"
        except DownloadError as e:
            raise DataError(f"Data set 'cifar10' is not in {', '.join(cifar_paths())} and could not be downloaded ({e.reason}); "
                            f"copy cifar-10-python.tar.gz into {cache_dir() / 'cifar10'} by hand.") from None
    return load_cifar_archive(p, split) if p.is_file() else load_cifar_folder(p, split)


def _toy(name: str) -> Callable[[str], ImageArray]:
    def load(split: str) -> ImageArray:
        pts, k = sample_mixture(name, 50_000 if split == "train" else 2_500, seed=0 if split == "train" else 1)
        return ImageArray(pts, k, name, len(np.unique(k)), kind="points")

    return load


def _where(find: Callable[[], Optional[Path]], how: str) -> Callable[[], str]:
    def where() -> str:
        d = find()
        return f"found in {d}" if d else f"not found; {how}"

    return where


_DL = "or it is downloaded into {} on first use (needs a network)"

BUILTINS: dict[str, BuiltinSource] = {
    "fashion-mnist-subset": BuiltinSource(
        "fashion-mnist-subset", "6,000 train / 1,000 test Fashion-MNIST images, class-balanced, bundled (the default)",
        load_bundled, lambda: f"bundled at {_bundled_path()}"),
    "fashion-mnist": BuiltinSource(
        "fashion-mnist", "Fashion-MNIST, 60,000 train / 10,000 test, 28x28 grey (IDX files)",
        _load_named_idx("fashion-mnist", fashion_dirs, FASHION_CLASSES, "install it with `apt-get install dataset-fashion-mnist` or copy the four -ubyte.gz files into {cache}/fashion-mnist."),
        _where(lambda: _first_dir(fashion_dirs()),
               "`apt-get install dataset-fashion-mnist`, " + _DL.format("~/.cache/mspgsen/fashion-mnist"))),
    "mnist": BuiltinSource(
        "mnist", "MNIST, 60,000 train / 10,000 test, 28x28 grey (IDX files)",
        _load_named_idx("mnist", mnist_dirs, None, "copy the four -ubyte[.gz] files into {cache}/mnist by hand."),
        _where(lambda: _first_dir(mnist_dirs()),
               "put the four -ubyte[.gz] files in ~/.cache/mspgsen/mnist, " + _DL.format("~/.cache/mspgsen/mnist"))),
    "cifar10": BuiltinSource(
        "cifar10", "CIFAR-10, 50,000 train / 10,000 test, 32x32 RGB (python batches)",
        _load_cifar10,
        _where(_find_cifar, "put cifar-10-batches-py/ or cifar-10-python.tar.gz in ~/.cache/mspgsen/cifar10, "
               + _DL.format("~/.cache/mspgsen/cifar10"))),
}
from . import emoji as _emoji  # noqa: E402

BUILTINS["noto-emoji"] = BuiltinSource(
    "noto-emoji", "Noto emoji, 2,786 train / 1,000 test, 64x64 RGB (RGBA on white), from an npm package",
    _emoji.load, _where(lambda: _emoji.npz_path() if _emoji.npz_path().is_file() else None, _emoji.HOW))
for _name in MIXTURES:
    BUILTINS[_name] = BuiltinSource(_name, f"2-D toy mixture '{_name}' (mode-coverage experiments)", _toy(_name), lambda: "generated")


def _is_idx_file(p: Path) -> bool:
    n = p.name.lower()
    return "idx" in n or "ubyte" in n


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
    if p.is_file():
        if p.name.lower().endswith(".npz"):
            return load_npz(p, split)
        if is_cifar_archive(p):
            return load_cifar_archive(p, split, p.name.split(".")[0])
        if _is_idx_file(p):
            return load_idx_file(p)
        raise DataError(f"'{p}' is not a kind of file mspgsen reads; give an .npz, an IDX file, cifar-10-python.tar.gz or a folder.")
    if find_idx_pair(p, split if split in ("train", "test") else "train"):
        return load_idx_folder(p, split, p.name)
    if find_cifar_folder(p):
        return load_cifar_folder(p, split, p.name)
    if not is_image_folder(p):
        raise DataError(f"Folder '{p}' holds no images, IDX files or CIFAR-10 batches; point data.source at a folder of pictures.")
    return load_image_folder(p, split, resolution, channels)
