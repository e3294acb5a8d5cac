"""`mspgsen evaluate` end to end (a folder of images, a trained run) and the trainer's periodic measurement."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

import mspgsen
from mspgsen.cli.main import main
from mspgsen.data import load_source
from mspgsen.data.toy import sample_mixture
from mspgsen.metrics.training import measure_during_training


pytestmark = pytest.mark.usefixtures("private_cache")  # converted weights and references in a fresh cache


@pytest.fixture(scope="module")
def eight():
    return load_source("fashion-mnist-subset", "test").images[:8]


def test_images_folder_against_an_npz_of_the_same_images(tmp_path, eight, capsys):
    folder = tmp_path / "made_by_another_program"
    folder.mkdir()
    for i, im in enumerate(eight):
        Image.fromarray(im[0]).save(folder / f"{i:03d}.png")
    np.savez(tmp_path / "ref.npz", x=eight[:, 0])
    rc = main(["evaluate", "--images", str(folder), "--ref", str(tmp_path / "ref.npz"), "--n", "8", "--json",
               "--metrics", "fid,kid,pr,dc", "--threads", "1"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n_fake"] == res["n_ref"] == 8
    assert abs(res["fid"]) < 1e-6  # lossless PNGs of the very same images
    assert res["kid"] < 0  # the unbiased estimator drops the k(x, x) terms only within a set, so X vs X is below 0
    assert res["precision"] == res["recall"] == res["coverage"] == 1.0
    assert res["extractor"].startswith("fid-inception-v3")


def test_evaluate_a_run_writes_metrics_jsonl(tmp_path, tiny, capsys):
    runs = tmp_path / "runs"
    res = mspgsen.train("dcgan", name="ev", runs_dir=runs, overrides=tiny + ["train.steps=2"], log=lambda *a, **k: None)
    rc = main(["evaluate", str(res.run_dir), "--n", "8", "--metrics", "fid", "--threads", "1", "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "FID" in out and "fashion-mnist-subset (test)" in out  # the run's own data, test split by default
    lines = [json.loads(s) for s in (res.run_dir / "metrics.jsonl").read_text().splitlines()]
    ev = [x for x in lines if x.get("kind") == "evaluate"][-1]
    assert ev["fid"] > 50 and ev["step"] == 2 and ev["n_fake"] == 8  # an untrained G is far from the data


@pytest.mark.parametrize("argv", [["evaluate"], ["evaluate", "run", "--images", "x", "--ref", "y"],
                                  ["evaluate", "--images", "x"], ["evaluate", "--images", "x", "--ref", "y", "--metrics", "is"],
                                  ["evaluate", "--images", "/nonexistent", "--ref", "fashion-mnist-subset"]])
def test_user_errors_exit_2_with_one_sentence(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_measure_during_training_images_and_toy(eight):
    cfg = SimpleNamespace(eval=SimpleNamespace(ref="", metric="fid", n=8, batch_size=8),
                          data=SimpleNamespace(source="fashion-mnist-subset"), train=SimpleNamespace(device="cpu"))
    asked = []

    def generate(n):
        asked.append(n)
        return torch.from_numpy(eight[:n]).float() / 127.5 - 1  # [-1, 1] like a generator

    res = measure_during_training(generate, cfg, 8)
    assert asked == [8] and set(res) == {"fid"} and res["fid"] >= 0
    cfg.data.source = "grid25"
    pts = measure_during_training(lambda n: torch.from_numpy(sample_mixture("grid25", n, seed=1)[0]), cfg, 2000)
    assert pts["modes_covered"] == 25 and pts["modes_missed"] == 0 and pts["hq_share"] > 0.97  # 3 sigma holds 98.9% of a 2-D Gaussian
