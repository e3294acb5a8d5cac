"""Lazy R1 (method.r1_every): the penalty on one D update in k, weighted k times, its count kept by the checkpoint."""
from __future__ import annotations

import pytest
import torch

import mspgsen.methods.gan as gan_module
from mspgsen.config import load_config
from mspgsen.data.stream import Batch
from mspgsen.engine.build import build_method
from mspgsen.errors import ConfigError
from mspgsen.models.base import DataSpec

torch.set_num_threads(1)

SMALL = {
    "dcgan": ["model.ngf=8", "model.ndf=8", "model.z_dim=16"],
    "mspgsen": ["model.z_dim=16", "model.width=4", "model.max_ch=8", "model.global_dim=8", "model.aux_hidden=4",
                "model.dema_heads=2", "control.apfl.enabled=false", "control.dqn.enabled=false"],
}


class Stream:
    def __init__(self) -> None:
        self.x = torch.rand(8, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1

    def next(self) -> Batch:
        return Batch(self.x.clone())


def build(preset: str, *overrides: str):
    torch.manual_seed(0)
    cfg = load_config(preset, ["data.resolution=16", *SMALL[preset], *overrides])
    return build_method(cfg, DataSpec(16, 1), torch.device("cpu"))


@pytest.fixture
def r1_calls(monkeypatch):
    calls = []
    real = gan_module.r1_penalty

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(gan_module, "r1_penalty", counted)
    return calls


@pytest.mark.parametrize("preset", sorted(SMALL))
def test_penalty_runs_on_one_update_in_k(preset: str, r1_calls) -> None:
    m = build(preset, "method.r1=1.0", "method.r1_every=3")
    stream, knobs = Stream(), m.initial_knobs()
    reported = [m.step(stream, knobs)["loss_d_r1"] for _ in range(7)]
    assert len(r1_calls) == 3  # D updates 0, 3 and 6
    assert m.d_updates == 7
    # the skipped updates report the latest value, so the logged curve has no zeros in it
    assert reported[1] == reported[2] == reported[0] and reported[4] == reported[5] == reported[3]


def test_lazy_term_is_weighted_by_its_interval() -> None:
    """On the first D update (both compute R1) the lazy term is k times the eager one, on the same weights."""
    eager, lazy = build("dcgan", "method.r1=0.5"), build("dcgan", "method.r1=0.5", "method.r1_every=4")
    real_e, real_l = eager.real_batch(Stream().next()), lazy.real_batch(Stream().next())
    s_e, s_l = eager.d_step(real_e, eager.initial_knobs()), lazy.d_step(real_l, lazy.initial_knobs())
    assert s_e["loss_d_r1"] > 0
    assert s_l["loss_d_r1"] == pytest.approx(4 * s_e["loss_d_r1"], rel=1e-5)


def test_every_one_is_plain_r1(r1_calls) -> None:
    m = build("dcgan", "method.r1=1.0")
    stream, knobs = Stream(), m.initial_knobs()
    for _ in range(3):
        m.step(stream, knobs)
    assert len(r1_calls) == 3


def test_count_survives_a_checkpoint(r1_calls) -> None:
    """A resumed run computes R1 on the same updates as one that never stopped."""
    a = build("mspgsen", "method.r1=1.0", "method.r1_every=4")
    stream, knobs = Stream(), a.initial_knobs()
    for _ in range(2):
        a.step(stream, knobs)
    state = a.state_dict()
    assert state["extra"]["d_updates"] == 2 and "steps_done" in state["extra"]  # MSPG-SEN's own state kept too
    b = build("mspgsen", "method.r1=1.0", "method.r1_every=4")
    b.load_state_dict(state)
    r1_calls.clear()
    b.step(stream, knobs), b.step(stream, knobs)  # updates 2 and 3: no R1
    assert not r1_calls
    b.step(stream, knobs)  # update 4
    assert len(r1_calls) == 1


def test_old_checkpoint_without_the_count_starts_at_zero() -> None:
    m = build("dcgan", "method.r1=1.0", "method.r1_every=4")
    state = m.state_dict()
    state["extra"] = {}
    m.d_updates = 5
    m.load_state_dict(state)
    assert m.d_updates == 0


def test_bad_interval_is_refused() -> None:
    with pytest.raises(ConfigError, match="r1_every"):
        load_config("dcgan", ["method.r1_every=0"])
