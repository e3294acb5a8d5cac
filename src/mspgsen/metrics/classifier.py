"""Classifier scores for labelled grey data sets: a small CNN trained by the project on the data set itself.

No Inception class logits can be had offline, so a standard Inception Score cannot be computed here; this is the
usual practice for MNIST-like GANs instead, and it is always labelled "class score (project classifier)", never IS.

class score = exp(E_x KL(p(y|x) || p(y))), p(y) the mean prediction over the generated set: 1 when every image gets
the same prediction, K (the number of classes) when predictions are confident and classes balanced.
classes covered = classes that receive at least 10% of their fair share (n / K) of argmax predictions, so one
stray prediction does not count as a covered class.
stacked data (3 channels, each a grey image of a 10-class set): each channel is classified, giving 1000 modes.

The trained classifier is cached, keyed by a hash of the training images, labels and this recipe; its test accuracy
is stored with it and reported next to every score.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import ImageArray, fit_shape, load_source
from ..errors import DataError
from .cache import array_hash, cache_dir
from .features import progress, torch_threads
from .modes import stacked_mode_coverage

RECIPE = "cnn3-v1"
COVER_SHARE = 0.1


class SmallCNN(nn.Module):
    """Three strided conv layers and a linear head; about 0.1M parameters, enough for 90%+ on Fashion-MNIST."""

    def __init__(self, num_classes: int, channels: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 3, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Conv2d(64, 128, 3, 2, 1), nn.BatchNorm2d(128), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2))
        self.head = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _to_input(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(images).float().div(127.5).sub(1.0)


@dataclass
class TrainedClassifier:
    net: SmallCNN
    num_classes: int
    resolution: int
    test_accuracy: float
    source: str

    @torch.no_grad()
    def probs(self, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """Softmax predictions (N, K) for uint8 grey images (N, 1, H, W) at the classifier's resolution."""
        self.net.eval()
        out = [F.softmax(self.net(_to_input(images[i : i + batch_size])), 1).double().numpy()
               for i in range(0, len(images), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, self.num_classes))


def train_classifier(train: ImageArray, test: Optional[ImageArray], epochs: int = 4, seed: int = 0,
                     show_progress: bool = False, max_train: int = 60000) -> tuple[SmallCNN, float]:
    """Train a SmallCNN on uint8 grey images with labels; returns it and its accuracy on ``test`` (or -1)."""
    if train.labels is None or train.num_classes < 2:
        raise DataError(f"Data set '{train.name}' has no class labels; the classifier metrics need a labelled data set.")
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x, y = _to_input(train.images[:max_train]), torch.as_tensor(train.labels[:max_train])
    net = SmallCNN(train.num_classes, x.shape[1])
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    steps = epochs * ((len(x) + 127) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 4e-3, total_steps=steps)
    bar = progress(steps, "classifier", show_progress)
    net.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 128):
            idx = perm[i : i + 128]
            xb = x[idx]
            shift = torch.randint(-2, 3, (2,), generator=g).tolist()  # small translations: generated digits are not centred exactly
            xb = torch.roll(xb, shifts=shift, dims=(2, 3))
            loss = F.cross_entropy(net(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
    bar.close()
    net.eval()
    acc = -1.0
    if test is not None and test.labels is not None and len(test):
        clf = TrainedClassifier(net, train.num_classes, x.shape[-1], 0.0, train.name)
        acc = float((clf.probs(test.images).argmax(1) == test.labels).mean())
    return net, acc


def load_classifier(source: str, resolution: int, epochs: int = 8, threads: int = 0, show_progress: bool = False,
                    use_cache: bool = True) -> TrainedClassifier:
    """The project's classifier for a labelled grey data source at ``resolution`` (trained once, then cached)."""
    train = fit_shape(load_source(source, "train", resolution=resolution, channels=1), resolution, 1)
    if train.kind != "images" or train.labels is None:
        raise DataError(f"'{source}' has no class labels; the cls/modes metrics need a labelled data set such as fashion-mnist-subset.")
    try:
        test: Optional[ImageArray] = fit_shape(load_source(source, "test", resolution=resolution, channels=1), resolution, 1)
    except DataError:
        test = None
    key = array_hash(train.images, train.labels, extra=f"{RECIPE}|{epochs}")
    path = cache_dir("classifier") / f"{key}.pt"
    if use_cache and path.is_file():
        blob = torch.load(str(path), map_location="cpu", weights_only=True)
        net = SmallCNN(blob["num_classes"], 1)
        net.load_state_dict(blob["state"])
        return TrainedClassifier(net.eval(), blob["num_classes"], resolution, blob["test_accuracy"], source)
    where = f"cached in {path} for later runs" if use_cache else "not cached (--no-cache)"
    print(f"training the class-score classifier on {source} ({len(train)} images, {epochs} epochs; once per data set, "
          f"a few minutes on a CPU; {where})", file=sys.stderr, flush=True)
    with torch_threads(threads):
        net, acc = train_classifier(train, test, epochs, show_progress=show_progress)
    if use_cache:
        torch.save({"state": net.state_dict(), "num_classes": train.num_classes, "test_accuracy": acc}, str(path))
    return TrainedClassifier(net, train.num_classes, resolution, acc, source)


def class_score(probs: np.ndarray, eps: float = 1e-12) -> float:
    """exp(E_x KL(p(y|x) || p(y))), computed in float64."""
    p = np.asarray(probs, dtype=np.float64)
    marginal = p.mean(0, keepdims=True)
    kl = (p * (np.log(p + eps) - np.log(marginal + eps))).sum(1)
    return float(np.exp(kl.mean()))


def classes_covered(predictions: np.ndarray, num_classes: int, share: float = COVER_SHARE) -> int:
    counts = np.bincount(np.asarray(predictions, dtype=np.int64), minlength=num_classes)
    return int((counts >= share * len(predictions) / num_classes).sum())


def classifier_metrics(images: np.ndarray, reference, metrics: Sequence[str], threads: int = 0,
                       show_progress: bool = False) -> dict:
    """cls and/or modes numbers for uint8 images (N, C, H, W) against the labelled source of ``reference``."""
    clf = load_classifier(reference.source, images.shape[-1], threads=threads, show_progress=show_progress)
    out: dict = {"cls_classifier_accuracy": clf.test_accuracy}
    with torch_threads(threads):
        if images.shape[1] == 3 and "modes" in metrics:  # stacked: one digit per channel
            labels = np.stack([clf.probs(images[:, c : c + 1]).argmax(1) for c in range(3)], 1)
            out.update(stacked_mode_coverage(labels, clf.num_classes))
        grey = images if images.shape[1] == 1 else _luma(images)
        p = clf.probs(grey)
    if "cls" in metrics:
        out["cls_score"] = class_score(p)
        out["cls_classes_covered"] = classes_covered(p.argmax(1), clf.num_classes)
    if "modes" in metrics and images.shape[1] == 1:
        out["modes_covered"] = classes_covered(p.argmax(1), clf.num_classes)
        out["num_modes"] = clf.num_classes
    return out


def _luma(images: np.ndarray) -> np.ndarray:
    w = np.array([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)
    return np.clip((images * w).sum(1, keepdims=True) + 0.5, 0, 255).astype(np.uint8)


def make_stacked(data: ImageArray, n: int, seed: int = 0) -> ImageArray:
    """Stacked data from a 10-class grey set: each image holds 3 random images as its R, G, B channels.

    The label is 100 a + 10 b + c for channel labels (a, b, c): 1000 modes for 10 classes, as in stacked MNIST.
    """
    if data.labels is None or data.images.shape[1] != 1:
        raise DataError(f"Stacking needs a labelled grey data set; '{data.name}' is not one.")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(data), size=(n, 3))
    imgs = np.concatenate([data.images[idx[:, c]] for c in range(3)], axis=1)
    k = data.num_classes
    labels = (data.labels[idx[:, 0]] * k + data.labels[idx[:, 1]]) * k + data.labels[idx[:, 2]]
    return ImageArray(imgs, labels.astype(np.int64), f"stacked-{data.name}", k**3, notes=[f"3 stacked {data.name} images per sample"])
