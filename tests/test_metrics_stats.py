"""FID, KID and precision/recall/density/coverage on random features, against independent computations."""
import numpy as np
import pytest
import scipy.linalg
from scipy.spatial.distance import cdist

from mspgsen.metrics.fid import fid_from_features, gaussian_stats, kid_from_features, trace_sqrt_product
from mspgsen.metrics.prdc import prdc


def _feats(n, d, seed, shift=0.0, scale=1.0):
    rng = np.random.default_rng(seed)
    mix = np.random.default_rng(1234).normal(size=(d, d)) / np.sqrt(d)  # one fixed correlation for every set
    return (rng.normal(size=(n, d)) @ mix) * scale + shift


def _fid_scipy(a, b):
    m1, m2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = np.real(covmean)
    return float(((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_fid_of_a_set_against_itself_is_zero():
    f = _feats(300, 64, 0)
    assert abs(fid_from_features(f, f)) < 1e-6
    f = _feats(100, 256, 1)  # fewer samples than dimensions: singular covariance
    assert abs(fid_from_features(f, f)) < 1e-6


@pytest.mark.parametrize("shift,scale", [(0.0, 1.0), (0.3, 1.0), (0.0, 1.7), (1.0, 0.5)])
def test_fid_matches_scipy_sqrtm(shift, scale):
    a, b = _feats(500, 32, 2), _feats(400, 32, 3, shift, scale)
    ours, ref = fid_from_features(a, b), _fid_scipy(a, b)
    assert ours == pytest.approx(ref, rel=1e-6, abs=1e-8)
    assert ours > 0


def test_low_rank_route_equals_full_route():
    from mspgsen.metrics.fid import frechet_distance

    a, b = _feats(20, 64, 20), _feats(90, 64, 21, shift=0.2)  # 20 < 64 dimensions: singular covariance
    full = frechet_distance(gaussian_stats(a), gaussian_stats(b))
    assert fid_from_features(a, b) == pytest.approx(full, rel=1e-6)  # full route: sqrt of ~1e-15 eigenvalues
    assert fid_from_features(b, a) == fid_from_features(a, b)
    assert fid_from_features(a, b) == pytest.approx(_fid_scipy(a, b), rel=1e-5)


def test_fid_of_known_gaussians():
    # N(0, I) vs N(m, s^2 I) in d dims: FID = |m|^2 + d (1 - s)^2
    d = 4
    s1 = gaussian_stats(np.eye(d))
    s1.mu, s1.sigma = np.zeros(d), np.eye(d)
    s2 = gaussian_stats(np.eye(d))
    s2.mu, s2.sigma = np.full(d, 0.5), 4 * np.eye(d)
    from mspgsen.metrics.fid import frechet_distance

    assert frechet_distance(s1, s2) == pytest.approx(d * 0.25 + d * 1.0)
    assert trace_sqrt_product(np.diag([1.0, 4.0]), np.diag([9.0, 1.0])) == pytest.approx(3 + 2)


def _kid_loops(x, y):
    d = x.shape[1]
    k = lambda a, b: (a @ b / d + 1) ** 3  # noqa: E731
    m, n = len(x), len(y)
    sxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    syy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    sxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return sxx + syy - 2 * sxy


def test_kid_matches_pairwise_loops_and_is_unbiased():
    x, y = _feats(40, 8, 4), _feats(40, 8, 5, shift=0.5)
    mean, std = kid_from_features(x, y, subsets=1, subset_size=40)
    assert mean == pytest.approx(_kid_loops(x, y), rel=1e-10)
    assert std == 0.0
    # unbiased: two samples of one distribution give values around 0, negative about as often as positive
    vals = [kid_from_features(_feats(60, 8, 10 + s), _feats(60, 8, 100 + s), subsets=1)[0] for s in range(40)]
    assert abs(np.mean(vals)) < 3 * np.std(vals) / np.sqrt(len(vals))
    assert min(vals) < 0 < max(vals)


def test_kid_subsets_are_deterministic_and_seeded():
    x, y = _feats(300, 16, 6), _feats(300, 16, 7, shift=0.2)
    a = kid_from_features(x, y, subsets=10, subset_size=50, seed=1)
    assert a == kid_from_features(x, y, subsets=10, subset_size=50, seed=1)
    assert a != kid_from_features(x, y, subsets=10, subset_size=50, seed=2)


def test_kid_agrees_with_torchmetrics():
    torch = pytest.importorskip("torch")
    kid_mod = pytest.importorskip("torchmetrics.image.kid")
    x, y = _feats(50, 16, 8), _feats(50, 16, 9, shift=0.3)
    ref = kid_mod.poly_mmd(torch.as_tensor(x), torch.as_tensor(y), degree=3, gamma=None, coef=1.0)
    assert kid_from_features(x, y, subsets=1, subset_size=50)[0] == pytest.approx(float(ref), rel=1e-9)


def _prdc_brute(real, fake, k_pr=3, k_dc=5):
    drr, dff, drf = cdist(real, real), cdist(fake, fake), cdist(real, fake)
    r_pr = np.sort(drr, 1)[:, k_pr]
    r_dc = np.sort(drr, 1)[:, k_dc]
    f_pr = np.sort(dff, 1)[:, k_pr]
    precision = np.mean([(drf[:, j] <= r_pr).any() for j in range(len(fake))])
    recall = np.mean([(drf[i, :] <= f_pr).any() for i in range(len(real))])
    density = sum((drf[:, j] <= r_dc).sum() for j in range(len(fake))) / (k_dc * len(fake))
    coverage = np.mean([drf[i].min() <= r_dc[i] for i in range(len(real))])
    return dict(precision=precision, recall=recall, density=density, coverage=coverage)


def test_prdc_matches_brute_force_and_ignores_chunk_size():
    real, fake = _feats(120, 10, 11), _feats(90, 10, 12, shift=0.4, scale=1.3)
    want = _prdc_brute(real, fake)
    for chunk in (1, 7, 1000):
        got = prdc(real, fake, chunk=chunk)
        for k in want:
            assert got[k] == pytest.approx(want[k], abs=1e-12), (k, chunk)


def test_prdc_known_answers_on_gaussians():
    rng = np.random.default_rng(13)
    n, d = 2000, 8
    real = rng.normal(size=(n, d))
    same = prdc(real, rng.normal(size=(n, d)))
    # Naeem et al.: E[density] = 1 and E[coverage] ~= 1 - 2^-k (k=5) for two samples of one distribution
    assert same["density"] == pytest.approx(1.0, abs=0.08)
    assert same["coverage"] == pytest.approx(1 - 2**-5, abs=0.02)
    assert same["precision"] > 0.6 and same["recall"] > 0.6
    assert abs(same["precision"] - same["recall"]) < 0.05  # symmetric situation
    far = prdc(real, rng.normal(size=(n, d)) + 20.0)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    collapsed = prdc(real, 0.1 * rng.normal(size=(n, d)))  # fakes all near the real mode: faithful, not diverse
    assert collapsed["precision"] > 0.95 and collapsed["recall"] < 0.05 and collapsed["coverage"] < 0.2
    wide = prdc(real, 3.0 * rng.normal(size=(n, d)))  # diverse but mostly off the data
    assert wide["precision"] < 0.2 and wide["recall"] > 0.8
