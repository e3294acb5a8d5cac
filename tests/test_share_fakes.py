"""method.share_fakes: one G forward per step, shared by the D update (detached) and the G update (through D after
its update). With the same z it must give exactly the plain step's updates."""
from __future__ import annotations

import pytest
import torch

from mspgsen.config import load_config
from mspgsen.data.stream import Batch
from mspgsen.engine.build import build_method
from mspgsen.models.base import DataSpec

torch.set_num_threads(1)

PRESETS = {
    "dcgan": ["model.ngf=8", "model.ndf=8", "model.z_dim=16"],
    "mspgsen": ["model.z_dim=16", "model.width=4", "model.max_ch=8", "model.global_dim=8", "model.aux_hidden=4",
                "model.dema_heads=2"],
}


class Stream:
    def __init__(self, res: int = 16) -> None:
        self.x = torch.rand(8, 1, res, res, generator=torch.Generator().manual_seed(0)) * 2 - 1

    def next(self) -> Batch:
        return Batch(self.x.clone())


def build(preset: str, share: bool, extra: tuple[str, ...] = ()):
    torch.manual_seed(0)
    cfg = load_config(preset, ["data.resolution=16", *PRESETS[preset], f"method.share_fakes={share}", *extra])
    m = build_method(cfg, DataSpec(16, 1), torch.device("cpu"))
    z = torch.randn(8, m.G.z_dim, generator=torch.Generator().manual_seed(1))
    calls = []

    def same_z(n, generator=None):  # every draw gives the same z, so plain and shared see the same fakes
        calls.append(n)
        return z[:n].clone()

    m.sample_z = same_z
    return m, calls


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_shared_forward_gives_the_plain_steps_updates(preset: str) -> None:
    (plain, plain_calls), (shared, shared_calls) = build(preset, False), build(preset, True)
    stream, knobs = Stream(), plain.initial_knobs()
    for _ in range(2):
        s_plain, s_shared = plain.step(stream, knobs), shared.step(stream, knobs)
    assert len(plain_calls) == 4 and len(shared_calls) == 2  # one G forward per step instead of two
    assert s_plain.keys() == s_shared.keys()
    for k in s_plain:
        assert s_shared[k] == pytest.approx(s_plain[k], rel=1e-4, abs=1e-6), k
    params_p, params_s = dict(plain.nets.named_parameters()), dict(shared.nets.named_parameters())
    moved = 0
    for k, p in params_p.items():
        torch.testing.assert_close(params_s[k], p, rtol=1e-4, atol=1e-6, msg=lambda m: f"{k}: {m}")
        moved += k.startswith("G.")
    assert moved


def test_d_update_sees_the_shared_fakes_detached() -> None:
    m, calls = build("mspgsen", True)
    real = m.with_fakes(m.real_batch(Stream().next()))
    assert real.fakes is not None and real.fakes[0][-1].requires_grad  # G's forward with its graph
    m.d_step(real, m.initial_knobs())
    assert all(p.grad is None for p in m.G.parameters())  # D's loss did not reach G
    m.g_step(real, m.initial_knobs())
    assert any(p.grad is not None for p in m.G.parameters()) and len(calls) == 1  # the G update drew no new z
    assert not [k for k, v in vars(m).items() if isinstance(v, (torch.Tensor, tuple))]  # nothing kept between calls


def test_several_critic_steps_share_only_the_last_forward() -> None:
    (plain, plain_calls), (shared, shared_calls) = build("dcgan", False, ("method.n_critic=3",)), \
        build("dcgan", True, ("method.n_critic=3",))
    stream = Stream()
    plain.step(stream, plain.initial_knobs())
    shared.step(stream, shared.initial_knobs())
    assert len(plain_calls) == 4 and len(shared_calls) == 3
    for k, p in plain.nets.named_parameters():
        torch.testing.assert_close(dict(shared.nets.named_parameters())[k], p, rtol=1e-4, atol=1e-6)


def test_only_the_first_of_several_g_updates_reuses_the_forward() -> None:
    (plain, plain_calls), (shared, shared_calls) = build("mspgsen", False), build("mspgsen", True)
    stream = Stream()
    for m in (plain, shared):
        knobs = m.initial_knobs()
        knobs.g_steps = 2
        m.step(stream, knobs)
    assert len(plain_calls) == 3 and len(shared_calls) == 2  # the second G update draws its own z (G has moved)
    for k, p in plain.nets.named_parameters():
        torch.testing.assert_close(dict(shared.nets.named_parameters())[k], p, rtol=1e-4, atol=1e-6)
