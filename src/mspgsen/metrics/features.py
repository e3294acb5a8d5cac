"""Feature extraction: images in any of the project's forms -> float32 Inception pool3 features, in batches.

Every metric of one evaluation reads the same features, so the network runs once per image set.
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator, Optional

import numpy as np
import torch

from .inception import FEATURE_DIM, preprocess
from .weights import load_fid_inception


def to_uint8(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 (N, C, H, W) from uint8, or from floats in [-1, 1] (a generator's output), rounded like saving a PNG."""
    x = torch.as_tensor(images)
    if x.dtype == torch.uint8:
        return x
    x = x.detach().float()
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` intra-op threads (0: leave as is), then restore."""
    old = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def progress(total: int, desc: str, enabled: bool):
    """A tqdm bar on stderr, or a no-op object with the same update/close methods."""
    if enabled:
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit="img", leave=False, dynamic_ncols=True)

    class _Null:
        def update(self, n: int) -> None: ...

        def close(self) -> None: ...

    return _Null()


class InceptionFeatures:
    """The FID Inception with its input convention; ``extractor_id`` keys cached reference features."""

    dim = FEATURE_DIM

    def __init__(self, weights: Optional[str | os.PathLike] = None, device: str | torch.device = "cpu",
                 batch_size: int = 50, threads: int = 0, show_progress: bool = False) -> None:
        self.device = torch.device(device)
        self.net, self.extractor_id = load_fid_inception(weights, self.device)
        self.batch_size, self.threads, self.show_progress = max(1, int(batch_size)), int(threads), show_progress

    @torch.no_grad()
    def __call__(self, images: torch.Tensor | np.ndarray, desc: str = "features") -> np.ndarray:
        """float32 (N, 2048) features of uint8 or [-1, 1] images (N, C, H, W), C in {1, 3}."""
        x = torch.as_tensor(images)
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"expected images (N, 1|3, H, W), got {tuple(x.shape)}")
        out = np.empty((x.shape[0], self.dim), dtype=np.float32)
        bar = progress(x.shape[0], desc, self.show_progress)
        with torch_threads(self.threads):
            for i in range(0, x.shape[0], self.batch_size):
                batch = to_uint8(x[i : i + self.batch_size]).to(self.device)
                out[i : i + len(batch)] = self.net(preprocess(batch)).float().cpu().numpy()
                bar.update(len(batch))
        bar.close()
        return out


_SHARED: dict[tuple, InceptionFeatures] = {}


def shared_extractor(weights: Optional[str] = None, device: str = "cpu", batch_size: int = 50, threads: int = 0,
                     show_progress: bool = False) -> InceptionFeatures:
    """One loaded network per (weights, device), reused across calls (the trainer measures every few kimg)."""
    key = (str(weights or ""), str(device))
    ext = _SHARED.get(key)
    if ext is None:
        ext = _SHARED[key] = InceptionFeatures(weights, device)
    ext.batch_size, ext.threads, ext.show_progress = max(1, batch_size), threads, show_progress
    return ext
