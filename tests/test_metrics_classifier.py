"""Classifier scores (labelled as such, never IS) and stacked-data mode counting on the bundled data."""
import numpy as np
import pytest

from mspgsen.data import ImageArray, fit_shape, load_source
from mspgsen.errors import MspgsenError
from mspgsen.metrics import classifier as C


@pytest.fixture(scope="module")
def data():
    tr = fit_shape(load_source("fashion-mnist-subset", "train"), 32, 1)
    te = fit_shape(load_source("fashion-mnist-subset", "test"), 32, 1)
    return tr, te


@pytest.fixture(scope="module")
def clf(data):
    tr, te = data
    small = ImageArray(tr.images[::2], tr.labels[::2], tr.name, 10)  # 3,000 images, class-balanced
    net, acc = C.train_classifier(small, te, epochs=3)
    return C.TrainedClassifier(net, 10, 32, acc, "fashion-mnist-subset")


def test_quick_classifier_learns(clf):
    assert clf.test_accuracy > 0.6  # chance is 0.1


def test_class_score_bounds():
    k = 10
    confident_balanced = np.eye(k)[np.arange(1000) % k]
    assert C.class_score(confident_balanced) == pytest.approx(k, rel=1e-6)
    assert C.class_score(np.tile(np.eye(k)[3], (100, 1))) == pytest.approx(1.0)
    assert C.class_score(np.full((50, k), 1 / k)) == pytest.approx(1.0)
    assert 1 < C.class_score(np.eye(k)[np.arange(1000) % 4]) == pytest.approx(4, rel=1e-6)


def test_classes_covered_ignores_strays():
    pred = np.array([0] * 500 + [1] * 480 + [2] * 20)  # fair share 100, 10% of it = 10
    assert C.classes_covered(pred, 10) == 3
    assert C.classes_covered(np.array([0] * 995 + [1] * 5), 10) == 1


def test_cls_scores_real_vs_collapsed(clf, data, monkeypatch):
    monkeypatch.setattr(C, "load_classifier", lambda *a, **k: clf)
    ref = type("R", (), {"source": "fashion-mnist-subset"})()
    real = C.classifier_metrics(data[1].images, ref, ["cls"])
    one_class = data[1].images[data[1].labels == 1]
    collapsed = C.classifier_metrics(one_class, ref, ["cls"])
    assert real["cls_classes_covered"] == 10 and real["cls_score"] > 2  # a quick, unsure classifier: well below 10
    assert collapsed["cls_classes_covered"] < 10 and collapsed["cls_score"] < real["cls_score"] / 1.5
    assert real["cls_classifier_accuracy"] == clf.test_accuracy


def test_stacked_modes_via_classifier(clf, data, monkeypatch):
    monkeypatch.setattr(C, "load_classifier", lambda *a, **k: clf)
    ref = type("R", (), {"source": "fashion-mnist-subset"})()
    stacked = C.make_stacked(data[1], 3000, seed=0)
    assert stacked.images.shape == (3000, 3, 32, 32) and stacked.num_classes == 1000
    truth = C.stacked_mode_coverage(np.stack([stacked.labels // 100, stacked.labels // 10 % 10, stacked.labels % 10], 1))
    assert truth["modes_covered"] == len(np.unique(stacked.labels)) > 900  # 3000 draws over 1000 modes
    got = C.classifier_metrics(stacked.images, ref, ["modes"])
    assert got["num_modes"] == 1000 and got["modes_covered"] > 700
    assert got["kl_to_uniform"] < 1.0
    collapsed = C.classifier_metrics(np.repeat(stacked.images[:1], 200, 0), ref, ["modes"])
    assert collapsed["modes_covered"] == 1 and collapsed["kl_to_uniform"] == pytest.approx(np.log(1000))


def test_unlabelled_data_is_a_user_error(data):
    with pytest.raises(MspgsenError):
        C.train_classifier(ImageArray(data[1].images[:10], None, "nolabels"), None)
    with pytest.raises(MspgsenError):
        C.make_stacked(ImageArray(data[1].images[:10], None, "nolabels"), 5)
