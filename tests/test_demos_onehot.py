"""The one-hot degeneracy (theorems thm-one-hot, thm-one-hot-set, thm-one-hot-constant) and
its demo: what the frame computes and what is drawn (the live demo: test_demos_live.py)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import sympy as sp
from scipy.integrate import quad
from scipy.special import logsumexp

from kdeloss import Box, Gaussian, GeneralizedNormal, Laplace, bin_grad, softmax
from kdeloss import symbolic as ks
from kdeloss.book.demos import (
    demo_figure,
    draw_onehot,
    onehot_frame,
)

RNG = np.random.default_rng(20220205)


def ce_grad_complex_step(z: np.ndarray, target) -> np.ndarray:
    """Gradient of -log sum_{j in target} softmax(z)_j by complex-step differentiation.

    Written from the definition of the (set) cross-entropy, not from the theorem.
    """
    idx = np.atleast_1d(target)
    eps = 1e-30
    out = np.empty(z.size)
    for k in range(z.size):
        zc = z.astype(complex)
        zc[k] += 1j * eps
        val = logsumexp(zc) - logsumexp(zc[idx])
        out[k] = val.imag / eps
    return out


# --- the theorems, against kdeloss directly -------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 7])
def test_one_hot_is_softmax_cross_entropy(n: int) -> None:
    """thm-one-hot: a box covering only x_y gives S - e_y."""
    z = RNG.normal(scale=2.0, size=n)
    x = np.arange(n, dtype=float)
    for y in range(n):
        g = bin_grad(z, x, float(y) + 0.3, kernel="box", bandwidth=1.0)
        np.testing.assert_allclose(g, softmax(z) - np.eye(n)[y], atol=1e-15)
        np.testing.assert_allclose(g, ce_grad_complex_step(z, y), atol=1e-14)


def test_one_hot_set_version() -> None:
    """thm-one-hot-set: a box covering the set P gives S - [i in P] S_i / S(P)."""
    n = 6
    z = RNG.normal(size=n)
    x = np.array([0.0, 0.1, 0.2, 5.0, 6.0, 7.0])
    g = bin_grad(z, x, 0.1, kernel="box", bandwidth=0.5)
    s = softmax(z)
    p = np.array([0, 1, 2])
    expected = s.copy()
    expected[p] -= s[p] / s[p].sum()
    np.testing.assert_allclose(g, expected, atol=1e-15)
    np.testing.assert_allclose(g, ce_grad_complex_step(z, p), atol=1e-14)


@pytest.mark.parametrize("width", [1e-3, 0.5, 1.0, 3.0, 1e4])
def test_one_hot_constant_version(width: float) -> None:
    """thm-one-hot-constant: the box's height 1/width does not matter."""
    z = RNG.normal(size=4)
    x = np.array([0.0, 1.0, 2.0, 3.0]) * width
    g = bin_grad(z, x, 2.1 * width, kernel="box", bandwidth=width)
    np.testing.assert_allclose(g, softmax(z) - np.eye(4)[2], atol=1e-15)


def test_one_hot_symbolic() -> None:
    z, K = ks.make_symbols(4)
    c = sp.Symbol("c", positive=True)
    s = ks.softmax_weights(z)
    grad = ks.gradient(z, K)
    for y in range(4):
        for i, g in enumerate(grad):
            assert sp.simplify(g.subs(ks.one_hot(K, y)) - (s[i] - int(i == y))) == 0
            assert sp.simplify(g.subs(ks.one_hot(K, y, c)) - (s[i] - int(i == y))) == 0
    mass = s[1] + s[3]
    for i, g in enumerate(grad):
        expected = s[i] - (s[i] / mass if i in (1, 3) else 0)
        assert sp.simplify(g.subs(ks.one_hot(K, [1, 3], c)) - expected) == 0


# --- the kernel family ---------------------------------------------------------------------


@pytest.mark.parametrize("p", [1.0, 1.5, 2.0, 8.0, 64.0])
def test_generalized_normal_is_normalised(p: float) -> None:
    k = GeneralizedNormal(0.7, p)

    def pdf(d: float) -> float:
        return float(k.pdf(np.array([d]))[0])

    inner, _ = quad(pdf, 0.0, 0.35)
    outer, _ = quad(pdf, 0.35, np.inf)
    assert 2.0 * (inner + outer) == pytest.approx(1.0, abs=1e-8)


def test_generalized_normal_special_cases() -> None:
    d = np.linspace(-3.0, 3.0, 61)
    h = 1.3
    np.testing.assert_allclose(GeneralizedNormal(h, 1.0).logpdf(d), Laplace(h / 2).logpdf(d))
    np.testing.assert_allclose(
        GeneralizedNormal(h, 2.0).logpdf(d), Gaussian(h / (2 * math.sqrt(2))).logpdf(d)
    )
    np.testing.assert_array_equal(GeneralizedNormal(h, np.inf).logpdf(d), Box(h).logpdf(d))
    with np.errstate(all="raise"):
        big = GeneralizedNormal(h, 128.0).logpdf(np.array([1e6]))
    assert big[0] == -np.inf
    with pytest.raises(ValueError, match="shape"):
        GeneralizedNormal(1.0, 0.5)


# --- the frame ----------------------------------------------------------------------------


def test_frame_is_pure_and_frozen() -> None:
    a, b = (
        onehot_frame(hardness=3.0, position=1.7, seed=4),
        onehot_frame(hardness=3.0, position=1.7, seed=4),
    )
    for name in ("x", "z", "weights", "grad", "limit", "curve_k"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    with pytest.raises(AttributeError):
        a.hardness = 2.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        a.grad[0] = 1.0


@pytest.mark.parametrize("p", [1.0, 2.0, 5.0, 40.0])
def test_frame_grad_is_bin_grad(p: float) -> None:
    f = onehot_frame(hardness=p, position=3.4, seed=2)
    kern = GeneralizedNormal(f.bandwidth, p)
    np.testing.assert_array_equal(f.grad, bin_grad(f.z, f.x, 3.4, kernel=kern))
    np.testing.assert_allclose(f.weights, softmax(f.z))
    assert f.covering == (3,)
    np.testing.assert_allclose(f.limit, f.weights - np.eye(f.x.size)[3], atol=1e-15)


def test_gradient_converges_to_s_minus_e_y() -> None:
    sweep = np.append(np.geomspace(1.0, 128.0, 29), np.inf)
    gaps = [onehot_frame(hardness=p, position=2.2).gap for p in sweep]
    assert gaps[0] > 0.1
    assert all(b <= a + 1e-15 for a, b in itertools.pairwise(gaps[10:]))
    assert gaps[-2] < 1e-12 and gaps[-1] == 0.0


def test_midpoint_gives_the_set_version() -> None:
    f = onehot_frame(hardness=np.inf, position=2.5, seed=1)
    assert f.covering == (2, 3)
    s = f.weights
    expected = s.copy()
    expected[[2, 3]] -= s[[2, 3]] / s[[2, 3]].sum()
    np.testing.assert_allclose(f.grad, expected, atol=1e-15)


def test_frame_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="position"):
        onehot_frame(position=9.0)
    with pytest.raises(ValueError, match="n:"):
        onehot_frame(n=1)


# --- what is drawn ----------------------------------------------------------------------


@pytest.mark.parametrize("p", [1.0, 6.0, np.inf])
def test_drawn_bars_ticks_and_markers(p: float) -> None:
    f = onehot_frame(hardness=p, position=4.1, seed=3)
    top, bottom = draw_onehot(demo_figure(), f)
    bars = bottom.containers[0]
    np.testing.assert_allclose([r.get_height() for r in bars], f.grad, rtol=0, atol=0)
    np.testing.assert_allclose([r.get_x() + r.get_width() / 2 for r in bars], f.x)
    ticks = bottom.collections[0]  # the S - e_y limit
    ends = np.array([seg[:, 1] for seg in ticks.get_segments()])
    np.testing.assert_allclose(ends[:, 0], f.limit)
    weights = bottom.collections[1].get_offsets()
    np.testing.assert_allclose(np.asarray(weights)[:, 1], f.weights)
    star = top.collections[-1].get_offsets()
    np.testing.assert_allclose(np.asarray(star)[:, 0], f.x[list(f.covering)])
    bin_line = next(ln for ln in top.get_lines() if ln.get_linestyle() == "--")
    assert bin_line.get_xdata()[0] == pytest.approx(4.1)
    for ax in (top, bottom):
        assert ax.get_ylabel() and ax.get_legend() is not None
    assert bottom.get_xlabel()


def test_draw_on_given_axes() -> None:
    fig = demo_figure()
    axes = fig.subplots(2, 1)
    assert draw_onehot(list(axes), onehot_frame()) == list(axes)
    with pytest.raises(ValueError, match="2 axes"):
        draw_onehot([axes[0]], onehot_frame())
