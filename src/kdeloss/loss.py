r"""The loss, its exact gradient, and the responsibilities, computed in log space.

Notation (``../shared/MATH.md``): points ``x_j`` with logits ``z_j``, weights
``S = softmax(z)``, a normalised kernel ``K``, the weighted density
``q(t) = sum_j S_j K(t - x_j)`` and a uniform target on ``[a, b]``. Binning is the midpoint
rule with ``M`` bins at ``t_m = a + (m + 1/2)(b - a)/M``:

.. math::

    L_M(z) = -\frac{1}{M} \sum_m \log q(t_m), \qquad
    \frac{\partial L_M}{\partial z_i} = S_i - \frac{1}{M} \sum_m r_i(t_m),

where ``r_i(t) = S_i K(t - x_i) / q(t)`` is the responsibility of point ``i`` for ``t``.
Nothing here divides one density by another: ``log q`` is a log-sum-exp and ``r`` is a
softmax of ``z + log K``, so points far from the target (where every ``K`` underflows) give
finite, exact numbers.
"""

from __future__ import annotations

import numpy as np

from ._validate import as_bins, as_bins_at, as_interval, as_points
from .kernels import Kernel, LogPdf, get_kernel

__all__ = [
    "bin_centers",
    "bin_grad",
    "log_density",
    "log_softmax",
    "loss",
    "loss_and_grad",
    "responsibilities",
    "softmax",
]

KernelLike = str | LogPdf


def log_softmax(z: np.ndarray) -> np.ndarray:
    """``log softmax(z)``, stable for any finite ``z`` (real or complex).

    Examples
    --------
    >>> np.exp(log_softmax(np.array([1000.0, 1000.0])))
    array([0.5, 0.5])
    """
    z = np.asarray(z)
    shift = np.max(z.real)
    e = np.exp(z - shift)
    return z - (shift + np.log(e.sum()))


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax weights ``S_i = exp(z_i) / sum_j exp(z_j)``.

    Examples
    --------
    >>> softmax(np.array([0.0, np.log(3.0)]))
    array([0.25, 0.75])
    """
    return np.exp(log_softmax(z))


def bin_centers(a: float, b: float, bins: int) -> np.ndarray:
    """Midpoint-rule nodes ``t_m = a + (m + 1/2)(b - a)/M`` for ``m = 0..M-1``.

    Examples
    --------
    >>> bin_centers(0.0, 1.0, 4)
    array([0.125, 0.375, 0.625, 0.875])
    """
    a, b = as_interval(a, b)
    m = as_bins(bins)
    return a + (np.arange(m) + 0.5) * ((b - a) / m)


def _core(
    z: np.ndarray, x: np.ndarray, t: np.ndarray, kern: Kernel, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """``log q(t_m)`` and ``r[m, j]`` for clean inputs; raises if a row has ``q = 0``."""
    offset, rest = kern.log_rows(t, x)
    if not np.all(np.isfinite(offset)):
        m = int(np.flatnonzero(~np.isfinite(offset))[0])
        raise ValueError(
            f"{what}: bin {m} at t = {t[m]:.12g} is covered by no kernel, so q = 0 and "
            f"log q = -inf there; widen the bandwidth or move the points"
        )
    a = log_softmax(z)[None, :] + rest
    peak = a.real.max(axis=1, keepdims=True)
    e = np.exp(a - peak)
    total = e.sum(axis=1, keepdims=True)
    logq = offset + (peak + np.log(total))[:, 0]
    return logq, e / total


def loss_and_grad(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
    bins: int = 256,
) -> tuple[float, np.ndarray]:
    r"""Binned cross-entropy ``L_M`` and its exact gradient with respect to the logits.

    .. math::

        L_M = -\frac{1}{M}\sum_{m=0}^{M-1} \log q(t_m), \qquad
        \frac{\partial L_M}{\partial z_i} = S_i - \frac{1}{M}\sum_m r_i(t_m)

    Parameters
    ----------
    z : array_like, shape (N,)
        Logits, finite.
    x : array_like, shape (N,)
        Point positions (angles for ``"vonmises"``), finite.
    a, b : float
        The uniform target's support ``[a, b]``, ``a < b``.
    kernel : str or object with ``logpdf(d)``
        ``"laplace"`` (default), ``"gaussian"``, ``"box"``, ``"vonmises"``, or a kernel object.
    bandwidth : float
        Kernel scale ``h > 0`` (``kappa = 1/h**2`` for von Mises).
    bins : int
        Number of midpoint bins ``M >= 1``.

    Returns
    -------
    loss : float
        ``L_M``.
    grad : ndarray, shape (N,)
        ``dL_M/dz``; it sums to zero.

    Raises
    ------
    ValueError
        On bad input (the message names the argument), or if a bin is covered by no kernel
        (possible only with ``"box"``).

    Examples
    --------
    One point at 0 and the target [0, 1] in two bins: ``L = mean(|t_m|) + log 2``, and the
    gradient is 0 because a single weight cannot change.

    >>> L, g = loss_and_grad([0.0], [0.0], 0.0, 1.0, bins=2)
    >>> bool(L == 0.5 + np.log(2.0)), g
    (True, array([0.]))

    Two points: the one nearer the target gets a negative gradient (descent raises it).

    >>> L, g = loss_and_grad([0.0, 0.0], [0.5, 3.0], 0.0, 1.0)
    >>> bool(g[0] < 0 < g[1]), float(abs(g.sum())) < 1e-15
    (True, True)
    """
    z, x = as_points(z, x)
    kern = get_kernel(kernel, bandwidth)
    t = bin_centers(a, b, bins)
    logq, r = _core(z, x, t, kern, "bins")
    grad = softmax(z) - r.mean(axis=0)
    return float(-logq.mean()), grad


def loss(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
    bins: int = 256,
) -> complex | float:
    """``L_M`` alone; accepts complex logits, for complex-step differentiation.

    The loss is analytic in the logits, so with ``z + i*eps*e_k`` the imaginary part of
    the result divided by ``eps`` is ``dL_M/dz_k`` to round-off.

    Examples
    --------
    >>> z = np.array([0.3, -0.2]); x = np.array([-0.5, 1.5])
    >>> eps = 1e-30
    >>> dz0 = loss(z + np.array([1j * eps, 0]), x, 0.0, 1.0, bins=8).imag / eps
    >>> bool(np.isclose(dz0, loss_and_grad(z, x, 0.0, 1.0, bins=8)[1][0], rtol=1e-14))
    True
    """
    z, x = as_points(z, x, allow_complex=True)
    kern = get_kernel(kernel, bandwidth)
    t = bin_centers(a, b, bins)
    logq, _ = _core(z, x, t, kern, "bins")
    value = -logq.mean()
    return complex(value) if np.iscomplexobj(value) else float(value)


def _at(z: np.ndarray, x: np.ndarray, t: object, kernel: KernelLike, bandwidth: float):
    z, x = as_points(z, x)
    kern = get_kernel(kernel, bandwidth)
    tt, scalar = as_bins_at(t)
    logq, r = _core(z, x, tt, kern, "t")
    return z, logq, r, scalar


def responsibilities(
    z: np.ndarray,
    x: np.ndarray,
    t: float | np.ndarray,
    *,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
) -> np.ndarray:
    r"""Responsibilities ``r_i(t) = S_i K(t - x_i) / q(t) = softmax(z + log K(t - x))_i``.

    The posterior probability that component ``i`` produced ``t``.

    Parameters
    ----------
    z, x : array_like, shape (N,)
        Logits and positions.
    t : float or array_like, shape (T,)
        Where to evaluate.
    kernel, bandwidth
        As in :func:`loss_and_grad`.

    Returns
    -------
    ndarray
        Shape ``(N,)`` for a scalar ``t``, ``(T, N)`` for an array; each row sums to 1.

    Examples
    --------
    >>> responsibilities([0.0, 0.0], [-1.0, 1.0], 0.0)
    array([0.5, 0.5])
    >>> responsibilities([0.0, 0.0], [1e6, 1e6 + 1.0], 0.0)   # far away: still exact
    array([0.73105858, 0.26894142])
    """
    _, _, r, scalar = _at(z, x, t, kernel, bandwidth)
    return r[0] if scalar else r


def bin_grad(
    z: np.ndarray,
    x: np.ndarray,
    t: float | np.ndarray,
    *,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
) -> np.ndarray:
    r"""Gradient of the one-bin loss ``l(t) = -log q(t)``: ``dl/dz_i = S_i - r_i(t)``.

    This is the seed's per-bin quantity, "weight minus responsibility".

    Parameters
    ----------
    z, x : array_like, shape (N,)
        Logits and positions.
    t : float or array_like, shape (T,)
        The bin (or bins).
    kernel, bandwidth
        As in :func:`loss_and_grad`.

    Returns
    -------
    ndarray
        Shape ``(N,)`` for a scalar ``t``, ``(T, N)`` for an array; each row sums to 0.

    Examples
    --------
    With a box kernel that covers only point 1 the gradient is ordinary softmax
    cross-entropy with label 1, ``S - e_1``:

    >>> bin_grad([0.0, 0.0, 0.0], [0.0, 1.0, 2.0], 1.0, kernel="box", bandwidth=0.5)
    array([ 0.33333333, -0.66666667,  0.33333333])
    """
    z, _, r, scalar = _at(z, x, t, kernel, bandwidth)
    g = softmax(z)[None, :] - r
    return g[0] if scalar else g


def log_density(
    z: np.ndarray,
    x: np.ndarray,
    t: float | np.ndarray,
    *,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
) -> float | np.ndarray:
    """``log q(t)`` with ``q(t) = sum_j S_j K(t - x_j)``, as a log-sum-exp.

    Returns a float for a scalar ``t`` and shape ``(T,)`` for an array. Where no kernel
    reaches ``t`` (possible only with ``"box"``) it raises instead of returning ``-inf``.

    Examples
    --------
    >>> float(log_density([0.0], [0.0], 0.0, kernel="laplace", bandwidth=0.5))
    0.0
    >>> float(log_density([0.0], [1e6], 0.0))   # q underflows; log q does not
    -1000000.6931471806
    """
    _, logq, _, scalar = _at(z, x, t, kernel, bandwidth)
    return float(logq[0]) if scalar else logq
