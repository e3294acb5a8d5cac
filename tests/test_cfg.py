"""CFG-GAN and annealed CFG: the moves raise D, the fit pulls G to the moved images, stored copies at sampling,
and the values of each annealing schedule."""
from __future__ import annotations

import math

import pytest
import torch

from mspgsen.config import load_config
from mspgsen.annealing import SCHEDULES, anneal_factor, anneal_values
from mspgsen.data.stream import Batch
from mspgsen.engine.build import build_method
from mspgsen.errors import ConfigError
from mspgsen.methods.cfg import frozen_copy, move
from mspgsen.models.base import DataSpec

TINY = ["model.ngf=8", "model.ndf=8", "model.z_dim=16", "method.T=3", "method.N=32", "method.fit_epochs=2",
        "method.fit_batch=16"]


def _method(preset="cfg", over=()):
    cfg = load_config(preset, TINY + list(over))
    return build_method(cfg, DataSpec(16, 1), torch.device("cpu"))


class _Stream:
    def __init__(self, n=8):
        self.g = torch.Generator().manual_seed(1)
        self.n, self.drawn = n, 0

    def next(self):
        self.drawn += 1
        return Batch(torch.rand(self.n, 1, 16, 16, generator=self.g) * 2 - 1, None)


# -- schedules -----------------------------------------------------------------------------------------------
def test_constant_linear_geometric_values():
    assert anneal_values("constant", 0.5, 4) == [0.5] * 4
    assert anneal_values("linear", 1.0, 3, end=0.1) == pytest.approx([1.0, 0.55, 0.1])
    assert anneal_values("geometric", 2.0, 3, end=0.01) == pytest.approx([2.0, 0.2, 0.02])
    for s in SCHEDULES:
        assert anneal_values(s, 0.7, 1) == [0.7]  # a one-step cycle keeps the base value


def test_noise_schedule_values():
    T, end = 6, 0.1
    v = [anneal_factor("noise", t, T, end) for t in range(T)]
    assert v[0] == 1.0 and v[-1] == pytest.approx(end)
    assert all(a > b for a, b in zip(v, v[1:]))  # strictly annealed
    # rho = 1: the noise level sigma_t falls evenly, so sqrt(eta_t) is linear in t
    lin = [math.sqrt(anneal_factor("noise", t, T, end, rho=1.0)) for t in range(T)]
    assert all(b - a == pytest.approx(lin[1] - lin[0]) for a, b in zip(lin, lin[1:]))
    # a large rho tends to the geometric schedule
    far = [anneal_factor("noise", t, T, end, rho=1e6) for t in range(T)]
    assert far == pytest.approx([anneal_factor("geometric", t, T, end) for t in range(T)], rel=1e-4)
    # the default rho lies between the two
    mid = anneal_factor("noise", 2, T, end)
    assert lin[2] ** 2 > mid > anneal_factor("geometric", 2, T, end)


def test_schedule_errors():
    with pytest.raises(ValueError):
        anneal_factor("cosine", 0, 3)
    with pytest.raises(ValueError):
        anneal_factor("linear", 3, 3)
    with pytest.raises(ConfigError):
        load_config("cfg", ["method.schedule=cosine"])


def test_the_method_uses_the_schedule():
    assert _method().etas == [0.5] * 3
    m = _method("cfg-annealed")
    assert m.etas == pytest.approx(anneal_values("noise", 1.0, 3, 0.1))


# -- the mechanism -------------------------------------------------------------------------------------------
def test_a_move_raises_d_on_the_moved_fakes():
    torch.manual_seed(0)
    m = _method()
    m.step(_Stream(), m.initial_knobs())  # a trained-a-little D (with batch-norm running statistics)
    D_t = frozen_copy(m.D)
    x = m.G(torch.randn(16, 16))[-1].detach()
    moved = move(x, [D_t], [0.05])
    with torch.no_grad():
        assert (D_t([moved]) > D_t([x])).all()
    assert not torch.equal(moved, x)


def test_the_fitted_g_gets_closer_to_the_moved_samples():
    torch.manual_seed(0)
    m = _method(over=["method.fit_batch=32", "method.eta=20", "method.fit_epochs=5"])  # one chunk: same batch-norm batches
    m.step(_Stream(), m.initial_knobs())
    z = torch.randn(32, 16)
    target, start = m.moved_targets(z, None, m.copies)
    with torch.no_grad():
        before = float(((m.G(z)[-1] - target) ** 2).mean())
    assert before == pytest.approx(start, rel=1e-4) and before > 0
    m.fit_to(z, None, target)
    with torch.no_grad():
        after = float(((m.G(z)[-1] - target) ** 2).mean())
    assert after < before


def test_a_stage_draws_t_times_u_batches_and_stores_t_copies():
    m = _method(over=["method.U=2"])
    s = _Stream()
    knobs = m.initial_knobs()
    assert knobs.d_steps == 2
    first = m.step(s, knobs)
    assert s.drawn == 3 * 2 and len(m.copies) == 3
    assert "loss_g" not in first and "fit_start" not in first  # nothing to fit before the first stage's moves
    assert set(first) >= m.reports(m.options, m.cfg)  # every declared stat is there
    second = m.step(s, knobs)
    assert s.drawn == 2 * 3 * 2 and len(m.copies) == 3
    for k in ("loss_d", "loss_g", "d_real", "d_fake", "acc_real", "acc_fake", "fit_start"):
        assert math.isfinite(second[k])
    assert all(not p.requires_grad for c in m.copies for p in c.parameters())


def _params(module):
    return [p.detach().clone() for p in module.parameters()]


def test_sampling_applies_each_move_once_to_the_generator_it_was_computed_on():
    torch.manual_seed(0)
    m = _method()
    z = torch.randn(4, 16)
    m.G.eval()
    with torch.no_grad():
        assert torch.equal(m.generate(m.G, z)[-1], m.G(z)[-1].clamp(-1, 1))  # no copies yet: G alone
    m.G.train()
    g0 = _params(m.G)
    m.step(_Stream(), m.initial_knobs())
    # the stage's moves were computed on this G, which the stage leaves as it is: sampling is G_0 + moves
    assert all(torch.equal(a, b) for a, b in zip(g0, _params(m.G)))
    m.G.eval()
    with torch.no_grad():
        out = m.generate(m.G, z)[-1]
        plain = m.G(z)[-1]
    assert torch.allclose(out, move(plain, m.copies, m.etas).clamp(-1, 1))
    assert not torch.allclose(out, plain.clamp(-1, 1))
    m.G.train()

    # the next stage first fits G to exactly those composite images, then learns new moves on the fitted G
    old_copies, seen = list(m.copies), {}
    fit_to = m.fit_to

    def spy(z_fit, y_fit, target):
        with torch.no_grad():
            seen["expected"] = torch.cat([move(m.G(z_fit[i:i + 16])[-1], old_copies, m.etas)
                                          for i in range(0, len(z_fit), 16)])
        seen["target"] = target
        return fit_to(z_fit, y_fit, target)

    m.fit_to = spy
    m.step(_Stream(), m.initial_knobs())
    assert torch.allclose(seen["target"], seen["expected"], atol=1e-6)
    assert not any(c is o for c in m.copies for o in old_copies)  # the fitted G carries new moves only
    assert not all(torch.equal(a, b) for a, b in zip(g0, _params(m.G)))


def test_the_stored_copies_survive_a_checkpoint():
    torch.manual_seed(0)
    m = _method()
    m.step(_Stream(), m.initial_knobs())
    z = torch.randn(4, 16)
    other = _method()
    other.load_state_dict(m.state_dict())
    m.G.eval()
    other.G.eval()
    with torch.no_grad():
        assert torch.allclose(other.generate(other.G, z)[-1], m.generate(m.G, z)[-1])


def test_cfg_needs_a_single_scale_model():
    from mspgsen.methods.cfg import CFGMethod

    cfg = load_config("cfg", TINY)
    nets = build_method(cfg, DataSpec(16, 1), torch.device("cpu")).nets
    nets["G"].scales = 3
    with pytest.raises(ConfigError, match="single-scale"):
        CFGMethod(cfg.method.options, cfg, nets, torch.device("cpu"))
