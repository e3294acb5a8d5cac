"""Which slice of the global batch this process owns, for the random draws a training step makes.

Under torchrun every rank starts from the same seed and so holds the same random state. A draw for the batch
(latents, fake labels, instance noise, the gradient penalty's mixing weights) is made at the *global* size on every
rank and each rank keeps its own contiguous slice. The ranks' slices together are then exactly the draw one
process would make, and every rank's generator advances alike, which is what lets N processes equal one.
With one process this module is a no-op.
"""
from __future__ import annotations

from typing import Callable

import torch

_rank, _world = 0, 1


def set_shard(rank: int, world_size: int) -> None:
    """Called once by the trainer; methods and losses read it through :func:`local_draw`."""
    global _rank, _world
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside world size {world_size}")
    _rank, _world = int(rank), int(world_size)


def shard() -> tuple[int, int]:
    return _rank, _world


def local_draw(n: int, draw: Callable[[int], torch.Tensor]) -> torch.Tensor:
    """``draw(n * world)`` sliced to this rank's ``n`` rows (dim 0): the rank's share of a global-batch draw."""
    if _world == 1:
        return draw(n)
    return draw(n * _world)[_rank * n:(_rank + 1) * n]
