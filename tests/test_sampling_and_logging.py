"""Truncation, the Python API's generate, the progress bar's total, TensorBoard images, the classifier notice."""
from __future__ import annotations

import types

import pytest
import torch

import mspgsen
from mspgsen.cli.main import main
from mspgsen.engine.progress import TrainingBar, steps_left_estimate
from mspgsen.errors import MspgsenError
from mspgsen.sampling import truncated_randn
from tests.conftest import TINY, quiet


def test_truncated_normal_stays_inside_and_keeps_entries_already_inside():
    for psi in (0.5, 1.0, 0.01):
        z = truncated_randn(4096, seed=3, trunc=psi)
        assert z.abs().max() <= psi
    full, cut = truncated_randn(512, 7), truncated_randn(512, 7, 0.8)
    inside = full.abs() <= 0.8
    assert torch.equal(full[inside], cut[inside]) and not torch.equal(full, cut)
    assert torch.equal(truncated_randn(64, 1, 0.7), truncated_randn(64, 1, 0.7))
    with pytest.raises(MspgsenError, match="positive"):
        truncated_randn(8, 0, 0.0)


def test_generate_api_and_cli_trunc(runs, tmp_path):
    mspgsen.train("dcgan", name="t", runs_dir=runs, overrides=TINY + ["train.steps=1"], log=quiet)
    a = mspgsen.generate(runs / "t", seeds=[0, 1, 2])
    b = mspgsen.generate("t", runs_dir=runs, seeds=[2])
    assert a.shape == (3, 1, 32, 32) and torch.equal(a[2], b[0])
    t = mspgsen.generate(runs / "t", seeds=[0, 1, 2], trunc=0.5)
    assert not torch.equal(a, t) and t.abs().max() <= 1
    assert main(["generate", str(runs / "t"), "--seeds", "0-3", "--trunc", "0.7", "--grid", "--out", str(tmp_path / "g.png")]) == 0
    assert main(["interpolate", str(runs / "t"), "--seeds", "0,1", "--frames", "3", "--trunc", "0.7",
                 "--out", str(tmp_path / "w.png")]) == 0
    assert main(["generate", str(runs / "t"), "--trunc", "-1"]) == 2


def test_progress_total_follows_the_budget():
    assert steps_left_estimate(100, 0, 10, 640, 64) == 100
    assert steps_left_estimate(0, 1.0, 10, 640, 64) == 10 + 6  # 360 images left at 64 a step
    assert steps_left_estimate(12, 1.0, 10, 640, 64) == 12  # the steps budget ends first
    assert steps_left_estimate(0, 0, 10, 640, 64) is None
    cfg = types.SimpleNamespace(steps=0, kimg=0.0, minutes=2.0)
    bar = TrainingBar(cfg, 0, 0, 64, t0=0.0)
    assert bar.seconds and bar.bar.total == 120
    bar.advance(3, 192)  # t0 was long ago: the bar is full, not past its end
    assert bar.bar.n == 120
    bar.close()
    cfg = types.SimpleNamespace(steps=0, kimg=1.0, minutes=0.0)
    bar = TrainingBar(cfg, 0, 0, 64, t0=0.0)
    assert bar.bar.total == 16
    bar.advance(1, 128)  # a step that took two batches (CFG's stages do): the total is re-estimated
    assert bar.bar.total == 1 + 7 and bar.bar.n == 1
    bar.close()


def test_tensorboard_gets_sample_grids_and_measurements(runs):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    over = ["model.name=mlp", "data.source=ring8", "train.batch_size=50", "train.progress=false", "train.ckpt_every=1000",
            "train.sample_every=5", "eval.every_kimg=0.25", "eval.n=200", "eval.metric=modes_missed", "train.steps=10"]
    mspgsen.train("dcgan", name="tb", runs_dir=runs, overrides=over, log=quiet)
    ea = EventAccumulator(str(runs / "tb/tensorboard"))
    ea.Reload()
    assert [e.step for e in ea.Images("samples/grid")] == [5, 10]
    assert [e.step for e in ea.Scalars("eval/modes_missed")] == [5, 10]


def test_evaluate_says_when_it_trains_the_classifier_and_caches_it(private_cache, monkeypatch, capsys):
    from mspgsen.metrics import classifier

    calls = []

    def fake_train(train, test, epochs, show_progress=False):
        calls.append(epochs)
        return classifier.SmallCNN(train.num_classes, 1).eval(), 0.5

    monkeypatch.setattr(classifier, "train_classifier", fake_train)
    classifier.load_classifier("fashion-mnist-subset", 32, epochs=1)
    assert "training the class-score classifier on fashion-mnist-subset" in capsys.readouterr().err
    classifier.load_classifier("fashion-mnist-subset", 32, epochs=1)  # second time: from the cache, silently
    assert calls == [1] and capsys.readouterr().err == ""


def test_evaluate_api_returns_the_metrics(runs):
    over = ["model.name=mlp", "data.source=ring8", "train.batch_size=50", "train.progress=false", "train.tensorboard=false",
            "train.steps=5"]
    mspgsen.train("dcgan", name="toy", runs_dir=runs, overrides=over, log=quiet)
    res = mspgsen.evaluate("toy", runs_dir=runs, metrics="modes", n=400)
    assert res["ref"] == "ring8" and res["n_fake"] == 400 and 0 <= res["modes_covered"] <= 8
    with pytest.raises(MspgsenError, match="either a run or images"):
        mspgsen.evaluate()
