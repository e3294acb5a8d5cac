"""Process rank and world size under torchrun, read from the environment (1 process otherwise).

The trainer is rank-aware already (only rank 0 logs and saves; each rank reads its own stride of the data
order through :func:`mspgsen.data.make_sampler`); wrapping the networks in DistributedDataParallel is the
remaining step for multi-GPU runs.
"""
from __future__ import annotations

import os


def dist_info() -> tuple[int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
