"""Data-parallel training under torchrun: the process group, gradient averaging and the agreements between ranks.

How N processes equal one (docs/architecture.md, "Several processes"):

* ``train.batch_size`` is the global batch; each rank trains on ``batch_size / world_size`` of it. The data order
  and the batch's random draws are made at the global size on every rank and sliced (``data.make_sampler``,
  ``mspgsen.shard``), so the ranks' slices together are the batch one process would see.
* Every optimizer of the method averages its parameters' gradients over the ranks just before it steps (an
  optimizer step pre-hook, one flat all-reduce per step). This is the all-reduce that DistributedDataParallel
  performs, placed where every method already passes: DDP itself cannot carry these methods, because WGAN-GP's and
  R1's penalties differentiate through D twice (``autograd.grad(create_graph=True)``, which DDP does not support),
  G's update freezes D's parameters mid-step, and CFG's G regression reuses networks between backward passes.
* Buffers (BatchNorm running statistics) are broadcast from rank 0 after each step, as DDP does before a forward.
  BatchNorm's batch statistics are per rank unless ``train.sync_batchnorm`` (CUDA) makes them global.
* The step's stats are averaged over ranks before the controllers read them, so every controller takes the same
  decision on every rank; the controllers' own random generators are seeded alike and so draw alike.
* The decision to stop (budget, Ctrl-C/SIGTERM on any rank) is agreed by all ranks, so no rank waits alone.
"""
from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..errors import ConfigError


def dist_info() -> tuple[int, int]:
    """(rank, world size) from torchrun's environment; (0, 1) for a plain process."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


_comm_device = torch.device("cpu")  # where the small all-reduces (stats, stop codes) live: the GPU under NCCL


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", 0))


def backend_for(device: torch.device) -> str:
    """NCCL between GPUs, gloo between CPU processes."""
    return "nccl" if device.type == "cuda" else "gloo"


def init_distributed(device: torch.device) -> tuple[int, int, torch.device]:
    """Join torchrun's process group (once) and return (rank, world size, this rank's device).

    On CUDA each process takes the GPU of its LOCAL_RANK. A plain process returns (0, 1, device) untouched.
    """
    rank, world = dist_info()
    if world == 1:
        return 0, 1, device
    if not dist.is_available():
        raise ConfigError("WORLD_SIZE is above 1 but this torch build has no torch.distributed; run a single process.")
    if device.type == "cuda":
        if device.index is not None and world > 1:
            raise ConfigError(f"train.device is '{device}' but under torchrun each process takes the GPU of its "
                              f"LOCAL_RANK; set train.device=cuda or auto.")
        device = torch.device("cuda", local_rank())
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend_for(device))
    global _comm_device
    _comm_device = device if dist.get_backend() == "nccl" else torch.device("cpu")
    return dist.get_rank(), dist.get_world_size(), device


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(world_size: int) -> None:
    if world_size > 1:
        dist.barrier()


def local_batch(global_batch: int, world_size: int) -> int:
    """Each rank's share of ``train.batch_size``; a batch that does not divide is refused."""
    if global_batch % world_size:
        lo = global_batch - global_batch % world_size
        raise ConfigError(f"train.batch_size is the global batch and {global_batch} does not divide over {world_size} "
                          f"processes; set it to a multiple of {world_size} (e.g. {max(lo, world_size)} or "
                          f"{lo + world_size}).")
    return global_batch // world_size


def check_method(method: Any, method_name: str) -> None:
    """Refuse a method whose learnable parameters are not all stepped by its optimizers: their gradients would
    never be averaged, and the ranks would drift apart."""
    stepped = {id(p) for o in method.optimizers.values() for g in o.param_groups for p in g["params"]}
    loose = [f"{net}.{name}" for net, m in method.nets.items() for name, p in m.named_parameters()
             if p.requires_grad and id(p) not in stepped]
    if loose:
        raise ConfigError(f"Method '{method_name}' cannot run on several processes: parameters {', '.join(loose[:3])} "
                          f"are learnable but no optimizer of the method steps them; run it as one process.")


def _average_gradients(params: list[nn.Parameter], world_size: int) -> None:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat.div_(world_size)
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def average_gradients_before_steps(optimizers: dict[str, torch.optim.Optimizer], world_size: int) -> None:
    """Make every optimizer average its gradients over the ranks just before it steps."""
    for opt in optimizers.values():
        params = [p for g in opt.param_groups for p in g["params"]]
        opt.register_step_pre_hook(lambda _opt, _a, _k, params=params: _average_gradients(params, world_size))


def broadcast_state(module: nn.Module) -> None:
    """Rank 0's parameters and buffers to every rank (identical starts, identical BatchNorm statistics)."""
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)


def broadcast_buffers(module: nn.Module) -> None:
    with torch.no_grad():
        for b in module.buffers():
            dist.broadcast(b.data, src=0)


def mean_stats(stats: dict[str, float], world_size: int) -> dict[str, float]:
    """The step's numbers averaged over ranks, so controllers read the same stats everywhere."""
    if world_size == 1 or not stats:
        return stats
    keys = sorted(stats)
    t = torch.tensor([float(stats[k]) for k in keys], dtype=torch.float64, device=_comm_device)
    dist.all_reduce(t)
    return {k: float(v) / world_size for k, v in zip(keys, t.tolist())}


def agree(code: int, world_size: int) -> int:
    """The largest of the ranks' codes (e.g. a stop reason): one rank's request is every rank's decision."""
    if world_size == 1:
        return code
    t = torch.tensor([code], dtype=torch.int64, device=_comm_device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def prepare_method(method: Any, method_name: str, world_size: int) -> None:
    """Check, align and hook a freshly built method for data-parallel training (no-op for one process)."""
    if world_size == 1:
        return
    check_method(method, method_name)
    broadcast_state(method.nets)
    average_gradients_before_steps(method.optimizers, world_size)
