"""How fast this machine trains, as one number kept beside every row of a suite whose budget is minutes.

A budget of 20 minutes buys twice the work on a host twice as fast: rows measured at equal minutes on two hosts
are not seeds of one measurement. The probe is fixed work that does not depend on the suite: the ``dcgan``
preset's own training step (its method, batch and optimisers) on random 32x32 grey images, at the suite's threads,
after a warm-up step. Its images/s is recorded in each row (``host_speed``), and the tables say when a suite's rows
came from hosts whose probes differ by more than the suite's tolerance.
"""
from __future__ import annotations

import statistics
import time
from typing import Optional

import torch

from ..data.stream import Batch

PROBE_PRESET = "dcgan"
PROBE_RES = 32


class RandomStream:
    """Stands in for the DataStream: random images in [-1, 1] of one shape, counted like real ones."""

    def __init__(self, batch: int, channels: int, res: int, device: str = "cpu") -> None:
        self.x = (torch.rand(batch, channels, res, res) * 2 - 1).to(device)
        self.images_seen = 0

    def next(self, batch_size: Optional[int] = None) -> Batch:
        n = batch_size or len(self.x)
        self.images_seen += n
        return Batch(self.x[:n].clone())


def host_speed(threads: int, seconds: float = 9.0, rounds: int = 3, device: str = "cpu") -> float:
    """Training images/s of the probe (module docstring) at ``threads`` threads on ``device`` (where the suite's runs
    train): the median of ``rounds`` rounds of ``seconds / rounds`` each (at least 2 steps a round), so that one
    disturbed round does not set the number. Torch's thread count and random state are restored afterwards."""
    from ..config import load_config
    from ..engine.build import build_method, spec_from_dict

    before = torch.get_num_threads()
    rng = torch.get_rng_state()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        cfg = load_config(PROBE_PRESET, [f"data.resolution={PROBE_RES}"])
        method = build_method(cfg, spec_from_dict({"resolution": PROBE_RES, "channels": 1}),
                              torch.device(device))
        knobs = method.initial_knobs()
        stream = RandomStream(cfg.train.batch_size, 1, PROBE_RES, device)
        sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
        method.step(stream, knobs)  # warm-up: first-call allocations and kernel choice are not the host's speed
        sync()
        speeds = []
        for _ in range(max(1, rounds)):
            start, t0, steps = stream.images_seen, time.perf_counter(), 0
            while time.perf_counter() - t0 < seconds / max(1, rounds) or steps < 2:
                method.step(stream, knobs)
                steps += 1
            sync()
            speeds.append((stream.images_seen - start) / (time.perf_counter() - t0))
        return statistics.median(speeds)
    finally:
        torch.set_num_threads(before)
        torch.set_rng_state(rng)


def row_probes(rows: list[dict]) -> list[float]:
    """The host-speed probes recorded in ``rows`` (rows measured before the probe existed have none)."""
    return [float(r["host_speed"]) for r in rows if isinstance(r.get("host_speed"), (int, float))]


def speed_spread(speeds: list[float]) -> float:
    """The fastest probe over the slowest, minus 1 (0.0 for one value or none): how far apart a table's hosts are."""
    vals = [float(s) for s in speeds if isinstance(s, (int, float)) and s > 0]
    return max(vals) / min(vals) - 1.0 if len(vals) > 1 else 0.0
