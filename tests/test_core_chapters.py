"""The claims of the chapters "Deriving the gradient", "Checking it numerically" and
"Weight minus responsibility", checked against kdeloss directly (no notebook is executed).

Each test uses the same problem, seed and threshold logic as the chapter that shows it, so
the book's statements hold even when the book is not built.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import kdeloss
from kdeloss.book import checks
from kdeloss.symbolic import closed_form, gradient, gradient_matches_closed_form, make_symbols

# The binning-error problem (numerical-checks) and the derivation's numeric check.
ZB = np.array([0.3, -0.4, 0.2, 0.0])
INSIDE = np.array([-1.6, -0.35, 0.45, 2.1])
LEFT = np.array([-3.0, -2.2, -1.7, -1.2])
A, B = -1.0, 1.0


# --- Deriving the gradient ----------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_thm_bin_grad_sympy(n):
    assert gradient_matches_closed_form(n)


def test_thm_bin_grad_steps_for_three_points():
    z, K = make_symbols(3)
    diffs = [sp.simplify(g - c) for g, c in zip(gradient(z, K), closed_form(z, K), strict=True)]
    assert diffs == [0, 0, 0]
    w = sp.symbols("S1:4", positive=True)
    dl_w = sp.factor(checks.in_weights(gradient(z, K)[0], z, w))
    q = sum(wj * kj for wj, kj in zip(w, K, strict=True))
    assert sp.simplify(dl_w - (w[0] - w[0] * K[0] / q)) == 0


def test_thm_bin_grad_general_n():
    assert checks.indexed_derivation().difference == 0


def test_thm_bin_grad_bounds_and_sum():
    rng = np.random.default_rng(0)
    for _ in range(50):
        z = rng.normal(size=5)
        x = rng.uniform(-3, 3, size=5)
        g = kdeloss.bin_grad(z, x, rng.uniform(-1, 1), bandwidth=0.7)
        s = kdeloss.softmax(z)
        assert abs(g.sum()) < 1e-15
        assert np.all(g < s) and np.all(g > s - 1)


@pytest.mark.parametrize("kernel", ["laplace", "gaussian"])
def test_thm_loss_grad_on_the_integral(kernel):
    opts = {"kernel": kernel, "bandwidth": 0.5}
    rhs = checks.reference_gradient(ZB, INSIDE, A, B, **opts)

    def L(v):
        return checks.reference_loss(v, INSIDE, A, B, **opts)

    lhs = np.array([checks.central_difference(L, ZB, k, 1e-4) for k in range(ZB.size)])
    assert np.abs(lhs - rhs).max() < 1e-8
    errs = [
        np.abs(kdeloss.loss_and_grad(ZB, INSIDE, A, B, bins=m, **opts)[1] - rhs).max()
        for m in [16, 64, 256, 1024]
    ]
    ratios = np.array(errs[:-1]) / np.array(errs[1:])
    assert np.all((ratios > 12) & (ratios < 20))  # about 16: second order


# --- Checking it numerically ------------------------------------------------------------


def test_three_independent_gradients_over_random_cases():
    res = checks.check_gradients(checks.random_cases(200, seed=2022))
    worst = res.worst()
    assert worst["fd"] < 1e-8
    assert worst["complex_step"] < 1e-13
    assert worst["lambdify_bins"] < 1e-13
    assert worst["lambdify_loss"] < 1e-13


def test_fd_step_sweep_is_a_v():
    z = np.array([0.4, -0.3, 0.1])
    x = np.array([-0.8, 0.5, 2.0])
    sw = checks.fd_step_sweep(
        z, x, A, B, np.logspace(-1, -13, 49), kernel="gaussian", bandwidth=0.6, bins=128
    )
    assert sw.best_error < 1e-10
    assert 1e-7 < sw.best_step < 1e-3
    # The right arm has slope 2; the left arm grows again by orders of magnitude.
    big = sw.steps >= 1e-3
    slope = np.polyfit(np.log(sw.steps[big]), np.log(sw.errors[big]), 1)[0]
    assert slope == pytest.approx(2.0, abs=0.02)
    assert sw.errors[-1] > 1e5 * sw.best_error
    # The model of the theorem is an envelope of the measured errors (round-off scatters
    # below it), its minimum is the size of the best error, and far from h* the errors are
    # much larger.
    assert np.all(sw.errors <= 1.05 * sw.model())
    assert sw.predicted_error / 10 < sw.best_error <= sw.predicted_error
    assert sw.errors[0] > 1e4 * sw.predicted_error
    assert sw.errors[-1] > 1e4 * sw.predicted_error


def test_complex_step_fails_through_abs_and_positions_are_rejected():
    d0 = 0.7
    assert checks.complex_step_derivative(lambda d: np.exp(-np.abs(d)), d0) == 0.0
    gauss = checks.complex_step_derivative(lambda d: np.exp(-(d**2) / 2), d0)
    assert gauss == pytest.approx(-d0 * np.exp(-(d0**2) / 2), rel=1e-15)
    with pytest.raises(ValueError, match="x: expected real numbers"):
        kdeloss.loss(ZB, INSIDE + 1e-30j, A, B)


@pytest.fixture(scope="module")
def studies():
    ms = np.arange(8, 513)
    return {
        "gauss": checks.binning_study(ZB, INSIDE, A, B, ms, kernel="gaussian", bandwidth=0.5),
        "inside": checks.binning_study(ZB, INSIDE, A, B, ms, bandwidth=0.5),
        "left": checks.binning_study(ZB, LEFT, A, B, ms, bandwidth=0.5),
    }


def test_binning_gaussian_is_clean_second_order(studies):
    st = studies["gauss"]
    assert st.fitted_order() == pytest.approx(2.0, abs=0.01)
    np.testing.assert_allclose(st.doubling_orders(16), 2.0, atol=0.02)
    cons = st.consecutive_orders()
    assert cons.min() > 1.95 and cons.max() < 2.1
    scaled = st.scaled_errors[st.bins >= 64]
    assert np.ptp(scaled) < 0.01 * np.abs(scaled).max()


def test_binning_laplace_inside_is_erratic(studies):
    st = studies["inside"]
    assert st.fitted_order() == pytest.approx(2.0, abs=0.1)  # bounded by C / M^2 ...
    cons = st.consecutive_orders()
    assert cons.min() < -100 and cons.max() > 100  # ... but no order from neighbours
    dbl = st.doubling_orders(16)
    assert np.ptp(dbl) > 1.0
    scaled = st.scaled_errors
    assert scaled.min() < 0 < scaled.max()  # the error even changes sign


def test_binning_laplace_one_side_is_exact(studies):
    assert studies["left"].max_abs_error <= 1e-12


def test_midpoint_kink_model_matches(studies):
    for st in studies.values():
        big = st.bins >= 64
        assert np.abs(st.errors - st.model)[big].max() < 1e-6


def test_naive_nan_far_away_while_kdeloss_is_exact():
    z3 = np.array([0.5, -0.2, 0.0])
    shape = np.array([0.0, 0.4, 1.1])
    for D, naive_ok in [(2.0, True), (700.0, True), (750.0, False), (1e6, False)]:
        xD = -D - shape
        L_n, g_n = kdeloss.naive_loss_and_grad(z3, xD, 0.0, 1.0, bins=64)
        L, g = kdeloss.loss_and_grad(z3, xD, 0.0, 1.0, bins=64)
        L_mp, g_mp = checks.mp_loss_and_grad(z3, xD, 0.0, 1.0, bins=64)
        assert np.all(np.isfinite(g_n)) == naive_ok
        assert np.isinf(L_n) != naive_ok
        assert abs(L - L_mp) <= 1e-15 * L_mp
        assert np.abs(g - g_mp).max() < 2e-15


# --- Weight minus responsibility ----------------------------------------------------------

X4 = np.array([-0.7, -0.1, 0.3, 0.8])
OPTS = {"kernel": "laplace", "bandwidth": 0.3, "bins": 256}


def test_responsibility_is_softmax_of_shifted_logits():
    z0 = np.array([0.5, -0.5, 0.0, 0.3])
    t = np.linspace(-1.5, 1.5, 31)
    r = kdeloss.responsibilities(z0, X4, t, bandwidth=0.3)
    logk = kdeloss.get_kernel("laplace", 0.3).logpdf(t[:, None] - X4[None, :])
    expected = np.array([kdeloss.softmax(z0 + row) for row in logk])
    np.testing.assert_allclose(r, expected, rtol=1e-13)


@pytest.fixture(scope="module")
def em_long():
    return kdeloss.em(np.zeros(4), X4, A, B, steps=2000, **OPTS)


def test_em_fixed_point_has_zero_gradient(em_long):
    assert np.abs(em_long.grad[-1]).max() < 1e-13
    u = checks.kkt_ratios(em_long.z[-1], X4, A, B, **OPTS)
    np.testing.assert_allclose(u, 1.0, atol=1e-12)
    assert em_long.weights[-1].min() > 0.1  # an interior optimum


def test_em_step_is_weights_minus_gradient_and_monotone():
    run = kdeloss.em(np.array([0.5, -0.5, 0.0, 0.3]), X4, A, B, steps=30, **OPTS)
    np.testing.assert_allclose(run.weights[1:], run.weights[:-1] - run.grad[:-1], atol=1e-15)
    assert np.all(np.diff(run.loss) <= 1e-15)


def test_em_versus_gd(em_long):
    L_star = em_long.loss[-1]
    em = kdeloss.em(np.zeros(4), X4, A, B, steps=150, **OPTS)
    gd = {
        lr: kdeloss.gradient_descent(np.zeros(4), X4, A, B, steps=150, lr=lr, **OPTS)
        for lr in [1.0, 5.0, 20.0]
    }
    assert em.loss[-1] - L_star < 1e-14
    assert gd[5.0].loss[-1] - L_star < 1e-14
    assert 1e-10 < gd[1.0].loss[-1] - L_star < 1e-5
    assert gd[20.0].loss[-1] - L_star > 1e-2  # too large a step does not converge


def test_convexity_in_the_weights():
    gaps = checks.convexity_gaps(X4, A, B, samples=300, seed=7, **OPTS)
    assert gaps.min() > -1e-14


def test_stationary_points_are_global_minima(em_long):
    # No weight vector beats the EM fixed point (random weights and the corners).
    rng = np.random.default_rng(11)
    best = em_long.loss[-1]
    trial = np.vstack([rng.dirichlet(np.ones(4), size=200), np.eye(4) * 0.999 + 0.00025])
    values = [kdeloss.loss(np.log(w), X4, A, B, **OPTS) for w in trial]
    assert min(values) >= best - 1e-14


X2 = np.array([0.5, -1.5])
OPTS2 = {"kernel": "laplace", "bandwidth": 0.5, "bins": 256}


def test_zero_weight_optimum_and_slow_descent():
    u = checks.kkt_ratios(np.array([0.0, -700.0]), X2, 0.0, 1.0, **OPTS2)
    assert u[0] == pytest.approx(1.0) and u[1] < 1  # (1, 0) is optimal
    c = 1 - u[1]
    for lr in [0.5, 2.0]:
        run = kdeloss.gradient_descent(np.zeros(2), X2, 0.0, 1.0, steps=2000, lr=lr, **OPTS2)
        s2 = run.weights[:, 1]
        k = np.arange(s2.size)
        bound = 1 / (1 / s2[0] + 2 * lr * np.exp(2 * lr) * k)
        assert np.all(s2 >= bound)  # part 1
        assert k[-1] * s2[-1] == pytest.approx(1 / (2 * lr * c), rel=0.01)  # part 2
    em = kdeloss.em(np.zeros(2), X2, 0.0, 1.0, steps=20, **OPTS2)
    ratio = em.weights[1:, 1] / em.weights[:-1, 1]
    assert ratio[5:] == pytest.approx(u[1], rel=1e-6)  # part 3: geometric, factor u_2
