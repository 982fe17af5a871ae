"""Alternative losses (kdeloss.book.alternatives, book/dynamics.md): values against independent
quadrature, gradients against finite differences and SymPy, and the far-cluster limits of
thm-alternatives-far."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import sympy as sp
from scipy.integrate import quad

import kdeloss
from kdeloss import symbolic as ks
from kdeloss.book import alternatives as alt

RNG = np.random.default_rng(31)
KERNELS = ["gaussian", "laplace"]


def density(z: np.ndarray, x: np.ndarray, kernel: str, h: float):
    """q(t) from kdeloss.log_density, as a scalar function for scipy.integrate.quad."""
    return lambda t: float(np.exp(kdeloss.log_density(z, x, t, kernel=kernel, bandwidth=h)))


def finite_difference(f, z, *args, step=1e-6, **kw) -> np.ndarray:
    return np.array(
        [
            (f(z + step * e, *args, **kw)[0] - f(z - step * e, *args, **kw)[0]) / (2 * step)
            for e in np.eye(z.size)
        ]
    )


CASES = [
    (alt.squared_l2, {"kernel": "gaussian"}),
    (alt.squared_l2, {"kernel": "laplace"}),
    (alt.mmd2, {"scale": 0.5}),
    (alt.mmd2, {"scale": 3.0}),
    (alt.wasserstein1, {"kernel": "gaussian"}),
    (alt.wasserstein1, {"kernel": "laplace"}),
    (alt.truncated_reverse_kl, {"kernel": "gaussian"}),
    (alt.truncated_reverse_kl, {"kernel": "laplace"}),
]


@pytest.mark.parametrize(("f", "kw"), CASES)
def test_gradient_matches_finite_differences(f, kw) -> None:
    for _ in range(5):
        z, x = RNG.normal(size=5), RNG.uniform(-2, 3, size=5)
        value, g = f(z, x, 0.0, 1.0, bandwidth=0.4, **kw)
        assert np.isfinite(value)
        assert abs(g.sum()) < 1e-14
        fd = finite_difference(f, z, x, 0.0, 1.0, bandwidth=0.4, **kw)
        np.testing.assert_allclose(g, fd, atol=5e-8)


@pytest.mark.parametrize("kernel", KERNELS)
def test_squared_l2_against_quadrature(kernel: str) -> None:
    z, x, h = RNG.normal(size=4), np.array([-1.2, 0.3, 0.8, 2.5]), 0.35
    q = density(z, x, kernel, h)
    lo, hi = -12.0, 14.0
    pts = sorted({0.0, 1.0, *x})
    outside = sum(quad(lambda t: q(t) ** 2, u, v, limit=200)[0] for u, v in _pieces(lo, hi, pts))
    inside = quad(lambda t: 2 * q(t), 0.0, 1.0, points=list(x[(x > 0) & (x < 1)]), limit=200)[0]
    expected = outside - inside + 1.0
    value, _ = alt.squared_l2(z, x, 0.0, 1.0, kernel=kernel, bandwidth=h)
    assert value == pytest.approx(expected, rel=1e-8)


def _pieces(lo: float, hi: float, pts: list[float]) -> list[tuple[float, float]]:
    edges = [lo, *[p for p in pts if lo < p < hi], hi]
    return list(itertools.pairwise(edges))


def test_mmd_against_double_quadrature() -> None:
    z, x, h, sigma = RNG.normal(size=3), np.array([-0.5, 0.4, 1.7]), 0.3, 0.6
    t = np.linspace(-4.0, 5.0, 3601)
    dt = t[1] - t[0]
    q = np.exp(kdeloss.log_density(z, x, t, kernel="gaussian", bandwidth=h))
    u = ((t >= 0) & (t <= 1)).astype(float)
    u /= u.sum() * dt  # the grid version of the uniform density
    f = q - u
    k = np.exp(-((t[:, None] - t[None, :]) ** 2) / (2 * sigma**2))
    expected = float(f @ k @ f) * dt * dt
    value, _ = alt.mmd2(z, x, 0.0, 1.0, bandwidth=h, scale=sigma)
    assert value == pytest.approx(expected, rel=2e-3)


def test_wasserstein_point_mass_closed_form() -> None:
    """Exercise dynamics-ex-w1: W1 = s d + s^2 w + (c-a)^2/(2w) - s(c-a) + (b-c)^2/(2w)."""
    a, b, c, d, s = 0.0, 1.0, 0.6, 7.0, 0.3
    w = b - a
    z = np.array([math.log(s), math.log(1 - s)])
    x = np.array([a - d, c])
    value, g = alt.wasserstein1(z, x, a, b, bandwidth=1e-4, num=400001)
    expected = s * d + s * s * w + (c - a) ** 2 / (2 * w) - s * (c - a) + (b - c) ** 2 / (2 * w)
    assert value == pytest.approx(expected, abs=1e-4)
    dw_ds = d + 2 * s * w - (c - a)
    assert g[0] == pytest.approx(s * (1 - s) * dw_ds, abs=1e-4)


@pytest.mark.parametrize("kernel", KERNELS)
def test_truncated_reverse_kl_against_quadrature(kernel: str) -> None:
    z, x, h = RNG.normal(size=3), np.array([-0.4, 0.3, 1.6]), 0.3
    q = density(z, x, kernel, h)
    pts = [0.3]
    mass = quad(q, 0.0, 1.0, points=pts)[0]
    expected = quad(lambda t: q(t) / mass * math.log(q(t) / mass), 0.0, 1.0, points=pts)[0]
    value, _ = alt.truncated_reverse_kl(z, x, 0.0, 1.0, kernel=kernel, bandwidth=h, bins=4096)
    assert value == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("kernel", KERNELS)
def test_log_mass_and_cdf(kernel: str) -> None:
    h = 0.7
    kern = kdeloss.get_kernel(kernel, h)
    for xj in [-3.0, -0.2, 0.5, 1.3, 4.0]:
        exact = quad(lambda t, xj=xj: float(kern.pdf(np.array([t - xj]))[0]), 0.0, 1.0)[0]
        got = float(np.exp(alt.log_mass(kernel, np.array([xj]), 0.0, 1.0, h)[0]))
        assert got == pytest.approx(exact, rel=1e-10)
        cdf = quad(lambda t: float(kern.pdf(np.array([t]))[0]), -60, xj, points=[0.0])[0]
        assert float(alt.kernel_cdf(kernel, np.array([xj]), h)[0]) == pytest.approx(cdf, rel=1e-9)
    far = alt.log_mass(kernel, np.array([-1e4, 1e4]), 0.0, 1.0, h)
    assert np.all(np.isfinite(far)) and np.all(far < -1e3)
    overlap = quad(
        lambda t: float(kern.pdf(np.array([t]))[0] * kern.pdf(np.array([t - 0.9]))[0]),
        -40,
        40,
        points=[0.0, 0.9],
    )[0]
    got = float(alt.kernel_self_overlap(kernel, np.array([0.9]), h)[0])
    assert got == pytest.approx(overlap, rel=1e-9)


def test_cross_entropy_is_the_book_loss() -> None:
    z, x = RNG.normal(size=3), RNG.uniform(-1, 2, size=3)
    L, g = alt.cross_entropy(z, x, 0.0, 1.0, kernel="laplace", bandwidth=0.5, background=0.1)
    L2, g2 = kdeloss.loss_and_grad(z, x, 0.0, 1.0, bandwidth=0.5, background=0.1)
    assert L == L2
    np.testing.assert_array_equal(g, g2)


# --- SymPy: the two derivative rules of thm-alternative-gradients ----------------------------


def test_mixture_and_truncated_rules_symbolic() -> None:
    z, K = ks.make_symbols(3)
    m = sp.symbols("m1:4", positive=True)
    s = ks.softmax_weights(z)
    q = ks.mixture(z, K)
    big_q = sum(si * mi for si, mi in zip(s, m, strict=True))
    for i in range(3):
        assert sp.simplify(sp.diff(q, z[i]) - s[i] * (K[i] - q)) == 0
        rule = s[i] * K[i] / q - s[i] * m[i] / big_q
        assert sp.simplify(sp.diff(sp.log(q / big_q), z[i]) - rule) == 0


# --- thm-alternatives-far ------------------------------------------------------------------

NEAR = [0.2, 0.5, 0.8]
CLUSTER = [0.0, 0.4, 0.9]


def push(name: str, distances, near, **kw) -> np.ndarray:
    kw = {"bandwidth": 0.2, **kw}
    if name != "MMD":
        kw.setdefault("kernel", "gaussian")
    return alt.gradient_on_cluster(alt.LOSSES[name], distances, near=near, cluster=CLUSTER, **kw)


def test_cross_entropy_push_is_constant_far_away() -> None:
    g = push("cross-entropy", [10.0, 40.0], NEAR)
    assert g[0] == pytest.approx(g[1], rel=1e-12)
    assert g[0] == pytest.approx(math.sqrt(3) / 6, rel=1e-9)  # S_i = 1/6 on three points


def test_wasserstein_push_grows_linearly_beside_near_points() -> None:
    g = push("Wasserstein-1", [20.0, 40.0], NEAR)
    slope = (g[1] - g[0]) / 20.0
    assert slope == pytest.approx(math.sqrt(3) / 6 * 0.5, rel=2e-3)
    alone = push("Wasserstein-1", [5.0, 40.0], [])
    assert alone[0] == pytest.approx(alone[1], rel=1e-6)


@pytest.mark.parametrize("name", ["squared L2", "MMD"])
def test_quadratic_losses_saturate(name: str) -> None:
    kw = {"scale": 0.5} if name == "MMD" else {}
    g = push(name, [10.0, 40.0], NEAR, **kw)
    assert g[0] > 0.05
    assert g[1] == pytest.approx(g[0], rel=1e-12)


def test_truncated_reverse_kl_and_background_lose_far_points() -> None:
    d = [0.5, 3.0]
    g = push("truncated reverse KL", d, NEAR)
    assert g[1] < 1e-30 < g[0]
    g = push("truncated reverse KL", d, [])
    assert g[1] < 1e-9 * g[0]
    laplace_alone = push("truncated reverse KL", [2.0], [], kernel="laplace")
    assert laplace_alone[0] < 1e-15  # q on [a, b] has the same shape whatever the weights
    bg = alt.gradient_on_cluster(
        alt.cross_entropy, d, near=[], cluster=CLUSTER, bandwidth=0.2, background=0.05
    )
    assert bg[1] < 1e-5 * bg[0]


# --- bad input -----------------------------------------------------------------------------------


def test_bad_input() -> None:
    z, x = np.zeros(2), np.array([0.0, 1.0])
    with pytest.raises(ValueError, match=r"^kernel:"):
        alt.squared_l2(z, x, 0.0, 1.0, kernel="box")
    with pytest.raises(ValueError, match=r"^scale:"):
        alt.mmd2(z, x, 0.0, 1.0, scale=0.0)
    with pytest.raises(ValueError, match=r"^num:"):
        alt.wasserstein1(z, x, 0.0, 1.0, num=2)
    with pytest.raises(ValueError, match=r"^bandwidth:"):
        alt.truncated_reverse_kl(z, x, 0.0, 1.0, bandwidth=-1.0)
    with pytest.raises(ValueError, match=r"^a and b:"):
        alt.squared_l2(z, x, 1.0, 0.0)
    with pytest.raises(ValueError, match=r"^cluster:"):
        alt.gradient_on_cluster(alt.squared_l2, [1.0], near=[], cluster=[-1.0])
    with pytest.raises(ValueError, match=r"^distances:"):
        alt.gradient_on_cluster(alt.squared_l2, [-1.0], near=[], cluster=[0.0])
