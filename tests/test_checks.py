"""kdeloss.book.checks: each helper against a case with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

import kdeloss
from kdeloss.book import checks

Z = np.array([0.3, -0.4, 0.2, 0.0])
X = np.array([-1.6, -0.35, 0.45, 2.1])
A, B = -1.0, 1.0


# --- derivatives ------------------------------------------------------------------------


def test_central_difference_is_exact_for_quadratics():
    f = lambda v: float(3.0 * v[0] ** 2 - 2.0 * v[0] * v[1] + v[1])  # noqa: E731
    z = np.array([0.7, -1.3])
    assert checks.central_difference(f, z, 0, 0.125) == pytest.approx(6 * 0.7 + 2.6, abs=1e-14)
    assert checks.central_difference(f, z, 1, 0.125) == pytest.approx(-1.4 + 1.0, abs=1e-14)


def test_central_difference_uses_the_step_actually_taken():
    # 1e-17 added to 1.0 is lost: both arguments round to 1.0 and the quotient is 0/0.
    with np.errstate(invalid="ignore"):
        d = checks.central_difference(lambda v: float(v[0]), np.array([1.0]), 0, 1e-17)
    assert np.isnan(d)


def test_complex_step_exact_for_analytic_and_zero_for_abs():
    for x0 in [-2.0, 0.3, 5.0]:
        assert checks.complex_step_derivative(np.sin, x0) == pytest.approx(np.cos(x0), rel=1e-15)
        assert checks.complex_step_derivative(lambda d: np.exp(-np.abs(d)), x0) == 0.0


@pytest.mark.parametrize("kernel", ["laplace", "gaussian", "vonmises"])
def test_the_three_gradients_agree_with_kdeloss(kernel):
    opts = {"kernel": kernel, "bandwidth": 0.7, "bins": 32}
    _, g = kdeloss.loss_and_grad(Z, X, A, B, **opts)
    np.testing.assert_allclose(checks.fd_gradient(Z, X, A, B, **opts), g, rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        checks.complex_step_gradient(Z, X, A, B, **opts), g, rtol=0, atol=1e-15
    )
    np.testing.assert_allclose(
        checks.lambdify_loss_grad(Z, X, A, B, **opts), g, rtol=0, atol=1e-15
    )


def test_lambdify_bin_grad_shapes_follow_bin_grad():
    t = np.array([-0.5, 0.0, 0.5])
    assert checks.lambdify_bin_grad(Z, X, t).shape == (3, 4)
    assert checks.lambdify_bin_grad(Z, X, 0.1).shape == (4,)


def test_random_cases_are_reproducible_and_in_range():
    c1 = checks.random_cases(20, seed=5)
    c2 = checks.random_cases(20, seed=5)
    for u, v in zip(c1, c2, strict=True):
        np.testing.assert_array_equal(u.z, v.z)
        assert (u.a, u.b, u.kernel, u.bins) == (v.a, v.b, v.kernel, v.bins)
        assert 2 <= u.z.size <= 6 and u.z.size == u.x.size
        assert -2.5 <= u.a < u.b <= 2.5 and 8 <= u.bins <= 200
        assert np.all(np.abs(u.x) < np.pi)


def test_check_gradients_reports_one_error_per_case():
    res = checks.check_gradients(checks.random_cases(4, seed=1))
    assert res.fd.shape == res.complex_step.shape == res.lambdify_bins.shape == (4,)
    assert set(res.worst()) == {"fd", "complex_step", "lambdify_bins", "lambdify_loss"}
    assert res.step == pytest.approx(checks.EPS ** (1 / 3))


# --- step size ----------------------------------------------------------------------------


def test_step_sweep_model():
    sw = checks.fd_step_sweep(Z, X, A, B, np.logspace(-1, -12, 23), kernel="gaussian")
    # The model's minimiser and minimum are where the two terms' derivatives cancel.
    h = sw.predicted_step
    assert sw.truncation([h])[0] * 2 == pytest.approx(sw.roundoff([h])[0], rel=1e-12)
    assert sw.predicted_error == pytest.approx(1.5 * sw.roundoff([h])[0], rel=1e-12)
    # Large steps: truncation, exactly as modelled.
    big = sw.steps >= 1e-3
    np.testing.assert_allclose(sw.errors[big], sw.truncation()[big], rtol=0.05)
    assert sw.best_error == sw.errors.min() and sw.best_step in sw.steps


def test_third_derivative_against_complex_step_of_fd():
    # d^3 L / dz^3 by a wide central difference of the second derivative, a rough check.
    sw = checks.fd_step_sweep(Z, X, A, B, [1e-3], kernel="laplace", bins=64)
    h = 1e-2

    def g0(v):
        return kdeloss.loss_and_grad(v, X, A, B, bins=64)[1][0]

    e = np.array([h, 0.0, 0.0, 0.0])
    third = (g0(Z + e) - 2 * g0(Z) + g0(Z - e)) / h**2
    assert sw.third == pytest.approx(third, rel=1e-3)


# --- the integral and the binning error ------------------------------------------------------


def test_kinks():
    np.testing.assert_array_equal(checks.kinks(X, A, B), [-0.35, 0.45])
    assert checks.kinks(X, A, B, kernel="gaussian").size == 0
    np.testing.assert_allclose(
        checks.kinks(np.array([0.0]), A, B, kernel="box", bandwidth=1.0), [-0.5, 0.5]
    )


def test_reference_loss_closed_form_one_side():
    # Every point left of a: L = (a + b)/(2h) + log(2h) - log sum_j S_j e^{x_j/h}.
    x = np.array([-3.0, -2.2, -1.7, -1.2])
    h = 0.5
    s = kdeloss.softmax(Z)
    exact = (A + B) / (2 * h) + np.log(2 * h) - np.log(np.sum(s * np.exp(x / h)))
    assert checks.reference_loss(Z, x, A, B, bandwidth=h) == pytest.approx(exact, abs=1e-14)
    g = checks.reference_gradient(Z, x, A, B, bandwidth=h)
    np.testing.assert_allclose(g, s - kdeloss.softmax(Z + x / h), rtol=0, atol=1e-14)


@pytest.mark.parametrize("kernel", ["laplace", "gaussian"])
def test_reference_is_the_limit_of_the_binned_loss(kernel):
    ref = checks.reference_loss(Z, X, A, B, kernel=kernel, bandwidth=0.5)
    big = kdeloss.loss(Z, X, A, B, kernel=kernel, bandwidth=0.5, bins=20000)
    assert big == pytest.approx(ref, abs=1e-8)  # the binning error is below 1e-8 here
    g = checks.reference_gradient(Z, X, A, B, kernel=kernel, bandwidth=0.5)
    _, gb = kdeloss.loss_and_grad(Z, X, A, B, kernel=kernel, bandwidth=0.5, bins=20000)
    np.testing.assert_allclose(gb, g, rtol=0, atol=1e-9)
    assert abs(g.sum()) < 1e-14


def test_orders():
    m = [10, 20, 40, 80]
    e = 3.0 / np.array(m, dtype=float) ** 2
    np.testing.assert_allclose(checks.local_orders(m, e), 2.0)
    assert checks.fitted_order(m, -e) == pytest.approx(2.0)


def test_midpoint_error_model_single_kink_is_exact():
    # One Laplace point inside: log q = -|t - x|/h - log(2h) is piecewise linear, so the
    # remainder of the theorem vanishes and the model is exact to round-off.
    x = np.array([0.3])
    ms = np.array([3, 40, 41, 97, 200])
    err = checks.binning_errors(Z[:1], x, A, B, ms, bandwidth=0.5)
    mod = checks.midpoint_error_model(Z[:1], x, A, B, ms, bandwidth=0.5)
    np.testing.assert_allclose(err, mod, rtol=0, atol=1e-14)
    assert np.ptp(ms**2 * err) > 0.1  # and erratic: the scaled error is not constant


def test_midpoint_error_model_two_kinks():
    ms = np.array([64, 65, 127, 400])
    err = checks.binning_errors(Z, X, A, B, ms, bandwidth=0.5)
    mod = checks.midpoint_error_model(Z, X, A, B, ms, bandwidth=0.5)
    assert np.all(np.abs(err - mod) <= 5.0 / ms.astype(float) ** 3)


def test_midpoint_error_model_rejects_unsupported_kernels():
    with pytest.raises(ValueError, match="kernel"):
        checks.midpoint_error_model(Z, X, A, B, [8], kernel="box", bandwidth=1.0)


def test_binning_study_doubling_orders():
    st = checks.binning_study(Z, X, A, B, [8, 9, 16, 32, 64], kernel="gaussian", bandwidth=0.5)
    assert st.doubling_orders(8).shape == (3,)
    assert st.scaled_errors.shape == st.scaled_model.shape == (5,)
    assert st.kinks.size == 0
    assert st.max_abs_error == pytest.approx(np.abs(st.errors).max())


# --- high precision, optimality ---------------------------------------------------------------


@pytest.mark.parametrize("kernel", ["laplace", "gaussian", "vonmises"])
def test_mp_reference_matches_kdeloss(kernel):
    L, g = kdeloss.loss_and_grad(Z, X, A, B, kernel=kernel, bandwidth=0.4, bins=16)
    Lm, gm = checks.mp_loss_and_grad(Z, X, A, B, kernel=kernel, bandwidth=0.4, bins=16)
    assert Lm == pytest.approx(L, rel=1e-15)
    np.testing.assert_allclose(gm, g, rtol=0, atol=1e-15)


def test_mp_reference_rejects_kernels_it_cannot_evaluate():
    with pytest.raises(ValueError, match=r"^kernel"):
        checks.mp_loss_and_grad(Z, X, A, B, kernel="cauchy")
    with pytest.raises(ValueError, match=r"^kernel"):  # no mpmath form
        checks.mp_loss_and_grad(Z, X, A, B, kernel="wrapped_laplace")


def test_kkt_ratios_weighted_sum_is_one_and_give_the_gradient():
    opts = {"kernel": "laplace", "bandwidth": 0.5, "bins": 64}
    u = checks.kkt_ratios(Z, X, A, B, **opts)
    s = kdeloss.softmax(Z)
    assert float(s @ u) == pytest.approx(1.0, abs=1e-14)
    _, g = kdeloss.loss_and_grad(Z, X, A, B, **opts)
    np.testing.assert_allclose(g, s * (1 - u), rtol=0, atol=1e-15)


def test_convexity_gaps_are_reproducible():
    g1 = checks.convexity_gaps(X, A, B, samples=5, seed=3)
    g2 = checks.convexity_gaps(X, A, B, samples=5, seed=3)
    np.testing.assert_array_equal(g1, g2)


# --- symbolic steps ----------------------------------------------------------------------------


def test_in_weights_and_indexed_derivation():
    import sympy as sp

    from kdeloss.symbolic import gradient, make_symbols

    z, K = make_symbols(3)
    S = sp.symbols("S1:4", positive=True)
    q = sum(si * ki for si, ki in zip(S, K, strict=True))
    for i in range(3):
        expr = checks.in_weights(gradient(z, K)[i], z, S)
        assert sp.simplify(expr - (S[i] - S[i] * K[i] / q)) == 0
    d = checks.indexed_derivation()
    assert d.difference == 0
    assert d.derivative.has(sp.KroneckerDelta)
    assert not d.sifted.has(sp.KroneckerDelta)
