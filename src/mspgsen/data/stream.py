"""Batches, the data order, and the stream a method pulls real batches from.

The data order is a seeded permutation per epoch; its position is a single integer, so a checkpoint restores the
exact batches that follow. Under torchrun every rank walks the same permutation at the global batch size and keeps
its own contiguous slice of each batch, so the ranks together see exactly the batches one process would see
(:func:`make_sampler` is the one place that knows about ranks).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np
import torch


@dataclass
class Batch:
    """Real data for one update: images in [-1, 1] (N, C, H, W) or toy points (N, D), and labels or None."""

    images: torch.Tensor
    labels: Optional[torch.Tensor] = None

    def __len__(self) -> int:
        return self.images.shape[0]


class EpochSampler:
    """Indices from a fresh seeded permutation each epoch; ``position`` counts indices handed out so far.

    With ``world_size`` > 1, ``take(k)`` takes ``k * world_size`` indices of the one global order (every rank alike)
    and returns the rank's contiguous slice of them; ``position`` is the global position, the same on every rank.
    """

    def __init__(self, n: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        if n < 1:
            raise ValueError("cannot sample from an empty data set")
        self.n, self.seed, self.rank, self.world_size = n, seed, rank, world_size
        self.position = 0
        self._epoch = -1
        self._perm: np.ndarray = np.empty(0, dtype=np.int64)

    def _perm_for(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            self._epoch = epoch
        return self._perm

    def _take_global(self, k: int) -> np.ndarray:
        out = []
        while k > 0:
            epoch, offset = divmod(self.position, self.n)
            chunk = self._perm_for(epoch)[offset : offset + k]
            out.append(chunk)
            self.position += len(chunk)
            k -= len(chunk)
        return np.concatenate(out)

    def take(self, k: int) -> np.ndarray:
        idx = self._take_global(k * self.world_size)
        return idx[self.rank * k : (self.rank + 1) * k] if self.world_size > 1 else idx

    def state_dict(self) -> dict:
        return {"position": self.position, "seed": self.seed, "n": self.n}

    def load_state_dict(self, state: dict) -> None:
        self.position = int(state["position"])


def make_sampler(n: int, seed: int, rank: int = 0, world_size: int = 1) -> EpochSampler:
    """The one function that decides which examples a process sees."""
    return EpochSampler(n, seed, rank, world_size)


def to_model_range(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 in [-1, 1]; float arrays (toy points) pass through as float32."""
    t = torch.as_tensor(images)
    if t.dtype == torch.uint8:
        return t.float().div_(127.5).sub_(1.0)
    return t.float()


class DataStream:
    """Endless real batches in the sampler's order, on the training device; ``images_seen`` counts the global
    images (all ranks' slices), so budgets and checkpoints read the same under any number of processes."""

    def __init__(self, images: np.ndarray, labels: Optional[np.ndarray], batch_size: int, sampler: EpochSampler,
                 device: torch.device | str = "cpu") -> None:
        self.images, self.labels = images, labels
        self.batch_size = batch_size
        self.sampler = sampler
        self.device = torch.device(device)
        self.images_seen = 0

    def next(self, batch_size: int | None = None) -> Batch:
        idx = self.sampler.take(batch_size or self.batch_size)
        x = to_model_range(self.images[idx]).to(self.device, non_blocking=True)
        y = None
        if self.labels is not None:
            y = torch.as_tensor(self.labels[idx], dtype=torch.long).to(self.device)
        self.images_seen += len(idx) * self.sampler.world_size  # global: every rank took a slice alike
        return Batch(x, y)

    def __iter__(self) -> Iterator[Batch]:
        while True:
            yield self.next()

    def state_dict(self) -> dict:
        return {"sampler": self.sampler.state_dict(), "images_seen": self.images_seen}

    def load_state_dict(self, state: dict) -> None:
        self.sampler.load_state_dict(state["sampler"])
        self.images_seen = int(state["images_seen"])
