"""Run by the distributed tests under torchrun (or as one plain process): trains a run through ``mspgsen.train`` and
saves what each rank ends with (its networks, knobs, controller states and every controller decision) to
OUT/rank{R}.pt, so the test can compare ranks with each other and with a single process.

usage: _ddp_worker.py OUT RUNS_DIR NAME PRESET [--kill-rank-at R:STEP | --term-rank-at R:STEP] KEY=VALUE...
(--kill: rank R SIGKILLs itself in step STEP; --term: rank R gets SIGTERM in step STEP, as from a scheduler)
"""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import torch

import mspgsen
from mspgsen.engine import trainer as tr


def main(argv: list[str]) -> None:
    out, runs_dir, name, preset, *rest = argv
    kill, sig = None, signal.SIGKILL
    if rest and rest[0] in ("--kill-rank-at", "--term-rank-at"):
        r, s = rest[1].split(":")
        kill, sig, rest = (int(r), int(s)), (signal.SIGKILL if rest[0] == "--kill-rank-at" else signal.SIGTERM), rest[2:]
    torch.set_num_threads(1)
    original_run = tr.Trainer.run

    def run(self):
        decisions: list[tuple[int, str, dict]] = []
        for cname, c in self.controllers.items():
            def observe(step, stats, knobs, _c=c, _obs=c.observe, _n=cname):
                did = _obs(step, stats, knobs)
                decisions.append((step, _n, {k: float(v) for k, v in did.items()}))
                if kill and self.rank == kill[0] and step == kill[1]:
                    os.kill(os.getpid(), sig)
                return did
            c.observe = observe
        if kill and not self.controllers:
            step_fn = self.method.step

            def step(data, knobs):
                if self.rank == kill[0] and self.step + 1 == kill[1]:
                    os.kill(os.getpid(), sig)
                return step_fn(data, knobs)
            self.method.step = step
        result = original_run(self)
        Path(out).mkdir(parents=True, exist_ok=True)
        torch.save({"nets": {k: v.detach().cpu().clone() for k, v in self.method.nets.state_dict().items()},
                    "knobs": self.knobs.state_dict(), "decisions": decisions, "step": self.step,
                    "kimg": self.kimg, "world_size": self.world_size},
                   Path(out) / f"rank{self.rank}.pt")
        return result

    tr.Trainer.run = run
    mspgsen.train(preset, name=name, runs_dir=runs_dir, overrides=rest, log=lambda *a, **k: None)


if __name__ == "__main__":
    main(sys.argv[1:])
