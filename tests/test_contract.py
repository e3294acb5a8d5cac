"""The contract between methods and controllers: what a method declares is true, and validation refuses a
controller that a method cannot feed (it would silently do nothing) with one sentence."""
from __future__ import annotations

import hashlib

import pytest
import torch

from mspgsen.config import load_config
from mspgsen.contract import SCALAR_KNOBS, Needs, unmet, weight_knob
from mspgsen.data.stream import Batch
from mspgsen.engine.build import build_method
from mspgsen.errors import ConfigError
from mspgsen.models.base import DataSpec

torch.set_num_threads(1)

TINY = {
    "dcgan": ["model.ngf=8", "model.ndf=8", "model.z_dim=8"],
    "cfg": ["model.ngf=8", "model.ndf=8", "model.z_dim=8", "method.T=2", "method.N=16", "method.fit_epochs=1",
            "method.fit_batch=8"],
    "began": ["model.n=8", "model.z_dim=8"],
    "mspgsen": ["model.width=4", "model.max_ch=8", "model.z_dim=8", "model.global_dim=8", "model.aux_hidden=4"],
}
#: How each knob is moved away from its start to see whether the method reads it.
MOVES = {"lr_g": lambda k: setattr(k, "lr_g", k.lr_g * 3), "lr_d": lambda k: setattr(k, "lr_d", k.lr_d * 3),
         "d_steps": lambda k: setattr(k, "d_steps", k.d_steps + 1), "g_steps": lambda k: setattr(k, "g_steps", k.g_steps + 1),
         "instance_noise": lambda k: setattr(k, "instance_noise", 0.3),
         "label_smoothing": lambda k: setattr(k, "label_smoothing", 0.3),
         "extra.k": lambda k: k.extra.__setitem__("k", 0.7)}
WEIGHTS = ("adv", "adv_g", "fm", "gp", "r1", "drift", "lgcl", "aux")


class _Stream:
    def __init__(self) -> None:
        self.g = torch.Generator().manual_seed(1)

    def next(self) -> Batch:
        return Batch(torch.rand(8, 1, 16, 16, generator=self.g) * 2 - 1, None)


def _run(preset: str, move=None) -> tuple[str, dict]:
    """Fingerprint of every network after two steps (CFG fits G only from its second stage on), and the stats."""
    cfg = load_config(preset, TINY[preset])
    torch.manual_seed(0)
    m = build_method(cfg, DataSpec(16, 1), torch.device("cpu"))
    knobs, stream = m.initial_knobs(), _Stream()
    if move is not None:
        move(knobs)
    stats = {}
    for _ in range(2):
        stats = m.step(stream, knobs)
    h = hashlib.sha256()
    for k, v in sorted(m.nets.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().numpy().tobytes())
    return h.hexdigest(), stats


@pytest.mark.parametrize("preset", list(TINY))
def test_a_method_reads_exactly_the_knobs_it_declares_and_reports_its_stats(preset):
    cfg = load_config(preset, TINY[preset])
    from mspgsen.components import METHODS

    cls = METHODS.get(cfg.method.name).obj
    honours, reports = cls.honours(cfg.method.options, cfg), cls.reports(cfg.method.options, cfg)
    base, stats = _run(preset)
    assert reports <= set(stats), f"declared but not reported: {sorted(reports - set(stats))}"
    moves = dict(MOVES)
    for w in WEIGHTS:
        moves[weight_knob(w)] = lambda k, w=w: k.weights.__setitem__(w, k.weight(w, 1.0) + 0.7)
    for knob, move in moves.items():
        changed = _run(preset, move)[0] != base
        assert changed == (knob in honours), f"{preset}: knob {knob} {'changes' if changed else 'does not change'} training"


def test_controllers_a_method_cannot_feed_are_refused_in_one_sentence():
    with pytest.raises(ConfigError) as e:
        load_config("began", ["control.apfl=true"])
    msg = str(e.value)
    assert "control.apfl reads acc_fake and acc_real, which method 'began' does not report" in msg
    assert "instance_noise" in msg and msg.count(". ") == 0 and msg.endswith(".")
    with pytest.raises(ConfigError, match=r"control.dqn reads .*, and turns g_steps and weights.fm, which method 'cfg' ignores"):
        load_config("cfg", ["control.dqn=true"])
    with pytest.raises(ConfigError, match="reads M_global, which method 'gan' does not report"):
        load_config("dcgan", ["control.lr_plateau=true"])
    with pytest.raises(ConfigError, match="methods that fit: gan, mspgsen"):
        load_config("cfg", ["control.apfl=true"])
    # what the method can feed is accepted
    load_config("dcgan", ["control.apfl=true", "control.dqn=true"])
    load_config("cfg", ["control.lr_schedule=true", "control.lr_plateau=true", "control.lr_plateau.stat=loss_d"])
    load_config("began")  # began_k and lr_plateau on M_global
    # an APFL without the feature-matching rules does not need the fm knob
    cfg = load_config("dcgan", ["control.apfl=true"])
    from mspgsen.control.apfl import APFL, APFLOptions

    assert weight_knob("fm") in APFL.needs(cfg.control["apfl"], cfg).knobs
    assert weight_knob("fm") not in APFL.needs(APFLOptions(enabled=True, fm_step=0, meta="off"), cfg).knobs


def test_unmet_is_none_when_everything_is_there_and_the_trainer_provides_quality():
    needs = Needs.of(stats=("loss_d", "quality"), knobs=("lr_d",))
    assert unmet("x", needs, "m", {"loss_d"}, {"lr_d"}) is None
    assert "reads loss_d" in unmet("x", needs, "m", set(), {"lr_d"})
    assert set(SCALAR_KNOBS) >= {"lr_g", "lr_d", "d_steps", "g_steps"}


def test_dqn_decisions_must_meet_fresh_quality_measurements():
    with pytest.raises(ConfigError, match="multiple"):
        load_config("dcgan", ["control.dqn.enabled=true", "control.dqn.every=30", "quality.every=50"])
    load_config("dcgan", ["control.dqn.enabled=true", "control.dqn.every=100", "quality.every=50"])


def test_the_old_per_controller_probe_options_say_where_they_went():
    with pytest.raises(ConfigError, match=r"'control.apfl.quality_every' has moved: .*set quality.every\.$"):
        load_config("dcgan", ["control.apfl.quality_every=10"])
    with pytest.raises(ConfigError, match=r"'control.dqn.quality_n' has moved: .*set quality.n\.$"):
        load_config("dcgan", ["control.dqn.quality_n=64"])
    with pytest.raises(ConfigError, match="'quality.every' must be at least 1"):
        load_config("dcgan", ["quality.every=0"])
    with pytest.raises(ConfigError, match="quality.signal"):
        load_config("dcgan", ["quality.signal=inception"])
