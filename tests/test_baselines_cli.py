"""Every baseline preset trains on the bundled data through the CLI, resumes exactly and generates from its folder."""
from __future__ import annotations

import json

import pytest
import torch

from mspgsen.cli.main import main
from mspgsen.config import load_config, preset_names

QUIET = ["train.progress=false", "train.tensorboard=false", "train.batch_size=8", "data.limit=64", "data.resolution=16",
         "train.grid_size=8", "train.log_every=1", "train.sample_every=1000", "train.ckpt_every=1000"]
DC = ["model.ngf=8", "model.ndf=8", "model.z_dim=16"]
CFG = DC + ["method.T=2", "method.N=16", "method.fit_epochs=1", "method.fit_batch=8"]
CASES = {
    "began": ["model.n=8", "model.z_dim=8"],
    "began-slr": ["model.n=8", "model.z_dim=8"],
    "cfg": CFG,
    "cfg-annealed": CFG,
    "nats": DC + ["control.nats.T=3"],
    "dcgan+nats": DC + ["control.nats=true"],
    "msggan+nats": ["model.z_dim=16", "model.width=8", "model.max_ch=16", "control.nats=true"],
}


def _train(preset, name, runs, steps, over):
    args = ["train", "--config", preset, "--name", name, "--runs-dir", str(runs), "--steps", str(steps)]
    for o in QUIET + over:
        args += ["--set", o]
    assert main(args) == 0


def _same(a, b, where=""):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


@pytest.mark.parametrize("case", list(CASES))
def test_preset_trains_resumes_exactly_and_generates(tmp_path, case, capsys):
    preset = case.split("+")[0]
    assert preset in preset_names(), f"preset '{preset}' is gone; a renamed preset must be renamed here too"
    over = CASES[case]
    runs = tmp_path / "runs"
    _train(preset, "full", runs, 4, over)
    _train(preset, "half", runs, 2, over)
    _train(preset, "half", runs, 4, over)
    a = torch.load(runs / "full/checkpoints/ckpt-00000004.pt", weights_only=True)
    b = torch.load(runs / "half/checkpoints/ckpt-00000004.pt", weights_only=True)
    for key in ("method", "G_ema", "knobs", "controllers", "stream"):
        _same(a[key], b[key], key)
    rows = [json.loads(x) for x in (runs / "half/stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    if preset.startswith("began"):
        assert all("M_global" in r and "began_k/k" in r for r in rows)  # logged at every step
    if "nats" in case:
        assert all("nats/w" in r for r in rows)
    out = tmp_path / "grid.png"
    assert main(["generate", str(runs / "half"), "--n", "4", "--grid", "--out", str(out)]) == 0
    assert out.exists() and out.stat().st_size > 0


def test_wgan_gp_and_dcgan_follow_their_papers():
    w = load_config("wgan-gp")
    assert (w.method.options.loss, w.method.options.n_critic, w.method.options.gp) == ("wgan", 5, 10.0)
    assert (w.optim.name, w.optim.lr_g, w.optim.lr_d, tuple(w.optim.betas)) == ("adam", 1e-4, 1e-4, (0.0, 0.9))
    assert w.model.options.d_norm != "batch"  # the per-sample penalty needs a critic without batch norm
    d = load_config("dcgan")
    assert (d.method.options.loss, d.method.options.n_critic) == ("ns", 1)
    assert (d.optim.name, d.optim.lr_g, d.optim.lr_d, tuple(d.optim.betas)) == ("adam", 2e-4, 2e-4, (0.5, 0.999))


def test_cfg_presets_follow_the_authors_defaults():
    c = load_config("cfg")
    o = c.method.options
    assert (o.T, o.U, o.N, o.fit_epochs, o.fit_batch, o.schedule) == (15, 1, 640, 10, 64, "constant")
    assert (c.optim.name, c.optim.alpha, c.optim.lr_g, c.optim.lr_d, c.model.options.z_dim) == ("rmsprop", 0.95, 2.5e-4, 2.5e-4, 100)
    assert c.model.options.d_norm == "batch"
    assert load_config("cfg-annealed").method.options.schedule != "constant"
