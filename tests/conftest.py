"""Shared fixtures: one thread (CI has two cores), tiny model overrides, a temporary runs folder."""
from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)

#: Overrides that make any dcgan-based run tiny and quiet.
TINY = ["model.ngf=8", "model.ndf=8", "train.progress=false", "train.tensorboard=false", "train.batch_size=16",
        "data.limit=256", "train.sample_every=1000", "train.ckpt_every=1000", "train.grid_size=16"]


@pytest.fixture
def tiny() -> list[str]:
    return list(TINY)


@pytest.fixture
def runs(tmp_path):
    return tmp_path / "runs"


def quiet(*_a, **_k) -> None:
    pass
