"""A checkpoint is data: a crafted pickle placed in a run folder runs nothing through any entry point.

The crafted file's payload would create a marker file when unpickled by a full pickle loader; every entry point
(generate, interpolate, evaluate, resume, ``mspgsen.load_generator``) must refuse it with a sentence and the
marker must never appear.
"""
from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import mspgsen
from mspgsen.cli.main import main
from mspgsen.engine.checkpoint import check_plain, load_checkpoint, save_checkpoint
from mspgsen.errors import CheckpointError
from tests.conftest import TINY, quiet


class Payload:
    """Unpickling this calls ``Path.touch(marker)``: the proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("safe") / "runs"
    mspgsen.train("dcgan", name="d", runs_dir=runs, log=quiet, overrides=TINY + ["train.steps=2", "train.ckpt_every=2"])
    return runs


@pytest.fixture
def planted(trained, tmp_path):
    """A copy of the run with a crafted checkpoint (torch's zip format, a real run's keys) as its latest."""
    runs = tmp_path / "runs"
    shutil.copytree(trained, runs)
    marker = tmp_path / "CODE-RAN"
    state = torch.load(runs / "d/checkpoints/ckpt-00000002.pt", weights_only=True)
    state["knobs"] = Payload(marker)
    torch.save(state, runs / "d/checkpoints/ckpt-00000009.pt")
    return runs, marker


ENTRY_POINTS = {
    "generate": lambda r, t: ["generate", str(r / "d"), "--n", "2", "--out", str(t / "g")],
    "interpolate": lambda r, t: ["interpolate", str(r / "d"), "--seeds", "0,1", "--frames", "2", "--out", str(t / "w.gif")],
    "evaluate": lambda r, t: ["evaluate", str(r / "d"), "--n", "8", "--metrics", "fid"],
    "resume": lambda r, t: ["train", "--config", "dcgan", "--name", "d", "--runs-dir", str(r), "--steps", "12",
                            *[x for o in TINY for x in ("--set", o)]],
    "generate the file itself": lambda r, t: ["generate", str(r / "d/checkpoints/ckpt-00000009.pt"), "--n", "2",
                                              "--out", str(t / "g")],
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_a_crafted_checkpoint_runs_nothing(entry, planted, tmp_path, capsys):
    runs, marker = planted
    code = main(ENTRY_POINTS[entry](runs, tmp_path))
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "refuses it because loading it could run code from the file" in err and "ckpt-00000009.pt" in err
    assert not marker.exists()
    assert (runs / "d/checkpoints/ckpt-00000009.pt").exists()  # refused, not moved or deleted: the user looks at it


def test_load_generator_runs_nothing(planted):
    runs, marker = planted
    with pytest.raises(CheckpointError, match="could run code"):
        mspgsen.load_generator(runs / "d")
    assert not marker.exists()


def test_a_plain_pickle_runs_nothing_and_is_passed_over(planted, capsys):
    """An old-style pickle (not torch's zip format) cannot even be parsed by the weights-only reader."""
    runs, marker = planted
    os.unlink(runs / "d/checkpoints/ckpt-00000009.pt")
    with open(runs / "d/checkpoints/ckpt-00000010.pt", "wb") as fh:
        pickle.dump({"format": 1, "x": Payload(marker)}, fh)
    G = mspgsen.load_generator(runs / "d", log=print)
    assert G.step == 2 and not marker.exists()
    assert "moved aside" in capsys.readouterr().out


def test_checkpoints_hold_only_tensors_and_plain_data(trained):
    from torch.serialization import get_unsafe_globals_in_checkpoint

    path = trained / "d/checkpoints/ckpt-00000002.pt"
    assert get_unsafe_globals_in_checkpoint(path) == []
    state = load_checkpoint(path)
    assert isinstance(state["rng"]["numpy"][1], torch.Tensor) and isinstance(state["config"], dict)


def test_writing_anything_else_is_refused(tmp_path):
    with pytest.raises(TypeError, match=r"state\['rng'\]\['numpy'\] is a numpy.ndarray"):
        save_checkpoint({"config": {}, "rng": {"numpy": np.zeros(3)}}, tmp_path, 1, keep_last=1)
    with pytest.raises(TypeError, match="Payload"):
        check_plain({"a": [1, (2, Payload(tmp_path / "m"))]})
    assert not list(tmp_path.iterdir())


def test_an_older_checkpoint_with_a_numpy_random_state_still_resumes(trained, tmp_path):
    """Checkpoints written before the numpy state became a tensor hold a numpy array: plain data, still read."""
    runs = tmp_path / "runs"
    shutil.copytree(trained, runs)
    path = runs / "d/checkpoints/ckpt-00000002.pt"
    state = torch.load(path, weights_only=True)
    name, keys, pos, has_gauss, cached = state["rng"]["numpy"]
    state["rng"]["numpy"] = (name, keys.numpy().astype(np.uint32), pos, has_gauss, cached)  # the old layout
    torch.save(state, path)
    said = []
    res = mspgsen.train("dcgan", name="d", runs_dir=runs, log=said.append, overrides=TINY + ["train.steps=3"])
    assert res.step == 3 and any("from ckpt-00000002.pt (step 2" in x for x in said), said
    ref = mspgsen.train("dcgan", name="d", runs_dir=tmp_path / "ref", log=quiet, overrides=TINY + ["train.steps=3"])
    a, b = (torch.load(r.checkpoint, weights_only=True)["method"]["nets"] for r in (res, ref))
    assert all(torch.equal(a[k], b[k]) for k in a)  # the restored numpy state continued the run exactly
