r"""Log-space (and exact float) arithmetic shared by every method: one source for each helper.

Nothing in :mod:`kdeloss` divides one density by another or sums densities that may
underflow. Weights are kept as ``log S = log_softmax(z)``, a density as ``log q`` (a row
log-sum-exp), and responsibilities as a softmax of ``log S + log K``. This module holds
those pieces, the mean of a column of logs that cannot overflow, and the two errors every
method raises the same way: a bin that no kernel covers, and a loss beyond the float range.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "LOG_WEIGHT_FLOOR",
    "log_softmax",
    "log_width",
    "logaddexp",
    "logit_gaps",
    "mean_of_logs",
    "row_logsumexp",
    "softmax",
    "two_sum",
    "uncovered_bin_error",
    "unrepresentable_error",
    "with_background",
]

#: ``log S_j`` is never below this: a weight ``exp(-1e300)`` is 0 in float64 either way, and a
#: finite floor keeps ``inf - inf`` out of the arithmetic that follows.
LOG_WEIGHT_FLOOR = -1e300


def log_softmax(z: np.ndarray) -> np.ndarray:
    """``log softmax(z)``, stable for any finite ``z`` (real or complex).

    The largest logit is subtracted first, exactly (so logits of ``1e300`` work and ``z + c``
    gives the same result as ``z`` whenever ``z + c`` is exact), then the log of a sum of
    terms in ``(0, 1]`` whose largest is 1. Values are floored at :data:`LOG_WEIGHT_FLOOR`.

    Examples
    --------
    >>> np.exp(log_softmax(np.array([1000.0, 1000.0])))
    array([0.5, 0.5])
    >>> np.exp(log_softmax(np.array([1e300, 1e300, 1e300])))
    array([0.33333333, 0.33333333, 0.33333333])
    >>> log_softmax(np.array([1.7e308, -1.7e308]))
    array([ 0.e+000, -1.e+300])
    """
    z = np.asarray(z)
    shift = np.max(z.real)
    with np.errstate(over="ignore"):
        d = z - shift
    if np.iscomplexobj(d):
        d = np.where(d.real < LOG_WEIGHT_FLOOR, LOG_WEIGHT_FLOOR + 1j * d.imag, d)
    else:
        d = np.maximum(d, LOG_WEIGHT_FLOOR)
    return d - np.log(np.exp(d).sum())


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax weights ``S_i = exp(z_i) / sum_j exp(z_j)``, from :func:`log_softmax`.

    Examples
    --------
    >>> softmax(np.array([0.0, np.log(3.0)]))
    array([0.25, 0.75])
    >>> softmax(np.array([1e16, 1e16]))
    array([0.5, 0.5])
    """
    return np.exp(log_softmax(z))


def logaddexp(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``log(exp(p) + exp(q))`` elementwise; real or complex ``p``, real or complex ``q``.

    ``-inf`` where both are ``-inf``. For real input it is about four times faster than
    ``np.logaddexp`` (one vectorised ``exp`` and ``log1p``).

    Examples
    --------
    >>> logaddexp(np.array([0.0, -np.inf]), np.array([0.0, -np.inf]))
    array([0.69314718,       -inf])
    """
    p = np.asarray(p)
    q = np.asarray(q)
    if np.iscomplexobj(p) or np.iscomplexobj(q):
        top = np.maximum(p.real, q.real)
        top = np.where(np.isfinite(top), top, 0.0)
        with np.errstate(invalid="ignore"):
            return top + np.log(np.exp(p - top) + np.exp(q - top))
    top = np.maximum(p, q)
    with np.errstate(invalid="ignore"):
        d = np.abs(p - q)
    np.negative(d, out=d)
    np.exp(d, out=d)
    np.log1p(d, out=d)
    d += top
    return np.where(top == -np.inf, -np.inf, d)


def row_logsumexp(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of ``a``: ``log sum_j exp(a[m, j])``, the terms ``exp(a - peak)`` and their sum.

    ``peak`` is the row maximum; a row that is all ``-inf`` gets ``-inf``, zero terms and
    sum 1 (so that dividing by it is harmless). Dividing the terms by the sums gives the
    row's softmax: the responsibilities when ``a = log S + log K``.

    Returns
    -------
    lse : ndarray, shape (M,)
    terms : ndarray, shape (M, N)
    sums : ndarray, shape (M,)

    Examples
    --------
    >>> lse, e, s = row_logsumexp(np.log(np.array([[1.0, 3.0], [2.0, 2.0]])))
    >>> np.exp(lse), e / s[:, None]
    (array([4., 4.]), array([[0.25, 0.75],
           [0.5 , 0.5 ]]))
    """
    peak = a.real.max(axis=1)
    live = np.isfinite(peak)
    peak = np.where(live, peak, 0.0)
    terms = np.exp(a - peak[:, None])
    sums = terms.sum(axis=1)
    sums = np.where(live, sums, 1.0)
    with np.errstate(divide="ignore"):
        lse = np.where(live, peak + np.log(sums), -np.inf)
    return lse, terms, sums


def logit_gaps(z: np.ndarray, log_s: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``log S_j - log S_p[m]`` for each row ``m``, as ``z_j - z_p``: one rounding.

    ``log_softmax`` rounds each ``z_j - max z`` on its own, so the difference of two of its
    values can be off by the rounding of the larger; the logits' own difference is exact
    wherever it matters. Where ``z_j - z_p`` overflows, ``log_s`` (floored) is used.

    Examples
    --------
    >>> z = np.array([1e16, 1.0, 10.0])
    >>> ls = log_softmax(z)
    >>> float(ls[2] - ls[1]), float(logit_gaps(z, ls, np.array([1]))[0, 2])   # truly 9
    (10.0, 9.0)
    """
    with np.errstate(over="ignore", invalid="ignore"):
        gaps = z[None, :] - z[p][:, None]
    bad = ~np.isfinite(gaps)
    if bad.any():
        gaps = np.where(bad, log_s[None, :] - log_s[p][:, None], gaps)
    return gaps


def mean_of_logs(v: np.ndarray) -> float | complex:
    """The mean of ``v`` without overflow in the sum (``v`` of size ``M`` may hold ``-1e308``).

    Equal, bit for bit, to ``v.mean()`` whenever that sum is finite.

    Examples
    --------
    >>> float(mean_of_logs(np.array([-1.5e308, -1.6e308])))
    -1.55e+308
    """
    with np.errstate(over="ignore", invalid="ignore"):
        out = v.mean()
    if np.isfinite(out):
        return out
    with np.errstate(over="ignore", invalid="ignore"):
        return (v / v.size).sum()


def uncovered_bin_error(what: str, m: int, tm: float) -> ValueError:
    """The error for a bin ``m`` (at ``tm``) that no kernel reaches: ``q = 0`` there.

    ``what`` names the caller's argument (``"bins"`` or ``"t"``).

    Examples
    --------
    >>> str(uncovered_bin_error("bins", 3, 0.5))[:36]
    'bins: bin 3 at t = 0.5 is covered by'
    """
    return ValueError(
        f"{what}: bin {m} at t = {tm:.12g} is covered by no kernel, so q = 0 and "
        f"log q = -inf there; widen the bandwidth, move the points, or add a background"
    )


def unrepresentable_error(m: int, tm: float) -> ValueError:
    """The error for a bin so far from every point, in bandwidths, that ``log q`` overflows.

    There ``log q(t)`` is below ``-1.8e308``, so the loss is not a float64 number; the
    message names the arguments that set the distance.

    Examples
    --------
    >>> str(unrepresentable_error(0, 1e308))[:38]
    'bandwidth: bin 0 at t = 1e+308 is so m'
    """
    return ValueError(
        f"bandwidth: bin {m} at t = {tm:.12g} is so many bandwidths from every point "
        f"(x) that log q(t) is below -{np.finfo(float).max:.3g}: the loss is not a float64 "
        "number; widen the bandwidth, or move the points or the target (a, b)"
    )


def with_background(
    log_model: np.ndarray, eps: float, log_u: float
) -> tuple[np.ndarray, np.ndarray]:
    """``log q`` and ``pi`` for ``q = (1 - eps) q_model + eps u`` (``0 < eps < 1``).

    ``pi = (1 - eps) q_model / q`` is the probability that the model, not the background,
    explains the bin; ``log_model`` may be ``-inf`` (``pi = 0``) or complex (complex step).

    Examples
    --------
    >>> logq, pi = with_background(np.array([0.0, -np.inf]), 0.5, 0.0)
    >>> np.exp(logq), pi
    (array([1. , 0.5]), array([0.5, 0. ]))
    """
    log_fit = math.log1p(-eps) + log_model
    logq = logaddexp(log_fit, np.full(log_model.shape, math.log(eps) + log_u))
    return logq, np.exp((log_fit - logq).real)


def two_sum(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``p + q = s + e`` exactly (Knuth's two-sum): ``s`` the rounded sum, ``e`` its error.

    ``e`` is 0 where ``s`` overflows. Used wherever a difference of positions must survive
    positions far from the origin (the kernels' row splits, the fast methods' thresholds).

    Examples
    --------
    >>> two_sum(np.array([1e16]), np.array([-1.0]))
    (array([1.e+16]), array([-1.]))
    """
    with np.errstate(over="ignore", invalid="ignore"):
        s = p + q
        v = s - p
        e = (p - (s - v)) + (q - v)
    return s, np.where(np.isfinite(e), e, 0.0)


def log_width(a: float, b: float) -> float:
    """``log(b - a)`` for ``a < b``, even where ``b - a`` overflows or is subnormal.

    Examples
    --------
    >>> round(log_width(-1e308, 1e308), 6)
    709.889356
    """
    w = b - a
    if math.isfinite(w) and w > 0.0:
        return math.log(w)
    return math.log(0.5 * b - 0.5 * a) + math.log(2.0)
