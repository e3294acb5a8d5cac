"""Mode counting on hand-placed points, where the right answer is known by construction."""
import numpy as np
import pytest

from mspgsen.data.toy import mixture_centers, mixture_sigma, sample_mixture
from mspgsen.errors import MspgsenError
from mspgsen.metrics.modes import stacked_mode_coverage, toy_mode_coverage


@pytest.mark.parametrize("name,modes", [("ring8", 8), ("grid25", 25)])
def test_real_samples_cover_all_modes(name, modes):
    pts, _ = sample_mixture(name, 5000, seed=3)
    r = toy_mode_coverage(pts, name)
    assert r["num_modes"] == modes and r["modes_covered"] == modes
    assert r["hq_share"] == pytest.approx(1 - np.exp(-4.5), abs=0.01)  # 3 sigma in 2-D holds 98.9% of a Gaussian


def test_hand_placed_points():
    c = mixture_centers("grid25")
    s = mixture_sigma("grid25")
    # 3 points exactly on modes 0, 1, 7; one inside 3 sigma of mode 12; two far off any mode
    pts = np.concatenate([c[[0, 1, 7]], c[[12]] + [2.9 * s, 0.0], [[1.0, 1.0], [10.0, 10.0]]])
    r = toy_mode_coverage(pts, "grid25")
    assert r["modes_covered"] == 4
    assert r["hq_share"] == pytest.approx(4 / 6)
    assert r["mode_counts"][12] == 1 and sum(r["mode_counts"]) == 4


def test_just_outside_three_sigma_is_not_covered():
    c = mixture_centers("ring8")
    s = mixture_sigma("ring8")
    pts = c[[2]] + [[0.0, 3.1 * s]]
    r = toy_mode_coverage(pts, "ring8")
    assert r["modes_covered"] == 0 and r["hq_share"] == 0.0


def test_collapsed_generator_and_nan():
    c = mixture_centers("ring8")
    pts = np.repeat(c[[5]], 100, 0)
    pts[0] = np.nan
    r = toy_mode_coverage(pts, "ring8")
    assert r["modes_covered"] == 1 and r["hq_share"] == pytest.approx(0.99)


def test_bad_input_is_a_user_error():
    with pytest.raises(MspgsenError):
        toy_mode_coverage(np.zeros((4, 3)), "ring8")
    with pytest.raises(MspgsenError):
        toy_mode_coverage(np.zeros((4, 2)), "ring9")


def test_stacked_uniform_and_collapsed():
    rng = np.random.default_rng(0)
    every = np.stack(np.meshgrid(*[np.arange(10)] * 3, indexing="ij"), -1).reshape(-1, 3)
    r = stacked_mode_coverage(every)
    assert r["modes_covered"] == 1000 and r["kl_to_uniform"] == pytest.approx(0.0, abs=1e-12)
    collapsed = np.tile([[1, 2, 3]], (50, 1))
    r = stacked_mode_coverage(collapsed)
    assert r["modes_covered"] == 1 and r["kl_to_uniform"] == pytest.approx(np.log(1000))
    half = every[rng.permutation(1000)[:500]]
    r = stacked_mode_coverage(half)
    assert r["modes_covered"] == 500 and r["kl_to_uniform"] == pytest.approx(np.log(2))
