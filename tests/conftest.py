"""Shared fixtures: one thread (CI has two cores), tiny model overrides, a temporary runs folder."""
from __future__ import annotations

import os

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


@pytest.fixture(scope="module")
def private_cache(tmp_path_factory):
    """A fresh MSPGSEN_CACHE for one test module (converted Inception weights, reference features, classifiers)."""
    old = os.environ.get("MSPGSEN_CACHE")
    os.environ["MSPGSEN_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("MSPGSEN_CACHE")
    else:
        os.environ["MSPGSEN_CACHE"] = old
