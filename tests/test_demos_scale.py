"""Scale invariance (theorem thm-scale-invariance) and its demo: a cluster slides away from
the target; the gradient stays, the loss grows by D/h, the naive formula turns to NaN."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from kdeloss import (
    ScaledKernel,
    bin_grad,
    get_kernel,
    log_density,
    loss_and_grad,
    naive_bin_grad,
    naive_loss_and_grad,
    softmax,
)
from kdeloss import symbolic as ks
from kdeloss.book.demos import (
    ScaleFrame,
    cluster,
    demo_figure,
    draw_scale,
    naive_nan_distance,
    naive_nan_estimate,
    scale_frame,
)
from kdeloss.book.demos.scale import LOG_UNDERFLOW

RNG = np.random.default_rng(7)
LOG_CS = [-1e4, -800.0, -5.0, 0.0, 3.0, 700.0]


# --- the theorem, against kdeloss directly -------------------------------------------------


@pytest.mark.parametrize("kernel", ["laplace", "gaussian", "box", "vonmises"])
@pytest.mark.parametrize("log_c", LOG_CS)
def test_scaling_the_kernel_keeps_the_bin_gradient(kernel: str, log_c: float) -> None:
    z = RNG.normal(size=5)
    x = np.array([-0.4, -0.1, 0.05, 0.3, 0.45])
    t = np.array([-0.2, 0.0, 0.1])
    g = bin_grad(z, x, t, kernel=kernel, bandwidth=0.6)
    gc = bin_grad(z, x, t, kernel=ScaledKernel(kernel, log_c, 0.6))
    np.testing.assert_allclose(gc, g, rtol=0, atol=1e-15)
    lq = log_density(z, x, t, kernel=kernel, bandwidth=0.6)
    lqc = log_density(z, x, t, kernel=ScaledKernel(kernel, log_c, 0.6))
    # l = -log q shifts by -log c.
    np.testing.assert_allclose(-lqc - (-lq), -log_c, rtol=1e-15, atol=1e-12)


@pytest.mark.parametrize("log_c", LOG_CS)
def test_scaling_keeps_the_whole_gradient_and_shifts_the_loss(log_c: float) -> None:
    z = RNG.normal(size=4)
    x = np.array([-1.0, 0.2, 0.7, 2.5])
    L, g = loss_and_grad(z, x, 0.0, 1.0, kernel="gaussian", bandwidth=0.5, bins=32)
    Lc, gc = loss_and_grad(z, x, 0.0, 1.0, kernel=ScaledKernel("gaussian", log_c, 0.5), bins=32)
    np.testing.assert_allclose(gc, g, rtol=0, atol=1e-15)
    assert Lc - L == pytest.approx(-log_c, rel=1e-14, abs=1e-12)


def test_naive_formula_fails_where_c_underflows() -> None:
    z = RNG.normal(size=3)
    x = np.array([0.0, 0.3, 0.6])
    g = bin_grad(z, x, 0.2, kernel="laplace", bandwidth=1.0)
    tiny = ScaledKernel("laplace", -1e4)
    assert np.isnan(naive_bin_grad(z, x, 0.2, kernel=tiny)).all()
    np.testing.assert_allclose(bin_grad(z, x, 0.2, kernel=tiny), g, atol=1e-15)


def test_scale_invariance_symbolic() -> None:
    z, K = ks.make_symbols(3)
    c = sp.Symbol("c", positive=True)
    sub = ks.scaled(K, c)
    for g in ks.gradient(z, K):
        assert sp.simplify(g.subs(sub, simultaneous=True) - g) == 0
    shift = ks.bin_loss(z, K).subs(sub, simultaneous=True) - ks.bin_loss(z, K)
    assert sp.simplify(sp.expand_log(shift, force=True) + sp.log(c)) == 0


def test_log_space_reading_softmax_is_shift_invariant() -> None:
    z = RNG.normal(size=4)
    logk = RNG.normal(size=4)
    for shift in (-1e4, -700.0, 0.0, 50.0):
        np.testing.assert_allclose(softmax(z + logk + shift), softmax(z + logk), atol=1e-15)


def test_scaled_kernel_repr_and_resolution() -> None:
    k = ScaledKernel("gaussian", -2.0, 0.5)
    assert k.base == get_kernel(k.base) and k.bandwidth == 0.5
    assert "log_c=-2.0" in repr(k)
    with pytest.raises(ValueError, match="log_c"):
        ScaledKernel("laplace", math.inf)


# --- the frame ----------------------------------------------------------------------------


@pytest.mark.parametrize("distance", [0.0, 1.0, 37.5, 400.0, 741.0, 799.0])
def test_frame_gradient_unchanged_and_loss_grows(distance: float) -> None:
    f = scale_frame(distance=distance, seed=2)
    # Exact up to the rounding of the positions b + D + offset themselves (ulp(800) ~ 1e-13).
    np.testing.assert_allclose(f.grad, f.grad_at_zero, rtol=0, atol=1e-12)
    f0 = scale_frame(distance=0.0, seed=2)
    assert f.loss - f0.loss == pytest.approx(distance / f.bandwidth, abs=1e-9)
    offsets, z = cluster(2, 5, 1.0)
    np.testing.assert_allclose(f.x, 1.0 + distance + offsets)
    np.testing.assert_array_equal(f.z, z)
    L, g = loss_and_grad(f.z, f.x, 0.0, 1.0, kernel="laplace", bandwidth=1.0, bins=64)
    assert f.loss == L
    np.testing.assert_array_equal(f.grad, g)


def test_frame_q_collapses() -> None:
    logs = [scale_frame(distance=d).log10_q for d in (0.0, 100.0, 200.0)]
    step = 100.0 / math.log(10.0)
    assert logs[0] - logs[1] == pytest.approx(step) and logs[1] - logs[2] == pytest.approx(step)


def test_naive_turns_nan_at_the_threshold() -> None:
    f = scale_frame(distance=0.0)
    d = f.nan_distance
    assert 700.0 < d < 760.0
    below = scale_frame(distance=d - 1e-3)
    above = scale_frame(distance=d + 1e-3)
    assert np.isfinite(below.naive_grad).all() and np.isnan(above.naive_grad).all()
    assert above.naive_loss == math.inf and np.isfinite(above.loss)
    np.testing.assert_allclose(above.grad, f.grad, atol=1e-12)
    # Far from the threshold the naive formula agrees with the exact one.
    np.testing.assert_allclose(scale_frame(distance=100.0).naive_grad, f.grad, atol=1e-12)
    offsets, z = cluster(0, 5, 1.0)
    _, g = naive_loss_and_grad(z, 1.0 + d + offsets, 0.0, 1.0, bins=64)
    assert np.isnan(g).all()
    assert math.isnan(naive_nan_distance(z, offsets, hi=10.0))


@pytest.mark.parametrize("h", [0.5, 1.0, 2.0])
def test_nan_estimate_is_in_units_of_h(h: float) -> None:
    """Exercise scale-ex-underflow: the threshold bounds D/h, not D; the estimate lies just
    above the measured slide (K is rounded to a subnormal before the product)."""
    offsets, z = cluster(0, 5, h)
    est = naive_nan_estimate(z, offsets, bandwidth=h)
    measured = naive_nan_distance(z, offsets, bandwidth=h, hi=2000.0 * h)
    assert 0.0 <= (est - measured) / h < 0.5
    # the same bound read as a bound on D (no division by h) is off by far more at h != 1
    if h != 1.0:
        assert abs(est / h - measured) > 100.0
    with pytest.raises(ValueError, match=r"^offsets:"):
        naive_nan_estimate(z, offsets[:-1])


def test_the_limits_of_double_precision_the_chapter_quotes() -> None:
    """The scale chapter: e^-600 is about 1e-261, a normal double; the smallest normal double
    is about e^-708.4 and the smallest subnormal about e^-744.4; products round to zero
    below 2^-1075."""
    assert -600.0 / math.log(10.0) == pytest.approx(-260.58, abs=0.01)
    assert math.exp(-600.0) > np.finfo(float).tiny
    assert math.log(np.finfo(float).tiny) == pytest.approx(-708.40, abs=0.01)
    assert math.log(np.nextafter(0.0, 1.0)) == pytest.approx(-744.44, abs=0.01)
    assert LOG_UNDERFLOW == pytest.approx(-745.13, abs=0.01)
    assert math.ldexp(1.0, -1075) * 1.0 == 0.0 < math.ldexp(1.0, -1074)


def test_frame_is_frozen_and_validates() -> None:
    f = scale_frame(distance=5.0)
    assert isinstance(f, ScaleFrame)
    with pytest.raises(AttributeError):
        f.distance = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        f.grad[0] = 0.0
    with pytest.raises(ValueError, match="distance"):
        scale_frame(distance=-1.0)


# --- what is drawn ----------------------------------------------------------------------


@pytest.mark.parametrize("distance", [0.0, 300.0, 780.0])
def test_drawn_bars_curves_and_nan_labels(distance: float) -> None:
    f = scale_frame(distance=distance)
    scene, ax_loss, ax_grad = draw_scale(demo_figure(), f)
    exact, naive = ax_grad.containers[0], ax_grad.containers[1]
    np.testing.assert_allclose([r.get_height() for r in exact], f.grad, rtol=0, atol=0)
    expected_naive = np.where(np.isfinite(f.naive_grad), f.naive_grad, 0.0)
    np.testing.assert_allclose([r.get_height() for r in naive], expected_naive, rtol=0, atol=0)
    nan_labels = [t for t in ax_grad.texts if t.get_text() == "NaN"]
    assert len(nan_labels) == int(np.isnan(f.naive_grad).sum())
    ref = ax_grad.collections[0].get_segments()
    np.testing.assert_allclose([s[0, 1] for s in ref], f.grad_at_zero)
    curve = ax_loss.get_lines()[0]
    np.testing.assert_allclose(curve.get_ydata(), f.losses)
    marker = ax_loss.get_lines()[-1]
    assert marker.get_xdata()[0] == distance and marker.get_ydata()[0] == f.loss
    pts = np.asarray(scene.collections[-1].get_offsets())
    np.testing.assert_allclose(pts[:, 0], f.x)
    assert ax_loss.get_xlabel() and ax_loss.get_ylabel() and ax_grad.get_ylabel()
    assert ("NaN" in ax_grad.get_title()) == bool(np.isnan(f.naive_grad).any())
