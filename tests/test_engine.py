"""The trainer on a tiny DCGAN: outputs of a run, exact resume, atomic checkpoints, divergence, bad input."""
from __future__ import annotations

import json
import os

import pytest
import torch

import mspgsen
from mspgsen.engine.checkpoint import atomic_save, latest_checkpoint, load_checkpoint
from mspgsen.errors import CheckpointError, ConfigError, TrainingDiverged
from tests.conftest import quiet


def _nets(path):
    return torch.load(path, weights_only=True)["method"]["nets"]


def test_run_folder_holds_everything(runs, tiny):
    res = mspgsen.train("dcgan", name="t", runs_dir=runs, overrides=tiny + ["train.steps=6", "train.log_every=2",
                                                                             "train.ckpt_every=2", "train.keep_last=2"], log=quiet)
    run = runs / "t"
    assert res.step == 6 and res.stopped_by == "steps"
    assert (run / "config.yaml").exists() and (run / "samples" / "000006.png").exists()
    ckpts = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert ckpts == ["ckpt-00000004.pt", "ckpt-00000006.pt"]  # the last K=2 kept
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4, 6]
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "acc_real", "grad_norm_g", "images_per_s", "knob/lr_d"):
        assert key in rows[-1]


@pytest.mark.parametrize("preset", ["dcgan", "wgan-gp"])
def test_resume_is_exact(runs, tiny, preset):
    over = tiny + ["train.ckpt_every=3", "train.log_every=2"]
    mspgsen.train(preset, name="full", runs_dir=runs, overrides=over + ["train.steps=8"], log=quiet)
    mspgsen.train(preset, name="half", runs_dir=runs, overrides=over + ["train.steps=4"], log=quiet)
    mspgsen.train(preset, name="half", runs_dir=runs, overrides=over + ["train.steps=8"], log=quiet)
    a = torch.load(runs / "full/checkpoints/ckpt-00000008.pt", weights_only=True)
    b = torch.load(runs / "half/checkpoints/ckpt-00000008.pt", weights_only=True)
    for k, v in a["method"]["nets"].items():
        assert torch.equal(v, b["method"]["nets"][k]), k
    for k, v in a["G_ema"].items():
        assert torch.equal(v, b["G_ema"][k]), k
    assert a["stream"] == b["stream"]
    # and the log of the resumed run has no duplicated steps
    steps = [json.loads(x)["step"] for x in (runs / "half/stats.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps))


def test_training_changes_weights_and_is_deterministic(runs, tiny):
    over = tiny + ["train.steps=3"]
    mspgsen.train("dcgan", name="a", runs_dir=runs, overrides=over, log=quiet)
    mspgsen.train("dcgan", name="b", runs_dir=runs, overrides=over, log=quiet)
    mspgsen.train("dcgan", name="c", runs_dir=runs, overrides=over + ["seed=1"], log=quiet)
    a, b, c = (_nets(latest_checkpoint(runs / n / "checkpoints")) for n in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_atomic_checkpoint_survives_a_crash_mid_write(tmp_path, monkeypatch):
    path = tmp_path / "ckpt-00000001.pt"
    atomic_save({"format": 1, "config": {"model": {"name": "dcgan"}}, "x": torch.ones(3)}, path)

    def boom(obj, fh, *a, **k):
        fh.write(b"partial garbage")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        atomic_save({"format": 1, "config": {}, "x": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["x"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


def test_corrupt_and_foreign_checkpoints_give_a_sentence(tmp_path):
    bad = tmp_path / "ckpt-00000001.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(bad)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.ones(1)}, other)
    with pytest.raises(CheckpointError, match="not an mspgsen checkpoint"):
        load_checkpoint(other)
    future = tmp_path / "future.pt"
    torch.save({"format": 99, "config": {}, "version": "9.0"}, future)
    with pytest.raises(CheckpointError, match="format 99"):
        load_checkpoint(future)


def test_resume_refuses_a_different_model_or_config(runs, tiny):
    mspgsen.train("dcgan", name="r", runs_dir=runs, overrides=tiny + ["train.steps=2"], log=quiet)
    with pytest.raises(ConfigError, match="model.ngf"):
        mspgsen.train("dcgan", name="r", runs_dir=runs, overrides=tiny + ["train.steps=4", "model.ngf=16"], log=quiet)
    # a longer budget is fine
    assert mspgsen.train("dcgan", name="r", runs_dir=runs, overrides=tiny + ["train.steps=4"], log=quiet).step == 4
    # --new moves the old run aside, nothing is deleted
    mspgsen.train("dcgan", name="r", runs_dir=runs, new=True, overrides=tiny + ["train.steps=1", "model.ngf=16"], log=quiet)
    assert len([p for p in runs.iterdir() if p.name.startswith("r.old-")]) == 1


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(runs, tiny, monkeypatch):
    from mspgsen.methods import gan

    over = tiny + ["train.steps=10", "train.ckpt_every=2"]
    real_step = gan.GANMethod.step
    calls = {"n": 0}

    def step(self, data, knobs):
        calls["n"] += 1
        out = real_step(self, data, knobs)
        if calls["n"] == 5:
            out["loss_d"] = float("nan")
        return out

    monkeypatch.setattr(gan.GANMethod, "step", step)
    with pytest.raises(TrainingDiverged) as e:
        mspgsen.train("dcgan", name="nan", runs_dir=runs, overrides=over, log=quiet)
    assert "loss_d" in str(e.value) and "step 5" in str(e.value)
    assert latest_checkpoint(runs / "nan/checkpoints").name == "ckpt-00000004.pt"


def test_no_budget_is_refused(runs, tiny):
    with pytest.raises(ConfigError, match="budget"):
        mspgsen.train("dcgan", name="x", runs_dir=runs, overrides=tiny + ["train.steps=0"], log=quiet)


def test_load_generator_needs_only_the_run_folder(runs, tiny, tmp_path):
    mspgsen.train("dcgan", name="g", runs_dir=runs, overrides=tiny + ["train.steps=2"], log=quiet)
    moved = tmp_path / "elsewhere"
    os.rename(runs / "g", moved)
    (moved / "config.yaml").unlink()  # the checkpoint alone is enough
    G = mspgsen.load_generator(moved)
    assert (G.z_dim, G.resolution, G.channels) == (100, 32, 1)
    x = G(torch.randn(5, G.z_dim))
    assert x.shape == (5, 1, 32, 32) and x.min() >= -1 and x.max() <= 1
    assert torch.equal(G(G.z_from_seeds([3, 4])), G(G.z_from_seeds([3, 4])))


def test_conditional_dcgan_trains_and_generates_by_label(runs, tiny):
    mspgsen.train("dcgan", name="c", runs_dir=runs, overrides=tiny + ["train.steps=2", "model.conditional=true"], log=quiet)
    G = mspgsen.load_generator(runs / "c")
    assert G.num_classes == 10
    z = torch.randn(2, G.z_dim)
    a = G(z, torch.tensor([0, 0]))
    b = G(z, torch.tensor([7, 7]))
    assert not torch.equal(a, b)


def test_conditional_without_labels_is_refused(runs, tiny):
    with pytest.raises(ConfigError, match="no class labels"):
        mspgsen.train("dcgan", name="c", runs_dir=runs, overrides=tiny + ["train.steps=1", "model.conditional=true",
                                                                            "data.labels=false"], log=quiet)


def test_interrupt_stops_at_a_step_boundary_and_resumes_exactly(runs, tiny, monkeypatch):
    """A Ctrl-C (SIGINT) during training writes a checkpoint of a consistent state; the same command resumes."""
    import signal

    from mspgsen.methods import gan

    over = tiny + ["train.ckpt_every=100", "train.log_every=1"]
    mspgsen.train("dcgan", name="full", runs_dir=runs, overrides=over + ["train.steps=6"], log=quiet)
    real_step = gan.GANMethod.step
    calls = {"n": 0}

    def step(self, data, knobs):
        calls["n"] += 1
        if calls["n"] == 3:
            signal.raise_signal(signal.SIGINT)  # arrives mid-step
        return real_step(self, data, knobs)

    monkeypatch.setattr(gan.GANMethod, "step", step)
    res = mspgsen.train("dcgan", name="cut", runs_dir=runs, overrides=over + ["train.steps=6"], log=quiet)
    assert res.stopped_by == "interrupted" and res.step == 3
    monkeypatch.undo()
    mspgsen.train("dcgan", name="cut", runs_dir=runs, overrides=over + ["train.steps=6"], log=quiet)
    a, b = _nets(runs / "full/checkpoints/ckpt-00000006.pt"), _nets(runs / "cut/checkpoints/ckpt-00000006.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_measurement_during_training_keeps_the_best_checkpoint(runs):
    """eval.every_kimg on a toy mixture: metrics.jsonl grows, best.pt follows the metric, resume keeps the schedule."""
    over = ["model.name=mlp", "data.source=ring8", "train.batch_size=50", "train.progress=false", "train.tensorboard=false",
            "train.ckpt_every=1000", "train.sample_every=1000", "eval.every_kimg=0.5", "eval.n=500",
            "eval.metric=modes_missed", "train.steps=30"]
    mspgsen.train("dcgan", name="toy", runs_dir=runs, overrides=over, log=quiet)
    rows = [json.loads(x) for x in (runs / "toy/metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [10, 20, 30]
    assert {"modes_covered", "modes_missed", "hq_share"} <= set(rows[0])
    best = torch.load(runs / "toy/checkpoints/best.pt", weights_only=True)
    assert best["best"]["value"] == min(r["modes_missed"] for r in rows)
    with open(runs / "toy/metrics.jsonl", "a") as fh:  # a measurement written after the last checkpoint (a crash)
        fh.write(json.dumps({"step": 35, "modes_missed": 0.0}) + "\n")
    mspgsen.train("dcgan", name="toy", runs_dir=runs, overrides=over[:-1] + ["train.steps=40"], log=quiet)
    rows = [json.loads(x) for x in (runs / "toy/metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [10, 20, 30, 40]


def test_unknown_measurement_metric_is_named(runs):
    over = ["model.name=mlp", "data.source=ring8", "train.batch_size=50", "train.progress=false", "train.tensorboard=false",
            "eval.every_kimg=0.1", "eval.n=100", "eval.metric=fid", "train.steps=3"]
    with pytest.raises(ConfigError, match="modes_missed"):
        mspgsen.train("dcgan", name="toy", runs_dir=runs, overrides=over, log=quiet)
