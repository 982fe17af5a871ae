r"""Fast ways to compute the binned loss and its gradient: ``method=`` of ``loss_and_grad``.

Every method returns the same pair as the textbook sums

.. math::

    L_M = -\frac{1}{M}\sum_{m} \log q(t_m), \qquad
    \frac{\partial L_M}{\partial z_j} = S_j - \bar r_j,

    \bar r_j = \frac{1}{M}\sum_m \frac{S_j K(t_m - x_j)}{q(t_m)}

(with a background ``eps``, ``S_j mean(pi) - mean_m pi_m r_j(t_m)``), each within its
documented error:

``"direct"``
    Any kernel, exact (to about ``1e-13`` relative). The ``M x N`` table of
    ``log S_j + log K(t_m - x_j)`` is never held whole: it is made in row blocks of
    :data:`kdeloss.fast.CHUNK_BYTES`, on a thread pool, with one exponential per entry and the mean
    responsibilities as a matrix-vector product. ``O(N M)`` time, ``O(N + M)`` memory.
``"sorted"``
    The Laplace kernel only, exact (to about ``1e-13`` relative, more for very wide targets;
    see :func:`kdeloss.fast.sorted_laplace`). Prefix sums over sorted points and bins:
    ``O((N + M) log N)`` time.
``"fft"``
    Any kernel on the line, approximate (``1e-6`` relative at the default grid). Linear
    binning onto a grid and two FFT convolutions, in the manner of KDEpy's ``FFTKDE``
    (Odland 2018). Falls back to an exact method when it cannot keep its error.
``"auto"``
    ``"sorted"`` for the Laplace kernel once ``N * M`` exceeds
    :data:`kdeloss.fast.AUTO_SORTED_MIN`, ``"direct"`` otherwise. It never picks ``"fft"``:
    see :func:`kdeloss.fast.choose_method`.

The functions here take clean arrays (the public :func:`kdeloss.loss_and_grad` validates
its arguments and then calls them): logits ``z`` and positions ``x`` of shape ``(N,)``,
ascending equally spaced bin centres ``t`` of shape ``(M,)``, a :class:`kdeloss.Kernel`,
the background weight ``eps`` and the log of the background density ``log_u``.

Threads: the direct method uses ``KDELOSS_THREADS`` worker threads (default: the number of
cores, at most 8). Set ``KDELOSS_THREADS=1`` to stay on the calling thread; where threads
cannot be started at all (Pyodide), the same work runs serially with the same result.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import scipy.fft
from scipy.special import i0e

from .kernels import CustomKernel, Gaussian, Kernel, Laplace, VonMises
from .logspace import (
    log_softmax,
    logaddexp,
    mean_of_logs,
    uncovered_bin_error,
    unrepresentable_error,
)

__all__ = [
    "AUTO_SORTED_MIN",
    "CHUNK_BYTES",
    "FFT_MAX_NODES",
    "FFT_STEP",
    "METHODS",
    "choose_method",
    "direct",
    "fft",
    "sorted_laplace",
    "worker_count",
]

#: The values ``method=`` accepts.
METHODS: tuple[str, ...] = ("auto", "direct", "sorted", "fft")
#: ``"auto"`` switches to ``"sorted"`` (Laplace) when ``N * M`` is larger than this; below,
#: the direct method is as fast and reproduces the reference sums to the last bit.
AUTO_SORTED_MIN = 2**16
#: Size in bytes of one row block of the direct method (per worker thread).
CHUNK_BYTES = 2**20
#: Default grid step of the FFT method, in bandwidths.
FFT_STEP = 1.0 / 512.0
#: The FFT method falls back to an exact method rather than use a larger grid.
FFT_MAX_NODES = 2**22
# Accuracy guards of the direct method's fast row blocks: a bound on the size of the terms
# whose rounding reaches the result (in units of the kernel's exponent, so the error is about
# this times 1.1e-16). Above it the block is recomputed with Kernel.log_rows.
_GUARD = 512.0
# Block centres beyond this many lattice steps (of 8 bandwidths) from 0 are not formed:
# such blocks go to the exact path.
_LATTICE_MAX = 2.0**52
# Terms more than this far (in log) below a row's largest cannot reach the result.
_RELEVANT = 40.0
# FFT roundoff is about 1e-16 of the largest grid value; bins whose density is below this
# fraction of it would lose more than about 1e-9, so the method falls back instead.
_FFT_FLOOR = 1e-7
# The FFT grid drops points whose kernel is below exp(-_FFT_TAIL) of its peak at every bin.
_FFT_TAIL = 60.0

T = TypeVar("T")


# --------------------------------------------------------------------------------------------
# choosing a method


def choose_method(method: str, kern: Kernel, n_points: int, n_bins: int) -> str:
    """Validate ``method`` and resolve ``"auto"``.

    ``"auto"`` gives ``"sorted"`` for the Laplace kernel when ``n_points * n_bins`` exceeds
    :data:`kdeloss.fast.AUTO_SORTED_MIN` and ``"direct"`` otherwise. It never gives
    ``"fft"``, which is approximate: ask for it when the kernel is smooth (Gaussian),
    ``N * M`` is large (from about ``10^6`` on, where the direct method takes a millisecond
    or more and ``"fft"`` about a millisecond whatever the size up to ``10^5``), an error of
    ``1e-6`` is acceptable, the target is at most a few thousand bandwidths wide and the
    density does not vary across it by more than a factor of about ``10^7`` (else it falls
    back to ``"direct"``). For the Laplace kernel ``"sorted"`` is exact and about as fast
    as ``"fft"``.

    Parameters
    ----------
    method : str
        One of ``METHODS``: ``"auto"``, ``"direct"``, ``"sorted"``, ``"fft"``.
    kern : Kernel
        The resolved kernel.
    n_points, n_bins : int
        ``N`` and ``M``.

    Returns
    -------
    str
        ``"direct"``, ``"sorted"`` or ``"fft"``.

    Raises
    ------
    ValueError
        For an unknown method, ``"sorted"`` with a kernel other than Laplace, or ``"fft"``
        with a circular kernel.

    Examples
    --------
    >>> from kdeloss import get_kernel
    >>> choose_method("auto", get_kernel("laplace"), 1000, 256)
    'sorted'
    >>> choose_method("auto", get_kernel("gaussian"), 1000, 256)
    'direct'
    >>> choose_method("sorted", get_kernel("gaussian"), 10, 10)
    Traceback (most recent call last):
    ...
    ValueError: method: "sorted" needs the Laplace kernel, got 'gaussian'
    """
    if not isinstance(method, str) or method not in METHODS:
        names = ", ".join(repr(m) for m in METHODS)
        raise ValueError(f"method: unknown method {method!r}; expected one of {names}")
    laplace = isinstance(kern, Laplace)
    if method == "auto":
        return "sorted" if laplace and n_points * n_bins > AUTO_SORTED_MIN else "direct"
    if method == "sorted" and not laplace:
        raise ValueError(f'method: "sorted" needs the Laplace kernel, got {kern.name!r}')
    if method == "fft" and kern.circular:
        raise ValueError(
            f'method: "fft" needs a kernel on the line, got the circular kernel {kern.name!r}; '
            'use "direct"'
        )
    if method == "fft" and not math.isfinite(_length_scale(kern)):
        raise ValueError(
            'method: "fft" needs the kernel\'s length scale: give the kernel object a finite '
            '"bandwidth" attribute, or use "direct"'
        )
    return method


def _length_scale(kern: Kernel) -> float:
    h = kern.bandwidth
    if isinstance(kern, CustomKernel):
        h = getattr(kern.obj, "bandwidth", math.nan)
    try:
        h = float(h)
    except (TypeError, ValueError):
        return math.nan
    return h if h > 0 else math.nan


# --------------------------------------------------------------------------------------------
# threads


_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()
_THREADS_OK = True


def _forget_pool_in_child() -> None:
    """After ``fork``: the child has no worker threads, only the parent's pool object (whose
    queue no thread serves) and maybe a lock held by a thread that does not exist here.
    Forget both, so the child's first call starts a pool of its own."""
    global _POOL, _POOL_SIZE, _POOL_LOCK
    _POOL, _POOL_SIZE, _POOL_LOCK = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows or in Pyodide
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def worker_count() -> int:
    """Number of worker threads the direct method uses.

    ``KDELOSS_THREADS`` if it is set (``1`` means no threads), else the number of cores,
    at most 8.

    Examples
    --------
    >>> worker_count() >= 1
    True
    """
    env = os.environ.get("KDELOSS_THREADS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"KDELOSS_THREADS: expected a positive integer, got {env!r}")
        return n
    return max(1, min(os.cpu_count() or 1, 8))


def _pool(size: int) -> ThreadPoolExecutor:
    """The shared pool, grown to ``size`` workers if needed (call with ``_POOL_LOCK`` held).

    A pool that is replaced is shut down without waiting: work already queued on it still
    runs, and no caller can be submitting to it, since submissions hold the lock too.
    """
    global _POOL, _POOL_SIZE
    if _POOL is None or _POOL_SIZE < size:
        if _POOL is not None:
            _POOL.shutdown(wait=False)
        _POOL = ThreadPoolExecutor(max_workers=size, thread_name_prefix="kdeloss")
        _POOL_SIZE = size
    return _POOL


def _reset_threads() -> None:
    """Forget the pool and whether threads work (for tests)."""
    global _POOL, _POOL_SIZE, _THREADS_OK
    with _POOL_LOCK:
        if _POOL is not None:
            _POOL.shutdown(wait=True)
        _POOL, _POOL_SIZE, _THREADS_OK = None, 0, True


def _run_all(fn: Callable[[int], T], count: int) -> list[T]:
    """``[fn(i) for i in range(count)]``, on the thread pool when there is one.

    NumPy releases the GIL inside its loops, so the calls overlap. Any number of threads
    may call this at once: submissions are made under a lock, so a pool is never shut down
    while a caller submits to it. If a thread cannot be started (``RuntimeError``, as in
    Pyodide), everything runs here, serially; the results are the same because each call
    does the same work either way.
    """
    global _THREADS_OK
    if count > 1 and _THREADS_OK:
        try:
            with _POOL_LOCK:
                pool = _pool(count)
                futures = [pool.submit(fn, i) for i in range(count)]
        except RuntimeError:
            _THREADS_OK = False
        else:
            return [f.result() for f in futures]
    return [fn(i) for i in range(count)]


# --------------------------------------------------------------------------------------------
# shared pieces


def _finish(
    ls: np.ndarray,
    logq: np.ndarray,
    pi: np.ndarray | None,
    rsum: np.ndarray,
    m: int,
) -> tuple[float, np.ndarray]:
    """Loss ``-mean(log q)`` and gradient ``S mean(pi) - rsum / M``."""
    s = np.exp(ls)
    grad = s - rsum / m if pi is None else s * pi.mean() - rsum / m
    return float(-mean_of_logs(logq)), grad


def _background(log_model: np.ndarray, eps: float, log_u: float) -> tuple[np.ndarray, np.ndarray]:
    """``log q`` and ``pi`` for ``q = (1 - eps) q_model + eps u`` (``eps > 0``)."""
    log_fit = math.log1p(-eps) + log_model
    logq = logaddexp(log_fit, np.full(log_model.shape, math.log(eps) + log_u))
    return logq, np.exp(log_fit - logq)


_logaddexp = logaddexp


def _uncovered(what: str, m: int, tm: float, kern: Kernel | None = None) -> ValueError:
    """A bin no kernel covers or, for a kernel positive everywhere, one whose ``log q``
    overflows."""
    if kern is not None and kern.positive:
        return unrepresentable_error(m, tm)
    return uncovered_bin_error(what, m, tm)


# --------------------------------------------------------------------------------------------
# direct


class _FastRows:
    """Row blocks of ``exp(A - max(log S))`` for the Laplace, Gaussian and von Mises kernels.

    ``A[m, j] = log S_j + log K(t_m - x_j) - c`` (``c`` the kernel's normalising constant,
    put back at the end) is formed in units of ``h`` and in coordinates centred near the
    block, on a lattice of spacing ``8h`` so that consecutive blocks share the centred
    positions ``w = (x - centre) / h``; every term then stays small. For Laplace,
    ``log S_j - |s_m - w_j|``; for Gaussian, with the square expanded,
    ``s_m w_j + (log S_j - w_j^2/2)`` (two passes; ``-s_m^2/2`` goes into the row constant);
    for von Mises, ``kappa (cos t_m cos x_j + sin t_m sin x_j - 1) + log S_j`` as one matrix
    product. One exponential per entry.

    :meth:`fill` returns None (``out`` is then garbage) if a row sum is below ``1e-250``
    (its terms might be subnormal) or if the accuracy guard fails: a bound on the size of
    the terms whose rounding reaches the result exceeds :data:`_GUARD`. The caller then uses
    :meth:`kdeloss.Kernel.log_rows`, which works from differences of positions.
    """

    def __init__(self, kern: Kernel, ls: np.ndarray, x: np.ndarray) -> None:
        self.kern = kern
        self.x = x
        self.lmax = float(ls.max())
        self.lsn = ls - self.lmax
        self.ones = np.ones(x.size)
        self.log_n = math.log(x.size)
        self.key: int | None = None
        if isinstance(kern, VonMises):
            k = kern.kappa
            self.ok = 2.0 * k <= _GUARD and float(np.abs(x).max()) <= 1e3
            self.right = np.stack([k * np.cos(x), k * np.sin(x), self.lsn - k])
            self.const = -math.log(2.0 * math.pi * float(i0e(k)))
        else:
            self.ok = isinstance(kern, Laplace | Gaussian)
            if isinstance(kern, Laplace):
                self.const = -math.log(2.0 * kern.bandwidth)
            elif self.ok:
                self.const = -math.log(kern.bandwidth * math.sqrt(2.0 * math.pi))

    def _centre(self, tc: np.ndarray) -> float | None:
        h = self.kern.bandwidth
        lattice = (0.5 * float(tc[0]) + 0.5 * float(tc[-1])) / (8.0 * h)
        if not abs(lattice) < _LATTICE_MAX:
            return None
        key = round(lattice)
        if key != self.key:
            self.key = key
            self.c = key * 8.0 * h
            with np.errstate(over="ignore"):
                self.w = (self.x - self.c) / h
            if isinstance(self.kern, Gaussian):
                self.cw = self.lsn - 0.5 * self.w * self.w
        return self.c

    def fill(self, tc: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """``exp(A - max log S)`` into ``out``; return ``(log q_model, row sums)`` or None."""
        if not self.ok:
            return None
        kern = self.kern
        const: float | np.ndarray = self.const
        if isinstance(kern, VonMises):
            left = np.stack([np.cos(tc), np.sin(tc), np.ones(tc.size)], axis=1)
            np.dot(left, self.right, out=out)
        else:
            c = self._centre(tc)
            if c is None:
                return None
            with np.errstate(over="ignore"):
                s = (tc - c) / kern.bandwidth
            smax = float(np.abs(s).max())
            if not smax <= 24.0:  # bins far apart in bandwidths: let log_rows do it
                return None
            if isinstance(kern, Laplace):
                np.subtract.outer(s, self.w, out=out)
                np.abs(out, out=out)
                np.subtract(self.lsn, out, out=out)
            else:
                np.multiply.outer(s, self.w, out=out)
                out += self.cw
                const = self.const - 0.5 * s * s
        np.exp(out, out=out)
        total = out @ self.ones
        low = float(total.min())
        if not low >= 1e-250:
            return None
        # A row's largest term is at least its sum / N: a lower bound on every row's peak
        # log S_j + log K_j (without c), and so a bound on the depth below it of any term
        # that can matter.
        depth = _RELEVANT - (math.log(low) - self.log_n + self.lmax)
        if isinstance(kern, Laplace):
            # such a term has |w_j| <= |s_m| + depth and |log S_j| <= depth: its rounding
            # error is below 1.1e-16 (2|s| + 2 depth)
            bound = 2.0 * (smax + depth)
        elif isinstance(kern, Gaussian):
            depth += 0.5 * smax * smax  # the row sums carry e^{s^2/2}
            reach = smax + math.sqrt(2.0 * depth)  # |w_j| of a term that matters
            bound = smax * reach + 0.5 * reach * reach + depth
        else:
            bound = 2.0 * kern.kappa + depth
        if bound > _GUARD:
            return None
        return const + self.lmax + np.log(total), total


def _exact_block(
    kern: Kernel, ls: np.ndarray, x: np.ndarray, tc: np.ndarray, need_cover: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | int:
    """``(log q_model, row sums, exp(A - peak))`` for a row block, from ``log_rows``.

    Rows no kernel reaches get ``log q_model = -inf``, zero entries and row sum 1; if
    ``need_cover``, the index in the block of the first such row is returned instead.
    """
    offset, rest = kern.log_rows(tc, x, ls)
    covered = np.isfinite(offset)
    if need_cover and not covered.all():
        return int(np.flatnonzero(~covered)[0])
    a = ls[None, :] + rest
    peak = a.max(axis=1)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    e = np.exp(a - peak[:, None])
    total = np.where(covered, e.sum(axis=1), 1.0)
    return np.where(covered, offset + peak + np.log(total), -np.inf), total, e


def direct(
    z: np.ndarray,
    x: np.ndarray,
    t: np.ndarray,
    kern: Kernel,
    eps: float = 0.0,
    log_u: float = 0.0,
    *,
    chunk_bytes: int = CHUNK_BYTES,
    workers: int | None = None,
) -> tuple[float, np.ndarray]:
    r"""Loss and exact gradient by the direct ``O(N M)`` sum, in row blocks, on threads.

    For each block of bins the table ``A[m, j] = log S_j + log K(t_m - x_j)`` is formed in
    coordinates centred on the block, with one exponential per entry:

    .. math::

        \log q(t_m) = p_m + \log \sum_j e^{A_{mj} - p_m}, \qquad
        \sum_m \pi_m r_j(t_m) = \sum_m \frac{\pi_m}{\sum_k e^{A_{mk} - p_m}}
        e^{A_{mj} - p_m},

    the second a matrix-vector product (``p_m`` is the row maximum). For the Gaussian kernel
    the square is expanded, ``-(s - w)^2/2 = s w - w^2/2 - s^2/2``, so a block costs one outer
    product; for von Mises the cosine of a difference is a rank-2 product. Where the terms
    would be too large for that to be exact (points far from the bins, large ``kappa``) the
    block is recomputed from differences of positions with :meth:`kdeloss.Kernel.log_rows`, as the
    dense reference does; other kernels always take that path.

    Peak extra memory: each worker holds one block of ``chunk_bytes`` (at least one row of
    ``N``) plus, on the exact path, a few temporaries of that size; the rest is ``O(N + M)``.

    Parameters
    ----------
    z, x : ndarray, shape (N,)
        Logits and positions.
    t : ndarray, shape (M,)
        Bin centres.
    kern : Kernel
        Any kernel.
    eps, log_u : float
        Background weight and log background density.
    chunk_bytes : int
        Size of one row block.
    workers : int, optional
        Threads; default :func:`kdeloss.fast.worker_count`. The result depends on it only
        through the order of one final sum (bit-for-bit equal whether or not threads could
        be started).

    Returns
    -------
    loss : float
    grad : ndarray, shape (N,)

    Raises
    ------
    ValueError
        If a bin is covered by no kernel and there is no background.

    Examples
    --------
    >>> from kdeloss import bin_centers, get_kernel, loss_and_grad
    >>> rng = np.random.default_rng(0)
    >>> z, x = rng.normal(size=300), rng.normal(size=300)
    >>> t = bin_centers(0.0, 1.0, 400)
    >>> L, g = direct(z, x, t, get_kernel("gaussian", 0.3))
    >>> opts = {"kernel": "gaussian", "bandwidth": 0.3, "bins": 400}
    >>> L2, g2 = loss_and_grad(z, x, 0.0, 1.0, method="direct", **opts)
    >>> bool(L == L2 and np.array_equal(g, g2))  # what method="direct" runs at this size
    True
    >>> L3, g3 = loss_and_grad(z, x, 0.0, 1.0, method="fft", **opts)
    >>> bool(abs(L3 - L) < 1e-6 * abs(L) and abs(float(g.sum())) < 1e-15)
    True
    """
    n, m = x.size, t.size
    ls = log_softmax(z)
    rows = max(1, min(m, chunk_bytes // (8 * n)))
    blocks = [(i, min(i + rows, m)) for i in range(0, m, rows)]
    nw = max(1, min(worker_count() if workers is None else workers, len(blocks)))
    logq = np.empty(m)
    pi = None if eps == 0.0 else np.empty(m)

    def work(w: int) -> tuple[np.ndarray, int | None]:
        buf = np.empty((rows, n))
        acc = np.zeros(n)
        fast_rows = _FastRows(kern, ls, x)
        for i0, i1 in blocks[w::nw]:
            tc = t[i0:i1]
            e = buf[: i1 - i0]
            fast = fast_rows.fill(tc, e)
            if fast is None:
                exact = _exact_block(kern, ls, x, tc, eps == 0.0)
                if isinstance(exact, int):
                    return acc, i0 + exact
                log_model, total, e = exact
            else:
                log_model, total = fast
            if pi is None:
                logq[i0:i1] = log_model
                weight = 1.0 / total
            else:
                logq[i0:i1], pi[i0:i1] = _background(log_model, eps, log_u)
                weight = pi[i0:i1] / total
            acc += weight @ e
        return acc, None

    results = _run_all(work, nw)
    bad = [b for _, b in results if b is not None]
    if bad:
        first = min(bad)
        raise _uncovered("bins", first, float(t[first]), kern)
    rsum = results[0][0]
    for acc, _ in results[1:]:
        rsum = rsum + acc
    return _finish(ls, logq, pi, rsum, m)


# --------------------------------------------------------------------------------------------
# sorted (Laplace)


def sorted_laplace(
    z: np.ndarray,
    x: np.ndarray,
    t: np.ndarray,
    h: float,
    eps: float = 0.0,
    log_u: float = 0.0,
) -> tuple[float, np.ndarray]:
    r"""Loss and exact gradient for the Laplace kernel in ``O((N + M) log N)``.

    With ``K(d) = e^{-|d|/h} / (2h)`` and positions in units of ``h``, the density at a bin
    splits into the points on its left and on its right, and each part is a prefix sum over
    the sorted points:

    .. math::

        2h\, q(t) = e^{-t} \sum_{x_j \le t} S_j e^{x_j} + e^{t} \sum_{x_j > t} S_j e^{-x_j}.

    The sums are kept in log space (``np.logaddexp.accumulate``). The mean responsibilities
    are the same construction run over the bins, with weights ``c_m = pi_m / q(t_m)``:

    .. math::

        \bar r_j = \frac{S_j}{M} \Big( e^{x_j} \sum_{t_m \ge x_j} c_m e^{-t_m}
                   + e^{-x_j} \sum_{t_m < x_j} c_m e^{t_m} \Big).

    A point at a bin counts once, on the left of the bin. Positions are centred on the bins;
    points left of every bin are first merged, exactly, into one point at the first bin
    (their kernels are then all proportional, the shift property), and those right of every
    bin into one at the last bin, with their shares kept aside. So a point a million
    bandwidths away costs nothing in accuracy. What is left are exponents of size at most
    ``W = (t_{M-1} - t_0) / (2h)``, so the relative error is about ``1e-16 (W + 40)``.

    Parameters
    ----------
    z, x : ndarray, shape (N,)
        Logits and positions.
    t : ndarray, shape (M,)
        Bin centres, ascending.
    h : float
        Laplace bandwidth.
    eps, log_u : float
        Background weight and log background density.

    Returns
    -------
    loss : float
    grad : ndarray, shape (N,)

    Examples
    --------
    >>> from kdeloss import bin_centers, loss_and_grad
    >>> rng = np.random.default_rng(1)
    >>> z, x = rng.normal(size=500), rng.normal(size=500) * 2
    >>> t = bin_centers(0.0, 1.0, 300)
    >>> L, g = sorted_laplace(z, x, t, 0.5)
    >>> L2, g2 = loss_and_grad(z, x, 0.0, 1.0, bandwidth=0.5, bins=300, method="direct")
    >>> bool(abs(L - L2) <= 1e-13 * abs(L2) and np.abs(g - g2).max() <= 1e-13 * np.abs(g2).max())
    True
    """
    m = t.size
    ls = log_softmax(z)
    t0, t1 = float(t[0]), float(t[-1])
    c = 0.5 * (t0 + t1)
    s = (t - c) / h

    left = x < t0
    right = x > t1
    inner = ~(left | right)
    has_l, has_r, has_i = bool(left.any()), bool(right.any()), bool(inner.any())

    # Far groups: softmax shares inside the group (from differences of positions), the
    # group's log weight lam at its nearest member, and its distance dist to the end bin.
    def group(mask: np.ndarray, sign: float) -> tuple[np.ndarray, float, float, float]:
        xg, lg = x[mask], ls[mask]
        near = float(xg.max() if sign > 0 else xg.min())
        a = lg - sign * (near - xg) / h
        top = float(a.max())
        lam = top + math.log(float(np.exp(a - top).sum()))
        return a - lam, lam, near, (t0 - near if sign > 0 else near - t1) / h

    pos: list[np.ndarray] = []
    lw: list[np.ndarray] = []
    shift = 0.0  # the log weights below are the true ones minus shift
    if has_l:
        share_l, lam_l, near_l, dist_l = group(left, 1.0)
    if has_r:
        share_r, lam_r, near_r, dist_r = group(right, -1.0)
    if has_i:
        vl, vr = (lam_l - dist_l if has_l else 0.0), (lam_r - dist_r if has_r else 0.0)
    elif has_l and has_r:
        # dist_r - dist_l from sums of positions, so two far clusters on opposite sides keep
        # their exact balance.
        gap = ((near_r + near_l) - (t0 + t1)) / h
        if gap >= 0.0:
            shift, vl, vr = -dist_l, lam_l, lam_r - gap
        else:
            shift, vl, vr = -dist_r, lam_l + gap, lam_r
    elif has_l:
        shift, vl = -dist_l, lam_l
    else:
        shift, vr = -dist_r, lam_r
    if has_l:
        pos.append(s[:1])
        lw.append(np.array([vl]))
    if has_i:
        pos.append((x[inner] - c) / h)
        lw.append(ls[inner])
    if has_r:
        pos.append(s[-1:])
        lw.append(np.array([vr]))
    p_all = np.concatenate(pos)
    w_all = np.concatenate(lw)
    order = np.argsort(p_all)  # the order among equal positions does not matter
    p = p_all[order]
    w = w_all[order]
    n = p.size

    # forward: log of 2h q(t_m) e^{-shift}
    k = np.searchsorted(p, s, side="right")  # points at or left of each bin
    fl = np.logaddexp.accumulate(w + p)
    fr = np.logaddexp.accumulate((w - p)[::-1])[::-1]
    with np.errstate(invalid="ignore"):
        lq_left = np.where(k > 0, fl[np.maximum(k - 1, 0)] - s, -np.inf)
        lq_right = np.where(k < n, fr[np.minimum(k, n - 1)] + s, -np.inf)
    lq = _logaddexp(lq_left, lq_right)
    log_model = lq + (shift - math.log(2.0 * h))
    if eps == 0.0:
        logq, pi = log_model, None
        logc = -lq
    else:
        logq, pi = _background(log_model, eps, log_u)
        with np.errstate(divide="ignore"):
            logc = np.log(pi) - lq

    # reverse: for each point, sum over the bins right (t >= x) and left (t < x) of it
    mr = np.searchsorted(s, p, side="left")
    br = np.logaddexp.accumulate((logc - s)[::-1])[::-1]
    bl = np.logaddexp.accumulate(logc + s)
    with np.errstate(invalid="ignore"):
        u = np.where(mr < m, br[np.minimum(mr, m - 1)] + p, -np.inf)
        v = np.where(mr > 0, bl[np.maximum(mr - 1, 0)] - p, -np.inf)
    log_rsum = np.empty(n)
    log_rsum[order] = w + _logaddexp(u, v)

    out = np.empty(x.size)
    i = 0
    if has_l:
        out[left] = share_l + log_rsum[0]
        i = 1
    if has_i:
        ni = int(inner.sum())
        out[inner] = log_rsum[i : i + ni]
        i += ni
    if has_r:
        out[right] = share_r + log_rsum[i]
    return _finish(ls, logq, pi, np.exp(out), m)


# --------------------------------------------------------------------------------------------
# fft


def _tail_reach(kern: Kernel, h: float) -> float:
    """Distance, in units of ``h``, beyond which ``K`` stays below ``e^-60`` of its peak.

    Exact for the built-in kernels; for others the kernel is probed at ``2^k h``
    (``k = -1..12``) and ``inf`` is returned if it has not fallen that far by ``4096 h``.
    """
    if isinstance(kern, Laplace):
        return _FFT_TAIL
    if isinstance(kern, Gaussian):
        return math.sqrt(2.0 * _FFT_TAIL)
    reach = 2.0 ** np.arange(-1, 13)
    lk = kern.logpdf(np.concatenate([[0.0], reach * h, -reach * h]))
    low = np.maximum(lk[1 : reach.size + 1], lk[reach.size + 1 :]) <= float(lk.max()) - _FFT_TAIL
    # the smallest reach from which every farther probe is low too
    tail = np.logical_and.accumulate(low[::-1])[::-1]
    return float(reach[np.argmax(tail)]) if tail.any() else math.inf


def _fft_grid(
    x: np.ndarray, t: np.ndarray, kern: Kernel, h: float, step: float
) -> tuple[float, float, int, int, np.ndarray] | None:
    """Grid origin ``g0``, spacing, number of nodes, ``stride`` and the points on the grid.

    Returns None when the grid would exceed :data:`kdeloss.fast.FFT_MAX_NODES` nodes. For the
    Laplace kernel the grid contains every bin centre (``stride`` grid steps apart), starts
    one step before the first bin and ends one step after the last; points beyond its ends
    are merged into the end nodes (exact for this kernel). For other kernels ``stride`` is
    0: the grid spans the bins and every point within the kernel's reach of them, and is
    read at the bins by linear interpolation.
    """
    m = t.size
    t0, t1 = float(t[0]), float(t[-1])
    target = step * h
    if isinstance(kern, Laplace):
        spacing = (t1 - t0) / (m - 1) if m > 1 else target
        stride = max(1, math.ceil(spacing / target))
        delta = spacing / stride
        n = (m - 1) * stride + 3
        lo, hi = t0 - delta, t1 + delta
    else:
        reach = _tail_reach(kern, h) * h
        lo = min(t0, max(float(x.min()), t0 - reach))
        hi = max(t1, min(float(x.max()), t1 + reach))
        stride, delta = 0, target
        n = math.ceil((hi - lo) / delta) + 3
        lo -= delta
    if n > FFT_MAX_NODES:
        return None
    return lo, delta, n, stride, (x >= lo) & (x <= lo + (n - 1) * delta)


def _interp(pos: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Left node and the right node's weight for fractional grid positions ``pos``."""
    i = np.clip(np.floor(pos).astype(np.intp), 0, n - 2)
    return i, pos - i


def _spread(i: np.ndarray, f: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Linear binning: ``values`` split between nodes ``i`` and ``i + 1`` as ``1 - f : f``."""
    out = np.bincount(i, values * (1.0 - f), minlength=n).astype(float)  # int if empty
    out += np.bincount(i + 1, values * f, minlength=n)
    return out


def fft(
    z: np.ndarray,
    x: np.ndarray,
    t: np.ndarray,
    kern: Kernel,
    eps: float = 0.0,
    log_u: float = 0.0,
    *,
    step: float = FFT_STEP,
) -> tuple[float, np.ndarray]:
    r"""Loss and gradient by linear binning and FFT convolution (approximate).

    The weights ``S_j`` are spread linearly onto a grid of spacing ``delta = step * h``
    (each point's weight split between its two neighbouring nodes in proportion to
    closeness), the grid is convolved with the kernel by FFT, and ``q`` is read at the bins:
    the approach of KDEpy's ``FFTKDE`` (Odland 2018). The gradient needs
    ``sum_m c_m K(t_m - x_j)`` with ``c_m = pi_m / q(t_m)``: put ``c`` on the grid, correlate
    it with the kernel by a second FFT, and read the result at the points with the same
    linear weights. Reading back is the transpose of spreading, so the gradient returned is
    the exact gradient of the (approximate) loss returned.

    The error is second order in the grid step, about ``(delta/h)^2 / 12`` times the
    relative curvature ``h^2 q''/q``: near ``1e-7`` relative at the default
    ``step = 1/256``. For the Laplace kernel the bins are grid nodes and points beyond the
    grid are merged into its end nodes, which is exact; for other kernels the grid reaches
    as far from the bins as the kernel is above ``e^-60`` of its peak and farther points are
    dropped. FFT roundoff is about ``1e-16`` of the largest value on the grid, so where the
    density at some bin is below ``1e-7`` of that, or the grid would need more than
    :data:`kdeloss.fast.FFT_MAX_NODES` nodes (a target wider than about 8000 bandwidths at
    the default step), the function falls back to the exact method (``"sorted"`` for Laplace,
    ``"direct"`` otherwise) and returns its result.

    Parameters
    ----------
    z, x : ndarray, shape (N,)
        Logits and positions.
    t : ndarray, shape (M,)
        Bin centres, ascending and equally spaced.
    kern : Kernel
        A kernel on the line with a finite length scale ``h``.
    eps, log_u : float
        Background weight and log background density.
    step : float
        Grid spacing in bandwidths (for Laplace, the largest spacing at most this that
        divides the bin spacing).

    Returns
    -------
    loss : float
    grad : ndarray, shape (N,)

    Examples
    --------
    >>> from kdeloss import bin_centers, get_kernel, loss_and_grad
    >>> rng = np.random.default_rng(2)
    >>> z, x = rng.normal(size=2000), rng.normal(size=2000)
    >>> t = bin_centers(-1.0, 1.0, 1000)
    >>> L, g = fft(z, x, t, get_kernel("gaussian", 0.2))
    >>> L2, g2 = loss_and_grad(z, x, -1.0, 1.0, kernel="gaussian", bandwidth=0.2, bins=1000)
    >>> bool(abs(L - L2) < 1e-6 * abs(L2) and np.abs(g - g2).max() < 1e-6 * np.abs(g2).max())
    True
    """
    h = _length_scale(kern)
    grid = _fft_grid(x, t, kern, h, step)
    if grid is None:
        return _fallback(z, x, t, kern, eps, log_u)
    g0, delta, n, stride, on_grid = grid
    if not (stride or on_grid.any()):
        return _fallback(z, x, t, kern, eps, log_u)
    m = t.size
    ls = log_softmax(z)

    # log weights of the points on the grid and (Laplace) of the far points merged into
    # its end nodes, all scaled by e^-top so the largest is 1
    lw = ls[on_grid]
    if stride:
        far_l = x < g0
        far_r = x > g0 + (n - 1) * delta
        lw_l = ls[far_l] - (g0 - x[far_l]) / h
        lw_r = ls[far_r] - (x[far_r] - (g0 + (n - 1) * delta)) / h
        top = max(float(a.max()) for a in (lw, lw_l, lw_r) if a.size)
    else:
        top = float(lw.max())
    weight = np.exp(lw - top)
    ib, fb = _interp((x[on_grid] - g0) / delta, n)
    grid_w = _spread(ib, fb, weight, n)
    if stride:
        grid_w[0] += np.exp(lw_l - top).sum()
        grid_w[-1] += np.exp(lw_r - top).sum()

    # the kernel at every grid offset -(n-1)..(n-1), in FFT wrap-around order
    size = scipy.fft.next_fast_len(2 * n - 1, real=True)
    d = np.arange(1, n) * delta
    lk = np.concatenate([kern.logpdf(np.array([0.0])), kern.logpdf(d)])
    lk_neg = kern.logpdf(-d[::-1])
    ktop = float(max(lk.max(), lk_neg.max() if lk_neg.size else -np.inf))
    kvec = np.zeros(size)
    kvec[:n] = np.exp(lk - ktop)
    kvec[size - n + 1 :] = np.exp(lk_neg - ktop)
    workers = worker_count()
    kf = scipy.fft.rfft(kvec, workers=workers)
    conv = scipy.fft.irfft(
        scipy.fft.rfft(grid_w, size, workers=workers) * kf, size, workers=workers
    )[:n]

    if stride:
        idx = 1 + stride * np.arange(m)
        qb = conv[idx]
    else:
        it, ft = _interp((t - g0) / delta, n)
        qb = (1.0 - ft) * conv[it] + ft * conv[it + 1]
    if not float(qb.min()) > _FFT_FLOOR * float(conv.max()):
        return _fallback(z, x, t, kern, eps, log_u)
    log_model = np.log(qb) + (top + ktop)
    if eps == 0.0:
        logq, pi = log_model, None
        gamma = 1.0 / qb
    else:
        logq, pi = _background(log_model, eps, log_u)
        gamma = pi / qb

    # sum_m pi_m r_j(t_m) = S_j e^{-top} sum_m gamma_m K(t_m - x_j) e^{-ktop}: the scales of
    # the weights and of q cancel
    if stride:
        grid_c = np.zeros(n)
        grid_c[idx] = gamma
    else:
        grid_c = _spread(it, ft, gamma, n)
    corr = scipy.fft.irfft(
        scipy.fft.rfft(grid_c, size, workers=workers) * np.conj(kf), size, workers=workers
    )[:n]
    rsum = np.zeros(x.size)
    rsum[on_grid] = weight * ((1.0 - fb) * corr[ib] + fb * corr[ib + 1])
    if stride:
        rsum[far_l] = np.exp(lw_l - top) * corr[0]
        rsum[far_r] = np.exp(lw_r - top) * corr[-1]
    return _finish(ls, logq, pi, rsum, m)


def _fallback(
    z: np.ndarray, x: np.ndarray, t: np.ndarray, kern: Kernel, eps: float, log_u: float
) -> tuple[float, np.ndarray]:
    """The exact method ``fft`` falls back to."""
    if isinstance(kern, Laplace):
        return sorted_laplace(z, x, t, kern.bandwidth, eps, log_u)
    return direct(z, x, t, kern, eps, log_u)
