"""The SymPy builders: the closed form, the one-hot and scale properties, and lambdify."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from kdeloss import bin_grad, get_kernel, softmax
from kdeloss import symbolic as ks


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_gradient_simplifies_to_closed_form(n) -> None:
    assert ks.gradient_matches_closed_form(n)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_one_hot_is_softmax_cross_entropy(n) -> None:
    z, K = ks.make_symbols(n)
    s = ks.softmax_weights(z)
    for y in range(n):
        g = [e.subs(ks.one_hot(K, y)) for e in ks.gradient(z, K)]
        for i in range(n):
            assert sp.simplify(g[i] - (s[i] - (1 if i == y else 0))) == 0


def test_one_hot_set_and_constant() -> None:
    z, K = ks.make_symbols(4)
    c = sp.Symbol("c", positive=True)
    s = ks.softmax_weights(z)
    covered = [0, 2]
    g = [e.subs(ks.one_hot(K, covered, c)) for e in ks.gradient(z, K)]
    mass = s[0] + s[2]
    for i in range(4):
        expected = s[i] - (s[i] / mass if i in covered else 0)
        assert sp.simplify(g[i] - expected) == 0


def test_scale_invariance_symbolic() -> None:
    z, K = ks.make_symbols(3)
    c = sp.Symbol("c", positive=True)
    g = ks.gradient(z, K)
    gc = [e.subs(ks.scaled(K, c), simultaneous=True) for e in g]
    for a, b in zip(g, gc, strict=True):
        assert sp.simplify(a - b) == 0
    shift = ks.bin_loss(z, K).subs(ks.scaled(K, c), simultaneous=True) - ks.bin_loss(z, K)
    assert sp.simplify(sp.expand_log(shift, force=True) + sp.log(c)) == 0


@pytest.mark.parametrize("kernel", ["laplace", "gaussian", "vonmises"])
def test_lambdify_matches_bin_grad(kernel) -> None:
    rng = np.random.default_rng(3)
    f = ks.lambdify_gradient(5)
    for _ in range(20):
        z = rng.normal(size=5)
        x = rng.uniform(-2, 2, size=5)
        t = rng.uniform(-1, 1)
        k = get_kernel(kernel, 0.9).pdf(t - x)
        np.testing.assert_allclose(
            f(z, k), bin_grad(z, x, t, kernel=kernel, bandwidth=0.9), atol=1e-14
        )


def test_closed_form_is_weight_minus_responsibility_numerically() -> None:
    z, K = ks.make_symbols(3)
    expr = ks.closed_form(z, K)
    zv = np.array([0.1, -0.4, 0.9])
    kv = np.array([0.2, 1.5, 0.7])
    vals = [float(e.subs(dict(zip(z + K, np.concatenate([zv, kv]), strict=True)))) for e in expr]
    s = softmax(zv)
    np.testing.assert_allclose(vals, s - s * kv / (s @ kv), atol=1e-15)


def test_make_symbols_rejects_bad_n() -> None:
    with pytest.raises(ValueError, match=r"^n: expected an integer >= 1"):
        ks.make_symbols(0)
