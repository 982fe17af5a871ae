"""kdeloss.book.targets: smoothed-label targets, categorical cross-entropy, the box tiling."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

import kdeloss
import kdeloss.testing
from kdeloss.book import targets as kt

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("y", "sigma"), [(0.5, 0.25), (0.1, 0.05), (-0.3, 0.4), (0.97, 0.01)])
def test_gaussian_target_matches_scipy_where_scipy_is_accurate(y, sigma):
    edges = np.linspace(0.0, 1.0, 17)
    lo, hi = edges[:-1], edges[1:]
    # Upper-tail bins as differences of survival functions, so scipy keeps their digits.
    mass = np.where(
        lo > y,
        norm.sf(lo, loc=y, scale=sigma) - norm.sf(hi, loc=y, scale=sigma),
        norm.cdf(hi, loc=y, scale=sigma) - norm.cdf(lo, loc=y, scale=sigma),
    )
    want = mass / mass.sum()
    got = kt.gaussian_bin_target(y, 0.0, 1.0, 16, sigma)
    assert np.allclose(got, want, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("y", [40.0, -40.0, 1e6, -1e6])
def test_gaussian_target_far_label_goes_to_the_nearest_bin(y):
    w = kt.gaussian_bin_target(y, 0.0, 1.0, 8, 0.1)
    assert np.isfinite(w).all() and abs(w.sum() - 1.0) < 1e-15
    assert w[-1 if y > 0 else 0] == 1.0


def test_gaussian_target_far_label_keeps_the_tail_shape():
    # 30 sigma away: the masses underflow as plain numbers; their ratios must not.
    w = kt.gaussian_bin_target(4.0, 0.0, 1.0, 4, 0.1)
    # Ratio of the last two bins' masses, from the Gaussian tail (Mills ratio is enough
    # to tell "exact" from "0/0").
    assert w[-1] > 0.99 and 0 < w[-2] < 1e-10


@pytest.mark.parametrize("y", [0.0, 0.2, 0.3, 0.5, 0.875, 1.0])
def test_two_hot_sums_to_one_and_has_mean_y(y):
    w = kt.two_hot_target(y, 0.0, 1.0, 4)
    t = kdeloss.bin_centers(0.0, 1.0, 4)
    assert abs(w.sum() - 1.0) < 1e-15 and (w >= 0).all() and np.count_nonzero(w) <= 2
    assert abs(w @ t - np.clip(y, t[0], t[-1])) < 1e-15


def test_label_smoothing():
    w = kt.smoothed_label_target(0.99, 0.0, 1.0, 5, 0.1)
    assert abs(w.sum() - 1.0) < 1e-15 and w.argmax() == 4
    with pytest.raises(ValueError, match=r"^alpha"):
        kt.smoothed_label_target(0.5, 0.0, 1.0, 5, 1.5)


def test_categorical_cross_entropy_gradient_by_central_differences():
    rng = np.random.default_rng(0)
    z, p = rng.normal(size=6), rng.uniform(size=6)
    _, g = kt.categorical_cross_entropy(z, p)
    f = lambda zz: kt.categorical_cross_entropy(zz, p)[0]  # noqa: E731
    num = kdeloss.testing.central_difference(f, z, 1e-5)
    assert np.abs(g - num).max() < 1e-9 and abs(g.sum()) < 1e-15
    with pytest.raises(ValueError, match=r"^target"):
        kt.categorical_cross_entropy(z, -p)


def test_box_tiling_is_the_histogram_loss():
    rng = np.random.default_rng(1)
    cells, width = kt.box_tiling(-1.0, 3.0, 5)
    z, w = rng.normal(size=5), rng.uniform(size=40)
    L, g = kdeloss.loss_and_grad(z, cells, -1.0, 3.0, kernel="box", bandwidth=width, bins=40,
                                 target=w)
    Lce, gce = kt.categorical_cross_entropy(z, w.reshape(5, 8).sum(axis=1))
    assert abs(L - (Lce + np.log(width))) < 1e-14 and np.abs(g - gce).max() < 1e-15


def test_side_by_side_gradients_sum_to_zero_and_push_toward_the_label():
    s = kt.side_by_side(np.zeros(8), 0.0, 8.0, (2.0, 3.0))
    for g in (s.hl_grad, s.kde_grad):
        assert abs(g.sum()) < 1e-15 and g.argmin() == 2
    assert abs(s.hl_target.sum() - 1.0) < 1e-15


def test_related_losses_cite_keys_in_the_bibliography():
    bib = (ROOT / "book" / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    for r in kt.RELATED_LOSSES:
        for key in r.cite.split(","):
            assert key in keys, key
