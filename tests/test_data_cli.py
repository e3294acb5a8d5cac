"""`data list`, `data inspect`, and checksummed downloads (from file:// URLs the tests write)."""
from __future__ import annotations

import argparse
import hashlib

import numpy as np
import pytest
from PIL import Image

from mspgsen.data import download as dl
from mspgsen.data.cli import add_data_parser
from mspgsen.data.idx import write_idx
from mspgsen.errors import DataError


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MSPGSEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MSPGSEN_NO_DOWNLOAD", "1")


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    add_data_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_data_list_names_every_builtin_and_where(capsys):
    from mspgsen.data import BUILTINS

    assert _run(["data", "list"]) == 0
    out = capsys.readouterr().out
    for name, b in BUILTINS.items():
        assert name in out
    assert "bundled at" in out and "generated" in out
    assert "downloaded into" in out or "found in" in out


def test_inspect_idx_reports_padding_labels_and_writes_grid(tmp_path, capsys):
    rng = np.random.default_rng(0)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(1, 200, (30, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.repeat(np.arange(3), 10).astype(np.uint8))
    grid = tmp_path / "out" / "grid.png"
    assert _run(["data", "inspect", str(tmp_path), "--out", str(grid)]) == 0
    out = capsys.readouterr().out
    assert "count: 30" in out
    assert "1x28x28 as stored, 1x32x32 for the model" in out
    assert "padded 28x28 -> 32x32" in out
    assert "labels: 3 classes (0: 10, 1: 10, 2: 10)" in out
    values = [ln for ln in out.splitlines() if ln.startswith("dtype")][0]
    assert "uint8" in values and "0.." in values  # the padding adds black
    im = Image.open(grid)
    assert im.size == (8 * 34 + 2, 3 * 34 + 2)  # one row of 8 per class


def test_inspect_folder_reports_skipped_once(tmp_path, capsys):
    for i in range(2):
        Image.fromarray(np.full((20, 20, 3), 100 * i, np.uint8)).save(tmp_path / f"{i}.jpg")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    assert _run(["data", "inspect", str(tmp_path), "--resolution", "16", "--no-grid"]) == 0
    out = capsys.readouterr().out
    assert out.count("Skipped 1 unreadable") == 1 and "bad.png" in out
    assert "3x16x16" in out and "labels: none" in out


def test_inspect_toy_points(tmp_path, capsys):
    assert _run(["data", "inspect", "ring8", "--out", str(tmp_path / "r.png")]) == 0
    assert "count: 50000" in capsys.readouterr().out
    assert (tmp_path / "r.png").stat().st_size > 0


# ---------------------------------------------------------------- downloads
def _remote(tmp_path, payload: bytes, checksum: str | None = None) -> dl.Remote:
    src = tmp_path / "server" / "file.gz"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_bytes(payload)
    checksum = checksum or "sha256:" + hashlib.sha256(payload).hexdigest()
    return dl.Remote("file.gz", ("file:///nonexistent/mirror/file.gz", src.as_uri()), checksum)


def test_fetch_tries_mirrors_verifies_and_reuses(tmp_path, monkeypatch):
    monkeypatch.delenv("MSPGSEN_NO_DOWNLOAD")
    r = _remote(tmp_path, b"hello idx")
    dest = dl.fetch(r, tmp_path / "got", quiet=True)
    assert dest.read_bytes() == b"hello idx"
    (tmp_path / "server" / "file.gz").unlink()  # a second call must not need the network
    assert dl.fetch(r, tmp_path / "got", quiet=True) == dest
    assert dl.verify(dest, "md5:" + hashlib.md5(b"hello idx").hexdigest())


def test_fetch_rejects_a_checksum_mismatch_and_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.delenv("MSPGSEN_NO_DOWNLOAD")
    r = _remote(tmp_path, b"tampered", checksum="md5:" + "0" * 32)
    with pytest.raises(DataError, match="checksum"):
        dl.fetch(r, tmp_path / "got", quiet=True)
    assert not any((tmp_path / "got").iterdir())


def test_fetch_offline_and_forbidden(tmp_path, monkeypatch):
    r = dl.Remote("f.gz", ("file:///nonexistent/a/f.gz",), "md5:" + "0" * 32)
    with pytest.raises(dl.DownloadError, match="MSPGSEN_NO_DOWNLOAD"):
        dl.fetch(r, tmp_path / "got", quiet=True)
    monkeypatch.delenv("MSPGSEN_NO_DOWNLOAD")
    with pytest.raises(dl.DownloadError, match=r"Could not download 'f.gz'.*copy the file into") as e:
        dl.fetch(r, tmp_path / "got", quiet=True)
    assert e.value.reason


def test_known_remotes_have_checksums():
    for name, files in dl.REMOTES.items():
        for r in files:
            algo, _, hexd = r.checksum.partition(":")
            assert algo in ("md5", "sha256") and len(hexd) == {"md5": 32, "sha256": 64}[algo]
            assert all(u.endswith(r.filename) for u in r.urls)


def test_named_set_is_downloaded_into_the_cache_then_loaded(tmp_path, monkeypatch):
    monkeypatch.delenv("MSPGSEN_NO_DOWNLOAD")
    from mspgsen.data import load_source

    server = tmp_path / "mirror"
    server.mkdir()
    rng = np.random.default_rng(0)
    remotes = []
    for prefix, n in (("train", 6), ("t10k", 4)):
        for kind, arr in (("images-idx3", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)),
                          ("labels-idx1", rng.integers(0, 10, n).astype(np.uint8))):
            name = f"{prefix}-{kind}-ubyte.gz"
            write_idx(server / name, arr)
            md5 = hashlib.md5((server / name).read_bytes()).hexdigest()
            remotes.append(dl.Remote(name, ((server / name).as_uri(),), "md5:" + md5))
    monkeypatch.setitem(dl.REMOTES, "mnist", remotes)
    d = load_source("mnist", "test")
    assert d.images.shape == (4, 1, 28, 28) and len(d.labels) == 4
    assert (tmp_path / "cache" / "mnist" / "t10k-images-idx3-ubyte.gz").exists()
