"""One evaluation: features of the generated and reference images once, then every asked-for metric on them."""
from __future__ import annotations

import time
from typing import Optional, Sequence

import numpy as np
import torch

from ..data import ImageArray
from ..errors import MspgsenError
from .features import InceptionFeatures, shared_extractor, to_uint8
from .fid import fid_from_features, kid_from_features
from .prdc import prdc
from .reference import Reference, load_reference, reference_features

FEATURE_METRICS = ("fid", "kid", "pr", "dc")
ALL_METRICS = FEATURE_METRICS + ("cls", "modes")
DEFAULT_METRICS = ("fid", "kid", "pr", "dc")
PRDC_K = 5  # the largest k of precision/recall (3) and density/coverage (5)


def parse_metrics(text: str | Sequence[str]) -> list[str]:
    names = [m.strip().lower() for m in (text.split(",") if isinstance(text, str) else text) if m.strip()]
    bad = [m for m in names if m not in ALL_METRICS]
    if bad or not names:
        raise MspgsenError(f"Unknown metric(s) {', '.join(bad) or '(none given)'}; choose from {', '.join(ALL_METRICS)}.")
    return names


def feature_metrics(real: np.ndarray, fake: np.ndarray, metrics: Sequence[str], kid_subsets: int = 100,
                    kid_subset_size: int = 1000, seed: int = 0) -> dict[str, float]:
    """The feature-space metrics among ``metrics`` for one pair of feature sets."""
    out: dict[str, float] = {}
    if "fid" in metrics:
        out["fid"] = fid_from_features(real, fake)
    if "kid" in metrics:
        if min(len(real), len(fake)) <= kid_subset_size:  # every subset would be the whole of both sets
            out["kid"] = kid_from_features(real, fake, 1, kid_subset_size, seed)[0]
        else:
            out["kid"], out["kid_std"] = kid_from_features(real, fake, kid_subsets, kid_subset_size, seed)
    if "pr" in metrics or "dc" in metrics:
        r = prdc(real, fake)
        if "pr" in metrics:
            out["precision"], out["recall"] = r["precision"], r["recall"]
        if "dc" in metrics:
            out["density"], out["coverage"] = r["density"], r["coverage"]
    return out


def small_sample_notes(n_fake: int, n_ref: int, n: int, metrics: Sequence[str], kid_subset_size: int) -> list[str]:
    """Say plainly when fewer images than asked were used, and refuse sets too small for a metric's k-NN."""
    fewest = min(n_fake, n_ref)
    if ("pr" in metrics or "dc" in metrics) and fewest <= PRDC_K:
        raise MspgsenError(f"Precision/recall and density/coverage compare k-nearest neighbours (k up to {PRDC_K}) and need "
                           f"more than {PRDC_K} images per set, but {fewest} were given; raise --n or leave out pr and dc.")
    notes = []
    if n > 0 and n_fake < n:
        notes.append(f"only {n_fake} generated images were available, fewer than --n {n}; all of them were used")
    if n > 0 and n_ref < n:
        notes.append(f"the reference has only {n_ref} images, fewer than --n {n}; all of them were used")
    if "kid" in metrics and fewest <= kid_subset_size:
        notes.append(f"KID's std over subsets is not reported: with {fewest} images per set (subset size "
                     f"{kid_subset_size}) every subset is the whole set, so the subsets do not differ")
    return notes


def evaluate_images(images: np.ndarray | torch.Tensor | ImageArray, ref: str | ImageArray | Reference,
                    metrics: Sequence[str] = DEFAULT_METRICS, n: int = 10000, split: str = "test",
                    extractor: Optional[InceptionFeatures] = None, batch_size: int = 50, threads: int = 0,
                    device: str = "cpu", weights: Optional[str] = None, show_progress: bool = False,
                    use_cache: bool = True, seed: int = 0, kid_subsets: int = 100, kid_subset_size: int = 1000) -> dict:
    """Metrics of generated images (uint8 or [-1, 1], (N, C, H, W)) against a reference data source.

    ``n`` caps both sets (the first ``n`` generated images, a seeded subset of the reference). Returns a flat dict
    of numbers plus ``notes`` (list of strings) and protocol fields (n_fake, n_ref, ref, ref_split, extractor).
    """
    metrics = parse_metrics(metrics)
    imgs = images.images if isinstance(images, ImageArray) else images
    imgs = to_uint8(imgs).numpy() if not isinstance(imgs, np.ndarray) or imgs.dtype != np.uint8 else imgs
    if n > 0:
        imgs = imgs[:n]
    if imgs.ndim != 4 or imgs.shape[1] not in (1, 3) or len(imgs) < 2:
        raise MspgsenError(f"Images to evaluate must be (N>=2, 1 or 3, H, W); got {tuple(imgs.shape)}.")
    t0 = time.time()
    reference = ref if isinstance(ref, Reference) else load_reference(ref, split, imgs.shape[-1], imgs.shape[1], n, seed)
    result: dict = {"n_fake": int(len(imgs)), "n_ref": int(len(reference.data)), "ref": reference.source,
                    "ref_split": reference.split, "notes": list(reference.notes)}
    result["notes"] += small_sample_notes(len(imgs), len(reference.data), n, metrics, kid_subset_size)
    wanted_feat = [m for m in metrics if m in FEATURE_METRICS]
    if wanted_feat:
        ext = extractor or shared_extractor(weights, device, batch_size, threads, show_progress)
        real = reference_features(reference, ext, use_cache)
        fake = ext(imgs, desc="generated")
        result["extractor"] = ext.extractor_id
        result.update(feature_metrics(real, fake, wanted_feat, kid_subsets, kid_subset_size, seed))
    if "cls" in metrics or "modes" in metrics:
        from .classifier import classifier_metrics

        result.update(classifier_metrics(imgs, reference, metrics, threads=threads, show_progress=show_progress))
    result["seconds"] = round(time.time() - t0, 2)
    return result
