"""The Noto emoji source: decoding a tarball laid out as the npm package, the split, and the sentence when missing."""
import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from mspgsen.data import emoji
from mspgsen.data.sources import load_source
from mspgsen.errors import DataError


def fake_tarball(path, n=8):
    """A gzip tarball with n 64x64 RGBA PNGs where the npm package keeps them (and one file that is not one)."""
    with tarfile.open(path, "w:gz") as tar:
        for i in range(n):
            im = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
            im.paste((200, 10 * i, 30, 255), (16, 16, 48, 48))  # an opaque square on a transparent page
            buf = io.BytesIO()
            im.save(buf, format="PNG")
            info = tarfile.TarInfo(f"{emoji.MEMBER_PREFIX}{i:04x}.png")
            info.size = len(buf.getvalue())
            tar.addfile(info, io.BytesIO(buf.getvalue()))
        readme = b"not an image"
        info = tarfile.TarInfo("package/README.md")
        info.size = len(readme)
        tar.addfile(info, io.BytesIO(readme))
    return path


def test_decode_composites_on_white_and_splits(tmp_path, monkeypatch):
    monkeypatch.setenv("MSPGSEN_CACHE", str(tmp_path / "cache"))
    emoji.build_npz(fake_tarball(tmp_path / "e.tgz"), emoji.npz_path())
    train, test = load_source("noto-emoji", "train"), load_source("noto-emoji", "test")
    assert train.images.shape == (6, 3, 64, 64) and test.images.shape == (2, 3, 64, 64)
    assert train.images.dtype == np.uint8
    assert (train.images[:, :, 0, 0] == 255).all()  # the transparent page became white
    assert (train.images[:, 0, 32, 32] == 200).all()  # the opaque square kept its colour
    all_green = sorted(int(g) for g in np.concatenate([train.images, test.images])[:, 1, 32, 32])
    assert all_green == [10 * i for i in range(8)]  # every picture once, none in both splits


def test_missing_emoji_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("MSPGSEN_CACHE", str(tmp_path / "empty"))
    with pytest.raises(DataError, match="get_noto_emoji.py"):
        load_source("noto-emoji", "train")


def test_a_tarball_without_the_images_is_refused(tmp_path):
    path = tmp_path / "other.tgz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("package/index.js")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(DataError, match="not the emoji-datasource-google"):
        emoji.decode(path)
