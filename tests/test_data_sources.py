"""Every data source, read from tiny files the tests write: IDX (gz and plain), image folders, CIFAR-10, npz."""
from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mspgsen.config.schema import DataConfig
from mspgsen.data import fit_shape, load_source, prepare_training_data
from mspgsen.data import folder as folder_mod
from mspgsen.data.idx import write_idx
from mspgsen.errors import DataError


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MSPGSEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MSPGSEN_NO_DOWNLOAD", "1")


def _digits(n: int, side: int = 28, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, side, side), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)


# ---------------------------------------------------------------- IDX
@pytest.mark.parametrize("ext", [".gz", ""])
def test_idx_folder_gz_and_plain_round_trip_and_pad_to_32(tmp_path, ext):
    x, y = _digits(12)
    xt, yt = _digits(5, seed=1)
    write_idx(tmp_path / f"train-images-idx3-ubyte{ext}", x)
    write_idx(tmp_path / f"train-labels-idx1-ubyte{ext}", y)
    write_idx(tmp_path / f"t10k-images-idx3-ubyte{ext}", xt)
    write_idx(tmp_path / f"t10k-labels-idx1-ubyte{ext}", yt)
    if ext == ".gz":
        assert (tmp_path / "train-images-idx3-ubyte.gz").read_bytes()[:2] == b"\x1f\x8b"
    d = load_source(str(tmp_path), "train")
    np.testing.assert_array_equal(d.images[:, 0], x)
    np.testing.assert_array_equal(d.labels, y)
    assert len(load_source(str(tmp_path), "test")) == 5
    f = fit_shape(d)
    assert f.images.shape == (12, 1, 32, 32)
    np.testing.assert_array_equal(f.images[:, 0, 2:30, 2:30], x)  # centred, not stretched
    assert f.images[:, :, :2].max() == 0 and f.images[:, :, :, 30:].max() == 0  # black borders
    assert any("28x28 -> 32x32" in n for n in f.notes)


def test_single_idx_file_finds_its_labels(tmp_path):
    x, y = _digits(7)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", x)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", y)
    d = load_source(str(tmp_path / "t10k-images-idx3-ubyte.gz"))
    np.testing.assert_array_equal(d.labels, y)
    assert d.images.shape == (7, 1, 28, 28)


def test_truncated_idx_is_a_data_error_naming_the_file(tmp_path):
    x, _ = _digits(4)
    p = tmp_path / "train-images-idx3-ubyte"
    write_idx(p, x)
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.*truncated"):
        load_source(str(tmp_path))


def test_named_fashion_mnist_looks_in_cache_folder(tmp_path, monkeypatch):
    from mspgsen.data import sources

    monkeypatch.setattr(sources, "DEBIAN_FASHION", str(tmp_path / "nowhere"))
    folder = tmp_path / "cache" / "fashion-mnist"
    folder.mkdir(parents=True)
    x, y = _digits(6)
    write_idx(folder / "train-images-idx3-ubyte.gz", x)
    write_idx(folder / "train-labels-idx1-ubyte.gz", y)
    d = load_source("fashion-mnist")
    assert len(d) == 6 and d.class_names[0] == "T-shirt/top"
    assert str(folder) in sources.BUILTINS["fashion-mnist"].where()


def test_missing_named_set_offline_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match=r"'mnist' is not in .*could not be downloaded.*copy"):
        load_source("mnist")


# ---------------------------------------------------------------- image folders
def _save(path: Path, arr: np.ndarray, fmt: str | None = None, mode: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode).save(path, fmt) if mode else Image.fromarray(arr).save(path, fmt)


def test_image_folder_png_jpeg_webp_recursive_with_class_labels(tmp_path):
    rng = np.random.default_rng(0)
    _save(tmp_path / "cats" / "a.png", rng.integers(0, 256, (40, 60, 3), dtype=np.uint8))
    _save(tmp_path / "cats" / "deep" / "b.jpg", rng.integers(0, 256, (64, 48, 3), dtype=np.uint8))
    _save(tmp_path / "dogs" / "c.webp", rng.integers(0, 256, (50, 50, 3), dtype=np.uint8))
    _save(tmp_path / "dogs" / "d.png", rng.integers(0, 256, (30, 30), dtype=np.uint8))  # grey among RGB
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    d = load_source(str(tmp_path), resolution=16)
    assert d.images.shape == (4, 3, 16, 16) and d.images.dtype == np.uint8
    assert d.class_names == ["cats", "dogs"]
    assert sorted(d.labels.tolist()) == [0, 0, 1, 1]
    assert d.skipped == 0


def test_image_folder_centre_crops_instead_of_squashing(tmp_path):
    img = np.zeros((20, 60), np.uint8)
    img[:, 20:40] = 255  # a white square in the middle of a wide black picture
    _save(tmp_path / "wide.png", img)
    d = load_source(str(tmp_path), resolution=20)
    assert d.images.shape == (1, 1, 20, 20)  # all-grey folder stays one channel
    assert d.images.min() >= 250  # only the centre square survived the crop
    assert d.labels is None


def test_image_folder_rgba_composited_on_white(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255  # red
    rgba[:4, :, 3] = 255  # top half opaque, bottom transparent
    _save(tmp_path / "icon.png", rgba, mode="RGBA")
    d = load_source(str(tmp_path), resolution=8)
    px = d.images[0].transpose(1, 2, 0)
    np.testing.assert_array_equal(px[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(px[7, 7], [255, 255, 255])


def test_image_folder_skips_truncated_and_unreadable_and_counts_them(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(3):
        _save(tmp_path / f"ok{i}.png", rng.integers(0, 256, (12, 12, 3), dtype=np.uint8))
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
    (tmp_path / "truncated.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (tmp_path / "garbage.jpg").write_bytes(b"this is not a jpeg")
    d = load_source(str(tmp_path), resolution=8)
    assert len(d) == 3 and d.skipped == 2
    msg = d.skipped_message()
    assert msg.startswith("Skipped 2 ") and msg.count(".") >= 1 and ("truncated.png" in msg or "garbage.jpg" in msg)
    assert prepare_training_data(DataConfig(source=str(tmp_path), resolution=8)).skipped == 2


def test_image_folder_split_subfolder_and_cache(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    for split, n in (("train", 3), ("test", 2)):
        for i in range(n):
            _save(tmp_path / "ds" / split / f"{i}.png", rng.integers(0, 256, (10, 10, 3), dtype=np.uint8))
    monkeypatch.setattr(folder_mod, "CACHE_MIN_FILES", 0)
    a = load_source(str(tmp_path / "ds"), "test", resolution=8)
    assert len(a) == 2 and a.labels is None
    cached = list((tmp_path / "cache" / "folders").glob("*.npz"))
    assert len(cached) == 1
    b = load_source(str(tmp_path / "ds"), "test", resolution=8)
    np.testing.assert_array_equal(a.images, b.images)
    assert any("cache" in n for n in b.notes)
    c = load_source(str(tmp_path / "ds"), "test", resolution=4)  # another resolution is another cache entry
    assert c.images.shape[-1] == 4


def test_empty_folder_is_one_sentence_naming_it(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as e:
        load_source(str(tmp_path / "empty"))
    assert f"'{tmp_path / 'empty'}' holds no images" in str(e.value)
    assert str(e.value).count(". ") == 0 and str(e.value).endswith(".")


def test_folder_of_only_broken_images_is_a_data_error(tmp_path):
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    with pytest.raises(DataError, match="could be read"):
        load_source(str(tmp_path))


# ---------------------------------------------------------------- CIFAR-10
def _cifar_batch(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"testing", b"labels": rng.integers(0, 10, n).tolist(),
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"filenames": [b"x.png"] * n}


def _write_cifar(folder: Path) -> dict[str, dict]:
    folder.mkdir(parents=True)
    batches = {f"data_batch_{i}": _cifar_batch(4, i) for i in range(1, 6)}
    batches["test_batch"] = _cifar_batch(3, 9)
    for name, b in batches.items():
        with open(folder / name, "wb") as fh:
            pickle.dump(b, fh, protocol=2)
    return batches


def test_cifar_folder_and_archive(tmp_path):
    batches = _write_cifar(tmp_path / "cifar-10-batches-py")
    d = load_source(str(tmp_path))  # the parent of cifar-10-batches-py is accepted too
    assert d.images.shape == (20, 3, 32, 32) and d.num_classes == 10 and d.class_names[0] == "airplane"
    first = batches["data_batch_1"][b"data"][0]
    np.testing.assert_array_equal(d.images[0, 0].ravel(), first[:1024])  # R plane first
    np.testing.assert_array_equal(d.images[0, 2].ravel(), first[2048:])
    np.testing.assert_array_equal(d.labels[:4], batches["data_batch_1"][b"labels"])
    tgz = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(tmp_path / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    t = load_source(str(tgz), "test")
    assert t.images.shape == (3, 3, 32, 32)
    np.testing.assert_array_equal(t.images, load_source(str(tmp_path / "cifar-10-batches-py"), "test").images)


def test_cifar_refuses_pickles_that_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "c").mkdir()
    with open(tmp_path / "c" / "test_batch", "wb") as fh:
        pickle.dump({b"data": Evil(), b"labels": []}, fh)
    with pytest.raises(DataError, match="test_batch"):
        load_source(str(tmp_path / "c"), "test")


def test_cifar_wrong_row_length_names_file(tmp_path):
    (tmp_path / "c").mkdir()
    with open(tmp_path / "c" / "test_batch", "wb") as fh:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, fh)
    with pytest.raises(DataError, match=r"test_batch.*\(2, 100\)"):
        load_source(str(tmp_path / "c"), "test")


# ---------------------------------------------------------------- npz
@pytest.mark.parametrize("layout", ["nhw", "nhwc", "nchw"])
def test_npz_layouts(tmp_path, layout):
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (5, 3, 16, 16), dtype=np.uint8)
    x = {"nhw": base[:, 0], "nhwc": base.transpose(0, 2, 3, 1), "nchw": base}[layout]
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(5))
    d = load_source(str(tmp_path / "d.npz"))
    expect = base[:, :1] if layout == "nhw" else base
    np.testing.assert_array_equal(d.images, expect)
    assert d.labels.tolist() == list(range(5)) and d.num_classes == 5


def test_npz_float_ranges_are_converted_and_noted(tmp_path):
    x01 = np.linspace(0, 1, 5 * 8 * 8, dtype=np.float32).reshape(5, 8, 8)
    np.savez(tmp_path / "a.npz", images=x01)
    a = load_source(str(tmp_path / "a.npz"))
    assert a.images.min() == 0 and a.images.max() == 255 and "[0, 1]" in a.notes[0] and a.labels is None
    np.savez(tmp_path / "b.npz", x=x01 * 2 - 1)
    b = load_source(str(tmp_path / "b.npz"))
    assert "[-1, 1]" in b.notes[0]
    assert np.abs(a.images.astype(int) - b.images.astype(int)).max() <= 1


def test_npz_split_keys(tmp_path):
    np.savez(tmp_path / "s.npz", x_train=np.zeros((4, 8, 8), np.uint8), x_test=np.zeros((2, 8, 8), np.uint8))
    assert len(load_source(str(tmp_path / "s.npz"), "train")) == 4
    assert len(load_source(str(tmp_path / "s.npz"), "test")) == 2


def test_npz_rgba_composited_by_fit_shape(tmp_path):
    x = np.zeros((2, 4, 8, 8), np.uint8)  # fully transparent black
    np.savez(tmp_path / "r.npz", x=x)
    f = fit_shape(load_source(str(tmp_path / "r.npz")))
    assert f.images.shape == (2, 3, 8, 8) and f.images.min() == 255
    assert any("on white" in n for n in f.notes)
