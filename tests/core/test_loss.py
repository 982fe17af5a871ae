"""Values, shapes and exactness of the loss, gradient and responsibilities."""

from __future__ import annotations

import numpy as np
import pytest

import kdeloss
from kdeloss import (
    bin_centers,
    bin_grad,
    log_density,
    loss,
    loss_and_grad,
    naive_bin_grad,
    naive_loss_and_grad,
    responsibilities,
    softmax,
)
from kdeloss.testing import reference_at

RNG_SEED = 20220205  # the date of the talk page


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(RNG_SEED)


def test_public_api_names() -> None:
    for name in ("loss_and_grad", "bin_grad", "responsibilities", "log_density", "get_kernel"):
        assert callable(getattr(kdeloss, name))


def test_bin_centers_are_midpoints() -> None:
    t = bin_centers(-1.0, 3.0, 4)
    np.testing.assert_array_equal(t, [-0.5, 0.5, 1.5, 2.5])


@pytest.mark.parametrize("kernel", ["laplace", "gaussian", "vonmises"])
def test_matches_high_precision_reference(rng, kernel) -> None:
    z = rng.normal(size=6)
    x = rng.uniform(-1.5, 2.5, size=6)
    t = bin_centers(0.0, 1.0, 16)
    h = 0.4 if kernel == "vonmises" else 0.7  # von Mises: |t - x| < pi, so no wrap needed
    L, g = loss_and_grad(z, x, 0.0, 1.0, kernel=kernel, bandwidth=h, bins=16)
    Lref, gref, _, _ = reference_at(z, x, t, kernel=kernel, bandwidth=h)
    assert L == pytest.approx(Lref, rel=1e-13)
    np.testing.assert_allclose(g, gref, rtol=1e-11, atol=1e-15)


@pytest.mark.parametrize("kernel", ["laplace", "gaussian"])
@pytest.mark.parametrize("side", [1.0, -1.0])
@pytest.mark.parametrize("h", [1.0, 0.37])
def test_far_points_are_exact(rng, kernel, side, h) -> None:
    """Points 10^6 bandwidths from the target: finite, and exact to 1e-12 relative."""
    n = 7
    z = rng.normal(size=n)
    x = 0.5 + side * (1e6 * h + rng.uniform(0.0, 3.0 * h, size=n))
    t = bin_centers(0.0, 1.0, 8)
    L, g = loss_and_grad(z, x, 0.0, 1.0, kernel=kernel, bandwidth=h, bins=8)
    Lref, gref, _, rref = reference_at(z, x, t, kernel=kernel, bandwidth=h)
    assert np.isfinite(L) and np.all(np.isfinite(g))
    assert L == pytest.approx(Lref, rel=1e-12)
    assert np.max(np.abs(g - gref)) <= 1e-12 * np.max(np.abs(gref))
    r = responsibilities(z, x, t, kernel=kernel, bandwidth=h)
    assert np.max(np.abs(r - rref)) <= 1e-12
    # and the literal density formula cannot do it: every K underflows to 0, 0/0 = NaN
    assert np.all(np.isnan(naive_bin_grad(z, x, t, kernel=kernel, bandwidth=h)))
    Ln, gn = naive_loss_and_grad(z, x, 0.0, 1.0, kernel=kernel, bandwidth=h, bins=8)
    assert Ln == np.inf and np.all(np.isnan(gn))


def test_far_points_on_both_sides(rng) -> None:
    """A target midway between two far clusters: both contribute, exactly."""
    z = rng.normal(size=4)
    x = np.array([-1e6, -1e6 - 0.5, 1e6 + 1.0, 1e6 + 0.25])
    t = bin_centers(-1.0, 1.0, 6)
    L, g = loss_and_grad(z, x, -1.0, 1.0, bins=6)
    Lref, gref, _, _ = reference_at(z, x, t, kernel="laplace", bandwidth=1.0)
    assert L == pytest.approx(Lref, rel=1e-12)
    assert np.max(np.abs(g - gref)) <= 1e-12 * np.max(np.abs(gref))


def test_naive_agrees_where_it_works(rng) -> None:
    z = rng.normal(size=5)
    x = rng.uniform(-1, 2, size=5)
    L, g = loss_and_grad(z, x, 0.0, 1.0, bins=32)
    Ln, gn = naive_loss_and_grad(z, x, 0.0, 1.0, bins=32)
    assert Ln == pytest.approx(L, rel=1e-13)
    np.testing.assert_allclose(gn, g, atol=1e-14)


def test_shapes_scalar_and_array_t(rng) -> None:
    z = rng.normal(size=5)
    x = rng.normal(size=5)
    assert bin_grad(z, x, 0.3).shape == (5,)
    assert bin_grad(z, x, np.array([0.3, 0.4, 0.5])).shape == (3, 5)
    assert responsibilities(z, x, 0.3).shape == (5,)
    assert responsibilities(z, x, [0.3, 0.4]).shape == (2, 5)
    assert isinstance(log_density(z, x, 0.3), float)
    assert log_density(z, x, [0.3, 0.4]).shape == (2,)
    L, g = loss_and_grad(z, x, 0.0, 1.0, bins=3)
    assert isinstance(L, float) and g.shape == (5,)


def test_bin_grad_is_weight_minus_responsibility(rng) -> None:
    z = rng.normal(size=6)
    x = rng.normal(size=6)
    t = np.linspace(-1, 1, 5)
    np.testing.assert_allclose(
        bin_grad(z, x, t), softmax(z)[None, :] - responsibilities(z, x, t), atol=0
    )


def test_loss_and_grad_is_mean_of_bins(rng) -> None:
    z = rng.normal(size=6)
    x = rng.normal(size=6)
    t = bin_centers(-0.5, 1.5, 10)
    L, g = loss_and_grad(z, x, -0.5, 1.5, kernel="gaussian", bandwidth=0.3, bins=10)
    assert L == pytest.approx(-np.mean(log_density(z, x, t, kernel="gaussian", bandwidth=0.3)))
    np.testing.assert_allclose(
        g, bin_grad(z, x, t, kernel="gaussian", bandwidth=0.3).mean(axis=0), atol=1e-16
    )


def test_complex_step_matches_gradient(rng) -> None:
    z = rng.normal(size=5)
    x = rng.uniform(-1, 2, size=5)
    _, g = loss_and_grad(z, x, 0.0, 1.0, bins=20)
    eps = 1e-40
    cs = np.array([loss(z + 1j * eps * e, x, 0.0, 1.0, bins=20).imag / eps for e in np.eye(5)])
    np.testing.assert_allclose(cs, g, rtol=1e-13, atol=1e-16)


def test_box_kernel_is_softmax_cross_entropy() -> None:
    z = np.array([0.2, -1.0, 0.7, 0.1])
    x = np.array([0.0, 1.0, 2.0, 3.0])
    g = bin_grad(z, x, 2.1, kernel="box", bandwidth=0.5)
    np.testing.assert_allclose(g, softmax(z) - np.eye(4)[2], atol=1e-16)


def test_vonmises_wraps(rng) -> None:
    z = rng.normal(size=4)
    x = rng.uniform(-np.pi, np.pi, size=4)
    g1 = bin_grad(z, x, 0.3, kernel="vonmises", bandwidth=0.5)
    g2 = bin_grad(
        z, x + 2 * np.pi * np.array([1, -3, 0, 5]), 0.3, kernel="vonmises", bandwidth=0.5
    )
    np.testing.assert_allclose(g1, g2, atol=1e-14)


def test_vonmises_large_kappa_is_finite() -> None:
    L, g = loss_and_grad([0.0, 1.0], [0.0, 3.0], -0.1, 0.1, kernel="vonmises", bandwidth=1e-3)
    assert np.isfinite(L) and np.all(np.isfinite(g))
