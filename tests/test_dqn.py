"""BALANCE (section III-D): a real DQN that learns a control problem with a known best action, keeps its knobs in
bounds, logs its actions, and continues exactly after save/resume."""
from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import torch

from _control_helpers import RealSupply, TinyMethod, cfg_with, synthetic_stats
from mspgsen.config.schema import config_from_dict
from mspgsen.control.base import ControlContext, Knobs
from mspgsen.control.dqn import ACTIONS, DQNAgent, DQNBalancer, DQNOptions, ReplayBuffer
from mspgsen.errors import ConfigError

torch.set_num_threads(1)


def best_action(x: float) -> int:
    """Imbalance x: 1 lowers it, 2 raises it, 0 leaves it; the reward is -|x| after the move."""
    return 1 if x > 0.125 else (2 if x < -0.125 else 0)


def test_dqn_learns_a_synthetic_balance_problem():
    rng = np.random.default_rng(0)
    agent = DQNAgent(4, 3, hidden=32, gamma=0.5, lr=3e-3, capacity=4000, batch=64, warmup=64, target_every=50,
                     eps_start=1.0, eps_end=0.1, eps_decay=600, seed=1)

    def obs(x: float) -> np.ndarray:  # the imbalance and three distractors
        return np.array([x, *rng.normal(0, 0.3, 3)], np.float32)

    x = rng.uniform(-1, 1)
    s = obs(x)
    for t in range(2500):
        if t % 10 == 0:  # new episode
            x = rng.uniform(-1, 1)
            s = obs(x)
        a = agent.act(s)
        x2 = float(np.clip(x + (-0.25 if a == 1 else 0.25 if a == 2 else 0.0), -1, 1))
        s2 = obs(x2)
        agent.remember(s, a, -abs(x2), s2)
        agent.learn(1)
        x, s = x2, s2
    assert agent.epsilon < 0.2
    xs = [v for v in np.linspace(-1, 1, 81) if abs(v) >= 0.25 or abs(v) <= 0.05]  # clear of the ties at +-0.125
    right = sum(agent.greedy(obs(v)) == best_action(v) for v in xs)
    assert right / len(xs) >= 0.9


def test_replay_buffer_wraps_and_samples_at_random():
    buf = ReplayBuffer(5, 2)
    for i in range(8):
        buf.add(np.full(2, i, np.float32), i % 3, float(i), np.full(2, i + 1, np.float32))
    assert buf.size == 5 and buf.pos == 3
    assert sorted(buf.r.tolist()) == [3.0, 4.0, 5.0, 6.0, 7.0]
    s, a, r, s2 = buf.sample(np.random.default_rng(0), 200)
    assert set(r.tolist()) == {3.0, 4.0, 5.0, 6.0, 7.0} and torch.equal(s2[:, 0], s[:, 0] + 1)


def test_target_network_lags_until_synced_and_epsilon_decays():
    agent = DQNAgent(3, 2, hidden=8, warmup=4, batch=4, target_every=5, eps_decay=10, seed=0)
    for i in range(8):
        agent.remember(np.ones(3, np.float32) * i, i % 2, 1.0, np.zeros(3, np.float32))
    eps0 = agent.epsilon
    agent.learn(4)
    same = all(torch.equal(p, q) for p, q in zip(agent.q.parameters(), agent.target.parameters()))
    assert not same  # four updates, no sync yet
    agent.learn(1)
    assert all(torch.equal(p, q) for p, q in zip(agent.q.parameters(), agent.target.parameters()))
    for _ in range(30):
        agent.act(np.zeros(3, np.float32))
    assert agent.epsilon < eps0


def test_actions_stay_within_bounds():
    ctrl = DQNBalancer(DQNOptions(enabled=True, lr_range=4.0, max_steps=3, fm_max=2.0), cfg_with())
    k = Knobs(lr_g=1e-3, lr_d=1e-3)
    ctrl.setup(None, k)
    idx = {name: i for i, (name, *_) in enumerate(ACTIONS)}
    for _ in range(5):
        ctrl.apply(idx["lr_d_double"], k)
        ctrl.apply(idx["lr_g_half"], k)
        ctrl.apply(idx["d_steps_up"], k)
        ctrl.apply(idx["g_steps_down"], k)
        ctrl.apply(idx["fm_up"], k)
    assert k.lr_d == pytest.approx(4e-3) and k.lr_g == pytest.approx(2.5e-4)
    assert k.d_steps == 3 and k.g_steps == 1 and k.weights["fm"] == 2.0
    assert not ctrl.apply(idx["d_steps_up"], k)  # at the bound the action is a no-op, reported as such


def test_reward_favours_quality_gain_and_balance():
    ctrl = DQNBalancer(DQNOptions(enabled=True, target_acc=0.7), cfg_with())
    assert ctrl.reward(1.0, 0.8, 0.7) > ctrl.reward(1.0, 1.0, 0.7) > ctrl.reward(1.0, 1.2, 0.7)
    assert ctrl.reward(1.0, 1.0, 0.7) > ctrl.reward(1.0, 1.0, 0.95)


def _drive(ctrl: DQNBalancer, knobs: Knobs, steps) -> list[dict]:
    outs = []
    for s in steps:
        acc = 0.55 + 0.4 * ((s // 7) % 3) / 2
        q = {"quality": 1.0 + 0.3 * ((s // 4) % 5) / 4} if s % 4 == 0 else {}  # the trainer's probe, every 4 steps
        out = ctrl.observe(s, synthetic_stats(s, acc=acc, gn_g=0.5 + (s % 5) / 5, **q), knobs)
        out["knobs"] = copy.deepcopy(knobs.state_dict())
        if "action" in out:
            out["q"] = ctrl.agent.q_values(ctrl.prev_state).tolist()
        outs.append(out)
    return outs


def test_save_and_resume_reproduce_the_next_decisions():
    o = DQNOptions(enabled=True, every=4, warmup=4, batch=8, updates=2, target_every=3, eps_decay=10)
    method, supply = TinyMethod(), RealSupply()
    ctrl, knobs = DQNBalancer(o, cfg_with(seed=2)), Knobs(lr_g=1e-3, lr_d=1e-3)
    ctrl.setup(ControlContext(method, supply), knobs)
    _drive(ctrl, knobs, range(1, 61))
    buf = io.BytesIO()
    torch.save({"ctrl": ctrl.state_dict(), "knobs": knobs.state_dict(), "supply": supply.pos}, buf)
    reference = _drive(ctrl, knobs, range(61, 141))

    buf.seek(0)
    saved = torch.load(buf, weights_only=True)  # plain tensors and numbers only
    supply2 = RealSupply()
    supply2.pos = saved["supply"]
    knobs2 = Knobs(lr_g=5.0, lr_d=5.0)  # setup sees the resumed knobs; the checkpoint restores lr0
    ctrl2 = DQNBalancer(o, cfg_with(seed=2))
    ctrl2.setup(ControlContext(method, supply2), knobs2)
    knobs2.load_state_dict(saved["knobs"])
    ctrl2.load_state_dict(saved["ctrl"])
    resumed = _drive(ctrl2, knobs2, range(61, 141))
    assert resumed == reference
    actions = [r["action"] for r in reference if "action" in r]
    assert len(actions) == 20 and len(set(actions)) > 1
    assert all(np.isfinite(r["q_loss"]) for r in reference if "q_loss" in r)


def _decisions(seed: int, n: int = 30) -> list[int]:
    """The actions a balancer takes on the same synthetic run, deciding at every step."""
    ctrl, k = DQNBalancer(DQNOptions(enabled=True, every=1, warmup=4, batch=4), cfg_with(seed=seed)), Knobs(1e-3, 1e-3)
    ctrl.setup(None, k)
    return [int(ctrl.observe(s, synthetic_stats(s, quality=1.0 / s), k)["action"]) for s in range(1, n + 1)]


def test_other_seed_decides_differently_and_options_are_checked():
    same, again, other = _decisions(0), _decisions(0), _decisions(1)
    assert same == again  # the seed fixes every decision
    assert same != other  # another seed takes other decisions on the same run
    assert len(set(same)) > 1
    with pytest.raises(ConfigError, match="eps_end"):
        config_from_dict({"model": "mlp", "data": {"source": "ring8"}, "control": {"dqn": {"enabled": True, "eps_end": 2.0}}})
    with pytest.raises(ConfigError, match="Did you mean"):
        config_from_dict({"model": "mlp", "data": {"source": "ring8"}, "control": {"dqn": {"enabld": True}}})


def test_controllers_through_the_trainer_log_their_actions_and_resume_exactly(tmp_path):
    import mspgsen
    from mspgsen.engine.logger import read_stats

    def cfg(steps: int) -> dict:
        return {"seed": 4, "data": {"source": "grid25"}, "model": {"name": "mlp", "g_hidden": 16, "d_hidden": 16},
                "optim": {"lr_g": 1e-3, "lr_d": 1e-3},
                "control": {"apfl": {"enabled": True, "stages": "off", "every": 10},
                            "dqn": {"enabled": True, "every": 10, "warmup": 2, "batch": 4}},
                "quality": {"every": 10, "n": 64},
                "train": {"steps": steps, "batch_size": 32, "progress": False, "tensorboard": False, "ema_kimg": 0,
                          "sample_every": 10 ** 6, "ckpt_every": 30, "log_every": 10, "threads": 1}}

    quiet = lambda *a, **k: None  # noqa: E731
    straight = mspgsen.train(cfg(60), name="a", runs_dir=tmp_path, log=quiet)
    mspgsen.train(cfg(30), name="b", runs_dir=tmp_path, log=quiet)
    resumed = mspgsen.train(cfg(60), name="b", runs_dir=tmp_path, log=quiet)
    drop = lambda r: {k: v for k, v in r.items() if k != "images_per_s"}  # noqa: E731
    ra, rb = [drop(r) for r in read_stats(straight.run_dir)], [drop(r) for r in read_stats(resumed.run_dir)]
    assert len(ra) == 6 and ra == rb
    assert all("dqn/action" in r and "apfl/d_rule" in r for r in ra)  # every decision is in stats.jsonl
    assert all(r["dqn/action"] == int(r["dqn/action"]) for r in ra)  # logged exactly, not averaged away


def test_lr_ratio_bound_moves_both_rates_around_their_geometric_mean():
    from mspgsen.control.base import bound_lr_ratio

    k = Knobs(lr_g=1e-4, lr_d=4e-3)  # lr_d / lr_g = 40, started at 2
    assert bound_lr_ratio(k, start_ratio=2.0, max_factor=4.0)
    assert k.lr_d / k.lr_g == pytest.approx(8.0) and k.lr_g * k.lr_d == pytest.approx(4e-7)
    k = Knobs(lr_g=1e-2, lr_d=1e-4)  # the other way: ratio 0.01
    assert bound_lr_ratio(k, start_ratio=1.0, max_factor=4.0) and k.lr_d / k.lr_g == pytest.approx(0.25)
    k = Knobs(lr_g=1e-3, lr_d=3e-3)  # within the bound, or no bound: untouched
    assert not bound_lr_ratio(k, 1.0, 4.0) and (k.lr_g, k.lr_d) == (1e-3, 3e-3)
    assert not bound_lr_ratio(Knobs(lr_g=1e-5, lr_d=1.0), 1.0, 0.0)
    with pytest.raises(ConfigError, match="lr_ratio_max"):
        config_from_dict({"model": "mlp", "data": {"source": "ring8"}, "optim": {"lr_ratio_max": 0.5}})


def test_controllers_stay_within_the_lr_ratio_bound_through_the_trainer(tmp_path):
    """Random DQN actions (epsilon 1) on top of APFL push lr_d / lr_g far from 1 without the bound; with
    optim.lr_ratio_max=2 every step's ratio stays within [1/2, 2], and the run still resumes exactly."""
    import mspgsen
    from mspgsen.engine.logger import read_stats

    def cfg(steps: int, bound: float) -> dict:
        return {"seed": 1, "data": {"source": "ring8"}, "model": {"name": "mlp", "g_hidden": 16, "d_hidden": 16},
                "optim": {"lr_g": 1e-3, "lr_d": 1e-3, "lr_ratio_max": bound},
                "control": {"apfl": {"enabled": True, "stages": "off", "every": 5},
                            "dqn": {"enabled": True, "every": 5, "warmup": 2, "batch": 4, "eps_end": 1.0}},
                "quality": {"every": 5, "n": 32},
                "train": {"steps": steps, "batch_size": 16, "progress": False, "tensorboard": False, "ema_kimg": 0,
                          "sample_every": 10 ** 6, "ckpt_every": 40, "log_every": 1, "threads": 1}}

    quiet = lambda *a, **k: None  # noqa: E731
    ratios = lambda run: [r["knob/lr_d"] / r["knob/lr_g"] for r in read_stats(run.run_dir)]  # noqa: E731
    free = ratios(mspgsen.train(cfg(80, 0.0), name="free", runs_dir=tmp_path, log=quiet))
    assert max(max(free), 1 / min(free)) > 4.0  # the controllers alone leave the bound far behind
    bounded = mspgsen.train(cfg(80, 2.0), name="bounded", runs_dir=tmp_path, log=quiet)
    rows = read_stats(bounded.run_dir)
    assert all(0.5 - 1e-9 <= r["knob/lr_d"] / r["knob/lr_g"] <= 2.0 + 1e-9 for r in rows)
    assert any(r["knob/lr_bounded"] == 1.0 for r in rows)
    mspgsen.train(cfg(40, 2.0), name="resumed", runs_dir=tmp_path, log=quiet)
    resumed = mspgsen.train(cfg(80, 2.0), name="resumed", runs_dir=tmp_path, log=quiet)
    drop = lambda r: {k: v for k, v in r.items() if k != "images_per_s"}  # noqa: E731
    assert [drop(r) for r in read_stats(resumed.run_dir)] == [drop(r) for r in rows]
