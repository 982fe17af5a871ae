"""The background remedy: q = (1 - eps) sum_j S_j K_j + eps u."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from _examples import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from kdeloss import (
    bin_centers,
    bin_grad,
    log_density,
    loss,
    loss_and_grad,
    model_probability,
    softmax,
)
from kdeloss import symbolic as ks


@settings(max_examples=examples(200), deadline=None, derandomize=True)
@given(
    st.integers(1, 6).flatmap(
        lambda n: st.tuples(
            st.lists(st.floats(-3, 3), min_size=n, max_size=n),
            st.lists(st.floats(-4, 4), min_size=n, max_size=n),
        )
    ),
    st.floats(0.0, 0.99),
    st.sampled_from(["laplace", "gaussian", "vonmises"]),
)
def test_gradient_is_plain_times_model_probability(zx, eps, kernel) -> None:
    """Theorem: per bin, the gradient is pi(t) times the plain gradient S - r(t)."""
    z, x = map(np.array, zx)
    t = bin_centers(-0.5, 1.5, 9)
    u = 1 / 2.0
    plain = bin_grad(z, x, t, kernel=kernel)
    pi = model_probability(z, x, t, kernel=kernel, background=eps, background_density=u)
    damped = bin_grad(z, x, t, kernel=kernel, background=eps, background_density=u)
    np.testing.assert_allclose(damped, pi[:, None] * plain, atol=1e-15)
    _, g = loss_and_grad(z, x, -0.5, 1.5, kernel=kernel, bins=9, background=eps)
    np.testing.assert_allclose(g, damped.mean(axis=0), atol=1e-15)
    assert abs(g.sum()) < 1e-14


def test_matches_finite_differences_and_complex_step() -> None:
    rng = np.random.default_rng(11)
    z = rng.normal(size=5)
    x = rng.uniform(-3, 4, size=5)
    L, g = loss_and_grad(z, x, 0.0, 1.0, bins=32, background=0.2)
    assert L == pytest.approx(loss(z, x, 0.0, 1.0, bins=32, background=0.2), rel=1e-15)
    h = 1e-40
    cs = [loss(z + 1j * h * e, x, 0.0, 1.0, bins=32, background=0.2).imag / h for e in np.eye(5)]
    np.testing.assert_allclose(cs, g, rtol=1e-12, atol=1e-16)


def test_symbolic_theorem() -> None:
    z, K = ks.make_symbols(3)
    eps, u = sp.symbols("epsilon u", positive=True)
    lb = ks.background_loss(z, K, eps, u)
    for zi, c in zip(z, ks.background_closed_form(z, K, eps, u), strict=True):
        assert sp.simplify(sp.diff(lb, zi) - c) == 0
    # eps = 0 gives back the plain loss
    assert sp.simplify(lb.subs(eps, 0) - ks.bin_loss(z, K)) == 0


def test_log_density_with_background() -> None:
    z = np.array([0.3, -0.1])
    x = np.array([0.0, 2.0])
    t = np.linspace(-1, 3, 7)
    q0 = np.exp(log_density(z, x, t))
    qb = np.exp(log_density(z, x, t, background=0.1, background_density=0.25))
    np.testing.assert_allclose(qb, 0.9 * q0 + 0.1 * 0.25, rtol=1e-14)


def test_far_points_learn_slowly_with_background_but_not_without() -> None:
    z = np.array([0.0, 0.5, -0.5])
    near = np.array([0.2, 0.9, 1.6])
    far = near + 60.0
    _, g_near = loss_and_grad(z, near, 0.0, 1.0, background=0.05)
    _, g_far = loss_and_grad(z, far, 0.0, 1.0, background=0.05)
    _, p_near = loss_and_grad(z, near, 0.0, 1.0)
    _, p_far = loss_and_grad(z, far, 0.0, 1.0)
    assert np.all(np.isfinite(g_far))
    assert np.abs(g_far).max() < 1e-20 * np.abs(g_near).max()
    assert np.abs(p_far).max() > 0.1 * np.abs(p_near).max()  # the plain loss does not damp


def test_background_covers_bins_the_box_misses() -> None:
    """With a background an uncovered bin is fine: pi = 0 there and its gradient is 0."""
    z = np.array([0.0, 0.0])
    x = np.array([0.0, 0.4])
    with pytest.raises(ValueError, match="covered by no kernel"):
        loss_and_grad(z, x, 0.0, 1.0, kernel="box", bandwidth=0.5, bins=4)
    L, g = loss_and_grad(z, x, 0.0, 1.0, kernel="box", bandwidth=0.5, bins=4, background=0.1)
    assert np.isfinite(L) and np.all(np.isfinite(g))
    g_bins = bin_grad(z, x, bin_centers(0, 1, 4), kernel="box", bandwidth=0.5, background=0.1)
    np.testing.assert_array_equal(g_bins[3], 0.0)
    np.testing.assert_allclose(g, g_bins.mean(axis=0), atol=1e-16)


def test_zero_background_is_the_plain_loss() -> None:
    z = np.array([0.4, -0.2, 0.1])
    x = np.array([-1.0, 0.5, 2.0])
    L0, g0 = loss_and_grad(z, x, 0.0, 1.0)
    L1, g1 = loss_and_grad(z, x, 0.0, 1.0, background=0.0)
    assert L0 == L1
    np.testing.assert_array_equal(g0, g1)
    assert softmax(z).sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kw", "pattern"),
    [
        ({"background": 1.0}, r"^background: must be in \[0, 1\)"),
        ({"background": -0.1}, r"^background: must be in \[0, 1\)"),
        ({"background": np.nan}, r"^background: expected a finite number"),
        ({"background": "0.1"}, r"^background: expected a real number"),
    ],
)
def test_bad_background(kw, pattern) -> None:
    with pytest.raises(ValueError, match=pattern):
        loss_and_grad([0.0], [0.0], 0.0, 1.0, **kw)
    with pytest.raises(ValueError, match=pattern):
        bin_grad([0.0], [0.0], 0.5, **kw)


def test_bad_background_density() -> None:
    with pytest.raises(ValueError, match=r"^background_density: must be > 0"):
        bin_grad([0.0], [0.0], 0.5, background=0.1, background_density=0.0)
