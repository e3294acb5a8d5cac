"""BEGAN and BEGAN-SLR: the k_t update and M_global on hand-made numbers, the auto-encoder D, skips, the LR rule."""
from __future__ import annotations

import math

import pytest
import torch

from mspgsen.config import load_config
from mspgsen.control.base import Knobs
from mspgsen.control.began import BEGANK, k_update
from mspgsen.control.plateau import LRPlateau, LRPlateauOptions
from mspgsen.data.stream import Batch
from mspgsen.engine.build import build_method
from mspgsen.errors import ConfigError
from mspgsen.methods.began import m_global
from mspgsen.models.base import DataSpec
from mspgsen.models.began import BEGANDiscriminator, BEGANGenerator, BEGANOptions, ConvBlock, recon_loss

TINY = ["model.n=8", "model.z_dim=8"]


def _method(preset="began", res=16, over=()):
    cfg = load_config(preset, TINY + list(over))
    return build_method(cfg, DataSpec(res, 1), torch.device("cpu")), cfg


class _Stream:
    def __init__(self, res=16, n=8):
        self.g = torch.Generator().manual_seed(1)
        self.res, self.n, self.drawn = res, n, 0

    def next(self):
        self.drawn += 1
        return Batch(torch.rand(self.n, 1, self.res, self.res, generator=self.g) * 2 - 1, None)


def test_k_update_on_hand_made_numbers():
    # k + lambda_k (gamma L(x) - L(G(z))) = 0.5 + 0.1 (0.5 * 0.2 - 0.05) = 0.505
    assert k_update(0.5, 0.2, 0.05, gamma=0.5, lambda_k=0.1) == pytest.approx(0.505)
    assert k_update(0.5, 0.2, 0.30, gamma=0.5, lambda_k=0.1) == pytest.approx(0.48)
    assert k_update(0.999, 10.0, 0.0, gamma=1.0, lambda_k=1.0) == 1.0  # clipped to [0, 1]
    assert k_update(0.001, 0.0, 10.0, gamma=1.0, lambda_k=1.0) == 0.0


def test_m_global_on_hand_made_numbers():
    assert m_global(0.2, 0.05, 0.5) == pytest.approx(0.2 + 0.05)  # L(x) + |gamma L(x) - L(G(z))|
    assert m_global(0.2, 0.15, 0.5) == pytest.approx(0.2 + 0.05)
    assert m_global(0.4, 0.2, 0.5) == pytest.approx(0.4)  # in equilibrium only L(x) is left


def test_k_controller_turns_the_knob_and_keeps_its_state():
    cfg = load_config("began", ["control.began_k.lambda_k=0.1", "control.began_k.k0=0.2"])
    ctl = BEGANK(cfg.control["began_k"], cfg)
    knobs = Knobs(lr_g=1e-4, lr_d=1e-4)
    ctl.setup(None, knobs)
    assert knobs.extra["k"] == 0.2
    out = ctl.observe(1, {"L_real": 0.2, "L_fake": 0.05}, knobs)
    assert out["k"] == pytest.approx(0.2 + 0.1 * 0.05) == knobs.extra["k"]
    other = BEGANK(cfg.control["began_k"], cfg)
    other.load_state_dict(ctl.state_dict())
    assert other.k == ctl.k


@pytest.mark.parametrize("res", [8, 16, 32])
def test_networks_shapes_and_d_scores_are_negated_reconstruction_losses(res):
    o = BEGANOptions(z_dim=8, n=4)
    G, D = BEGANGenerator(o, DataSpec(res, 3)), BEGANDiscriminator(o, DataSpec(res, 3))
    x = G(torch.randn(5, 8))[-1]
    assert x.shape == (5, 3, res, res)
    assert D.reconstruct(x).shape == x.shape
    assert torch.allclose(D([x]), -recon_loss(x, D.reconstruct(x)))
    n_up = sum(isinstance(m, torch.nn.Upsample) for m in G.modules())
    n_down = sum(isinstance(m, torch.nn.Conv2d) and m.stride == (2, 2) for m in D.encoder.modules())
    assert n_down == int(math.log2(res // 8))
    acts = {type(m) for m in list(G.modules()) + list(D.modules()) if isinstance(m, (torch.nn.ELU, torch.nn.ReLU, torch.nn.LeakyReLU))}
    assert acts == {torch.nn.ELU}
    assert all(m.kernel_size == (3, 3) for m in list(G.modules()) + list(D.modules()) if isinstance(m, torch.nn.Conv2d))
    assert n_up == 1  # one NN upsampling module, applied between blocks


def test_began_slr_has_skips_and_its_learning_rates():
    cfg = load_config("began-slr")
    assert cfg.model.options.skips and cfg.optim.lr_d == 0.004 and cfg.optim.lr_g == 0.001
    assert not load_config("began").model.options.skips
    m, _ = _method("began-slr")
    dec_blocks = [b for net in (m.G.decoder, m.D.decoder) for b in net.modules() if isinstance(b, ConvBlock)]
    enc_blocks = [b for b in m.D.encoder.modules() if isinstance(b, ConvBlock)]
    assert dec_blocks and all(b.skip for b in dec_blocks) and not any(b.skip for b in enc_blocks)
    x = torch.randn(2, 8, 8, 8)
    b = dec_blocks[0]
    assert torch.allclose(b(x), x + b.body(x))  # the block's input joined to its output
    plain, _ = _method("began")
    assert not any(b.skip for b in plain.G.modules() if isinstance(b, ConvBlock))
    knobs = m.initial_knobs()
    assert (knobs.lr_d, knobs.lr_g) == (0.004, 0.001)


def test_step_reports_m_global_and_trains_every_parameter():
    torch.manual_seed(0)
    m, cfg = _method()
    knobs = m.initial_knobs()
    knobs.extra["k"] = 0.3
    before = {k: v.clone() for k, v in m.nets.state_dict().items()}
    stats = m.step(_Stream(), knobs)
    for key in ("L_real", "L_fake", "M_global", "loss_d", "loss_g", "k"):
        assert math.isfinite(stats[key])
    assert stats["M_global"] == pytest.approx(m_global(stats["L_real"], stats["L_fake"], cfg.method.options.gamma))
    assert stats["loss_d"] == pytest.approx(stats["L_real"] - 0.3 * stats["L_fake_d"], rel=1e-5)
    after = m.nets.state_dict()
    unchanged = [k for k in before if torch.equal(before[k], after[k])]
    assert not unchanged, unchanged


def test_k_weights_the_fake_term_of_d():
    torch.manual_seed(0)
    m, _ = _method()
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    state = {k: v.clone() for k, v in m.nets.state_dict().items()}
    torch.manual_seed(1)
    a = m.d_step(x, 0.0)
    m.nets.load_state_dict(state)
    torch.manual_seed(1)
    b = m.d_step(x, 1.0)
    assert a["loss_d"] == pytest.approx(a["L_real"])  # k = 0: D only auto-encodes real images
    assert b["L_fake_d"] > 0 and b["loss_d"] == pytest.approx(b["L_real"] - b["L_fake_d"], rel=1e-5)
    assert a["L_fake_d"] == pytest.approx(b["L_fake_d"])


def test_config_rules():
    from mspgsen.config import config_from_dict

    with pytest.raises(ConfigError, match="began_k"):
        load_config("began", ["control.began_k.enabled=false"])
    with pytest.raises(ConfigError, match="model.name=began"):
        config_from_dict({"model": {"name": "dcgan"}, "method": {"name": "began"}, "control": {"began_k": True}})
    with pytest.raises(ConfigError, match="method.name=began"):
        load_config("dcgan", ["control.began_k=true"])


def test_lr_plateau_halves_both_rates_when_the_stat_stalls():
    ctl = LRPlateau(LRPlateauOptions(enabled=True, stat="M_global", window=2, patience=4, threshold=0.0), None)
    knobs = Knobs(lr_g=1e-3, lr_d=4e-3)
    for s in range(1, 9):  # improving: never cut
        ctl.observe(s, {"M_global": 1.0 / s}, knobs)
    assert (knobs.lr_g, knobs.lr_d) == (1e-3, 4e-3)
    for s in range(9, 9 + 4):  # flat for 2 windows = patience 4 steps: one cut
        ctl.observe(s, {"M_global": 1.0}, knobs)
    assert knobs.lr_g == pytest.approx(5e-4) and knobs.lr_d == pytest.approx(2e-3)
    again = LRPlateau(ctl.options, None)
    again.load_state_dict(ctl.state_dict())
    assert again.state_dict() == ctl.state_dict()
    with pytest.raises(ConfigError, match="no such stat"):
        ctl.observe(20, {"loss_d": 1.0}, knobs)
