"""Exact resume for one preset of each method, controllers included: N steps, stop, N more equals 2N in one go.

The mspgsen case turns APFL (stages by the monitors and by its horizon, the meta bandit) and the DQN balancer on
with decisions every step, and its horizon puts a scheduled stage switch after the resume point, so a stage
point that moved with the budget would show as different weights.
"""
from __future__ import annotations

import json

import pytest
import torch

import mspgsen
from tests.conftest import TINY, quiet

QUIET = ["train.progress=false", "train.tensorboard=false", "train.sample_every=1000", "train.ckpt_every=1000",
         "train.log_every=1", "train.grid_size=4"]
CASES = {
    "dcgan": (TINY + ["train.log_every=1"], 4),
    "mspgsen": (QUIET + ["model.width=4", "model.max_ch=8", "model.z_dim=16", "train.batch_size=8", "data.limit=64",
                         "control.apfl.enabled=true", "control.apfl.every=1", "quality.every=1",
                         "quality.n=16", "control.apfl.horizon=6", "control.apfl.stall_window=1",
                         "control.dqn.enabled=true", "control.dqn.every=1", "control.dqn.warmup=2", "control.dqn.batch=2"], 3),
    "mspgsen-coarse-attention": (QUIET + ["model.width=4", "model.max_ch=8", "model.z_dim=16", "train.batch_size=8",
                                          "data.limit=64", "quality.every=1", "quality.n=16", "control.dqn.every=1",
                                          "control.dqn.warmup=2", "control.dqn.batch=2"], 3),
    # the default: lazy R1 every 2nd D update, so the resume point falls between two R1 updates
    "mspgsen-coarse-attention-no-apfl-dqn": (QUIET + ["model.width=4", "model.max_ch=8", "model.z_dim=16",
                                                      "train.batch_size=8", "data.limit=64", "method.r1_every=2"], 3),
    "mspgsen-coarse-attention-no-afe-apfl-dqn": (QUIET + ["model.width=4", "model.max_ch=8", "model.z_dim=16",
                                                          "train.batch_size=8", "data.limit=64", "method.r1_every=2"], 3),
    "began": (QUIET + ["model.n=8", "model.z_dim=8", "train.batch_size=8", "data.limit=64"], 4),
    "cfg": (TINY + ["train.log_every=1", "method.T=2", "method.N=16", "method.fit_epochs=1", "method.fit_batch=8"], 2),
}


def _final(run_dir, step: int) -> dict:
    return torch.load(run_dir / "checkpoints" / f"ckpt-{step:08d}.pt", weights_only=True)


def _same(a, b, where: str = "") -> None:
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and a != a:
        assert b != b, where
    else:
        assert a == b, where


@pytest.mark.parametrize("preset", sorted(CASES))
def test_n_plus_n_steps_equal_2n(runs, preset):
    over, n = CASES[preset]
    mspgsen.train(preset, name="full", runs_dir=runs, overrides=over + [f"train.steps={2 * n}"], log=quiet)
    mspgsen.train(preset, name="half", runs_dir=runs, overrides=over + [f"train.steps={n}"], log=quiet)
    mspgsen.train(preset, name="half", runs_dir=runs, overrides=over + [f"train.steps={2 * n}"], log=quiet)
    a, b = _final(runs / "full", 2 * n), _final(runs / "half", 2 * n)
    for key in ("method", "G_ema", "knobs", "controllers", "stream", "aux_stream", "rng", "step"):
        _same(a[key], b[key], key)
    rows = lambda r: [{k: v for k, v in json.loads(x).items() if k != "images_per_s"}  # noqa: E731
                      for x in (runs / r / "stats.jsonl").read_text().splitlines()]
    assert json.dumps(rows("full")) == json.dumps(rows("half"))
    if preset == "mspgsen":  # the controllers acted, and APFL left the early stage after the resume point
        assert set(a["controllers"]) == {"apfl", "dqn"} and a["controllers"]["apfl"]["stage"] >= 1
