"""Angles on the circle (book/circle.md): what survives the wrap, checked against kdeloss."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import sympy as sp
from scipy.integrate import quad

from kdeloss import ScaledKernel, bin_grad, get_kernel, loss_and_grad, softmax
from kdeloss.book.circle import (
    CIRCLE_DEFAULTS,
    WrappedBox,
    WrappedLaplace,
    antipode_depth_changes,
    arc_distance,
    arc_margins,
    circle_checks,
    circle_shift_checks,
    in_arc,
    plot_polar_density,
)
from kdeloss.book.shift import (
    gradient_change_curve,
    interval_arrival,
    shift_toward,
    sympy_shift_bin,
)

Z = np.array(CIRCLE_DEFAULTS["z"])
X = np.array(CIRCLE_DEFAULTS["x"])
X_BAD = np.array(CIRCLE_DEFAULTS["x_bad"])
A, B, H = CIRCLE_DEFAULTS["a"], CIRCLE_DEFAULTS["b"], CIRCLE_DEFAULTS["bandwidth"]


@pytest.mark.parametrize("h", [0.05, 0.6, 3.0, 50.0])
def test_wrapped_laplace_is_normalised_and_periodic(h: float) -> None:
    k = WrappedLaplace(h)
    total = quad(lambda d: float(k.pdf(np.array([d]))[0]), -math.pi, math.pi, points=[0.0])[0]
    assert total == pytest.approx(1.0, rel=1e-10)
    d = np.linspace(-7, 7, 31)
    np.testing.assert_allclose(k.logpdf(d), k.logpdf(d + 2 * math.pi), atol=1e-12)


def test_wrapped_laplace_normaliser_symbolically() -> None:
    d, h = sp.symbols("d h", positive=True)
    total = 2 * sp.integrate(sp.exp(-d / h), (d, 0, sp.pi))
    assert sp.simplify(total - 2 * h * (1 - sp.exp(-sp.pi / h))) == 0


def test_wrapped_box() -> None:
    k = WrappedBox(0.5)
    np.testing.assert_array_equal(k.pdf(np.array([0.24, 2 * math.pi - 0.24, 0.26])), [2, 2, 0])
    with pytest.raises(ValueError, match="fit on the circle"):
        WrappedBox(7.0)


def test_arc_geometry() -> None:
    np.testing.assert_array_equal(
        in_arc(np.array([0.0, 0.5, 0.6, 2 * math.pi]), -0.5, 0.5), [True, True, False, True]
    )
    np.testing.assert_allclose(
        arc_distance(np.array([1.0, -1.5, 3.0]), -0.5, 0.5), [0.5, 1.0, 2.5]
    )
    # the arc wraps through pi
    np.testing.assert_allclose(
        arc_distance(np.array([3.0, -3.0, 0.0]), 2.9, 2.9 + 0.5), [0.0, 0.0, 2 * math.pi - 3.4]
    )
    m = arc_margins(X, A, B)
    np.testing.assert_allclose(m, arc_distance(X, A, B))
    assert arc_margins(X_BAD, A, B)[-1] == -math.pi
    with pytest.raises(ValueError, match="arc"):
        in_arc(np.array([0.0]), 1.0, 1.0)


def test_long_arcs_leave_no_admissible_point() -> None:
    """If b - a >= pi, every point off the arc has its antipode on it."""
    theta = np.linspace(-math.pi, math.pi, 721)
    for length in [math.pi, 4.0, 6.0]:
        off = ~in_arc(theta, -0.5, -0.5 + length)
        assert np.all(arc_margins(theta[off], -0.5, -0.5 + length) <= 0)


# --- what survives unchanged ------------------------------------------------------------


def test_gradient_formula_one_hot_and_scale_survive() -> None:
    res = circle_checks(trials=40, seed=1)
    assert max(res.values()) < 1e-12, res


def test_one_hot_across_the_seam_is_softmax_cross_entropy() -> None:
    z = np.array([0.3, -0.2, 0.5])
    x = np.array([-3.1, 0.0, 1.0])  # point 1 is 0.08 from the bin at 3.1, across +-pi
    g = bin_grad(z, x, 3.1, kernel=WrappedBox(0.5))
    np.testing.assert_allclose(g, softmax(z) - np.array([1.0, 0.0, 0.0]), atol=1e-15)
    with pytest.raises(ValueError, match="covered by no kernel"):
        bin_grad(z, x, 3.1, kernel="box", bandwidth=0.5)  # the line's box does not wrap


def test_scaled_kernel_far_from_everything() -> None:
    vm = get_kernel("vonmises", 0.3)
    L1, g1 = loss_and_grad(Z, X, A, B, kernel=vm)
    L2, g2 = loss_and_grad(Z, X, A, B, kernel=ScaledKernel(vm, math.log(1e-300)))
    np.testing.assert_allclose(g2, g1, atol=1e-13)
    assert L2 - L1 == pytest.approx(-math.log(1e-300), rel=1e-14)


# --- the shift property on the circle ---------------------------------------------------


def test_symbolic_per_bin_shift_holds_for_wrapped_distances() -> None:
    # on [0, pi] the wrapped distance is the distance, so the line's symbolic check applies
    grad_change, loss_change = sympy_shift_bin(3)
    assert grad_change == [0, 0, 0]
    delta, h = sp.symbols("delta h", positive=True)
    assert sp.simplify(loss_change + delta / h) == 0


def test_circle_shift_checks() -> None:
    res = circle_shift_checks(trials=80, seed=2)
    assert res["bin_grad"] < 1e-12
    assert res["bin_loss"] < 1e-12
    assert res["arc_grad"] < 1e-12
    assert res["antipodal_min"] > 1e-8
    assert res["vonmises_min"] > 1e-8


def test_arc_curve_flat_until_arrival_then_bends() -> None:
    deltas = np.linspace(0.0, 1.0, 41)
    cur = gradient_change_curve(Z, X, A, B, deltas, kernel=WrappedLaplace(H))
    assert cur.interval_arrival == pytest.approx(0.5)
    flat = deltas <= cur.interval_arrival
    assert cur.interval_change[flat].max() < 1e-12
    assert np.all(cur.interval_change[~flat] > 1e-8)


def test_point_in_antipodal_arc_breaks_it_at_once() -> None:
    assert interval_arrival(X_BAD, A, B, circular=True) == -math.pi
    deltas = np.linspace(0.0, 0.4, 9)
    cur = gradient_change_curve(Z, X_BAD, A, B, deltas, kernel=WrappedLaplace(H))
    assert np.all(cur.interval_change[1:] > 1e-6)
    # the same point moved on the line (no wrap) is harmless: the failure is the antipode
    lap = gradient_change_curve(Z, X_BAD, A, B, deltas, kernel="laplace", bandwidth=H)
    assert lap.interval_change.max() < 1e-12


def test_von_mises_breaks_it_at_once() -> None:
    deltas = np.linspace(0.0, 0.4, 9)
    cur = gradient_change_curve(Z, X, A, B, deltas, kernel="vonmises", bandwidth=H)
    assert np.all(cur.interval_change[1:] > 1e-4)


def test_crossing_a_bins_antipode_breaks_the_per_bin_property() -> None:
    """Points pushed one way round: fine until one crosses the antipode of the bin."""
    k = WrappedLaplace(H)
    z = np.array([0.2, -0.1])
    x = np.array([1.0, 2.5])  # both move clockwise, toward t = 0; point 2 is 2.5 away
    t = 0.0
    g0 = bin_grad(z, x, t, kernel=k)
    for d in [0.3, 1.0]:  # along the shorter arc: holds
        np.testing.assert_allclose(
            bin_grad(z, shift_toward(x, t, d, circular=True), t, kernel=k), g0, atol=1e-14
        )
    # push point 2 the other way round (counter-clockwise, the longer arc): it moves away
    # from the bin until it reaches the antipode pi, then toward it
    y = x + np.array([-0.3, 0.3])
    assert np.abs(bin_grad(z, y, t, kernel=k) - g0).max() > 1e-3


def test_polar_plot() -> None:
    fig = plt.figure()
    ax = fig.add_subplot(projection="polar")
    art = plot_polar_density(ax, Z, X_BAD, A, B, kernel=WrappedLaplace(H))
    assert art.density.get_xdata().size == 721
    assert np.max(art.target.get_ydata()) == pytest.approx(1.0 / (B - A))
    assert ax.get_legend() is not None
    with pytest.raises(ValueError, match="circular"):
        plot_polar_density(ax, Z, X, A, B, kernel="laplace")
    plt.close(fig)


# --- the antipodal arc: its ends are harmless, its inside costs the square of the depth ----


def test_antipode_exactly_at_an_end_changes_nothing() -> None:
    """A point whose antipode is an end of the target lies at an end of a gap."""
    k = WrappedLaplace(H)
    deltas = np.array([0.0, 0.01, 0.1, 0.3, 0.5])
    for end in (A, B):
        x = X.copy()
        x[-1] = end + math.pi
        cur = gradient_change_curve(Z, x, A, B, deltas, kernel=k)
        assert cur.interval_change.max() < 1e-14
        assert cur.binned_change.max() < 1e-14


def test_antipode_inside_first_order_then_frozen() -> None:
    """prop-circle-shift-fails (a): dL/dz_j grows while delta <= e, then stops."""
    k = WrappedLaplace(H)
    e = 0.2
    x = X.copy()
    x[-1] = A + e + math.pi
    deltas = np.array([0.0, 1e-4, 2e-4, 0.1, 0.2, 0.3, 0.45])
    cur = gradient_change_curve(Z, x, A, B, deltas, kernel=k)
    dgj = cur.interval_grads[:, -1] - cur.interval_grads[0, -1]
    assert np.all(np.diff(dgj[:5]) > 0)  # grows strictly up to delta = e
    assert dgj[2] / dgj[1] == pytest.approx(2.0, rel=1e-3)  # first order in delta
    frozen = cur.interval_grads[4:]
    np.testing.assert_allclose(frozen, frozen[[0, 0, 0]], rtol=0, atol=1e-13)
    assert cur.interval_change.max() <= e**2 / (4 * H * (B - A))


def test_antipode_depth_changes_is_second_order_in_the_depth() -> None:
    depths = np.array([0.0, 0.001, 0.01, 0.1, 0.5])
    ch = antipode_depth_changes(Z, X, A, B, depths, 0.5, bandwidth=H)
    assert ch[0] < 1e-14
    assert np.all(ch[1:] > 0)
    assert np.all(ch <= depths**2 / (4 * H * (B - A)) + 1e-15)
    assert ch[2] / ch[1] == pytest.approx(100.0, rel=0.05)
    binned = antipode_depth_changes(Z, X, A, B, depths, 0.5, bandwidth=H, bins=16)
    assert binned[1] < 1e-14  # no bin centre (the first is at a + 1/32) in the strip
    assert binned[3] > 1e-6
    with pytest.raises(ValueError, match="depths"):
        antipode_depth_changes(Z, X, A, B, np.array([-0.1]), 0.5)
