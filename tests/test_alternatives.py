"""Alternative losses (kdeloss.book.alternatives, book/alternatives.md): values against independent
quadrature, gradients against finite differences and SymPy, the closed forms and the split of
W1 in thm-alternative-gradients, and the far-cluster limits of thm-alternatives-far."""

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
    """Exercise alternatives-ex-w1: W1 = s d + s^2 w + (c-a)^2/(2w) - s(c-a) + (b-c)^2/(2w)."""
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


# --- thm-alternative-gradients: the MMD closed form and the W1 split --------------------------


def test_mmd_closed_form_lemmas_symbolic() -> None:
    """The Gaussian product identity and C_0 = u^2 I(b - a) of eq-mmd-closed-form."""
    t, m1, m2 = sp.symbols("t m_1 m_2", real=True)
    v1, v2, w, sigma = sp.symbols("v_1 v_2 w sigma", positive=True)

    def normal(x, m, v):
        return sp.exp(-((x - m) ** 2) / (2 * v)) / sp.sqrt(2 * sp.pi * v)

    lhs = sp.log(normal(t, m1, v1) * normal(t, m2, v2))
    mean, var = (m1 * v2 + m2 * v1) / (v1 + v2), v1 * v2 / (v1 + v2)
    rhs = sp.log(normal(m1 - m2, 0, v1 + v2) * normal(t, mean, var))
    gap = sp.expand_log(lhs, force=True) - sp.expand_log(rhs, force=True)
    assert sp.simplify(sp.expand(gap)) == 0
    c0 = sigma * sp.sqrt(2 * sp.pi) * w * sp.erf(w / (sigma * sp.sqrt(2))) - 2 * sigma**2 * (
        1 - sp.exp(-(w**2) / (2 * sigma**2))
    )
    assert c0.subs(w, 0) == 0
    assert sp.simplify(sp.diff(c0, w).subs(w, 0)) == 0
    assert sp.simplify(sp.diff(c0, w, 2) - 2 * sp.exp(-(w**2) / (2 * sigma**2))) == 0


@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_cdf_integral_against_quadrature(kernel: str) -> None:
    """Psi(y) = int_{-inf}^y F_K against mpmath: quadrature of the CDF (40 digits)."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    h = mpmath.mpf("0.6")

    def cdf(s):
        if kernel == "laplace":
            return mpmath.exp(s / h) / 2 if s < 0 else 1 - mpmath.exp(-s / h) / 2
        return mpmath.ncdf(s / h)

    for y in [-30.0, -4.0, -0.3, 0.0, 0.8, 5.0]:
        exact = mpmath.quad(cdf, [-mpmath.inf, min(y, 0.0), y] if y > 0 else [-mpmath.inf, y])
        got = float(alt.kernel_cdf_integral(kernel, np.array([y]), 0.6)[0])
        assert got == pytest.approx(float(exact), rel=1e-13, abs=1e-300)
    tail0 = float(alt.kernel_cdf_integral(kernel, np.array([0.0]), 0.6)[0])  # E|X| / 2
    assert tail0 == pytest.approx(0.3 if kernel == "laplace" else 0.6 / math.sqrt(2 * math.pi))
    far = alt.kernel_cdf_integral(kernel, np.array([-1e4, 1e4]), 0.6)
    assert far[0] == 0.0 and far[1] == pytest.approx(1e4)
    with pytest.raises(ValueError, match=r"^kernel:"):
        alt.kernel_cdf_integral("box", np.array([0.0]), 0.6)


@pytest.mark.parametrize("kernel", KERNELS)
def test_wasserstein_split_and_gradient(kernel: str) -> None:
    """eq-w1-split: W1 = sum_j S_j nu(x_j) + int_a^b |F_q - F_u|.

    And eq-w1-grad: |theta_i| <= b - a."""
    for _ in range(4):
        z, x = RNG.normal(size=5), RNG.uniform(-3, 4, size=5)
        value, g = alt.wasserstein1(z, x, 0.0, 1.0, kernel=kernel, bandwidth=0.4, num=200001)
        outside, inside = alt.wasserstein1_parts(z, x, 0.0, 1.0, kernel=kernel, bandwidth=0.4)
        assert value == pytest.approx(outside + inside, abs=1e-8)
        assert 0 <= inside <= 1.0
        s = kdeloss.softmax(z)
        nu = alt.outside_cost(kernel, x, 0.0, 1.0, 0.4)
        dist = np.maximum(0.0, np.maximum(-x, x - 1.0))
        assert np.all(nu >= dist) and np.all(nu <= dist + 0.4)  # E|X| <= h for both kernels
        theta = g / s - (nu - s @ nu)
        assert np.all(np.abs(theta) <= 1.0)


@pytest.mark.parametrize("kernel", KERNELS)
def test_wasserstein_far_cluster_bounds(kernel: str) -> None:
    """Item 3 of thm-alternatives-far, with its explicit bounds, at several distances."""
    h, offsets = 0.2, np.array(CLUSTER)
    z_alone = np.array([0.3, -0.5, 0.1])
    for d in [1.0, 3.0, 10.0]:
        x = -d - offsets
        s = kdeloss.softmax(z_alone)
        _, g = alt.wasserstein1(z_alone, x, 0.0, 1.0, kernel=kernel, bandwidth=h)
        tail = float(alt.kernel_cdf_integral(kernel, np.array([-d]), h)[0])  # T(D)
        sf = 1.0 - float(alt.kernel_cdf(kernel, np.array([d]), h)[0])
        bound = 2 * s * (tail + sf) + 1e-7  # + the grid's accuracy
        assert np.all(np.abs(g - s * (s @ x - x)) <= bound)
    near = np.array(NEAR)
    z = RNG.normal(size=6)
    s = kdeloss.softmax(z)
    sc = s[3:].sum()
    excess = []
    for d in [5.0, 20.0, 80.0]:
        x = np.concatenate([near, -d - offsets])
        _, g = alt.wasserstein1(z, x, 0.0, 1.0, kernel=kernel, bandwidth=h)
        excess.append(g[3:] / s[3:] - (1 - sc) * d)
    # bounded independently of D: the excess settles (to within the grid's accuracy)
    np.testing.assert_allclose(excess[1], excess[2], atol=1e-3)
    assert np.abs(excess[2]).max() < 1 + 1.0 + 0.9 + 2 * h


def test_truncated_reverse_kl_bound_alone_gaussian() -> None:
    """eq-trunc-kl-bound for a lone Gaussian cluster: the gradient falls faster than any power."""
    g = push("truncated reverse KL", [1.0, 2.0, 4.0, 8.0], [])
    assert np.all(np.diff(np.log(g)) < -1.0)
    assert g[-1] < 1e-12
