"""BALANCE, the DQN balancer of section III-D: a referee that learns which knob to turn from the run's own stats.

Every ``every`` steps (a multiple of the trainer's ``quality.every``, so each decision sees a fresh measurement of
the trainer's one quality probe, handed over as ``stats['quality']``) the balancer reads a small state vector
(means since its last decision of D(real), D(fake), D's accuracy, both losses, the log ratio of the gradient norms,
the quality trend, and where each knob stands within its bounds), picks one action epsilon-greedily from a
Q-network, and turns the knobs. At the next decision it scores that action:

    reward = w_quality * clip((q_prev - q_now) / q_prev, -1, 1)        improvement of the quality signal
           - w_balance * |acc_D - target_acc| / max(target_acc, 1 - target_acc)   distance from balance

and stores (state, action, reward, next state) in an experience-replay buffer. Learning is the standard DQN:
random minibatches from the buffer, a target network synced every ``target_every`` updates, the Huber loss on the
TD error, Adam. Every part of it (both networks, the optimizer, the buffer, epsilon's clock, the numpy RNG that
draws exploration and minibatches) is in :meth:`state_dict`, so a resumed run makes the same next decisions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..contract import QUALITY, SCALAR_KNOBS, Needs, weight_knob
from ..errors import ConfigError
from .base import CONTROLLERS, ControlContext, Controller, Knobs
from .monitors import window_mean

#: The discrete actions: (name, knob, operation, amount).
ACTIONS: tuple[tuple[str, str, str, float], ...] = (
    ("noop", "", "", 0.0),
    ("lr_d_half", "lr_d", "mul", 0.5),
    ("lr_d_double", "lr_d", "mul", 2.0),
    ("lr_g_half", "lr_g", "mul", 0.5),
    ("lr_g_double", "lr_g", "mul", 2.0),
    ("d_steps_up", "d_steps", "add", 1),
    ("d_steps_down", "d_steps", "add", -1),
    ("g_steps_up", "g_steps", "add", 1),
    ("g_steps_down", "g_steps", "add", -1),
    ("fm_up", "fm", "add", 1.0),
    ("fm_down", "fm", "add", -1.0),
)
STATE_DIM = 12


class QNetwork(nn.Module):
    """A small MLP: state -> one Q value per action."""

    def __init__(self, state_dim: int, n_actions: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(state_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, n_actions))

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return self.net(s)


class ReplayBuffer:
    """A ring buffer of transitions in numpy arrays (cheap to checkpoint and to sample from)."""

    def __init__(self, capacity: int, state_dim: int) -> None:
        self.capacity = capacity
        self.s = np.zeros((capacity, state_dim), np.float32)
        self.a = np.zeros(capacity, np.int64)
        self.r = np.zeros(capacity, np.float32)
        self.s2 = np.zeros((capacity, state_dim), np.float32)
        self.pos = 0
        self.size = 0

    def add(self, s: np.ndarray, a: int, r: float, s2: np.ndarray) -> None:
        i = self.pos
        self.s[i], self.a[i], self.r[i], self.s2[i] = s, a, r, s2
        self.pos = (self.pos + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, rng: np.random.Generator, n: int) -> tuple[torch.Tensor, ...]:
        idx = rng.integers(0, self.size, size=n)  # random minibatch
        return (torch.from_numpy(self.s[idx]), torch.from_numpy(self.a[idx]), torch.from_numpy(self.r[idx]),
                torch.from_numpy(self.s2[idx]))

    def state_dict(self) -> dict:
        n = self.size
        # torch tensors, not numpy arrays, so checkpoints load with torch.load(weights_only=True)
        return {"s": torch.from_numpy(self.s[:n].copy()), "a": torch.from_numpy(self.a[:n].copy()),
                "r": torch.from_numpy(self.r[:n].copy()), "s2": torch.from_numpy(self.s2[:n].copy()),
                "pos": self.pos, "size": n}

    def load_state_dict(self, state: dict) -> None:
        n = int(state["size"])
        for name in ("s", "a", "r", "s2"):
            v = state[name]
            getattr(self, name)[:n] = v.numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
        self.pos, self.size = int(state["pos"]), n


class DQNAgent:
    """Q-network, target network, replay buffer, epsilon-greedy with decaying epsilon, Huber loss."""

    def __init__(self, state_dim: int, n_actions: int, *, hidden: int = 64, gamma: float = 0.9, lr: float = 1e-3,
                 capacity: int = 5000, batch: int = 32, warmup: int = 32, target_every: int = 50,
                 eps_start: float = 1.0, eps_end: float = 0.05, eps_decay: float = 200.0, seed: int = 0) -> None:
        self.n_actions, self.gamma, self.batch, self.warmup = n_actions, gamma, batch, warmup
        self.target_every = target_every
        self.eps_start, self.eps_end, self.eps_decay = eps_start, eps_end, eps_decay
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the run's global RNG
            torch.manual_seed(seed)
            self.q = QNetwork(state_dim, n_actions, hidden)
        self.target = QNetwork(state_dim, n_actions, hidden)
        self.target.load_state_dict(self.q.state_dict())
        self.target.requires_grad_(False)
        self.opt = torch.optim.Adam(self.q.parameters(), lr=lr)
        self.buffer = ReplayBuffer(capacity, state_dim)
        self.rng = np.random.default_rng(seed)
        self.n_acts = 0  # epsilon's clock
        self.n_updates = 0
        self.last_loss = float("nan")

    @property
    def epsilon(self) -> float:
        return self.eps_end + (self.eps_start - self.eps_end) * math.exp(-self.n_acts / self.eps_decay)

    def q_values(self, state: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.q(torch.as_tensor(state, dtype=torch.float32)[None])[0].numpy()

    def greedy(self, state: np.ndarray) -> int:
        return int(np.argmax(self.q_values(state)))

    def act(self, state: np.ndarray) -> int:
        """Epsilon-greedy choice; advances epsilon's clock."""
        eps = self.epsilon
        self.n_acts += 1
        if self.rng.random() < eps:
            return int(self.rng.integers(0, self.n_actions))
        return self.greedy(state)

    def remember(self, s: np.ndarray, a: int, r: float, s2: np.ndarray) -> None:
        self.buffer.add(s, a, r, s2)

    def learn(self, updates: int = 1) -> float:
        """``updates`` minibatch steps of Q-learning on the Huber TD loss; returns the last loss (nan before warm-up)."""
        if self.buffer.size < max(self.warmup, 1):
            return float("nan")
        for _ in range(updates):
            s, a, r, s2 = self.buffer.sample(self.rng, self.batch)
            with torch.no_grad():
                target = r + self.gamma * self.target(s2).max(1).values  # bootstrapped target from the target net
            q = self.q(s).gather(1, a[:, None])[:, 0]
            loss = F.smooth_l1_loss(q, target)  # Huber
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(self.q.parameters(), 10.0)
            self.opt.step()
            self.n_updates += 1
            if self.n_updates % self.target_every == 0:
                self.target.load_state_dict(self.q.state_dict())
            self.last_loss = float(loss.detach())
        return self.last_loss

    def state_dict(self) -> dict:
        return {"q": self.q.state_dict(), "target": self.target.state_dict(), "opt": self.opt.state_dict(),
                "buffer": self.buffer.state_dict(), "rng": _plain(self.rng.bit_generator.state), "n_acts": self.n_acts,
                "n_updates": self.n_updates, "last_loss": self.last_loss}

    def load_state_dict(self, state: dict) -> None:
        self.q.load_state_dict(state["q"])
        self.target.load_state_dict(state["target"])
        self.opt.load_state_dict(state["opt"])
        self.buffer.load_state_dict(state["buffer"])
        self.rng.bit_generator.state = state["rng"]
        self.n_acts, self.n_updates = int(state["n_acts"]), int(state["n_updates"])
        self.last_loss = float(state["last_loss"])


@dataclass
class DQNOptions:
    MOVED: ClassVar[dict[str, str]] = {
        "quality": "the trainer's one probe measures for every controller; set quality.signal",
        "quality_n": "the trainer's one probe measures for every controller; set quality.n",
    }
    enabled: bool = False  # Turn on the DQN balancer (section III-D).
    every: int = 50  # Steps between decisions (one action, one transition, a few learning updates); a multiple of quality.every.
    hidden: int = 64  # Width of the Q-network's two hidden layers.
    gamma: float = 0.9  # Discount of future rewards.
    lr: float = 1e-3  # Adam learning rate of the Q-network.
    buffer: int = 5000  # Replay-buffer capacity in transitions.
    batch: int = 32  # Minibatch size drawn from the buffer.
    warmup: int = 16  # Transitions in the buffer before learning starts.
    updates: int = 4  # Learning updates per decision.
    target_every: int = 25  # Learning updates between target-network syncs.
    eps_start: float = 1.0  # Epsilon at the first decision.
    eps_end: float = 0.05  # Epsilon it decays to.
    eps_decay: float = 30.0  # Decisions over which epsilon falls by a factor e toward eps_end.
    lr_range: float = 8.0  # lr knobs stay within [start / lr_range, start * lr_range].
    max_steps: int = 3  # Most D or G steps per step the actions may set.
    fm_max: float = 5.0  # Most feature-matching weight the actions may set.
    w_quality: float = 1.0  # Reward weight of the quality improvement.
    w_balance: float = 0.5  # Reward weight of the distance from balance.
    target_acc: float = 0.7  # D accuracy the balance term aims at.
    seed: int = -1  # Seed of the Q-network and its RNG (-1: derived from the run's seed).

    def check(self, where: str) -> None:
        for k in ("every", "hidden", "buffer", "batch", "updates", "target_every", "max_steps"):
            if getattr(self, k) < 1:
                raise ConfigError(f"'{where}.{k}' must be at least 1, got {getattr(self, k)}.")
        if not 0.0 <= self.eps_end <= self.eps_start <= 1.0:
            raise ConfigError(f"'{where}.eps_end' and '{where}.eps_start' must satisfy 0 <= eps_end <= eps_start <= 1.")
        if self.lr_range < 1.0:
            raise ConfigError(f"'{where}.lr_range' must be at least 1, got {self.lr_range}.")

    def check_config(self, cfg: Any) -> None:
        if self.enabled and self.every % cfg.quality.every:
            raise ConfigError(f"control.dqn decides every {self.every} steps but the quality probe measures every "
                              f"{cfg.quality.every} (quality.every); make control.dqn.every a multiple of it so each "
                              f"decision sees a fresh measurement.")


def _plain(obj: Any) -> Any:
    """numpy scalars inside an RNG state -> Python values (loadable with weights_only=True)."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _squash(x: float, scale: float = 1.0) -> float:
    return float(math.tanh(x / scale)) if math.isfinite(x) else 0.0


@CONTROLLERS.register("dqn", options=DQNOptions)
class DQNBalancer(Controller):
    """BALANCE: a DQN that turns lr, step counts and the feature-matching weight to keep G and D in balance."""

    @classmethod
    def needs(cls, options: DQNOptions, cfg: Any) -> Needs:
        stats = {"d_real", "d_fake", "acc_real", "acc_fake", "loss_d", "loss_g", "grad_norm_g", "grad_norm_d", QUALITY}
        knobs = {knob if knob in SCALAR_KNOBS else weight_knob(knob) for _, knob, _, _ in ACTIONS if knob}
        return Needs.of(stats, knobs)

    def __init__(self, options: DQNOptions, cfg: Any) -> None:
        super().__init__(options, cfg)
        o = options
        seed = o.seed if o.seed >= 0 else int(getattr(cfg, "seed", 0)) * 104729 + 7
        self.agent = DQNAgent(STATE_DIM, len(ACTIONS), hidden=o.hidden, gamma=o.gamma, lr=o.lr, capacity=o.buffer,
                              batch=o.batch, warmup=o.warmup, target_every=o.target_every, eps_start=o.eps_start,
                              eps_end=o.eps_end, eps_decay=o.eps_decay, seed=seed)
        self.ctx: Optional[ControlContext] = None
        self.lr0: Optional[tuple[float, float]] = None
        self.window: list[dict[str, float]] = []
        self.prev_state: Optional[np.ndarray] = None
        self.prev_action = -1
        self.prev_quality = float("nan")
        self.quality = float("nan")
        self.latest_quality = float("nan")  # the trainer's last measurement, read at the next decision
        self.last_reward = float("nan")
        self.counts = [0] * len(ACTIONS)

    def setup(self, ctx: ControlContext, knobs: Knobs) -> None:
        self.ctx = ctx
        if self.lr0 is None:
            self.lr0 = (knobs.lr_g, knobs.lr_d)

    # ---- state, reward, actions ---------------------------------------------------------------------------
    def make_state(self, knobs: Knobs, trend: float) -> np.ndarray:
        o, w = self.options, self.window
        lr_g0, lr_d0 = self.lr0 or (knobs.lr_g, knobs.lr_d)
        span = math.log(o.lr_range) if o.lr_range > 1 else 1.0
        acc = 0.5 * (window_mean(w, "acc_real", 0.5) + window_mean(w, "acc_fake", 0.5))
        gr = math.log10((window_mean(w, "grad_norm_g", 1.0) + 1e-12) / (window_mean(w, "grad_norm_d", 1.0) + 1e-12))
        return np.array([
            window_mean(w, "d_real", 0.5), window_mean(w, "d_fake", 0.5), acc,
            _squash(window_mean(w, "loss_d", 0.0), 2.0), _squash(window_mean(w, "loss_g", 0.0), 2.0),
            _squash(gr, 2.0), _squash(trend, 0.2),
            math.log(knobs.lr_g / lr_g0) / span, math.log(knobs.lr_d / lr_d0) / span,
            (knobs.d_steps - 1) / max(o.max_steps - 1, 1), (knobs.g_steps - 1) / max(o.max_steps - 1, 1),
            knobs.weight("fm") / o.fm_max,
        ], dtype=np.float32)

    def reward(self, q_prev: float, q_now: float, acc: float) -> float:
        o = self.options
        r_q = 0.0
        if math.isfinite(q_prev) and math.isfinite(q_now):
            r_q = max(-1.0, min(1.0, (q_prev - q_now) / (abs(q_prev) + 1e-12)))
        far = abs(acc - o.target_acc) / max(o.target_acc, 1.0 - o.target_acc)
        return o.w_quality * r_q - o.w_balance * far

    def apply(self, action: int, knobs: Knobs) -> bool:
        """Turn the knob of ``action`` within its bounds; returns False when the bound made it a no-op."""
        o = self.options
        _, knob, op, amount = ACTIONS[action]
        if not knob:
            return True
        if knob in ("lr_g", "lr_d"):
            start = (self.lr0 or (knobs.lr_g, knobs.lr_d))[0 if knob == "lr_g" else 1]
            old = getattr(knobs, knob)
            new = min(max(old * amount, start / o.lr_range), start * o.lr_range)
            setattr(knobs, knob, new)
            return new != old
        if knob in ("d_steps", "g_steps"):
            old = getattr(knobs, knob)
            new = int(min(max(old + amount, 1), o.max_steps))
            setattr(knobs, knob, new)
            return new != old
        old = knobs.weight("fm")
        new = min(max(old + amount, 0.0), o.fm_max)
        knobs.weights["fm"] = new
        return new != old

    # ---- the loop -----------------------------------------------------------------------------------------
    def observe(self, step: int, stats: dict[str, float], knobs: Knobs) -> dict[str, float]:
        o = self.options
        self.window.append({k: float(v) for k, v in stats.items()})
        if QUALITY in stats:  # the trainer's probe measured at this step
            self.latest_quality = float(stats[QUALITY])
        out: dict[str, float] = {}
        if step % o.every == 0:
            self.prev_quality, self.quality = self.quality, self.latest_quality
            trend = 0.0
            if math.isfinite(self.prev_quality) and math.isfinite(self.quality):
                trend = (self.prev_quality - self.quality) / (abs(self.prev_quality) + 1e-12)
            state = self.make_state(knobs, trend)
            if self.prev_state is not None:  # score the previous action, store the transition, learn
                self.last_reward = self.reward(self.prev_quality, self.quality, float(state[2]))
                self.agent.remember(self.prev_state, self.prev_action, self.last_reward, state)
                self.agent.learn(o.updates)
                out["reward"] = self.last_reward
                out["q_loss"] = self.agent.last_loss
            action = self.agent.act(state)
            changed = self.apply(action, knobs)
            self.counts[action] += 1
            self.prev_state, self.prev_action = state, action
            self.window = []
            # Event keys appear only on decision steps, so the trainer's window mean logs them unblurred.
            out.update({"action": float(action), "changed": float(changed), "acted": 1.0})
        out.update({
            "last_action": float(self.prev_action), "epsilon": self.agent.epsilon, "quality": self.quality,
            "buffer": float(self.agent.buffer.size), "lr_g": knobs.lr_g, "lr_d": knobs.lr_d,
            "d_steps": float(knobs.d_steps), "g_steps": float(knobs.g_steps), "fm": knobs.weight("fm"),
        })
        out.update({f"n_{name}": float(c) for (name, *_), c in zip(ACTIONS, self.counts)})
        return out

    # ---- checkpoint ---------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"agent": self.agent.state_dict(), "latest_quality": self.latest_quality, "lr0": self.lr0,
                "window": [dict(r) for r in self.window],
                "prev_state": None if self.prev_state is None else [float(v) for v in self.prev_state],
                "prev_action": self.prev_action, "prev_quality": self.prev_quality, "quality": self.quality,
                "last_reward": self.last_reward, "counts": list(self.counts)}

    def load_state_dict(self, state: dict) -> None:
        self.agent.load_state_dict(state["agent"])
        self.latest_quality = float(state.get("latest_quality", float("nan")))
        self.lr0 = None if state["lr0"] is None else (float(state["lr0"][0]), float(state["lr0"][1]))
        self.window = [dict(r) for r in state["window"]]
        self.prev_state = None if state["prev_state"] is None else np.asarray(state["prev_state"], np.float32).copy()
        self.prev_action = int(state["prev_action"])
        self.prev_quality, self.quality = float(state["prev_quality"]), float(state["quality"])
        self.last_reward = float(state["last_reward"])
        self.counts = [int(c) for c in state["counts"]]
