"""The training progress bar, with a total and an ETA whichever budget ends the run.

``--steps`` counts steps; ``--kimg`` is turned into steps from the images a step has consumed so far (CFG's step
is a whole stage of several batches, so a fixed batch size would mislead); ``--minutes`` alone counts seconds.
When several budgets are set the bar follows the one expected to end first.
"""
from __future__ import annotations

import math
import time
from typing import Optional


def steps_left_estimate(steps_budget: int, kimg_budget: float, step: int, images_seen: int, images_per_step: float) -> Optional[int]:
    """The step at which the first of the steps/kimg budgets is reached (None: neither is set)."""
    ends = []
    if steps_budget:
        ends.append(int(steps_budget))
    if kimg_budget and images_per_step > 0:
        left = max(0.0, kimg_budget * 1000.0 - images_seen)
        ends.append(step + math.ceil(left / images_per_step))
    return min(ends) if ends else None


class TrainingBar:
    """A tqdm bar in steps (steps/kimg budgets) or in seconds (minutes only); ``advance`` after every step."""

    def __init__(self, train_cfg, step: int, images_seen: int, images_per_step: float, t0: float) -> None:
        from tqdm import tqdm

        self.t, self.t0 = train_cfg, t0
        total = steps_left_estimate(train_cfg.steps, train_cfg.kimg, step, images_seen, images_per_step)
        self.seconds = total is None and bool(train_cfg.minutes)
        if self.seconds:
            self.bar = tqdm(total=round(train_cfg.minutes * 60), unit="s", dynamic_ncols=True, leave=True,
                            bar_format="{l_bar}{bar}| {n:.0f}/{total} s [{elapsed}<{remaining}{postfix}]")
        else:
            self.bar = tqdm(total=total, initial=step, unit="step", dynamic_ncols=True, leave=True)
        self.first_step, self.first_images = step, images_seen

    def advance(self, step: int, images_seen: int, postfix: Optional[str] = None) -> None:
        if self.seconds:
            self.bar.set_postfix_str(f"step {step}" + (f" {postfix}" if postfix else ""), refresh=False)
            self.bar.update(min(self.bar.total, time.time() - self.t0) - self.bar.n)  # redraws at tqdm's own pace
            return
        if self.t.kimg and step > self.first_step:
            per_step = (images_seen - self.first_images) / (step - self.first_step)
            total = steps_left_estimate(self.t.steps, self.t.kimg, step, images_seen, per_step)
            if total is not None and total != self.bar.total:
                self.bar.total = total
        if postfix:
            self.bar.set_postfix_str(postfix, refresh=False)
        self.bar.update(step - self.bar.n)

    def close(self) -> None:
        self.bar.close()
