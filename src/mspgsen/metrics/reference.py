"""Reference images and their features, computed once per (data, shape, sample count, extractor) and cached.

The reference is shaped like the images it is compared with (:func:`mspgsen.data.fit_shape`: 28x28 Fashion-MNIST
is padded to the 32x32 a generator makes), then a seeded subset of ``n`` images is taken (the whole set when it
is smaller). The cache key hashes those exact uint8 bytes together with the extractor id, so a changed data set,
shape or weights file can never reuse stale features.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import numpy as np

from ..data import ImageArray, fit_shape, load_source
from ..errors import DataError
from .cache import array_hash, cache_dir
from .features import InceptionFeatures


@dataclass
class Reference:
    """The reference images chosen for an evaluation, where they came from, and notes for the report."""

    data: ImageArray
    source: str
    split: str
    notes: list[str] = field(default_factory=list)


def load_reference(source: str | ImageArray, split: str = "test", resolution: int = 0, channels: int = 0,
                   n: int = 0, seed: int = 0) -> Reference:
    """Load ``source`` (built-in name, folder, IDX, npz, or an ImageArray), preferring ``split``; shape and subsample it."""
    notes: list[str] = []
    if isinstance(source, ImageArray):
        data, name, used = source, source.name or "<array>", split
    else:
        name, used = str(source), split
        try:
            data = load_source(name, split, resolution=resolution, channels=channels)
        except DataError:
            if split == "train":
                raise
            data, used = load_source(name, "train", resolution=resolution, channels=channels), "train"
            notes.append(f"'{name}' has no {split} split; the reference is its train split")
    if data.kind != "images":
        raise DataError(f"Reference '{name}' holds 2-D points, not images; use the 'modes' metric for toy mixtures.")
    data = fit_shape(data, resolution, channels)
    notes += data.notes
    if 0 < n < len(data):
        idx = np.sort(np.random.default_rng(seed).choice(len(data), n, replace=False))
        data = ImageArray(data.images[idx], None if data.labels is None else data.labels[idx], data.name,
                          data.num_classes, data.class_names, list(data.notes), data.skipped, data.kind)
    return Reference(data, name, used, notes)


def reference_features(ref: Reference, extractor: InceptionFeatures, use_cache: bool = True) -> np.ndarray:
    """float32 (N, 2048) features of the reference images, from the cache when the same bytes were seen before."""
    path = cache_dir("reference") / f"{reference_key(ref, extractor.extractor_id)}.npy"
    if use_cache and path.is_file():
        feats = np.load(path)
        if feats.shape == (len(ref.data), extractor.dim):
            return feats
    feats = extractor(ref.data.images, desc=f"reference {ref.source}")
    if use_cache:
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, feats)
        tmp.replace(path)
    return feats


def reference_key(ref: Reference, extractor_id: str) -> str:
    """The cache key of a reference's features: a hash of its exact uint8 bytes and of the extractor that reads them."""
    return array_hash(ref.data.images, extra=extractor_id)
