"""APFL (section III-C): each rule moves its knob the right way on synthetic stats, stages switch, the meta module
learns, the trainer's quality probe leaves training untouched, and save/resume reproduces the next decisions exactly.

The quality signal arrives in the stats (``quality``) on the steps the trainer's probe measured; here every 10th."""
from __future__ import annotations

import copy
import io

import pytest
import torch

from _control_helpers import RealSupply, TinyMethod, cfg_with, synthetic_stats
from mspgsen.config.schema import config_from_dict
from mspgsen.control.apfl import APFL, APFLOptions
from mspgsen.control.base import ControlContext, Knobs
from mspgsen.control.meta import DiscountedUCB, MetaTargets
from mspgsen.control.monitors import PerformanceMonitor
from mspgsen.engine.quality import QualityProbe, feature_stat_distance
from mspgsen.control.schedules import LRSchedule, LRScheduleOptions, exp_factor, step_factor
from mspgsen.errors import ConfigError

torch.set_num_threads(1)


def plain(**kw) -> APFLOptions:
    """APFL with stages and meta off, so one rule is seen at a time."""
    base = dict(enabled=True, every=10, stages="off", meta="off", ema=0.5)
    base.update(kw)
    return APFLOptions(**base)


def run(ctrl: APFL, knobs: Knobs, steps, **stat_kw):
    out = None
    for s in steps:
        out = ctrl.observe(s, synthetic_stats(s, **stat_kw), knobs)
    return out


def test_strong_d_is_softened():
    ctrl, k = APFL(plain(), cfg_with()), Knobs(lr_g=1e-3, lr_d=1e-3)
    out = run(ctrl, k, range(1, 11), acc=0.99)
    assert out["d_rule"] == 1.0 and out["acted"] == 1.0
    assert k.lr_d < 1e-3 and k.lr_g == pytest.approx(1e-3)
    assert k.instance_noise > 0 and k.label_smoothing > 0
    assert k.g_steps == 2 and k.d_steps == 1  # at one D step, 'fewer D steps' is one G step more
    k2 = Knobs(lr_g=1e-3, lr_d=1e-3, d_steps=3)
    run(APFL(plain(), cfg_with()), k2, range(1, 11), acc=0.99)
    assert k2.d_steps == 2 and k2.g_steps == 1


def test_vanishing_g_gradient_softens_d_even_at_moderate_accuracy():
    ctrl, k = APFL(plain(), cfg_with()), Knobs(lr_g=1e-3, lr_d=1e-3)
    out = run(ctrl, k, range(1, 11), acc=0.7, gn_g=1e-5, gn_d=1.0)
    assert out["d_rule"] == 1.0 and k.lr_d < 1e-3
    k2 = Knobs(lr_g=1e-3, lr_d=1e-3)
    out2 = run(APFL(plain(), cfg_with()), k2, range(1, 11), acc=0.7, gn_g=1.0, gn_d=1.0)
    assert out2["d_rule"] == 0.0 and k2.lr_d == pytest.approx(1e-3) and k2.instance_noise == 0


def test_weak_d_withdraws_softening_but_never_beyond_the_run_settings():
    ctrl, k = APFL(plain(), cfg_with()), Knobs(lr_g=1e-3, lr_d=1e-3)
    run(ctrl, k, range(1, 31), acc=0.99)  # three softening decisions
    soft_lr, soft_noise, soft_g = k.lr_d, k.instance_noise, k.g_steps
    out = run(ctrl, k, range(31, 41), acc=0.3)
    assert out["d_rule"] == -1.0
    assert k.lr_d > soft_lr and k.instance_noise < soft_noise and k.g_steps < soft_g
    run(ctrl, k, range(41, 201), acc=0.3)
    assert k.lr_d == pytest.approx(1e-3) and k.instance_noise == pytest.approx(0.0, abs=1e-12)
    assert k.label_smoothing == pytest.approx(0.0, abs=1e-12) and k.g_steps == 1
    fresh, k3 = APFL(plain(), cfg_with()), Knobs(lr_g=1e-3, lr_d=1e-3)
    out3 = run(fresh, k3, range(1, 11), acc=0.3)
    assert out3["d_rule"] == 0.0 and k3.lr_d == pytest.approx(1e-3)


def test_quality_stall_raises_fm_and_lowers_lr_g():
    ctrl, k = APFL(plain(stall_window=3, fm_step=0.5), cfg_with()), Knobs(lr_g=1e-3, lr_d=1e-3)
    for s in range(1, 61):  # a flat quality signal, measured every 10 steps
        out = ctrl.observe(s, synthetic_stats(s, **({"quality": 2.0} if s % 10 == 0 else {})), k)
    assert out["n_stall"] >= 1
    assert k.weight("fm") >= 0.5 and k.lr_g < 1e-3 and k.lr_d == pytest.approx(1e-3)
    ctrl2, k2 = APFL(plain(stall_window=3), cfg_with()), Knobs(lr_g=1e-3, lr_d=1e-3)
    for s in range(1, 61):  # steadily improving quality: no stall
        out2 = ctrl2.observe(s, synthetic_stats(s, **({"quality": 2.0 * 0.8 ** (s // 10)} if s % 10 == 0 else {})), k2)
    assert out2["n_stall"] == 0 and k2.weight("fm") == 0.0 and k2.lr_g == pytest.approx(1e-3)


def test_base_schedule_is_steplr_of_eqs_8_9():
    assert step_factor(99, 100, 0.5) == 1.0 and step_factor(100, 100, 0.5) == 0.5 and step_factor(250, 100, 0.5) == 0.25
    assert exp_factor(50, 100, 0.25) == pytest.approx(0.5)
    ctrl, k = APFL(plain(lr_step=100, lr_gamma=0.5), cfg_with()), Knobs(lr_g=1e-3, lr_d=2e-3)
    run(ctrl, k, range(1, 100))
    assert k.lr_g == pytest.approx(1e-3)
    run(ctrl, k, range(100, 201))
    assert k.lr_g == pytest.approx(2.5e-4) and k.lr_d == pytest.approx(5e-4)
    sched, k2 = LRSchedule(LRScheduleOptions(enabled=True, step_size=10, gamma=0.1, floor=0.01), cfg_with()), Knobs(1.0, 1.0)
    for s in range(1, 41):
        sched.observe(s, {}, k2)
    assert k2.lr_g == pytest.approx(0.01)  # the floor stops the decay


def test_apfl_composes_with_other_controllers_changes():
    ctrl, k = APFL(plain(lr_step=10, lr_gamma=0.5), cfg_with()), Knobs(lr_g=1.0, lr_d=1.0)
    run(ctrl, k, range(1, 10))
    k.lr_d *= 4.0  # another controller (the DQN) doubles lr_d twice
    k.weights["fm"] = 3.0
    run(ctrl, k, range(10, 11))
    assert k.lr_d == pytest.approx(2.0) and k.weights["fm"] == 3.0  # schedule halves it, the other change survives


def test_stages_by_schedule():
    o = APFLOptions(enabled=True, stages="schedule", meta="off", early_end=0.2, late_start=0.8, every=1000, horizon=1000)
    ctrl, k = APFL(o, cfg_with(steps=50)), Knobs(lr_g=1.0, lr_d=1.0)  # the budget does not move the stage points
    out = run(ctrl, k, range(1, 100))
    assert out["stage"] == 0.0
    assert k.instance_noise == pytest.approx(o.early_noise) and k.label_smoothing == pytest.approx(o.early_smoothing)
    assert k.lr_d == pytest.approx(o.early_lr_d) and k.lr_g == pytest.approx(1.0)  # simplified D feedback
    out = run(ctrl, k, range(100, 201))
    assert out["stage"] == 1.0 and k.instance_noise == 0 and k.label_smoothing == 0 and k.lr_d == pytest.approx(1.0)
    out = run(ctrl, k, range(201, 801))
    assert out["stage"] == 2.0 and out.get("stage_switch") == 1.0
    assert k.label_smoothing == pytest.approx(o.late_smoothing) and k.lr_g == pytest.approx(o.late_lr)
    with pytest.raises(ConfigError):
        config_from_dict({"model": "mlp", "data": {"source": "ring8"}, "control": {"apfl": {"enabled": True, "horizon": 0}}})


def test_stages_by_monitors():
    o = APFLOptions(enabled=True, stages="monitor", meta="off", every=10, stall_window=2, ema=0.5)
    ctrl, k = APFL(o, cfg_with()), Knobs(lr_g=1.0, lr_d=1.0)  # no step budget: only the monitors can switch
    stages = []
    for s in range(1, 401):
        q = 10.0 * 0.5 ** (s // 10) if s < 60 else 0.15  # fast fall, then flat
        stats = synthetic_stats(s, acc=0.7, **({"quality": q} if s % 10 == 0 else {}))
        stages.append(ctrl.observe(s, stats, k)["stage"])
    assert stages[20] == 0.0
    assert 1.0 in stages and stages[-1] == 2.0
    assert stages.index(1.0) < stages.index(2.0)


def test_meta_bandit_finds_the_best_arm_and_is_switchable():
    bandit = DiscountedUCB(3, c=0.3, discount=0.95)
    means = [0.1, 0.5, 0.2]
    picks = []
    for t in range(120):
        a = bandit.select()
        picks.append(a)
        bandit.update(a, means[a] + 0.05 * ((t * 7919) % 13 - 6) / 6)
    assert picks[-40:].count(1) >= 30
    meta = MetaTargets((0.75, 0.95), (0.0, 1.0), episode=2)
    first = meta.targets
    for q in (1.0, 0.9, 0.8):
        meta.observe_quality(q)
    assert meta.episodes == 1 and meta.targets != first
    on = APFL(APFLOptions(enabled=True, meta="bandit", meta_acc=(0.6,), meta_fm=(2.0,)), cfg_with())
    off = APFL(APFLOptions(enabled=True, meta="off", acc_high=0.8, fm=0.5), cfg_with())
    assert on.acc_high == 0.6 and on.fm_base == 2.0 and off.acc_high == 0.8 and off.fm_base == 0.5


def test_feature_distance_and_probe_leave_training_untouched():
    a = torch.randn(512, 8)
    assert feature_stat_distance(a, a) == 0.0
    assert feature_stat_distance(a, a + 1.0) > feature_stat_distance(a, a + 0.1) > 0
    assert feature_stat_distance(a, 2 * a) > 0
    assert feature_stat_distance(10 * a, 10 * (a + 0.5)) == pytest.approx(feature_stat_distance(a, a + 0.5), rel=1e-5)
    method = TinyMethod()
    method.nets["D"].register_buffer("probe_buf", torch.zeros(3))
    before_rng = torch.get_rng_state()
    before = copy.deepcopy(method.nets.state_dict())
    p1, p2 = QualityProbe(n=128, seed=5), QualityProbe(n=128, seed=5)
    q1, q2 = p1.measure(method, RealSupply()), p2.measure(method, RealSupply())
    assert q1 == q2 and q1 > 0
    assert torch.equal(torch.get_rng_state(), before_rng)
    after = method.nets.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_monitor_stall_and_trend():
    m = PerformanceMonitor(beta=0.0)
    for i, q in enumerate([5, 4, 3, 3, 3, 3]):
        m.add_quality(i, q)
    assert m.quality_stalled(3, 0.02) and not m.quality_stalled(4, 0.02)
    assert m.quality_trend(2) == 0.0
    m.update({"acc_real": 1.0, "acc_fake": 0.5, "grad_norm_g": 1.0, "grad_norm_d": 4.0, "loss_g": 2, "loss_d": 1})
    assert m.get("d_acc") == 0.75 and m.get("grad_ratio") == pytest.approx(0.25) and m.get("loss_gap") == 1.0


def _drive(ctrl: APFL, knobs: Knobs, steps) -> list[dict]:
    outs = []
    for s in steps:
        acc = 0.97 if (s // 20) % 2 == 0 else 0.3  # alternating spells so that the rules fire both ways
        q = {"quality": 1.0 + 0.1 * ((s // 10) % 3)} if s % 10 == 0 else {}  # the trainer's probe, every 10 steps
        outs.append(ctrl.observe(s, synthetic_stats(s, acc=acc, **q), knobs))
        outs[-1]["knobs"] = copy.deepcopy(knobs.state_dict())
    return outs


def test_save_and_resume_reproduce_the_next_decisions():
    o = APFLOptions(enabled=True, every=5, stall_window=2, meta_episode=2)
    method, supply = TinyMethod(), RealSupply()
    ctrl, knobs = APFL(o, cfg_with(steps=200, seed=3)), Knobs(lr_g=1e-3, lr_d=1e-3)
    ctrl.setup(ControlContext(method, supply), knobs)
    _drive(ctrl, knobs, range(1, 101))
    buf = io.BytesIO()
    torch.save({"ctrl": ctrl.state_dict(), "knobs": knobs.state_dict(), "supply": supply.pos}, buf)
    reference = _drive(ctrl, knobs, range(101, 201))

    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    supply2 = RealSupply()
    supply2.pos = saved["supply"]
    knobs2 = Knobs(lr_g=1e-3, lr_d=1e-3)
    ctrl2 = APFL(o, cfg_with(steps=200, seed=3))
    ctrl2.setup(ControlContext(method, supply2), knobs2)
    knobs2.load_state_dict(saved["knobs"])
    ctrl2.load_state_dict(saved["ctrl"])
    resumed = _drive(ctrl2, knobs2, range(101, 201))
    assert resumed == reference
    assert any("d_rule" in r and r["d_rule"] != 0 for r in reference)  # the compared stretch holds decisions
