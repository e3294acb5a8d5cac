"""NATS: the annealed weight on G's adversarial term (and only G's), the inner loop of D updates, the config rules."""
from __future__ import annotations

import pytest
import torch

from mspgsen.config import load_config
from mspgsen.annealing import anneal_factor
from mspgsen.control.base import Knobs
from mspgsen.control.nats import NATS
from mspgsen.data.stream import Batch
from mspgsen.engine.build import build_method
from mspgsen.errors import ConfigError
from mspgsen.models.base import DataSpec


def test_weight_follows_the_schedule_and_repeats_each_cycle():
    cfg = load_config("nats", ["control.nats.T=4", "control.nats.schedule=geometric", "control.nats.end=0.01",
                               "control.nats.weight=2", "control.nats.inner=3"])
    ctl = NATS(cfg.control["nats"], cfg)
    knobs = Knobs(lr_g=1e-4, lr_d=1e-4, d_steps=1)
    ctl.setup(None, knobs)
    seen = [knobs.weight("adv_g")]
    for step in range(1, 9):
        assert ctl.observe(step, {}, knobs)["w"] == knobs.weight("adv_g")
        seen.append(knobs.weight("adv_g"))
    cycle = [2 * anneal_factor("geometric", t, 4, 0.01) for t in range(4)]
    assert seen == pytest.approx(cycle * 2 + cycle[:1])
    assert seen[:4] == pytest.approx([2.0, 2 * 0.01 ** (1 / 3), 2 * 0.01 ** (2 / 3), 0.02])
    assert knobs.d_steps == 3  # the inner loop of D updates


def test_inner_zero_keeps_the_methods_n_critic():
    cfg = load_config("wgan-gp", ["control.nats=true", "model.ngf=8", "model.ndf=8"])
    ctl = NATS(cfg.control["nats"], cfg)
    m = build_method(cfg, DataSpec(16, 1), torch.device("cpu"))
    knobs = m.initial_knobs()
    ctl.setup(None, knobs)
    assert knobs.d_steps == 5 and knobs.weight("adv_g") == 1.0


def _g_and_d_losses(adv_g: float):
    cfg = load_config("dcgan", ["model.ngf=8", "model.ndf=8", "model.z_dim=8"])
    torch.manual_seed(0)
    m = build_method(cfg, DataSpec(16, 1), torch.device("cpu"))
    knobs = m.initial_knobs()
    knobs.weights["adv_g"] = adv_g
    batch = Batch(torch.rand(8, 1, 16, 16, generator=torch.Generator().manual_seed(3)) * 2 - 1, None)
    torch.manual_seed(1)
    real = m.real_batch(batch)
    d = m.d_step(real, knobs)
    g = m.g_step(real, knobs)
    return d["loss_d"], g["loss_g"]


def test_the_weight_scales_gs_adversarial_term_only():
    d1, g1 = _g_and_d_losses(1.0)
    d2, g2 = _g_and_d_losses(0.25)
    assert d2 == pytest.approx(d1)  # D's loss is untouched
    assert g2 == pytest.approx(0.25 * g1, rel=1e-5)


def test_nats_needs_an_alternating_gan_method():
    with pytest.raises(ConfigError, match="control.nats"):
        load_config("cfg", ["control.nats=true"])
    load_config("dcgan", ["control.nats=true"])  # the documented switch
