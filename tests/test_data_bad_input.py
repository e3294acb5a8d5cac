"""Bad data stops before training with one sentence naming the file or setting; the trainer's entry point."""
from __future__ import annotations

import numpy as np
import pytest

from mspgsen.config.schema import DataConfig
from mspgsen.data import fit_shape, load_source, prepare_training_data
from mspgsen.data.array import ImageArray
from mspgsen.errors import DataError


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MSPGSEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MSPGSEN_NO_DOWNLOAD", "1")


def _one_sentence(msg: str) -> bool:
    return msg.endswith((".", "?")) and msg.count(". ") == 0 and "\n" not in msg


@pytest.mark.parametrize("array, fragment", [
    (np.zeros((10, 5), np.uint8), r"shape \(10, 5\)"),
    (np.zeros((3, 5, 8, 8), np.uint8), "channel count"),  # five channels
    (np.full((3, 8, 8), 2.5, np.float32), r"floats in \[2.5, 2.5\]"),
    (np.zeros((3, 8, 8), np.complex64), "dtype complex64"),
    (np.full((3, 8, 8), 300, np.int32), "0..300"),
    (np.zeros((0, 8, 8), np.uint8), "no images"),
])
def test_npz_rejections_name_the_file(tmp_path, array, fragment):
    p = tmp_path / "bad.npz"
    np.savez(p, x=array)
    with pytest.raises(DataError, match=fragment) as e:
        load_source(str(p))
    assert str(p) in str(e.value) and _one_sentence(str(e.value))


def test_npz_without_image_key_lists_keys(tmp_path):
    np.savez(tmp_path / "k.npz", pixels=np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(DataError, match="keys found: pixels"):
        load_source(str(tmp_path / "k.npz"))


def test_npz_label_count_mismatch(tmp_path):
    np.savez(tmp_path / "l.npz", x=np.zeros((4, 8, 8), np.uint8), y=np.arange(3))
    with pytest.raises(DataError, match=r"labels of shape \(3,\) for 4 images"):
        load_source(str(tmp_path / "l.npz"))


def test_not_an_npz(tmp_path):
    (tmp_path / "z.npz").write_bytes(b"nope")
    with pytest.raises(DataError, match="z.npz"):
        load_source(str(tmp_path / "z.npz"))


def test_unknown_file_kind_and_missing_path(tmp_path):
    (tmp_path / "data.csv").write_text("1,2,3")
    with pytest.raises(DataError, match="data.csv"):
        load_source(str(tmp_path / "data.csv"))
    with pytest.raises(DataError, match="Did you mean 'fashion-mnist'"):
        load_source("fashion-mnst")


def test_channel_setting_that_cannot_be_met_names_the_setting():
    data = ImageArray(np.zeros((2, 3, 8, 8), np.uint8), name="rgb")
    with pytest.raises(DataError, match="data.channels") as e:
        fit_shape(data, 0, 2)
    assert _one_sentence(str(e.value))


def test_non_square_arrays_are_refused(tmp_path):
    np.savez(tmp_path / "w.npz", x=np.zeros((2, 8, 12), np.uint8))
    with pytest.raises(DataError, match="non-square 8x12"):
        prepare_training_data(DataConfig(source=str(tmp_path / "w.npz")))


# ---------------------------------------------------------------- prepare_training_data
def test_prepare_default_is_bundled_padded_with_labels():
    d = prepare_training_data(DataConfig(limit=50))
    assert d.images.shape == (50, 1, 32, 32) and d.images.dtype == np.uint8
    assert d.labels is not None and d.num_classes == 10
    assert any("padded 28x28 -> 32x32" in n for n in d.notes)


def test_prepare_drops_labels_and_converts_channels_and_resolution(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.integers(0, 256, (6, 28, 28), dtype=np.uint8), y=np.arange(6) % 2)
    d = prepare_training_data(DataConfig(source=str(tmp_path / "d.npz"), labels=False, channels=3, resolution=16))
    assert d.images.shape == (6, 3, 16, 16) and d.labels is None and d.num_classes == 0
    np.testing.assert_array_equal(d.images[:, 0], d.images[:, 2])  # grey -> RGB repeats the plane
    assert any("labels dropped" in n for n in d.notes) and any("1 -> 3 channels" in n for n in d.notes)


def test_prepare_uses_the_configured_split():
    d = prepare_training_data(DataConfig(split="test"))
    assert len(d) == 1000


def test_npz_labels_must_be_class_indices(tmp_path):
    np.savez(tmp_path / "s.npz", x=np.zeros((2, 8, 8), np.uint8), y=np.array(["cat", "dog"]))
    with pytest.raises(DataError, match="not non-negative integers"):
        load_source(str(tmp_path / "s.npz"))
    np.savez(tmp_path / "n.npz", x=np.zeros((2, 8, 8), np.uint8), y=np.array([0, -1]))
    with pytest.raises(DataError, match="not non-negative integers"):
        load_source(str(tmp_path / "n.npz"))
