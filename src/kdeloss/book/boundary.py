r"""Weights that are zero at the optimum: how fast gradient descent and EM approach them.

The chapter "EM and convexity" proves that, with two points, gradient descent with step
``eta`` drives a useless point's weight down like ``1/(2 eta C k)`` after ``k`` steps, where
``C = 1 - gamma`` and ``gamma_i = mean_m K(t_m - x_i) / q(t_m)`` is the KKT ratio at the
optimum (:func:`kdeloss.book.checks.kkt_ratios`); EM multiplies it by ``gamma`` at every step.
With ``n`` points that keep a positive weight and ``m`` useless ones, the same computation gives
``k S_i(k) -> n / ((n + m) eta C_i)``: :func:`slow_decay_limits`.
"""

from __future__ import annotations

import numpy as np

from .._validate import as_scalar, as_vector

__all__ = ["slow_decay_limits"]


def slow_decay_limits(
    weights: np.ndarray, gamma: np.ndarray, lr: float, *, zero: float = 1e-12
) -> np.ndarray:
    r"""The limits of ``k S_i(k)`` under gradient descent, for the points with zero weight.

    At an optimum ``S*`` with ``n`` weights above ``zero`` and ``m`` at or below it, a useless
    point ``i`` (``gamma_i < 1``, ``C_i = 1 - gamma_i > 0``) loses weight like
    ``S_i(k) ~ n / ((n + m) eta C_i k)``. With two points (``n = m = 1``) this is
    ``1 / (2 eta C k)``; a point that covers nothing (``C = 1``) among many others falls like
    ``1 / (eta k)``.

    Parameters
    ----------
    weights : array_like, shape (N,)
        The optimal weights ``S*`` (e.g. from a long :func:`kdeloss.em` run).
    gamma : array_like, shape (N,)
        The KKT ratios at ``S*`` (:func:`kdeloss.book.checks.kkt_ratios`).
    lr : float
        The step size ``eta`` (> 0).
    zero : float
        Weights at or below this count as zero.

    Returns
    -------
    ndarray, shape (N,)
        ``n / ((n + m) eta C_i)`` for the zero-weight points with ``C_i > 0``; NaN for the
        others (positive weight, or ``C_i <= 0``: no ``1/k`` law).

    Examples
    --------
    Two points, the second useless with ``gamma_2 = 0.5``, step 1: ``1 / (2 * 1 * 0.5) = 1``.

    >>> slow_decay_limits([1.0, 0.0], [1.0, 0.5], 1.0)
    array([nan,  1.])
    >>> slow_decay_limits([0.5, 0.5, 0.0], [1.0, 1.0, 0.0], 2.0)   # 2 / (3 * 2 * 1)
    array([       nan,        nan, 0.33333333])
    """
    s = as_vector("weights", weights)
    g = as_vector("gamma", gamma)
    if g.shape != s.shape:
        raise ValueError(f"gamma: expected shape {s.shape} like weights, got {g.shape}")
    eta = as_scalar("lr", lr)
    if not eta > 0:
        raise ValueError(f"lr: must be > 0, got {eta}")
    tiny = as_scalar("zero", zero)
    useless = s <= tiny
    n, m = int((~useless).sum()), int(useless.sum())
    if n == 0:
        raise ValueError("weights: expected at least one weight above `zero`")
    c = 1.0 - g
    out = np.full(s.shape, np.nan)
    ok = useless & (c > 0)
    out[ok] = n / ((n + m) * eta * c[ok])
    return out
