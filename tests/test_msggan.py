"""MSG-GAN baseline: one real image per scale, the preset's paper settings, CLI training, exact resume, generation."""
from __future__ import annotations

import torch
import torch.nn.functional as F

import mspgsen
from mspgsen.cli.main import main
from mspgsen.config import load_config
from mspgsen.data.stream import Batch
from mspgsen.engine.build import build_method
from mspgsen.models.base import DataSpec


TINY = ["model.z_dim=16", "model.width=4", "model.max_ch=8", "train.batch_size=8", "data.limit=64",
        "train.progress=false", "train.tensorboard=false", "train.grid_size=8", "train.sample_every=1000",
        "train.ckpt_every=1000"]


def test_preset_has_the_paper_settings():
    cfg = load_config("msggan")
    assert (cfg.model.name, cfg.method.name, cfg.method.options.loss) == ("msggan", "gan", "rahinge")
    assert cfg.optim.name == "adam" and cfg.optim.lr_g == cfg.optim.lr_d == 3e-3 and tuple(cfg.optim.betas) == (0.0, 0.99)
    o = cfg.model.options
    assert o.normalize_z and o.pixel_norm and o.eq_lr and o.mbstd_group > 0 and o.combine == "cat"
    w = load_config("msggan-wgangp")
    assert w.method.options.loss == "wgan" and w.method.options.gp == 10.0


def test_d_receives_one_real_image_per_scale():
    torch.manual_seed(0)
    cfg = load_config("msggan", ["data.resolution=32", *TINY])
    m = build_method(cfg, DataSpec(32, 1), torch.device("cpu"))
    seen = []
    forward = m.D.forward

    def spy(xs, y=None, features=False):
        seen.append([x.detach().clone() for x in xs])
        return forward(xs, y, features)

    m.D.forward = spy
    x = torch.rand(8, 1, 32, 32) * 2 - 1

    class S:
        def next(self):
            return Batch(x.clone())

    m.step(S(), m.initial_knobs())
    real = seen[0]  # d_step looks at the real pyramid first
    assert [r.shape[-1] for r in real] == [4, 8, 16, 32]
    assert torch.equal(real[-1], x)
    for coarse, fine in zip(real, real[1:]):
        assert torch.allclose(coarse, F.avg_pool2d(fine, 2))
    assert all(len(xs) == 4 for xs in seen)  # fakes too, in D's and G's updates


def test_rmsprop_and_wgan_gp_train(runs):
    for preset, over in (("msggan", ["optim.name=rmsprop"]), ("msggan-wgangp", [])):
        cfg = load_config(preset, ["data.resolution=16", *TINY, *over])
        m = build_method(cfg, DataSpec(16, 1), torch.device("cpu"))
        stats = m.step(type("S", (), {"next": lambda self: Batch(torch.rand(8, 1, 16, 16) * 2 - 1)})(), m.initial_knobs())
        assert torch.isfinite(torch.tensor(stats["loss_d"]))
        assert isinstance(m.optimizers["G"], torch.optim.RMSprop if preset == "msggan" else torch.optim.Adam)
    assert "loss_d_gp" in stats


def test_preset_trains_through_the_cli_resumes_exactly_and_generates(runs, tmp_path):
    def cli(name: str, steps: int) -> int:
        sets = sum((["--set", o] for o in TINY + ["train.ckpt_every=2"]), [])
        return main(["train", "--config", "msggan", "--steps", str(steps), "--runs-dir", str(runs), "--name", name, *sets])

    assert cli("full", 4) == 0
    assert cli("half", 2) == 0 and cli("half", 4) == 0
    a = torch.load(runs / "full/checkpoints/ckpt-00000004.pt", weights_only=True)
    b = torch.load(runs / "half/checkpoints/ckpt-00000004.pt", weights_only=True)
    for k, v in a["method"]["nets"].items():
        assert torch.equal(v, b["method"]["nets"][k]), k
    for k, v in a["G_ema"].items():
        assert torch.equal(v, b["G_ema"][k]), k
    out = tmp_path / "gen"
    assert main(["generate", str(runs / "full"), "--n", "3", "--out", str(out)]) == 0
    assert len(list(out.glob("*.png"))) == 3
    h = mspgsen.load_generator(runs / "full")
    assert [x.shape[-1] for x in h.all_scales(h.z_from_seeds([0]))] == [4, 8, 16, 32]
