"""Data-parallel training under torchrun (gloo, 2 CPU processes) equals one process; GPU options refuse clearly.

The torchrun tests run ``tests/_ddp_worker.py``, which trains through ``mspgsen.train`` and saves what every rank
ends with. Tolerance for 2 processes vs 1: the equality test uses SGD and a per-sample loss (hinge, no minibatch
stddev), so the only difference is float32 summation order (two half-batch means averaged instead of one mean);
after 4 steps that is ~1e-6 of the weights' scale, and we allow 1e-4 while another seed differs by O(1).
With Adam the same rounding in near-zero gradients is rescaled to lr-sized updates, so Adam runs agree only to
about 1e-4 absolute; that is why the check uses SGD.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mspgsen.config import load_config
from mspgsen.data import make_sampler
from mspgsen.engine import distributed as ddp
from mspgsen.engine.accel import check_accel
from mspgsen.errors import ConfigError
from mspgsen import shard

ROOT = Path(__file__).resolve().parents[1]
WORKER = str(ROOT / "tests" / "_ddp_worker.py")
SMALL = ["train.progress=false", "train.tensorboard=false", "data.limit=256", "train.sample_every=1000",
         "train.ckpt_every=1000", "train.grid_size=8", "train.batch_size=8", "train.log_every=1"]
MSG = SMALL + ["model.width=4", "model.max_ch=16", "model.z_dim=16", "model.mbstd_group=0", "method.loss=hinge",
               "optim.name=sgd", "optim.lr_g=0.01", "optim.lr_d=0.01"]


def _env() -> dict:
    # PYTHONFAULTHANDLER: a rank that dies of a signal (an abort in C++) prints its Python stack into the failure
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"), PYTHONFAULTHANDLER="1")
    env.pop("RANK", None), env.pop("WORLD_SIZE", None)
    return env


def _launch(nproc: int, out: Path, runs: Path, name: str, preset: str, args: list[str], check: bool = True):
    if nproc == 1:
        cmd = [sys.executable, WORKER]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", WORKER]
    p = subprocess.run(cmd + [str(out), str(runs), name, preset, *args], env=_env(), capture_output=True, text=True,
                       timeout=300)
    if check and p.returncode:
        raise AssertionError(f"exit {p.returncode}\n--- stdout ---\n{p.stdout[-4000:]}\n--- stderr ---\n{p.stderr[-12000:]}")
    return p


def _load(out: Path, rank: int) -> dict:
    return torch.load(out / f"rank{rank}.pt", weights_only=True)


def _identical(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _rel_diff(a: dict, b: dict) -> float:
    return max(((a[k].float() - b[k].float()).abs().max() / (a[k].float().abs().max() + 1e-12)).item()
               for k in a if a[k].is_floating_point())


@pytest.fixture(scope="module")
def two_proc(tmp_path_factory):
    """A 4-step msggan run on 2 processes with a checkpoint every 2 steps: the reference of several tests."""
    base = tmp_path_factory.mktemp("ddp")
    _launch(2, base / "two", base / "runs", "ref", "msggan", MSG + ["train.steps=4", "train.ckpt_every=2"])
    return base


def test_two_processes_agree_and_equal_one(two_proc, tmp_path):
    r0, r1 = _load(two_proc / "two", 0), _load(two_proc / "two", 1)
    assert r0["world_size"] == 2 and r0["step"] == 4 and r0["kimg"] == pytest.approx(0.032)  # global images
    assert _identical(r0["nets"], r1["nets"])  # gradients averaged, buffers broadcast: ranks never drift
    _launch(1, tmp_path / "one", tmp_path / "runs", "one", "msggan", MSG + ["train.steps=4"])
    one = _load(tmp_path / "one", 0)
    assert one["kimg"] == r0["kimg"]
    assert _rel_diff(one["nets"], r0["nets"]) < 1e-4
    _launch(1, tmp_path / "seed1", tmp_path / "runs", "seed1", "msggan", MSG + ["train.steps=4", "seed=1"])
    assert _rel_diff(one["nets"], _load(tmp_path / "seed1", 0)["nets"]) > 1e-2  # the check can fail


def test_resume_of_two_processes_is_exact_and_survives_a_killed_rank(two_proc, tmp_path):
    ref = _load(two_proc / "two", 0)["nets"]
    args = MSG + ["train.ckpt_every=2"]
    # rank 1 is SIGKILLed during step 3: torchrun ends the whole job; the step-2 checkpoint is the last one
    p = _launch(2, tmp_path / "killed", tmp_path / "runs", "k", "msggan", ["--kill-rank-at", "1:3"] + args + ["train.steps=4"],
                check=False)
    said = f"exit {p.returncode}\n--- stderr ---\n{p.stderr[-12000:]}"  # what the ranks said, should this fail
    assert p.returncode != 0, said
    assert not (tmp_path / "killed").exists(), said
    ckpts = sorted(x.name for x in (tmp_path / "runs" / "k" / "checkpoints").glob("*.pt"))
    assert ckpts and "000004" not in " ".join(ckpts), f"checkpoints {ckpts}; {said}"
    _launch(2, tmp_path / "resumed", tmp_path / "runs", "k", "msggan", args + ["train.steps=4"])
    assert _identical(_load(tmp_path / "resumed", 0)["nets"], ref)
    assert _identical(_load(tmp_path / "resumed", 1)["nets"], ref)


def test_sigterm_on_one_rank_stops_every_rank_at_the_same_step(two_proc, tmp_path):
    # without the agreement rank 1 would stop alone and rank 0 would wait for it forever (or be killed unsaved)
    _launch(2, tmp_path / "term", tmp_path / "runs", "t", "msggan",
                ["--term-rank-at", "1:3"] + MSG + ["train.steps=4", "train.ckpt_every=1000"])
    assert _load(tmp_path / "term", 0)["step"] == _load(tmp_path / "term", 1)["step"] == 3
    assert [c.name for c in (tmp_path / "runs" / "t" / "checkpoints").glob("ckpt-*.pt")] == ["ckpt-00000003.pt"]
    _launch(2, tmp_path / "resumed", tmp_path / "runs", "t", "msggan", MSG + ["train.steps=4", "train.ckpt_every=1000"])
    assert _identical(_load(tmp_path / "resumed", 0)["nets"], _load(two_proc / "two", 0)["nets"])


def test_controllers_decide_alike_on_every_rank(tmp_path):
    args = SMALL + ["model.width=4", "model.max_ch=16", "model.z_dim=16", "train.steps=6", "control.apfl.enabled=true",
                    "control.apfl.every=1", "quality.every=1", "quality.n=16",
                    "control.dqn.enabled=true", "control.dqn.every=1", "control.dqn.warmup=2", "control.dqn.batch=2"]
    _launch(2, tmp_path / "two", tmp_path / "runs", "m", "mspgsen", args)
    r0, r1 = _load(tmp_path / "two", 0), _load(tmp_path / "two", 1)
    assert {n for _, n, _ in r0["decisions"]} == {"apfl", "dqn"}
    # every decision, including the DQN's exploration, on both ranks (repr: a not-yet-measured quality is nan)
    assert repr(r0["decisions"]) == repr(r1["decisions"])
    assert any(d.get("acted") for _, n, d in r0["decisions"] if n == "dqn")
    assert r0["knobs"] == r1["knobs"]
    assert _identical(r0["nets"], r1["nets"])


# -- the parts, in one process ------------------------------------------------------------------------------------

def test_ranks_slices_make_the_single_process_batches():
    one = make_sampler(100, seed=3)
    ranks = [make_sampler(100, seed=3, rank=r, world_size=4) for r in range(4)]
    for _ in range(30):  # crosses several epochs
        whole = one.take(12)
        parts = np.concatenate([s.take(3) for s in ranks])
        assert np.array_equal(whole, parts)
    assert {s.position for s in ranks} == {one.position}


def test_local_draw_slices_one_global_draw():
    try:
        got = []
        for r in range(3):
            shard.set_shard(r, 3)
            got.append(shard.local_draw(2, lambda m: torch.randn(m, 5, generator=torch.Generator().manual_seed(1))))
        shard.set_shard(0, 1)
        whole = shard.local_draw(6, lambda m: torch.randn(m, 5, generator=torch.Generator().manual_seed(1)))
        assert torch.equal(torch.cat(got), whole)
    finally:
        shard.set_shard(0, 1)


def test_batch_that_does_not_divide_is_refused():
    assert ddp.local_batch(64, 4) == 16
    with pytest.raises(ConfigError, match="does not divide over 3 processes.*multiple of 3"):
        ddp.local_batch(64, 3)


def test_backend_follows_the_device():
    assert ddp.backend_for(torch.device("cpu")) == "gloo"
    assert ddp.backend_for(torch.device("cuda", 0)) == "nccl"


@pytest.mark.parametrize("setting, says", [
    ("train.amp=true", "bfloat16 autocast on CUDA"),
    ("train.channels_last=true", "CUDA only"),
    ("train.sync_batchnorm=true", "needs CUDA"),
])
def test_gpu_options_are_refused_on_cpu(setting, says):
    cfg = load_config("dcgan", [setting])
    with pytest.raises(ConfigError, match=says):
        check_accel(cfg, torch.device("cpu"), 1)


def test_compile_is_refused_with_a_gradient_penalty():
    cfg = load_config("wgan-gp", ["train.compile=true"])
    with pytest.raises(ConfigError, match="differentiate twice"):
        check_accel(cfg, torch.device("cpu"), 1)


def test_compile_is_refused_with_spectral_norm_on_d():
    """Compiled, a D with spectral norm fails in its backward (the power iteration updates its vectors in place
    between the real and the fake forward); the run is refused with a sentence instead of that traceback."""
    cfg = load_config("mspgsen", ["train.compile=true"])
    with pytest.raises(ConfigError, match="spectral norm on D"):
        check_accel(cfg, torch.device("cpu"), 1)
    check_accel(load_config("mspgsen", ["train.compile=true", "model.spectral_norm=false"]), torch.device("cpu"), 1)


def test_method_with_unstepped_parameters_is_refused():
    class M:
        nets = torch.nn.ModuleDict({"G": torch.nn.Linear(2, 2), "D": torch.nn.Linear(2, 2)})
    m = M()
    m.optimizers = {"G": torch.optim.SGD(m.nets["G"].parameters(), lr=0.1)}
    with pytest.raises(ConfigError, match="Method 'x' cannot run on several processes: parameters D.weight"):
        ddp.check_method(m, "x")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (bf16 autocast, channels_last)")
def test_amp_and_channels_last_train_on_cuda(tmp_path):
    import mspgsen

    res = mspgsen.train("msggan", name="amp", runs_dir=tmp_path, log=lambda *a, **k: None,
                        overrides=MSG + ["train.steps=2", "train.amp=true", "train.channels_last=true",
                                         "train.device=cuda"])
    assert res.step == 2
