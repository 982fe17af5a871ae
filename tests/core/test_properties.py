"""Hypothesis properties of the gradient (at least 200 examples each, derandomized)."""

from __future__ import annotations

import numpy as np
from _examples import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from kdeloss import bin_grad, get_kernel, loss_and_grad, responsibilities

PROPERTY = settings(max_examples=examples(200), deadline=None, derandomize=True)
SMOOTH = ["laplace", "gaussian", "vonmises"]


@st.composite
def problems(draw, kernels=tuple(SMOOTH)):
    """A random problem: N points, logits, a target [a, b], a kernel and a bandwidth."""
    n = draw(st.integers(1, 8))
    real = st.floats(-4.0, 4.0, allow_nan=False, allow_infinity=False)
    z = np.array(draw(st.lists(real, min_size=n, max_size=n)))
    x = np.array(draw(st.lists(real, min_size=n, max_size=n)))
    a = draw(st.floats(-3.0, 2.0))
    width = draw(st.floats(0.05, 4.0))
    kernel = draw(st.sampled_from(kernels))
    h = draw(st.floats(0.2, 3.0))
    bins = draw(st.integers(1, 40))
    return z, x, a, a + width, kernel, h, bins


@PROPERTY
@given(problems())
def test_gradient_sums_to_zero(p) -> None:
    z, x, a, b, kernel, h, bins = p
    _, g = loss_and_grad(z, x, a, b, kernel=kernel, bandwidth=h, bins=bins)
    assert abs(g.sum()) <= 1e-14 * max(1.0, np.abs(g).max())


@PROPERTY
@given(problems())
def test_gradient_matches_central_differences(p) -> None:
    z, x, a, b, kernel, h, bins = p
    _, g = loss_and_grad(z, x, a, b, kernel=kernel, bandwidth=h, bins=bins)
    step = 1e-6
    fd = np.empty_like(z)
    for i in range(z.size):
        e = np.zeros_like(z)
        e[i] = step
        up, _ = loss_and_grad(z + e, x, a, b, kernel=kernel, bandwidth=h, bins=bins)
        down, _ = loss_and_grad(z - e, x, a, b, kernel=kernel, bandwidth=h, bins=bins)
        fd[i] = (up - down) / (2 * step)
    np.testing.assert_allclose(fd, g, atol=2e-8)


@PROPERTY
@given(problems(), st.floats(-50.0, 50.0))
def test_invariant_to_logit_shift(p, c) -> None:
    z, x, a, b, kernel, h, bins = p
    L0, g0 = loss_and_grad(z, x, a, b, kernel=kernel, bandwidth=h, bins=bins)
    L1, g1 = loss_and_grad(z + c, x, a, b, kernel=kernel, bandwidth=h, bins=bins)
    assert abs(L1 - L0) <= 1e-12 * max(1.0, abs(L0))
    np.testing.assert_allclose(g1, g0, atol=1e-13)


class Scaled:
    """``c * K`` for a named kernel ``K``: ``log K + log c``."""

    def __init__(self, name: str, h: float, log_c: float) -> None:
        self.base = get_kernel(name, h)
        self.log_c = log_c

    def logpdf(self, d: np.ndarray) -> np.ndarray:
        return self.base.logpdf(d) + self.log_c


@PROPERTY
@given(problems(), st.floats(-700.0, 700.0))
def test_invariant_to_kernel_scale(p, log_c) -> None:
    """K -> cK leaves the gradient alone and shifts the loss by -log c."""
    z, x, a, b, kernel, h, bins = p
    L0, g0 = loss_and_grad(z, x, a, b, kernel=kernel, bandwidth=h, bins=bins)
    L1, g1 = loss_and_grad(z, x, a, b, kernel=Scaled(kernel, h, log_c), bins=bins)
    assert abs((L1 - L0) + log_c) <= 1e-12 * max(1.0, abs(L0), abs(log_c))
    np.testing.assert_allclose(g1, g0, atol=1e-13)


@PROPERTY
@given(problems(), st.lists(st.floats(-6.0, 6.0), min_size=1, max_size=10))
def test_responsibilities_sum_to_one(p, ts) -> None:
    z, x, _, _, kernel, h, _ = p
    r = responsibilities(z, x, np.array(ts), kernel=kernel, bandwidth=h)
    assert np.all(r >= 0.0)
    np.testing.assert_allclose(r.sum(axis=1), 1.0, atol=1e-14)
    g = bin_grad(z, x, np.array(ts), kernel=kernel, bandwidth=h)
    np.testing.assert_allclose(g.sum(axis=1), 0.0, atol=1e-14)
