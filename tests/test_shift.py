"""The Laplace shift theorems (book/laplace-shift.md), checked against kdeloss directly.

Every theorem of the chapter has its SymPy check and its numerical check here too, so
``make test`` runs them without building the book.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from scipy.integrate import quad

from kdeloss import bin_centers, bin_grad, log_density, loss_and_grad, responsibilities, softmax
from kdeloss.book.shift import (
    ahead_distances,
    approach_directions,
    bin_arrival,
    entry_change_leading_order,
    gradient_change_curve,
    interval_arrival,
    interval_kinks,
    interval_loss_and_grad,
    log_kernel_change,
    predicted_bin_grad,
    prefix_sum_log_density,
    shift_theorem_checks,
    shift_toward,
    sympy_interval_log_ratios,
    sympy_log_linear_only,
    sympy_shift_bin,
)

SEEDS = range(40)


def random_bin_problem(seed: int, far: float = 0.0):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 9))
    z = rng.normal(0.0, 1.5, n)
    t = float(rng.uniform(-2.0, 2.0))
    side = rng.choice([-1.0, 1.0], n)
    x = t + side * (far + rng.uniform(0.05, 4.0, n))
    h = float(rng.uniform(0.2, 3.0))
    return z, x, t, h


def random_interval_problem(seed: int):
    """Points on both sides of [a, b], none inside."""
    rng = np.random.default_rng(1000 + seed)
    n = int(rng.integers(2, 9))
    a = float(rng.uniform(-2.0, 1.0))
    b = a + float(rng.uniform(0.1, 3.0))
    z = rng.normal(0.0, 1.5, n)
    side = rng.choice([-1.0, 1.0], n)
    side[0], side[1] = -1.0, 1.0
    gap = rng.uniform(0.05, 3.0, n)
    x = np.where(side < 0, a - gap, b + gap)
    h = float(rng.uniform(0.2, 3.0))
    return z, x, a, b, h


# --- geometry ------------------------------------------------------------------------


def test_shift_toward_moves_every_point_by_delta_toward_target() -> None:
    x = np.array([-3.0, -0.5, 0.0, 2.0])
    y = shift_toward(x, 0.0, 0.5)
    np.testing.assert_array_equal(y, [-2.5, 0.0, 0.0, 1.5])
    np.testing.assert_array_equal(approach_directions(x, 0.0), [1.0, 1.0, 0.0, -1.0])
    # past the target a point keeps its direction: it moves away again
    np.testing.assert_array_equal(shift_toward(np.array([1.0]), 0.0, 3.0), [-2.0])


def test_arrivals() -> None:
    x = np.array([-3.0, 1.2, 2.0])
    assert bin_arrival(x, 0.0) == 1.2
    assert interval_arrival(x, -0.5, 0.5) == pytest.approx(0.7)
    assert interval_arrival(np.array([0.2, 3.0]), -0.5, 0.5) < 0  # a point inside
    assert interval_arrival(np.array([0.0, 3.0]), -0.5, 0.5) == 0  # at the centre: stays
    np.testing.assert_allclose(ahead_distances(x, 0.5, toward=0.0), [3.5, 0.7, 1.5])


def test_interval_kinks_line_and_circle() -> None:
    np.testing.assert_array_equal(interval_kinks(np.array([-1.0, 0.5]), 0.0, 1.0), [0.5])
    k = interval_kinks(np.array([0.2]), -np.pi, np.pi, circular=True)
    np.testing.assert_allclose(k, [0.2 - np.pi, 0.2])


@pytest.mark.parametrize("bad", [-1e-9, np.nan, np.inf])
def test_negative_or_nonfinite_delta_is_rejected(bad: float) -> None:
    with pytest.raises(ValueError, match="delta"):
        shift_toward(np.array([1.0]), 0.0, bad)


# --- per-bin theorem (thm-laplace-shift-bin) ------------------------------------------


def test_sympy_per_bin_theorem() -> None:
    grad_change, loss_change = sympy_shift_bin(3)
    assert grad_change == [0, 0, 0]
    delta, h = sp.symbols("delta h", positive=True)
    assert sp.simplify(loss_change + delta / h) == 0


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("far", [0.0, 50.0, 1e4])
def test_per_bin_gradient_unchanged_and_loss_drops(seed: int, far: float) -> None:
    z, x, t, h = random_bin_problem(seed, far)
    # exact up to the rounding of the moved positions themselves
    tol = 1e-12 + 16 * np.spacing(np.abs(x).max()) / h
    g0 = bin_grad(z, x, t, bandwidth=h)
    l0 = -log_density(z, x, t, bandwidth=h)
    dmax = bin_arrival(x, t)
    for frac in (0.0, 0.3, 0.77, 1.0):
        delta = frac * dmax
        y = shift_toward(x, t, delta)
        np.testing.assert_allclose(bin_grad(z, y, t, bandwidth=h), g0, rtol=0, atol=tol)
        l1 = -log_density(z, y, t, bandwidth=h)
        assert l1 - l0 == pytest.approx(-delta / h, rel=1e-12, abs=1e-12 * max(1.0, abs(l0)))


@pytest.mark.parametrize("seed", range(10))
def test_per_bin_gradient_changes_after_arrival(seed: int) -> None:
    z, x, t, h = random_bin_problem(seed)
    if x.size < 2:
        x, z = np.append(x, t + 5.0), np.append(z, 0.0)
    d1 = bin_arrival(x, t)
    g0 = bin_grad(z, x, t, bandwidth=h)
    g1 = bin_grad(z, shift_toward(x, t, d1 + 0.1), t, bandwidth=h)
    assert np.abs(g1 - g0).max() > 1e-6


# --- what happens after arrival (thm-laplace-shift-after) -----------------------------


@pytest.mark.parametrize("kernel", ["laplace", "gaussian", "vonmises"])
@pytest.mark.parametrize("seed", range(15))
def test_closed_form_after_any_move(kernel: str, seed: int) -> None:
    z, x, t, h = random_bin_problem(seed)
    if kernel == "vonmises":  # keep every point within a half-turn of the bin
        x = t + np.clip(x - t, -3.0, 3.0)
    for delta in (0.0, 0.4, 1.3, 2.9):
        got = bin_grad(z, shift_toward(x, t, delta), t, kernel=kernel, bandwidth=h)
        want = predicted_bin_grad(z, x, t, delta, kernel=kernel, bandwidth=h)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_log_kernel_change_matches_logpdf() -> None:
    from kdeloss import get_kernel

    u = np.array([0.1, 0.7, 1.5, 2.9])
    for kernel in ("laplace", "gaussian", "vonmises"):
        k = get_kernel(kernel, 0.8)
        for delta in (0.0, 0.5, 2.0):
            want = k.logpdf(u - delta) - k.logpdf(u)
            got = log_kernel_change(u, delta, kernel=kernel, bandwidth=0.8)
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)


def test_gaussian_far_points_gain_relative_weight() -> None:
    z = np.zeros(3)
    x = np.array([-1.0, -2.0, -4.0])  # distances 1, 2, 4 from t = 0
    h, delta = 1.0, 0.5
    r0 = responsibilities(z, x, 0.0, kernel="gaussian", bandwidth=h)
    r1 = responsibilities(z, shift_toward(x, 0.0, delta), 0.0, kernel="gaussian", bandwidth=h)
    gain = np.log(r1 / r0)
    # log-responsibility ratios tilt by delta * (u_j - u_k) / h**2: linear in distance
    np.testing.assert_allclose(gain - gain[0], delta * (np.array([1, 2, 4]) - 1) / h**2)
    assert gain[2] > gain[1] > gain[0]


def test_log_linear_is_the_only_kernel_symbolically() -> None:
    res = sympy_log_linear_only()
    d1, d2, delta, h = sp.symbols("d1 d2 delta h", positive=True)
    assert res["laplace"] == 0
    assert sp.simplify(res["gaussian"] - delta * (d1 - d2) / h**2) == 0
    assert res["vonmises"] != 0


def test_laplace_closed_form_rejects_negative_u() -> None:
    with pytest.raises(ValueError, match="u_j >= 0"):
        log_kernel_change(np.array([-0.1]), 0.2)
    with pytest.raises(ValueError, match="no closed form"):
        log_kernel_change(np.array([0.1]), 0.2, kernel="box")


# --- the unbinned whole-interval loss ---------------------------------------------------


@pytest.mark.parametrize("kernel", ["laplace", "gaussian", "vonmises"])
def test_interval_loss_and_grad_matches_quad_and_fine_bins(kernel: str) -> None:
    z = np.array([0.3, -0.5, 0.8])
    x = np.array([-1.3, 0.2, 1.9])  # one point inside: a kink at 0.2
    a, b, h = -0.5, 0.7, 0.6
    L, g = interval_loss_and_grad(z, x, a, b, kernel=kernel, bandwidth=h)
    for i in range(3):
        ri = quad(
            lambda t, i=i: responsibilities(z, x, t, kernel=kernel, bandwidth=h)[i],
            a,
            b,
            points=[0.2],
            epsabs=1e-14,
            epsrel=1e-14,
            limit=200,
        )[0]
        assert g[i] == pytest.approx(softmax(z)[i] - ri / (b - a), abs=1e-12)
    Lm, gm = loss_and_grad(z, x, a, b, kernel=kernel, bandwidth=h, bins=20000)
    assert abs(L - Lm) < 1e-8
    np.testing.assert_allclose(g, gm, atol=1e-8)


# --- whole-interval theorem (thm-laplace-shift-interval) ------------------------------


def test_sympy_interval_log_ratios() -> None:
    res = sympy_interval_log_ratios()
    assert res["left-left"] == 0
    assert res["left-right"] == 0
    assert res["right-right"] == 0
    assert res["gaussian left-left"] != 0


@pytest.mark.parametrize("seed", SEEDS)
def test_interval_gradient_unchanged_until_arrival(seed: int) -> None:
    z, x, a, b, h = random_interval_problem(seed)
    c = 0.5 * (a + b)
    d1 = interval_arrival(x, a, b)
    assert d1 > 0
    L0, g0 = interval_loss_and_grad(z, x, a, b, bandwidth=h)
    for frac in (0.25, 0.6, 1.0):
        delta = frac * d1
        L1, g1 = interval_loss_and_grad(z, shift_toward(x, c, delta), a, b, bandwidth=h)
        np.testing.assert_allclose(g1, g0, rtol=0, atol=1e-12)
        assert L1 - L0 == pytest.approx(-delta / h, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_binned_gradient_unchanged_until_the_outer_bin_centre(seed: int) -> None:
    z, x, a, b, h = random_interval_problem(seed)
    c, bins = 0.5 * (a + b), 16
    # the binned theorem's limit: the first arrival at a bin centre, half a bin inside
    t = bin_centers(a, b, bins)
    d_m = min(bin_arrival(x, tm, toward=c) for tm in t)
    assert d_m == pytest.approx(interval_arrival(x, a, b) + 0.5 * (b - a) / bins)
    L0, g0 = loss_and_grad(z, x, a, b, bandwidth=h, bins=bins)
    for frac in (0.5, 1.0):
        L1, g1 = loss_and_grad(z, shift_toward(x, c, frac * d_m), a, b, bandwidth=h, bins=bins)
        np.testing.assert_allclose(g1, g0, rtol=0, atol=1e-12)
        assert L1 - L0 == pytest.approx(-frac * d_m / h, abs=1e-12)
    _, g2 = loss_and_grad(z, shift_toward(x, c, d_m + 0.01), a, b, bandwidth=h, bins=bins)
    assert np.abs(g2 - g0).max() > 1e-7


@pytest.mark.parametrize("seed", range(12))
def test_interval_gradient_changes_once_a_point_enters(seed: int) -> None:
    z, x, a, b, h = random_interval_problem(seed)
    c = 0.5 * (a + b)
    d1 = interval_arrival(x, a, b)
    _, g0 = interval_loss_and_grad(z, x, a, b, bandwidth=h)
    _, g1 = interval_loss_and_grad(z, shift_toward(x, c, d1 + 0.02), a, b, bandwidth=h)
    assert np.abs(g1 - g0).max() > 1e-8


@pytest.mark.parametrize("seed", range(8))
def test_entry_is_second_order_with_the_predicted_coefficient(seed: int) -> None:
    z, x, a, b, h = random_interval_problem(seed)
    c = 0.5 * (a + b)
    k, d1, coef = entry_change_leading_order(z, x, a, b, bandwidth=h)
    dist = np.maximum(a - x, 0) + np.maximum(x - b, 0)
    second = np.sort(dist)[1]
    eps = min(1e-3, 0.1 * (second - d1), 0.1 * (b - a))
    _, g0 = interval_loss_and_grad(z, x, a, b, bandwidth=h)
    _, g1 = interval_loss_and_grad(z, shift_toward(x, c, d1 + eps), a, b, bandwidth=h)
    np.testing.assert_allclose((g1 - g0) / eps**2, coef, rtol=0, atol=0.02 * np.abs(coef).max())
    assert coef[k] > 0


def test_entry_rejects_points_inside() -> None:
    with pytest.raises(ValueError, match="inside"):
        entry_change_leading_order([0.0, 0.0], [0.1, 3.0], 0.0, 1.0)


# --- the kernels for which it fails -----------------------------------------------------


@pytest.mark.parametrize("kernel", ["gaussian", "vonmises"])
def test_same_experiment_fails_for_gaussian_and_von_mises(kernel: str) -> None:
    z = np.array([0.6, -0.2, 0.1, 0.9, -0.4])
    x = np.array([-2.8, -1.7, 1.1, 2.0, 2.9])
    deltas = np.linspace(0.0, 0.7, 8)
    cur = gradient_change_curve(z, x, -0.4, 0.4, deltas, kernel=kernel, bandwidth=0.7)
    assert np.all(cur.interval_change[1:] > 1e-4)
    assert np.all(cur.bin_change[1:] > 1e-4)
    lap = gradient_change_curve(z, x, -0.4, 0.4, deltas, kernel="laplace", bandwidth=0.7)
    assert lap.interval_change.max() < 1e-12
    assert lap.bin_change.max() < 1e-12


def test_theorem_checks_helper_is_exact() -> None:
    res = shift_theorem_checks(trials=60, seed=3)
    assert max(res.values()) < 1e-12


def test_curve_is_flat_then_bends() -> None:
    z = np.array([0.6, -0.2, 0.1, 0.9, -0.4])
    x = np.array([-2.8, -1.7, 1.1, 2.0, 2.9])
    deltas = np.linspace(0.0, 1.6, 33)
    cur = gradient_change_curve(z, x, -0.4, 0.4, deltas, bandwidth=0.7)
    before = deltas <= cur.interval_arrival
    assert cur.interval_change[before].max() < 1e-12
    assert np.all(cur.interval_change[~before] > 1e-6)
    # it bends: the increments grow just after the arrival (second order at the start)
    after = cur.interval_change[~before]
    assert after[1] - after[0] > after[0]
    before_bin = deltas <= cur.bin_arrival
    assert cur.bin_change[before_bin].max() < 1e-12
    assert np.all(cur.bin_change[~before_bin] > 1e-6)


# --- where this leads: prefix sums ------------------------------------------------------


@pytest.mark.parametrize("seed", range(10))
def test_prefix_sum_log_density_matches_direct(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 30))
    z, x = rng.normal(size=n), rng.uniform(-5, 5, n)
    t = np.sort(rng.uniform(-6, 6, 50))
    h = float(rng.uniform(0.3, 2.0))
    np.testing.assert_allclose(
        prefix_sum_log_density(z, x, t, bandwidth=h),
        log_density(z, x, t, bandwidth=h),
        rtol=0,
        atol=1e-12,
    )
