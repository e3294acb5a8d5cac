"""optim.impl (fused / foreach / loop updates) and the batched EMA: the same update as the per-tensor code."""
from __future__ import annotations

import copy

import pytest
import torch

import mspgsen
from mspgsen.config import load_config
from mspgsen.data.stream import Batch
from mspgsen.engine.build import build_method
from mspgsen.engine.ema import update_ema
from mspgsen.errors import ConfigError
from mspgsen.models.base import DataSpec
from tests.conftest import quiet

torch.set_num_threads(1)

TINY = {
    "dcgan": ["model.ngf=8", "model.ndf=8", "model.z_dim=16"],
    "mspgsen": ["model.z_dim=16", "model.width=4", "model.max_ch=8", "model.global_dim=8", "model.aux_hidden=4",
                "model.dema_heads=2"],
}


class Stream:
    def __init__(self) -> None:
        self.x = torch.rand(8, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1

    def next(self) -> Batch:
        return Batch(self.x.clone())


def trained(preset: str, impl: str, steps: int = 2):
    torch.manual_seed(0)
    cfg = load_config(preset, ["data.resolution=16", "train.batch_size=8", *TINY[preset], f"optim.impl={impl}"])
    m = build_method(cfg, DataSpec(16, 1), torch.device("cpu"))
    start = {k: p.detach().clone() for k, p in m.nets.named_parameters()}
    stream, knobs = Stream(), m.initial_knobs()
    for _ in range(steps):
        m.step(stream, knobs)
    return m, start


@pytest.mark.parametrize("preset", sorted(TINY))
@pytest.mark.parametrize("impl", ["fused", "foreach"])
def test_every_impl_gives_the_loops_update(preset: str, impl: str) -> None:
    (ref, start), (other, _) = trained(preset, "loop"), trained(preset, impl)
    moved = 0
    for k, p in dict(ref.nets.named_parameters()).items():
        q = dict(other.nets.named_parameters())[k]
        # Adam moves a weight by up to ~lr a step and m/sqrt(v) is rounding-sensitive where gradients are tiny: the
        # implementations may differ by a small share of a step (lr is 1e-3 for mspgsen, 2e-4 for dcgan)
        torch.testing.assert_close(q, p, rtol=1e-4, atol=5e-5, msg=lambda m: f"{k}: {m}")
        moved += not torch.equal(p, start[k])
    assert moved > 0  # the comparison is of trained weights, not of the initial ones


def test_auto_is_fused_where_torch_has_it_and_torchs_default_elsewhere() -> None:
    m, _ = trained("mspgsen", "auto", steps=0)
    assert m.optimizers and all(opt.defaults["fused"] for opt in m.optimizers.values())
    cfg = load_config("dcgan", ["model.ngf=8", "model.ndf=8", "optim.name=rmsprop"])
    w = build_method(cfg, DataSpec(32, 1), torch.device("cpu"))
    assert all(type(o).__name__ == "RMSprop" and not o.defaults.get("fused") for o in w.optimizers.values())


def test_fused_rmsprop_is_refused_with_a_sentence() -> None:
    with pytest.raises(ConfigError, match="does not exist for rmsprop"):
        load_config("dcgan", ["optim.name=rmsprop", "optim.impl=fused"])


@pytest.mark.parametrize("saved, now", [("loop", "fused"), ("fused", "loop")])
def test_a_saved_optimizer_state_resumes_under_another_impl(saved: str, now: str) -> None:
    """A run made before fused updates became the default resumes with them (and back): the config's way wins."""
    ref, _ = trained("dcgan", saved, steps=1)
    fused, _ = trained("dcgan", now, steps=0)
    fused.load_state_dict(copy.deepcopy(ref.state_dict()))  # a copy, as from a file: loading shares tensors
    for opt in fused.optimizers.values():
        assert bool(opt.param_groups[0]["fused"]) == (now == "fused")
    stream, knobs = Stream(), ref.initial_knobs()
    for m in (ref, fused):
        torch.manual_seed(1)  # the same latents for both
        m.step(stream, knobs)
    for k, p in dict(ref.nets.named_parameters()).items():
        torch.testing.assert_close(dict(fused.nets.named_parameters())[k], p, rtol=1e-4, atol=1e-5)


def test_a_run_resumes_under_another_impl(runs, tiny) -> None:
    mspgsen.train("dcgan", name="r", runs_dir=runs, overrides=tiny + ["train.steps=2", "optim.impl=loop"], log=quiet)
    t = mspgsen.train("dcgan", name="r", runs_dir=runs, overrides=tiny + ["train.steps=4", "optim.impl=fused"],
                      log=quiet)
    assert t.step == 4


def test_batched_ema_is_the_per_tensor_lerp() -> None:
    torch.manual_seed(0)
    G = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    ema = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    expected = [pe.detach().lerp(p.detach(), 1 - 0.9) for pe, p in zip(ema.parameters(), G.parameters())]
    update_ema(ema, G, 0.9)
    for got, want in zip(ema.parameters(), expected):
        assert torch.equal(got, want)
