"""The trainer owns one quality probe: one measurement per ``quality.every`` steps, the same value handed to every
controller as ``stats['quality']``, none when no controller reads it, and its state resumes exactly."""
from __future__ import annotations

import torch

from mspgsen.config import config_from_dict
from mspgsen.engine.quality import QualityProbe
from mspgsen.engine.trainer import Trainer

torch.set_num_threads(1)


def _cfg(steps: int, control: dict) -> dict:
    return config_from_dict({
        "seed": 2, "data": {"source": "ring8"}, "model": {"name": "mlp", "g_hidden": 16, "d_hidden": 16},
        "control": control, "quality": {"every": 5, "n": 64},
        "train": {"steps": steps, "batch_size": 32, "progress": False, "tensorboard": False, "ema_kimg": 0,
                  "sample_every": 10 ** 6, "ckpt_every": 10, "log_every": 5, "threads": 1}})


BOTH = {"apfl": {"enabled": True, "stages": "off", "every": 5},
        "dqn": {"enabled": True, "every": 5, "warmup": 2, "batch": 2}}


def test_one_probe_one_value_for_every_controller(tmp_path, monkeypatch):
    calls: list[float] = []
    measure = QualityProbe.measure

    def counted(self, method, next_real):
        calls.append(measure(self, method, next_real))
        return calls[-1]

    monkeypatch.setattr(QualityProbe, "measure", counted)
    tr = Trainer(_cfg(20, BOTH), tmp_path / "run", log=lambda *a, **k: None)
    tr.run()
    assert len(calls) == 4  # steps 5, 10, 15, 20: one probe, not one per controller
    apfl, dqn = tr.controllers["apfl"], tr.controllers["dqn"]
    assert [q for _, q in apfl.monitor.quality] == calls  # APFL saw each measurement once, at its step
    assert [s for s, _ in apfl.monitor.quality] == [5, 10, 15, 20]
    assert dqn.quality == calls[-1] and dqn.prev_quality == calls[-2]  # the DQN read the same numbers


def test_no_probe_without_a_reader(tmp_path, monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("the probe ran with no controller reading it")

    monkeypatch.setattr(QualityProbe, "measure", refuse)
    tr = Trainer(_cfg(10, {"lr_schedule": {"enabled": True, "step_size": 5}}), tmp_path / "run", log=lambda *a, **k: None)
    assert tr.probe is None
    tr.run()


def test_the_probe_resumes_exactly(tmp_path):
    quiet = lambda *a, **k: None  # noqa: E731
    straight = Trainer(_cfg(20, BOTH), tmp_path / "a", log=quiet)
    straight.run()
    Trainer(_cfg(10, BOTH), tmp_path / "b", log=quiet).run()
    resumed = Trainer(_cfg(20, BOTH), tmp_path / "b", log=quiet)
    resumed.run()
    assert resumed.controllers["apfl"].monitor.quality == straight.controllers["apfl"].monitor.quality
    assert torch.equal(resumed.probe.gen.get_state(), straight.probe.gen.get_state())
