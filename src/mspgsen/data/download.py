"""Fetching public data sets into the cache, with checksums, for users who have a network.

Nothing here runs unless a named data set is missing on disk. Files land in :func:`cache_dir` (``$MSPGSEN_CACHE``
or ``~/.cache/mspgsen``), are written to a ``.part`` file first and renamed only after the checksum matches, so a
broken transfer never leaves a file that looks complete. Set ``MSPGSEN_NO_DOWNLOAD=1`` to forbid fetching.
"""
from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError


class DownloadError(DataError):
    """A fetch failed; ``reason`` is the short cause, for callers that word their own sentence."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def cache_dir() -> Path:
    """Where downloaded and decoded data lives; ``$MSPGSEN_CACHE`` overrides ``~/.cache/mspgsen``."""
    return Path(os.environ.get("MSPGSEN_CACHE") or "~/.cache/mspgsen").expanduser()


@dataclass(frozen=True)
class Remote:
    """One file to fetch: its name on disk, the URLs to try in order, and its checksum as ``algo:hex``."""

    filename: str
    urls: tuple[str, ...]
    checksum: str  # "md5:..." or "sha256:..."


def _mirrors(bases: tuple[str, ...], name: str) -> tuple[str, ...]:
    return tuple(b + name for b in bases)


_MNIST_BASES = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/")
_FASHION_BASES = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                  "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/")

# Published MD5 checksums of the original files (the Debian package recompresses its .gz files, so its bytes differ).
REMOTES: dict[str, list[Remote]] = {
    "mnist": [Remote(n, _mirrors(_MNIST_BASES, n), "md5:" + h) for n, h in [
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c")]],
    "fashion-mnist": [Remote(n, _mirrors(_FASHION_BASES, n), "md5:" + h) for n, h in [
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310")]],
    "cifar10": [Remote("cifar-10-python.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
                       "md5:c58f30108f718f92721af3b95e74349a")],
}


def file_checksum(path: str | Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(path: str | Path, checksum: str) -> bool:
    """True when the file's digest equals ``checksum`` (``md5:hex`` or ``sha256:hex``)."""
    algo, _, want = checksum.partition(":")
    return file_checksum(path, algo) == want.lower()


def fetch(remote: Remote, folder: Path, timeout: float = 30.0, quiet: bool = False) -> Path:
    """Make sure ``folder/remote.filename`` exists with the right checksum, downloading it if needed.

    Raises DataError when every URL fails (offline, blocked) or the bytes do not match the checksum.
    """
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / remote.filename
    if dest.exists() and verify(dest, remote.checksum):
        return dest
    if os.environ.get("MSPGSEN_NO_DOWNLOAD"):
        raise DownloadError(f"'{dest}' is missing and MSPGSEN_NO_DOWNLOAD is set; put the file there or unset it to download.",
                            "MSPGSEN_NO_DOWNLOAD is set")
    part = dest.with_name(dest.name + ".part")
    errors = []
    for url in remote.urls:
        if not quiet:
            print(f"downloading {url} -> {dest}", file=sys.stderr)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r, open(part, "wb") as out:
                for block in iter(lambda: r.read(1 << 20), b""):
                    out.write(block)
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            errors.append(str(getattr(reason, "strerror", None) or reason))
            continue
        if verify(part, remote.checksum):
            part.replace(dest)
            return dest
        errors.append("checksum mismatch")
    part.unlink(missing_ok=True)
    if all(e == "checksum mismatch" for e in errors):
        raise DownloadError(f"Every download of '{remote.filename}' failed its checksum {remote.checksum}; the mirrors may be "
                            f"corrupt, so fetch it by hand into '{folder}'.", "checksum mismatch")
    reason = errors[-1]
    raise DownloadError(f"Could not download '{remote.filename}' from {len(remote.urls)} mirror(s) (last error: {reason}); "
                        f"this machine may be offline, so copy the file into '{folder}' by hand.", reason)


def download(name: str, folder: Path | None = None, timeout: float = 30.0, quiet: bool = False) -> Path:
    """Fetch every file of the named data set into ``folder`` (default: the cache's ``name`` folder)."""
    if name not in REMOTES:
        raise DataError(f"No download is known for '{name}'; downloadable: {', '.join(REMOTES)}.")
    folder = folder or cache_dir() / name
    for r in REMOTES[name]:
        fetch(r, folder, timeout, quiet)
    return folder
