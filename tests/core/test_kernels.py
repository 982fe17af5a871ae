"""The kernels: normalisation, definitions, and the accurate row split."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from kdeloss import KERNELS, get_kernel, wrap_angle


@pytest.mark.parametrize("name", sorted(KERNELS))
@pytest.mark.parametrize("h", [0.3, 1.0, 2.5])
def test_normalised(name, h) -> None:
    k = get_kernel(name, h)
    lo, hi = (-np.pi, np.pi) if k.circular else (-np.inf, np.inf)
    if name.endswith("box"):
        lo, hi = -h / 2, h / 2
    total, _ = integrate.quad(lambda d: k.pdf(np.array([d]))[0], lo, hi, points=None, limit=200)
    assert total == pytest.approx(1.0, rel=1e-9)


def test_definitions_match_scipy() -> None:
    d = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(
        get_kernel("laplace", 0.7).logpdf(d), stats.laplace(0, 0.7).logpdf(d)
    )
    np.testing.assert_allclose(get_kernel("gaussian", 0.7).logpdf(d), stats.norm(0, 0.7).logpdf(d))
    np.testing.assert_allclose(
        get_kernel("vonmises", 0.7).logpdf(d), stats.vonmises(1 / 0.49).logpdf(d), rtol=1e-12
    )


def test_box_is_zero_one() -> None:
    k = get_kernel("box", 0.5)
    np.testing.assert_array_equal(k.pdf(np.array([-0.3, -0.25, 0.0, 0.25, 0.3])), [0, 2, 2, 2, 0])


def test_wrap_angle_range() -> None:
    d = np.linspace(-20, 20, 1001)
    w = wrap_angle(d)
    assert np.all(w > -np.pi) and np.all(w <= np.pi)
    np.testing.assert_allclose(np.cos(w), np.cos(d), atol=1e-12)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_log_rows_reassemble_logpdf(name) -> None:
    rng = np.random.default_rng(7)
    k = get_kernel(name, 0.8)
    x = rng.uniform(-2, 2, size=9)
    t = np.linspace(-1, 1, 7)
    if name.endswith("box"):
        x = np.concatenate([x, t])  # every row covered
    offset, rest = k.log_rows(t, x)
    full = k.logpdf(t[:, None] - x[None, :])
    np.testing.assert_allclose(offset[:, None] + rest, full, atol=1e-13)
    assert np.all(rest <= 0.0)
    np.testing.assert_array_equal(rest.max(axis=1), 0.0)


def test_vonmises_huge_kappa_does_not_overflow() -> None:
    k = get_kernel("vonmises", 1e-4)  # kappa = 1e8
    v = k.logpdf(np.array([0.0, 1e-4, np.pi]))
    assert np.all(np.isfinite(v))
    # near 0 it is the Gaussian of scale h
    assert v[1] - v[0] == pytest.approx(-0.5, rel=1e-6)
