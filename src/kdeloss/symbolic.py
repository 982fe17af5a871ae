r"""SymPy builders for the one-bin loss and its gradient.

The one-bin loss of ``n`` points, with logits ``z_1..z_n`` and kernel values
``K_1..K_n`` (``K_j = K(x - x_j) > 0``) as symbols:

.. math::

    l(z) = -\log \sum_j S_j K_j, \qquad S_j = \frac{e^{z_j}}{\sum_k e^{z_k}},

and the closed form of its gradient, ``dl/dz_i = S_i - S_i K_i / sum_j S_j K_j``.

Examples
--------
>>> z, K = make_symbols(2)
>>> bool(gradient_matches_closed_form(2))
True

With ``K = (1, 0)`` (only point 1 covers the bin) it is softmax cross-entropy with label 1,
``(S_1 - 1, S_2) = (-S_2, S_2)``:

>>> [sp.simplify(g.subs(one_hot(K, 0))) for g in gradient(z, K)]
[-exp(z2)/(exp(z1) + exp(z2)), exp(z2)/(exp(z1) + exp(z2))]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import sympy as sp

__all__ = [
    "background_closed_form",
    "background_loss",
    "bin_loss",
    "closed_form",
    "gradient",
    "gradient_matches_closed_form",
    "lambdify_gradient",
    "make_symbols",
    "mixture",
    "one_hot",
    "scaled",
    "softmax_weights",
    "weighted_closed_form",
    "weighted_loss",
]


def make_symbols(n: int) -> tuple[tuple[sp.Symbol, ...], tuple[sp.Symbol, ...]]:
    """Real logits ``z1..zn`` and positive kernel values ``K1..Kn``.

    >>> make_symbols(3)
    ((z1, z2, z3), (K1, K2, K3))
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected an integer >= 1, got {n!r}")
    z = sp.symbols(f"z1:{n + 1}", real=True)
    k = sp.symbols(f"K1:{n + 1}", positive=True)
    return tuple(z), tuple(k)


def softmax_weights(z: Sequence[sp.Expr]) -> list[sp.Expr]:
    """``S_i = exp(z_i) / sum_k exp(z_k)``."""
    total = sp.Add(*[sp.exp(zi) for zi in z])
    return [sp.exp(zi) / total for zi in z]


def mixture(z: Sequence[sp.Expr], K: Sequence[sp.Expr]) -> sp.Expr:
    """The weighted density at the bin, ``q = sum_j S_j K_j``."""
    return sp.Add(*[s * k for s, k in zip(softmax_weights(z), K, strict=True)])


def bin_loss(z: Sequence[sp.Expr], K: Sequence[sp.Expr]) -> sp.Expr:
    """The one-bin loss ``l = -log q``."""
    return -sp.log(mixture(z, K))


def gradient(z: Sequence[sp.Expr], K: Sequence[sp.Expr]) -> list[sp.Expr]:
    """``[dl/dz_i]`` by symbolic differentiation of :func:`bin_loss` (not simplified)."""
    loss = bin_loss(z, K)
    return [sp.diff(loss, zi) for zi in z]


def closed_form(z: Sequence[sp.Expr], K: Sequence[sp.Expr]) -> list[sp.Expr]:
    """The closed form ``S_i - S_i K_i / q``: weight minus responsibility."""
    s = softmax_weights(z)
    q = mixture(z, K)
    return [si - si * ki / q for si, ki in zip(s, K, strict=True)]


def gradient_matches_closed_form(n: int) -> bool:
    """True when ``simplify(gradient - closed_form)`` is 0 in every component."""
    z, K = make_symbols(n)
    return all(
        sp.simplify(g - c) == 0 for g, c in zip(gradient(z, K), closed_form(z, K), strict=True)
    )


def one_hot(K: Sequence[sp.Expr], covered: int | Sequence[int], c: sp.Expr = 1) -> dict:
    """Substitution that sets ``K_j = c`` for ``j`` in ``covered`` (0-based) and 0 elsewhere.

    >>> z, K = make_symbols(3)
    >>> one_hot(K, 1)
    {K1: 0, K2: 1, K3: 0}
    """
    cov = {covered} if isinstance(covered, int) else set(covered)
    return {k: (c if j in cov else 0) for j, k in enumerate(K)}


def scaled(K: Sequence[sp.Expr], c: sp.Expr) -> dict:
    """Substitution ``K_j -> c K_j`` for every ``j``."""
    return {k: c * k for k in K}


def lambdify_gradient(n: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A NumPy function ``f(z, K) -> dl/dz`` made by ``sympy.lambdify`` of :func:`gradient`.

    >>> f = lambdify_gradient(2)
    >>> f(np.array([0.0, 0.0]), np.array([1.0, 3.0]))
    array([ 0.25, -0.25])
    """
    z, K = make_symbols(n)
    fn = sp.lambdify([z, K], gradient(z, K), modules="numpy")

    def grad(zv: np.ndarray, kv: np.ndarray) -> np.ndarray:
        return np.asarray(fn(np.asarray(zv, dtype=float), np.asarray(kv, dtype=float)), float)

    return grad


def background_loss(
    z: Sequence[sp.Expr], K: Sequence[sp.Expr], eps: sp.Expr, u: sp.Expr
) -> sp.Expr:
    """One-bin loss with a fixed background: ``-log((1 - eps) q + eps u)``."""
    return -sp.log((1 - eps) * mixture(z, K) + eps * u)


def background_closed_form(
    z: Sequence[sp.Expr], K: Sequence[sp.Expr], eps: sp.Expr, u: sp.Expr
) -> list[sp.Expr]:
    """``pi * (S_i - S_i K_i / q)`` with ``pi = (1 - eps) q / ((1 - eps) q + eps u)``.

    >>> z, K = make_symbols(2)
    >>> eps, u = sp.symbols("epsilon u", positive=True)
    >>> loss = background_loss(z, K, eps, u)
    >>> all(sp.simplify(sp.diff(loss, zi) - c) == 0
    ...     for zi, c in zip(z, background_closed_form(z, K, eps, u)))
    True
    """
    q = mixture(z, K)
    pi = (1 - eps) * q / ((1 - eps) * q + eps * u)
    return [pi * c for c in closed_form(z, K)]


def weighted_loss(
    z: Sequence[sp.Expr], K_rows: Sequence[Sequence[sp.Expr]], w: Sequence[sp.Expr]
) -> sp.Expr:
    """The loss of a general target over bins: ``-sum_m w_m log q_m / sum_m w_m``.

    ``K_rows[m]`` are the kernel values at bin ``m``; ``w`` the bins' target weights.
    """
    total = sp.Add(*w)
    return sp.Add(*[wm * bin_loss(z, row) for wm, row in zip(w, K_rows, strict=True)]) / total


def weighted_closed_form(
    z: Sequence[sp.Expr], K_rows: Sequence[Sequence[sp.Expr]], w: Sequence[sp.Expr]
) -> list[sp.Expr]:
    """``S_i - sum_m w_m r_i(t_m) / sum_m w_m``: weight minus expected responsibility.

    >>> z, _ = make_symbols(2)
    >>> K_rows = [sp.symbols("K11 K12", positive=True), sp.symbols("K21 K22", positive=True)]
    >>> w = sp.symbols("w1 w2", positive=True)
    >>> loss = weighted_loss(z, K_rows, w)
    >>> all(sp.simplify(sp.diff(loss, zi) - c) == 0
    ...     for zi, c in zip(z, weighted_closed_form(z, K_rows, w)))
    True
    """
    total = sp.Add(*w)
    s = softmax_weights(z)
    expected_r = [
        sp.Add(*[wm * si * row[i] / mixture(z, row) for wm, row in zip(w, K_rows, strict=True)])
        / total
        for i, si in enumerate(s)
    ]
    return [si - ri for si, ri in zip(s, expected_r, strict=True)]
