"""The shared reference itself (kdeloss.testing), checked against closed forms.

The regime and regression tests judge the library by :func:`kdeloss.testing.reference`; these
tests check that the judge is right, from formulas derived by hand and an independent
straightforward mpmath evaluation at 200 digits.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest

import kdeloss as K
from kdeloss.testing import (
    Reference,
    central_difference,
    complex_step,
    errors,
    grad_error,
    loss_error,
    reference,
    reference_at,
)


def brute_force(z, x, a, b, kernel, h, bins, eps=0.0, dps=200):
    """The textbook sums at ``dps`` digits with densities, no log-space tricks."""
    t = K.bin_centers(a, b, bins)
    with mp.workdps(dps):
        hh = mp.mpf(h)
        ez = [mp.exp(mp.mpf(float(v))) for v in z]
        s = [e / mp.fsum(ez) for e in ez]

        def k(d):
            if kernel == "laplace":
                return mp.exp(-abs(d) / hh) / (2 * hh)
            if kernel == "gaussian":
                return mp.exp(-d * d / (2 * hh * hh)) / (hh * mp.sqrt(2 * mp.pi))
            if kernel == "box":
                return 1 / hh if abs(d) <= hh / 2 else mp.mpf(0)
            kappa = 1 / (hh * hh)
            return mp.exp(kappa * mp.cos(d)) / (2 * mp.pi * mp.besseli(0, kappa))

        u = 1 / (mp.mpf(b) - mp.mpf(a))
        loss = mp.mpf(0)
        grad = [mp.mpf(0)] * len(s)
        for tm in t:
            kv = [k(mp.mpf(float(tm)) - mp.mpf(float(xj))) for xj in x]
            qm = mp.fsum(si * ki for si, ki in zip(s, kv, strict=True))
            q = (1 - eps) * qm + eps * u
            pi = (1 - eps) * qm / q
            loss -= mp.log(q)
            grad = [g + pi * (si - si * ki / qm) for g, si, ki in zip(grad, s, kv, strict=True)]
        m = len(t)
        return float(loss / m), np.array([float(g / m) for g in grad])


@pytest.mark.parametrize("kernel", ["laplace", "gaussian", "box", "vonmises"])
@pytest.mark.parametrize("eps", [0.0, 0.3])
def test_matches_brute_force(kernel: str, eps: float) -> None:
    rng = np.random.default_rng(1)
    z, x = rng.normal(size=5), rng.uniform(-1.0, 2.0, size=5)
    h = 2.5 if kernel == "box" else 0.7
    L, g, logq = reference(z, x, 0.0, 1.0, kernel=kernel, bandwidth=h, bins=9, background=eps)
    L0, g0 = brute_force(z, x, 0.0, 1.0, kernel, h, 9, eps)
    assert abs(L - L0) <= 1e-15 * abs(L0) and np.abs(g - g0).max() <= 1e-16
    assert logq.shape == (9,) and abs(-logq.mean() - L) <= 1e-15 * abs(L)


def test_one_point_closed_form() -> None:
    # one Laplace point at 0, target [0, 1]: L = mean(t_m)/h + log(2h), gradient 0
    h = 0.3
    L, g, _ = reference([0.7], [0.0], 0.0, 1.0, bandwidth=h, bins=8)
    t = K.bin_centers(0.0, 1.0, 8)
    assert L == pytest.approx(float(np.mean(t)) / h + math.log(2 * h), rel=1e-15)
    assert g.tolist() == [0.0]


def test_huge_equal_logits_are_the_zero_logits() -> None:
    x = [0.0, 0.5, -0.3]
    L, g, _ = reference([1e300] * 3, x, -1.0, 1.0, bins=16)
    L0, g0, _ = reference([0.0] * 3, x, -1.0, 1.0, bins=16)
    assert L == L0 and np.array_equal(g, g0)
    assert round(L, 5) == 1.20816


def test_near_equal_points_far_away_from_the_formula() -> None:
    # Gaussian: log K_0 - log K_1 = (x_1 - x_0)(x_0 + x_1 - 2t) / (2h^2) = -5e-11 (t - 2.5e-11)
    t = K.bin_centers(1e6, 1e6 + 1.0, 4)
    with mp.workdps(50):
        r0 = [1 / (1 + mp.exp(mp.mpf(5e-11) * (mp.mpf(float(tm)) - mp.mpf(2.5e-11)))) for tm in t]
        g0 = float(mp.mpf(0.5) - mp.fsum(r0) / 4)
    _, g, _ = reference([0.0, 0.0], [0.0, 5e-11], 1e6, 1e6 + 1.0, kernel="gaussian", bins=4)
    assert g[0] == pytest.approx(g0, rel=1e-14) and g[1] == pytest.approx(-g0, rel=1e-14)


def test_precision_grows_with_the_exponents() -> None:
    # logits 1e300 apart by one ulp-sized step: the difference is 2**945, exactly exp-able
    big = 1e300
    nxt = float(np.nextafter(big, np.inf))
    _, g, _ = reference([big, nxt], [0.0, 0.0], 0.0, 1.0, bins=4)
    assert g.tolist() == [0.0, 0.0]  # the same position: no gradient whatever the weights
    L2, g2, _ = reference([big, big - 1.0], [0.0, 1.0], 0.0, 1.0, bins=4)  # big - 1 == big
    L3, g3, _ = reference([0.0, 0.0], [0.0, 1.0], 0.0, 1.0, bins=4)
    assert L2 == L3 and np.abs(g2 - g3).max() < 1e-80


def test_vonmises_log_i0_across_the_series_threshold() -> None:
    from kdeloss.kernels import _mp_log_i0e as _log_i0e

    with mp.workprec(300):
        for kappa in (0.5, 10.0, 299.0, 301.0, 1000.0, 5e4):
            k = mp.mpf(kappa)
            series = _log_i0e(mp.mp, k)
            with mp.workdps(150):
                exact = mp.log(mp.besseli(0, k)) - k
            assert abs(series - exact) < mp.mpf(2) ** -280, kappa


def test_vonmises_huge_kappa_is_the_gaussian_limit() -> None:
    # h = 1e-300 (kappa = 1e600): points on the bin centres, every other point is at least a
    # bin away (1e299 bandwidths): q(t_m) = S_m K(0), K(0) = 1 / (h sqrt(2 pi)) (1 + O(1/kappa))
    t = K.bin_centers(-1.0, 1.0, 6)
    z = np.array([0.3, -0.2, 1.0, 0.0, 0.5, -1.0])
    L, g, _ = reference(z, t, -1.0, 1.0, kernel="vonmises", bandwidth=1e-300, bins=6)
    ls = z - np.log(np.exp(z).sum())
    expect = -ls.mean() + 0.5 * math.log(2 * math.pi) + math.log(1e-300)
    assert L == pytest.approx(expect, rel=1e-14)
    assert np.abs(g - (np.exp(ls) - 1 / 6)).max() < 1e-15


@pytest.mark.parametrize("h", [1e155, 1e200, 1e300])
def test_vonmises_tiny_kappa_is_uniform(h: float) -> None:
    L, g, _ = reference([0.0, 1.0], [0.0, 1.0], -1.0, 1.0, kernel="vonmises", bandwidth=h)
    assert L == pytest.approx(math.log(2 * math.pi), rel=1e-15)
    assert np.abs(g).max() < 1e-300


def test_loss_that_is_not_a_float() -> None:
    L, _, logq = reference([0.0], [0.0], 1e308, 1.7e308, kernel="gaussian", bins=4)
    assert L == math.inf and np.all(logq == -np.finfo(float).max)
    L, _, _ = reference([0.0], [0.0], 1e308, 1.7e308, kernel="laplace", bins=4)
    assert L == pytest.approx(1.35e308, rel=1e-15)


def test_box_coverage_and_background() -> None:
    with pytest.raises(ValueError, match=r"^bins: bin 1\b"):
        reference([0.0], [0.0], 0.0, 1.0, kernel="box", bandwidth=0.5, bins=4)
    # with a background the bare bins have q = eps / (b - a) and pi = 0
    _, g, logq = reference(
        [0.0], [0.0], 0.0, 1.0, kernel="box", bandwidth=0.5, bins=4, background=0.2
    )
    assert logq[1:].tolist() == pytest.approx([math.log(0.2)] * 3, rel=1e-15)
    assert logq[0] == pytest.approx(math.log(0.8 * 2.0 + 0.2), rel=1e-15)
    assert g.tolist() == [0.0]


def test_box_edge_is_decided_exactly() -> None:
    # t - x = h/2 + 2.6e-14 exactly, but rounds to h/2 in floats: uncovered for the reference
    x, b, h = -2.63088944709926e-14, 5.0806544557967594, 5.080654455796786
    t = K.bin_centers(x, b, 1)
    assert abs(float(t[0]) - x) <= h / 2  # the float difference says covered
    with pytest.raises(ValueError, match=r"^bins"):
        reference([0.0], [x], x, b, kernel="box", bandwidth=h, bins=1)


class MpLaplace:
    """A user kernel with an mpmath twin, to check the object path."""

    def __init__(self, bandwidth: float) -> None:
        self.bandwidth = bandwidth

    def logpdf(self, d):
        return -np.abs(d) / self.bandwidth - np.log(2 * self.bandwidth)

    def mp_logpdf(self, d, h):
        return -abs(d) / h - mp.log(2 * h)


def test_kernel_objects() -> None:
    z, x = [0.1, -0.4, 0.3], [0.0, 0.6, 1.4]
    base = reference(z, x, 0.0, 1.0, kernel="laplace", bandwidth=0.4, bins=8)
    for kern in (MpLaplace(0.4), K.Laplace(0.4), K.get_kernel("laplace", 0.4)):
        L, g, _ = reference(z, x, 0.0, 1.0, kernel=kern, bins=8)
        assert L == base[0] and np.array_equal(g, base[1])
    L, g, _ = reference(z, x, 0.0, 1.0, kernel=K.ScaledKernel("laplace", 2.0, 0.4), bins=8)
    assert L == pytest.approx(base[0] - 2.0, rel=1e-15) and np.abs(g - base[1]).max() < 1e-16
    with pytest.raises(ValueError, match=r"^kernel"):
        reference(z, x, 0.0, 1.0, kernel=K.Laplace, bins=8)

    class NoTwin:
        def logpdf(self, d):
            return -np.abs(d)

    with pytest.raises(ValueError, match=r"^kernel"):
        reference(z, x, 0.0, 1.0, kernel=NoTwin(), bins=8)


@pytest.mark.parametrize(("a", "b", "name"), [(1.0, 1.0, "a"), (2.0, 1.0, "a")])
def test_bad_intervals_raise(a: float, b: float, name: str) -> None:
    with pytest.raises(ValueError, match=f"^{name}"):
        reference([0.0], [0.0], a, b)


def test_an_interval_wider_than_the_float_range_is_fine() -> None:
    """``b - a`` overflows, but the bin centres and ``log(b - a)`` do not."""
    L, g, logq = reference([0.0, 0.0], [-1.0, 1.0], -1e308, 1e308, bins=4)
    assert math.isfinite(L) and np.all(np.isfinite(logq))
    np.testing.assert_allclose(g, 0.0, atol=1e-15)  # symmetric


@pytest.mark.parametrize("kernel", ["laplace", "gaussian", "box", "vonmises"])
def test_benign_inputs_take_the_cheap_path(kernel: str) -> None:
    # What keeps the reference quick on ordinary inputs (no timing here: speed is make
    # bench's business): the exponents are bounded from floats, with no low-precision
    # mpmath scan, and they are small, so no extra precision is added.
    from kdeloss.testing import _float_magnitude, _Kernel

    rng = np.random.default_rng(2)
    z, x = rng.normal(size=8), rng.uniform(-1.0, 1.0, size=8)
    t = K.bin_centers(-1.0, 1.0, 32)
    big = _float_magnitude(z, x, t, _Kernel(kernel, 2.0), 300)
    assert big is not None and big < 16.0


def test_error_measures() -> None:
    logq = np.array([-1e6, -3e6])
    assert loss_error(2e6 + 2.0, 2e6, logq) == pytest.approx(1e-6)
    assert loss_error(0.5 + 1e-9, 0.5, np.array([-0.1])) == pytest.approx(1e-9)
    assert loss_error(math.inf, 1.0, logq) == math.inf
    assert loss_error(1.7e308, -1.7e308, np.array([-1.7e308, 1.7e308])) == pytest.approx(2.0)
    assert grad_error([0.5, -0.5], [0.5, -0.5 + 1e-12]) == pytest.approx(1e-12, rel=1e-3)
    assert grad_error([0.5], [0.5, 0.0]) == math.inf


def test_difference_gradients() -> None:
    z, x = np.array([0.3, -0.2, 1.0]), np.array([-0.5, 1.5, 0.2])
    _, g = K.loss_and_grad(z, x, 0.0, 1.0, bins=8)
    cs = complex_step(lambda v: K.loss(v, x, 0.0, 1.0, bins=8), z)
    cd = central_difference(lambda v: K.loss(v, x, 0.0, 1.0, bins=8), z, 1e-5)
    assert np.abs(cs - g).max() < 1e-15
    assert np.abs(cd - g).max() < 1e-9


# --- reference_at: any points t, any background density, responsibilities -------------------


@pytest.mark.parametrize("kernel", ["laplace", "gaussian", "box", "vonmises"])
def test_reference_at_the_bin_centres_is_reference(kernel: str) -> None:
    rng = np.random.default_rng(4)
    z, x = rng.normal(size=5), rng.uniform(-1.0, 2.0, size=5)
    h = 2.5 if kernel == "box" else 0.7
    want = reference(z, x, 0.0, 2.0, kernel=kernel, bandwidth=h, bins=9, background=0.3)
    t = K.bin_centers(0.0, 2.0, 9)
    got = reference_at(z, x, t, kernel=kernel, bandwidth=h, background=0.3, log_u=-math.log(2.0))
    assert isinstance(got, Reference)
    assert got.loss == pytest.approx(want[0], rel=1e-15)
    assert np.abs(got.grad - want[1]).max() <= 1e-16
    np.testing.assert_allclose(got.logq, want[2], rtol=1e-15)
    # the responsibilities are kdeloss's, and each row sums to 1
    r = K.responsibilities(z, x, t, kernel=kernel, bandwidth=h)
    assert got.resp.shape == (9, 5) and np.abs(got.resp - r).max() <= 1e-15
    np.testing.assert_allclose(got.resp.sum(axis=1), 1.0, rtol=1e-15)
    assert errors(
        K.loss_and_grad(z, x, 0.0, 2.0, kernel=kernel, bandwidth=h, bins=9, background=0.3), got
    ) <= (1e-15, 1e-15)


def test_reference_at_any_points_and_background_density() -> None:
    # one Laplace point at 0, t = [1, 3], background eps = 0.5 of density e^-2
    ref = reference_at([0.0], [0.0], [1.0, 3.0], background=0.5, log_u=-2.0)
    q = 0.5 * np.exp(-np.array([1.0, 3.0])) / 2 + 0.5 * np.exp(-2.0)
    np.testing.assert_allclose(ref.logq, np.log(q), rtol=1e-15)
    assert ref.loss == pytest.approx(-np.log(q).mean(), rel=1e-15)
    assert ref.resp.tolist() == [[1.0], [1.0]] and ref.grad.tolist() == [0.0]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"t": []}, "t"),
        ({"t": [0.0, np.nan]}, "t"),
        ({"log_u": np.inf}, "log_u"),
        ({"background": 1.0}, "background"),
        ({"kernel": "cauchy"}, "kernel"),
        ({"kernel": "wrapped_laplace"}, "kernel"),
        ({"bandwidth": -1.0}, "bandwidth"),
        ({"z": [0.0, 1.0]}, "x"),
    ],
)
def test_reference_at_bad_input(kwargs: dict, name: str) -> None:
    args = {"z": [0.0], "x": [0.0], "t": [0.5]} | kwargs
    with pytest.raises(ValueError, match=f"^{name}"):
        reference_at(args.pop("z"), args.pop("x"), args.pop("t"), **args)
