"""Hostile and careless use of the CLI: one case per row of the robustness checklist (issue 11) and per case that
already held. Each case asserts the exit code, that no traceback was printed, the sentence, and that nothing of the
run was lost: the files before and after (by content) are compared.

Cases run ``mspgsen.cli.main.main`` in-process on a copy of two tiny trained runs (a DCGAN on the bundled images,
an MLP on the ring8 toy mixture); the few that need a real process (signals, a lock held by another pid) spawn one.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pytest
import torch

import mspgsen
from mspgsen.cli.main import main
from mspgsen.engine.health import bad_tensor
from tests.conftest import TINY, quiet

SRC = str(Path(mspgsen.__file__).resolve().parents[1])
TINY_SET = [x for o in TINY for x in ("--set", o)]
TOY = ["model.name=mlp", "model.g_hidden=16", "model.d_hidden=16", "data.source=ring8", "train.progress=false",
       "train.tensorboard=false", "train.batch_size=32", "train.grid_size=4", "train.sample_every=1000"]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` -> the hash of its content."""
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def assert_nothing_lost(before: dict[str, bytes], after: dict[str, bytes]) -> None:
    """Every file's content survives somewhere (moved aside counts); logs only grow; config.yaml may be rewritten
    with a new budget and status.json with the run's state; only an orphan temporary file may go."""
    kept = set(after.values())
    for rel, data in before.items():
        if data in kept or rel.endswith(".tmp"):
            continue
        if rel.endswith(".jsonl") and rel in after:  # logs only grow (a resume rewrites its lines identically)
            rows = lambda b: [{k: v for k, v in json.loads(x).items() if k != "images_per_s"}  # noqa: E731
                              for x in b.decode().splitlines() if x.endswith("}")]
            if rows(after[rel])[: len(rows(data))] == rows(data):
                continue
        assert rel.endswith(("config.yaml", "status.json")) and rel in after, f"{rel} was lost"  # state files are rewritten


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """Two finished tiny runs: runs/d (dcgan, checkpoints at steps 2 and 4) and runs/toy (mlp on ring8)."""
    runs = tmp_path_factory.mktemp("base") / "runs"
    mspgsen.train("dcgan", name="d", runs_dir=runs, log=quiet,
                  overrides=TINY + ["train.steps=4", "train.ckpt_every=2", "train.log_every=1"])
    mspgsen.train("dcgan", name="toy", runs_dir=runs, log=quiet, overrides=TOY + ["train.steps=2"])
    return runs


@pytest.fixture
def runs(base, tmp_path) -> Path:
    dst = tmp_path / "runs"
    shutil.copytree(base, dst)
    return dst


@dataclass
class Case:
    """A command line run against a fresh copy of the runs; ``prepare`` may alter the copy first."""
    argv: Callable[[Path], list[str]]
    code: int
    says: str  # a regular expression the output must match
    prepare: Optional[Callable[[Path], None]] = None
    unchanged: bool = True  # the run folders are byte for byte the same after (else: no content was lost)
    check: Optional[Callable[[Path, str], None]] = None
    extra: list = field(default_factory=list)


def _ckpt(runs: Path, run: str = "d", step: int = 4) -> Path:
    return runs / run / "checkpoints" / f"ckpt-{step:08d}.pt"


def _corrupt_latest(runs: Path) -> None:
    _ckpt(runs).write_bytes(b"\x00" * 100)


def _foreign_latest(runs: Path) -> None:
    shutil.copyfile(_ckpt(runs, "toy", 2), _ckpt(runs, "d", 6))


def _without_spec(runs: Path) -> None:
    state = torch.load(_ckpt(runs), weights_only=True)
    del state["spec"]
    torch.save(state, _ckpt(runs, "d", 6))


def _a_file(runs: Path) -> None:
    (runs / "afile").write_text("not a folder")


def _orphan(runs: Path) -> None:
    (runs / "d" / "checkpoints" / "ckpt-00000006.pt.x1y2.tmp").write_bytes(b"half a checkpoint")


def _yaml_off(runs: Path) -> None:
    (runs / "off.yaml").write_text("base: mspgsen\ncontrol:\n  apfl:\n    enabled: true\n    stages: off\n    meta: off\n")


def _half_line(runs: Path) -> None:
    with open(runs / "d" / "stats.jsonl", "a") as fh:
        fh.write('{"step": 5, "loss_d": 0.6')  # a kill in the middle of a log write


def _steps_once(runs: Path, out: str) -> None:
    steps = [json.loads(x)["step"] for x in (runs / "d" / "stats.jsonl").read_text().splitlines()]
    assert steps == list(range(1, len(steps) + 1))


def _corrupt_fell_back(runs: Path, out: str) -> None:
    assert (runs / "d" / "checkpoints" / "ckpt-00000004.pt.unreadable").read_bytes() == b"\x00" * 100
    assert not _ckpt(runs).exists() or _ckpt(runs).read_bytes() != b"\x00" * 100


def _resumed_from_2(runs: Path, out: str) -> None:
    _corrupt_fell_back(runs, out)
    assert torch.load(_ckpt(runs, "d", 6), weights_only=True)["step"] == 6


def _orphan_gone(runs: Path, out: str) -> None:
    assert not list((runs / "d" / "checkpoints").glob("*.tmp"))


def _no_metrics_line(runs: Path, out: str) -> None:
    assert not (runs / "d" / "metrics.jsonl").exists()


def _one_image_trained(runs: Path, out: str) -> None:
    assert torch.load(_ckpt(runs, "one", 2), weights_only=True)["step"] == 2


CASES = {
    # 1 and 6: checkpoints that must not be used (a crafted pickle has its own test below)
    "foreign checkpoint, generate": Case(lambda r: ["generate", str(r / "d"), "--n", "2"], 2,
                                         r"holds a 'mlp' model, not the one run 'd' was trained with", _foreign_latest),
    "foreign checkpoint, evaluate": Case(lambda r: ["evaluate", str(r / "d"), "--n", "8", "--metrics", "fid"], 2,
                                         r"comes from another run", _foreign_latest, check=_no_metrics_line),
    # 4: a corrupt latest checkpoint: fall back with a note, move it aside; orphans of a killed write cleaned
    "corrupt latest, resume": Case(lambda r: ["train", "--config", "dcgan", "--name", "d", "--runs-dir", str(r),
                                              "--steps", "6", *TINY_SET, "--set", "train.ckpt_every=2",
                                              "--set", "train.log_every=1"], 0,
                                   r"cannot be read.*moved aside to ckpt-00000004.pt.unreadable", _corrupt_latest,
                                   unchanged=False, check=_resumed_from_2),
    "corrupt latest, generate": Case(lambda r: ["generate", str(r / "d"), "--n", "2", "--out", str(r / "gen")], 0,
                                     r"moved aside.*\n.*2 images in", _corrupt_latest, unchanged=False,
                                     check=_corrupt_fell_back),
    "corrupt latest, evaluate": Case(lambda r: ["evaluate", str(r / "toy"), "--n", "200", "--metrics", "modes"], 0,
                                     r"moved aside.*using the checkpoint before it",
                                     lambda r: (shutil.copyfile(_ckpt(r, "toy", 2), _ckpt(r, "toy", 1)),
                                                _ckpt(r, "toy", 2).write_bytes(b"junk")), unchanged=False),
    "orphan tmp cleaned": Case(lambda r: ["train", "--config", "dcgan", "--name", "d", "--runs-dir", str(r),
                                          "--steps", "5", *TINY_SET], 0, r"removed 1 unfinished checkpoint file",
                               _orphan, unchanged=False, check=_orphan_gone),
    "half-written log line": Case(lambda r: ["train", "--config", "dcgan", "--name", "d", "--runs-dir", str(r),
                                             "--steps", "6", *TINY_SET, "--set", "train.log_every=1"], 0, r"step:\s+6",
                                  _half_line, unchanged=False, check=_steps_once),
    "every checkpoint corrupt, resume": Case(lambda r: ["train", "--config", "dcgan", "--name", "d", "--runs-dir", str(r),
                                                        "--steps", "6", *TINY_SET], 2,
                                             r"No checkpoint in .* can be read .*start the run over with --new",
                                             lambda r: [p.write_bytes(b"junk") for p in (r / "d" / "checkpoints").iterdir()],
                                             unchanged=False, check=lambda r, out: _steps_once(r, out)),
    # 5: a missing GPU is not a corrupt checkpoint
    "cuda missing": Case(lambda r: ["generate", str(r / "d"), "--n", "2", "--device", "cuda"], 2,
                         r"CUDA is not available on this machine; use --device cpu \(the checkpoint is fine\)"),
    "device unknown": Case(lambda r: ["generate", str(r / "d"), "--n", "2", "--device", "tpu9"], 2, r"is not a device"),
    # 8: tracebacks that became sentences
    "runs-dir under a file": Case(lambda r: ["train", "--config", "dcgan", "--name", "x", "--runs-dir", str(r / "afile"),
                                             "--steps", "1", *TINY_SET], 2,
                                  r"Cannot write the run folder .*afile/x.*choose a --runs-dir you can write to", _a_file),
    "generate --out under a file": Case(lambda r: ["generate", str(r / "d"), "--n", "2", "--out", str(r / "afile" / "o")],
                                        2, r"--out folder .* cannot be created", _a_file),
    "interpolate --out under a file": Case(lambda r: ["interpolate", str(r / "d"), "--seeds", "0,1", "--frames", "2",
                                                      "--out", str(r / "afile" / "w.gif")], 2, r"cannot be created", _a_file),
    "generate --n -3": Case(lambda r: ["generate", str(r / "d"), "--n", "-3"], 2, r"--n must be between 1 and"),
    "generate --n 0": Case(lambda r: ["generate", str(r / "d"), "--n", "0"], 2, r"--n must be between 1 and"),
    "generate huge seed": Case(lambda r: ["generate", str(r / "d"), "--seeds", "99999999999999999999"], 2,
                               r"Seed 99999999999999999999 is too large: seeds go from 0 to 9223372036854775807"),
    "generate huge seed range": Case(lambda r: ["generate", str(r / "d"), "--seeds", "0-99999999999"], 2,
                                     r"at most 1000000 seeds"),
    "z_dim 0": Case(lambda r: ["train", "--config", "dcgan", "--name", "z", "--runs-dir", str(r), "--steps", "1",
                               "--set", "model.z_dim=0"], 2, r"'model.z_dim' must be at least 1, got 0"),
    "evaluate pr with n 3": Case(lambda r: ["evaluate", str(r / "d"), "--metrics", "pr", "--n", "3"], 2,
                                 r"need more than 5 images per set, but 3 were given"),
    "checkpoint without spec": Case(lambda r: ["generate", str(r / "d"), "--n", "2"], 2, r"lacks 'spec'", _without_spec),
    # 9: documented values as written
    "off on the command line": Case(lambda r: ["train", "--config", "mspgsen", "--dry-run",
                                               "--set", "control.apfl.enabled=on", "--set", "control.apfl.stages=off",
                                               "--set", "control.apfl.meta=off"], 0, r"stages: 'off'\n(.*\n)*\s+meta: 'off'"),
    "off in YAML": Case(lambda r: ["train", "--config", str(r / "off.yaml"), "--dry-run"], 0,
                        r"enabled: true\n(.*\n)*\s+stages: 'off'", _yaml_off),
    # 11: small samples said plainly
    "one image, batch 64": Case(lambda r: ["train", "--config", "dcgan", "--name", "one", "--runs-dir", str(r), "--steps",
                                           "2", *TINY_SET, "--set", "data.limit=1", "--set", "train.batch_size=64"], 0,
                                r"the data has 1 item\(s\), fewer than one batch of 64", unchanged=False,
                                check=_one_image_trained),
    # cases that already held
    "unknown config key": Case(lambda r: ["train", "--config", "dcgan", "--name", "d", "--runs-dir", str(r), "--steps", "1",
                                          "--set", "optim.lr_gg=1"], 2, r"Unknown config key 'optim.lr_gg'. Did you mean"),
    "missing data file": Case(lambda r: ["train", "--config", "dcgan", "--name", "n", "--runs-dir", str(r), "--steps", "1",
                                         "--data", str(r / "nothere.npz")], 2, r"nothere"),
    "resume with another model": Case(lambda r: ["train", "--config", "dcgan", "--name", "d", "--runs-dir", str(r),
                                                 "--steps", "6", *TINY_SET, "--set", "model.ngf=16"], 2,
                                      r"exists with a different config: model.ngf"),
    "impossible combination": Case(lambda r: ["train", "--config", "dcgan", "--name", "w", "--runs-dir", str(r), "--steps",
                                              "1", "--set", "method.name=gan", "--set", "method.gp=10"], 2,
                                   r"Batch norm in D .* set model.d_norm=layer or none"),
    "not a run": Case(lambda r: ["generate", str(r / "nothing"), "--n", "2"], 2, r"is neither a run folder"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name, runs, capsys):
    case = CASES[name]
    if name == "cuda missing" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    if case.prepare:
        case.prepare(runs)
    before, old = snapshot(runs), contents(runs)
    code = main(case.argv(runs))
    cap = capsys.readouterr()
    out = cap.out + cap.err
    assert code == case.code, out
    assert "Traceback" not in out
    assert re.search(case.says, out), out
    if code == 2:
        assert cap.err.startswith("error: ") and cap.err.count("\n") == 1, cap.err  # one sentence
    after = snapshot(runs)
    if case.unchanged:
        assert after == before
    else:  # what changed was added or moved aside, never lost
        assert_nothing_lost(old, contents(runs))
    if case.check:
        case.check(runs, out)


# ---- 2: divergence --------------------------------------------------------------------------------------------------
def test_absurd_learning_rates_stop_with_the_step_and_keep_checkpoints(runs, capsys):
    code = main(["train", "--config", "dcgan", "--name", "lr", "--runs-dir", str(runs), "--steps", "20", *TINY_SET,
                 "--set", "train.ckpt_every=1", "--set", "train.keep_last=1", "--set", "optim.lr_g=1e10",
                 "--set", "optim.lr_d=1e10"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert re.search(r"(Loss 'loss_\w' (reached|became)|tensor '.*' (reached|holds)).* at step \d+", err), err
    for p in (runs / "lr" / "checkpoints").glob("ckpt-*.pt"):  # whatever was saved is healthy
        state = torch.load(p, weights_only=True)
        assert bad_tensor({"nets": state["method"]["nets"], "ema": state["G_ema"]}) is None


def test_finite_divergence_keeps_the_newest_healthy_checkpoint(runs, monkeypatch):
    """Weights blow up (finite) after step 3; keep_last=1 must not prune step 2's checkpoint, and nothing is saved."""
    from mspgsen.errors import TrainingDiverged
    from mspgsen.methods import gan

    real = gan.GANMethod.step
    calls = {"n": 0}

    def step(self, data, knobs):
        out = real(self, data, knobs)
        calls["n"] += 1
        if calls["n"] == 3:
            with torch.no_grad():
                next(self.nets["D"].parameters()).mul_(1e12)
        return out

    monkeypatch.setattr(gan.GANMethod, "step", step)
    with pytest.raises(TrainingDiverged, match=r"tensor 'G/D\.D\..*' reached .* at step 3 \(the limit is 1e\+08\); it was not saved and the last "
                                               r"good checkpoint .*ckpt-00000002.pt is kept"):
        mspgsen.train("dcgan", name="blow", runs_dir=runs, log=quiet,
                      overrides=TINY + ["train.steps=6", "train.ckpt_every=1", "train.keep_last=1"])
    assert [p.name for p in (runs / "blow" / "checkpoints").iterdir()] == ["ckpt-00000002.pt"]


def test_bn_running_var_inf_is_caught(runs, monkeypatch):
    from mspgsen.errors import TrainingDiverged
    from mspgsen.methods import gan

    real = gan.GANMethod.step

    def step(self, data, knobs):
        out = real(self, data, knobs)
        for name, buf in self.nets.named_buffers():
            if name.endswith("running_var"):
                buf.fill_(float("inf"))
                break
        return out

    monkeypatch.setattr(gan.GANMethod, "step", step)
    with pytest.raises(TrainingDiverged, match=r"running_var' holds inf or NaN at step 1"):
        mspgsen.train("dcgan", name="inf", runs_dir=runs, log=quiet, overrides=TINY + ["train.steps=2", "train.ckpt_every=1"])
    assert not (runs / "inf" / "checkpoints").exists() or not list((runs / "inf" / "checkpoints").iterdir())


# ---- 8: disk full ---------------------------------------------------------------------------------------------------
def test_disk_full_keeps_the_last_good_checkpoint(runs, monkeypatch, capsys):
    import errno

    real = torch.save
    calls = {"n": 0}

    def save(obj, f, *a, **k):
        calls["n"] += 1
        if calls["n"] >= 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", save)
    code = main(["train", "--config", "dcgan", "--name", "full", "--runs-dir", str(runs), "--steps", "4", *TINY_SET,
                 "--set", "train.ckpt_every=2"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert re.search(r"Writing the checkpoint of step 4 .* failed \(the disk is full\); the last good checkpoint "
                     r".*ckpt-00000002.pt is kept", err), err
    assert [p.name for p in (runs / "full" / "checkpoints").iterdir()] == ["ckpt-00000002.pt"]


# ---- 3: run locks ---------------------------------------------------------------------------------------------------
def _train_d(runs: Path, steps: int = 5) -> list[str]:
    return ["train", "--config", "dcgan", "--name", "d", "--runs-dir", str(runs), "--steps", str(steps), *TINY_SET,
            "--set", "train.log_every=1"]


def test_a_live_lock_refuses_a_second_trainer(runs, capsys):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        import socket

        (runs / "d" / "train.lock").write_text(f'{{"pid": {holder.pid}, "host": "{socket.gethostname()}", "since": "now"}}')
        before = snapshot(runs)
        assert main(_train_d(runs)) == 2
        err = capsys.readouterr().err
        assert f"is being trained by pid {holder.pid} on host {socket.gethostname()}" in err and "Traceback" not in err
        assert snapshot(runs) == before  # stats.jsonl not touched, no checkpoint written
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_of_another_host_is_reported(runs, capsys):
    (runs / "d" / "train.lock").write_text('{"pid": 1, "host": "elsewhere.example", "since": "2026-01-01T00:00:00"}')
    assert main(_train_d(runs)) == 2
    err = capsys.readouterr().err
    assert "locked by pid 1 on host elsewhere.example" in err and "delete" in err


def test_a_stale_lock_is_taken_over_with_a_note(runs, capsys):
    import socket

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (runs / "d" / "train.lock").write_text(f'{{"pid": {gone.pid}, "host": "{socket.gethostname()}", "since": "x"}}')
    assert main(_train_d(runs)) == 0
    assert f"took over the stale lock of pid {gone.pid}" in capsys.readouterr().out
    assert not (runs / "d" / "train.lock").exists()  # released at the end


# ---- 7: signals and exit codes --------------------------------------------------------------------------------------
def _spawn(args: list[str], cwd: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=SRC, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "mspgsen", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_training(run: Path, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    stats = run / "stats.jsonl"
    t0 = time.time()
    while not (stats.exists() and stats.read_text().count("\n") >= 2):
        assert proc.poll() is None, proc.communicate()
        assert time.time() - t0 < timeout, "training did not start"
        time.sleep(0.05)


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_saves_then_exits_128_plus_the_signal(runs, tmp_path, sig, code, capsys):
    argv = ["train", "--config", "dcgan", "--name", "s", "--runs-dir", str(runs), "--steps", "100000", *TINY_SET,
            "--set", "train.log_every=1"]
    proc = _spawn(argv, tmp_path)
    _wait_for_training(runs / "s", proc)
    if sig == signal.SIGINT:  # meanwhile, a second trainer of the same run is refused with the holder named
        assert main(argv) == 2
        assert f"is being trained by pid {proc.pid}" in capsys.readouterr().err
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Traceback" not in out + err and "the same command resumes" in err
    ckpt = list((runs / "s" / "checkpoints").glob("ckpt-*.pt"))
    assert len(ckpt) == 1 and not (runs / "s" / "train.lock").exists()


def test_ctrl_c_during_start_up_is_one_sentence(runs, tmp_path):
    # The child says when the CLI's entry point is imported (what the console script does first) and before main
    # loads torch and the data; a fixed sleep raced the interpreter's own start on a loaded machine.
    # Ctrl-C as in a terminal: a shell that starts the tests in the background hands its children SIGINT ignored,
    # and an ignored SIGINT would let the child train on, so the child restores Python's default handler first.
    code = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from mspgsen.cli.main import main; print('up', flush=True); "
            f"sys.exit(main({_train_d(runs, 100000)!r}))")
    env = dict(os.environ, PYTHONPATH=SRC, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == "up"
        time.sleep(0.2)  # inside main's start-up (importing torch alone takes longer), past the call into main
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:  # never leave a training child behind a failed assertion
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130 and "Traceback" not in out + err, err
    assert err.startswith("error: ") or "interrupted" in err


def test_a_second_ctrl_c_before_any_checkpoint_says_so(runs, monkeypatch, capsys):
    from mspgsen.methods import gan

    real = gan.GANMethod.step
    calls = {"n": 0}

    def step(self, data, knobs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # what StopRequest raises on the second Ctrl-C
        return real(self, data, knobs)

    monkeypatch.setattr(gan.GANMethod, "step", step)
    code = main(["train", "--config", "dcgan", "--name", "k", "--runs-dir", str(runs), "--steps", "10", *TINY_SET])
    err = capsys.readouterr().err
    assert code == 130 and "no checkpoint had been written yet" in err and "is kept" not in err
    assert not (runs / "k" / "train.lock").exists()


# ---- 11: small samples ----------------------------------------------------------------------------------------------
def test_kid_std_only_where_subsets_differ():
    from mspgsen.metrics.evaluate import feature_metrics

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 8)), rng.normal(0.3, 1.0, size=(40, 8))
    whole = feature_metrics(a, b, ["kid"], kid_subsets=10, kid_subset_size=40)
    assert set(whole) == {"kid"}  # every subset would be the whole set: no std to report
    sub = feature_metrics(a, b, ["kid"], kid_subsets=10, kid_subset_size=20)
    assert sub["kid_std"] > 1e-6  # subsets of 20 out of 40 differ


def test_evaluate_says_how_many_images_it_used(tmp_path, capsys, private_cache):
    from PIL import Image

    from mspgsen.data import load_source

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, im in enumerate(load_source("fashion-mnist-subset", "test").images[:8]):
        Image.fromarray(im[0]).save(folder / f"{i}.png")
    code = main(["evaluate", "--images", str(folder), "--ref", "fashion-mnist-subset", "--n", "20", "--metrics", "kid",
                 "--threads", "1", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "Traceback" not in out
    assert "only 8 generated images were available, fewer than --n 20; all of them were used" in out
    assert "KID's std over subsets is not reported" in out and "KID std" not in out.split("note:")[0]


def test_a_start_killed_before_its_first_checkpoint_leaves_no_duplicate_steps(runs):
    over = TINY + ["train.log_every=1", "train.steps=3"]
    mspgsen.train("dcgan", name="early", runs_dir=runs, log=quiet, overrides=over)
    shutil.rmtree(runs / "early" / "checkpoints")  # as if killed after logging, before the first checkpoint
    mspgsen.train("dcgan", name="early", runs_dir=runs, log=quiet, overrides=over)
    steps = [json.loads(x)["step"] for x in (runs / "early" / "stats.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]
