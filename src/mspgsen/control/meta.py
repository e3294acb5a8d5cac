"""The meta-learning module of APFL (fig. 4): the outer level that adapts APFL's own targets from the quality signal.

The paper treats G and D as the inner and outer levels of a meta-learner and gives no formula. We choose a
discounted UCB bandit over a small grid of APFL settings (the D accuracy above which D counts as too strong, and
the base weight of the feature-matching loss, eq 12). The inner level is ordinary training under the chosen arm
for an episode of a few quality measurements; the outer level scores the arm by the relative improvement of the
quality signal over the episode and picks the next arm by

    argmax_a  mean_a + c * sqrt(log(sum n) / n_a)

with counts and reward sums discounted by ``discount`` per episode, so arms tried long ago are re-tried as the run
drifts. It is deterministic given the rewards (no RNG to checkpoint), costs nothing, and needs no second-order
gradients through the GAN (a hypergradient through D's accuracy target is not differentiable).
"""
from __future__ import annotations

import itertools
import math
from typing import Sequence


class DiscountedUCB:
    """UCB1 with exponentially discounted statistics, for non-stationary rewards."""

    def __init__(self, n_arms: int, c: float = 0.5, discount: float = 0.9) -> None:
        self.n_arms, self.c, self.discount = n_arms, c, discount
        self.counts = [0.0] * n_arms
        self.sums = [0.0] * n_arms

    def select(self) -> int:
        for a in range(self.n_arms):  # every arm once first
            if self.counts[a] == 0.0:
                return a
        total = sum(self.counts)
        scores = [self.sums[a] / self.counts[a] + self.c * math.sqrt(math.log(max(total, 1.0 + 1e-9)) / self.counts[a])
                  for a in range(self.n_arms)]
        return max(range(self.n_arms), key=lambda a: (scores[a], -a))

    def update(self, arm: int, reward: float) -> None:
        self.counts = [c * self.discount for c in self.counts]
        self.sums = [s * self.discount for s in self.sums]
        self.counts[arm] += 1.0
        self.sums[arm] += float(reward)

    def means(self) -> list[float]:
        return [s / c if c > 0 else 0.0 for s, c in zip(self.sums, self.counts)]

    def state_dict(self) -> dict:
        return {"counts": list(self.counts), "sums": list(self.sums)}

    def load_state_dict(self, state: dict) -> None:
        self.counts = [float(v) for v in state["counts"]]
        self.sums = [float(v) for v in state["sums"]]


class MetaTargets:
    """Chooses APFL's targets (``acc_high``, ``fm``) per episode of ``episode`` quality measurements.

    ``observe_quality`` is called with each new quality value (lower is better); at an episode's end the arm is
    rewarded with the relative improvement over the episode, clipped to [-1, 1], and the next arm is chosen.
    """

    def __init__(self, acc_targets: Sequence[float], fm_weights: Sequence[float], episode: int = 3,
                 c: float = 0.5, discount: float = 0.9) -> None:
        self.arms = list(itertools.product(acc_targets, fm_weights))
        self.episode = episode
        self.bandit = DiscountedUCB(len(self.arms), c, discount)
        self.arm = self.bandit.select()
        self.start_q: float | None = None
        self.seen = 0
        self.last_reward = 0.0
        self.episodes = 0

    @property
    def targets(self) -> dict[str, float]:
        acc, fm = self.arms[self.arm]
        return {"acc_high": float(acc), "fm": float(fm)}

    def observe_quality(self, q: float) -> bool:
        """Feed one quality measurement; returns True when a new arm was chosen."""
        if self.start_q is None:
            self.start_q, self.seen = q, 0
            return False
        self.seen += 1
        if self.seen < self.episode:
            return False
        reward = max(-1.0, min(1.0, (self.start_q - q) / (abs(self.start_q) + 1e-12)))
        self.bandit.update(self.arm, reward)
        self.last_reward = reward
        self.episodes += 1
        self.arm = self.bandit.select()
        self.start_q, self.seen = q, 0
        return True

    def state_dict(self) -> dict:
        return {"bandit": self.bandit.state_dict(), "arm": self.arm, "start_q": self.start_q, "seen": self.seen,
                "last_reward": self.last_reward, "episodes": self.episodes}

    def load_state_dict(self, state: dict) -> None:
        self.bandit.load_state_dict(state["bandit"])
        self.arm = int(state["arm"])
        self.start_q = None if state["start_q"] is None else float(state["start_q"])
        self.seen = int(state["seen"])
        self.last_reward = float(state["last_reward"])
        self.episodes = int(state["episodes"])
