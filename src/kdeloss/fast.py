r"""Fast ways to compute the binned loss and its gradient: ``method=`` of ``loss_and_grad``.

Every method returns the same pair as the textbook sums

.. math::

    L_M = -\frac{1}{M}\sum_{m} \log q(t_m), \qquad
    \frac{\partial L_M}{\partial z_j} = S_j - \bar r_j,

    \bar r_j = \frac{1}{M}\sum_m \frac{S_j K(t_m - x_j)}{q(t_m)}

(with a background ``eps``, ``S_j mean(pi) - mean_m pi_m r_j(t_m)``; with a target's bin
weights ``weights=`` ``w_m``, summing to 1, every ``1/M`` becomes ``w_m``), each within its
documented error:

``"direct"``
    Any kernel, exact (to about ``1e-13`` relative). The ``M x N`` table of
    ``log S_j + log K(t_m - x_j)`` is never held whole: it is made in row blocks of
    :data:`kdeloss.fast.CHUNK_BYTES`, on a thread pool, with one exponential per entry and the mean
    responsibilities as a matrix-vector product. ``O(N M)`` time, ``O(N + M)`` memory.
``"sorted"``
    The Laplace kernel only, exact (``1e-12`` in every regime; see
    :func:`kdeloss.fast.sorted_laplace`). Each point is put in its interval between equally
    spaced bins by arithmetic (the name is historical: nothing is sorted), and two
    recursions over the bins, blocked so that rounding does not accumulate, give the density
    and the gradient: ``O(N + M)`` time and memory in the usual case; in log space,
    ``O(N log N + M log M)``, where bins are far from all the mass.
``"fft"``
    Any kernel on the line. Gaussian and other smooth kernels: linear binning onto a grid
    and FFT convolutions, in the manner of KDEpy's ``FFTKDE`` (Odland 2018), with an error
    bound checked after the fact: loss and gradient errors at most
    :data:`kdeloss.fast.FFT_TOL` (``1e-6``, the shared measure) or it refines its grid once
    or falls back to ``"direct"``; see :func:`kdeloss.fast.fft`. Box kernel: exact (sums
    over runs of the sorted points and bins). Laplace: ``"sorted"``, which is exact and
    faster than any grid.
``"auto"``
    The fastest method whose bound is at most ``tol`` (default exact): ``"sorted"`` for the
    Laplace kernel once ``N * M`` exceeds :data:`kdeloss.fast.AUTO_SORTED_MIN`, the exact
    box algorithm above :data:`kdeloss.fast.AUTO_BOX_MIN`, ``"fft"`` for other kernels on the
    line when ``tol >= 1e-6`` and ``N * M >= AUTO_FFT_MIN``, ``"direct"`` otherwise: see
    :func:`kdeloss.fast.choose_method`.

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
from typing import NamedTuple, TypeVar

import numpy as np
import scipy.fft
from scipy.special import expit

from .kernels import Kernel, Laplace, weighted_log_rows
from .logspace import (
    LOG_WEIGHT_FLOOR,
    log_softmax,
    mean_of_logs,
    row_logsumexp,
    two_sum,
    uncovered_bin_error,
    unrepresentable_error,
    with_background,
)

__all__ = [
    "AUTO_BOX_MIN",
    "AUTO_FFT_MIN",
    "AUTO_SORTED_MIN",
    "CHUNK_BYTES",
    "EXACT_TOL",
    "FFT_MAX_NODES",
    "FFT_STEP",
    "FFT_TAIL",
    "FFT_TOL",
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
#: ``"auto"`` picks ``"fft"`` (Gaussian and other smooth kernels, when ``tol >= FFT_TOL``)
#: from this ``N * M`` on: measured crossover with ``"direct"`` on the benchmark's problem
#: (``benchmarks/bench.py``: points and logits standard normal, ``[-1, 1]``, ``h = 0.1``).
AUTO_FFT_MIN = 2**22
#: ``"auto"`` picks the exact box algorithm (``"fft"`` with the box kernel) above this
#: ``N * M``.
AUTO_BOX_MIN = 2**16
#: What ``tol=None`` (exact) means: the bound of the exact methods.
EXACT_TOL = 1e-12
#: Size in bytes of one row block of the direct method (per worker thread).
CHUNK_BYTES = 2**20
#: Default grid step of the FFT method, in bandwidths.
FFT_STEP = 1.0 / 1024.0
#: The error bound ``fft`` keeps (loss and gradient, in the shared measure), or falls back.
FFT_TOL = 1e-6
#: The FFT method falls back to an exact method rather than use a larger grid.
FFT_MAX_NODES = 2**22
#: The FFT grid reaches as far from the bins as the kernel is above ``exp(-FFT_TAIL)`` of its
#: peak; the points beyond are bounded, not dropped silently (see :func:`fft`).
FFT_TAIL = 40.0
# Accuracy guards of the direct method's fast row blocks: a bound on the size of the terms
# whose rounding reaches the result (in units of the kernel's exponent, so the error is about
# this times 1.1e-16). Above it the block is recomputed with Kernel.log_rows.
_GUARD = 512.0
# Block centres beyond this many lattice steps (of 8 bandwidths) from 0 are not formed:
# such blocks go to the exact path.
_LATTICE_MAX = 2.0**52
# Centred positions (in bandwidths) beyond this are not used by the fast row blocks.
_W_MAX = 1e150
# Terms more than this far (in log) below a row's largest cannot reach the result.
_RELEVANT = 40.0
# float64 unit roundoff and smallest normal number.
_EPS = float(np.finfo(float).eps)
_FFT_LOST_SLACK = float(np.finfo(float).tiny)
# The smallest grid step fft uses (in absolute units: steps below it lose precision).
_FFT_MIN_STEP = 1e-306
# Constant of the FFT roundoff bound, in units of eps log2(size) ||a||_1 ||b||_2; and the
# relative error of the kernel table (exp of a log down to -745), in units of eps.
_FFT_ROUNDOFF = 3.0
_FFT_TABLE_ULPS = 800.0
# Safety factor on the interpolation-error envelope (second differences sample |K''|), and
# the half-width, in nodes, of the window it takes its maximum over.
_FFT_SAFETY = 1.25
_FFT_WINDOW = 4
# fft falls back when the relative perturbation of q at some bin reaches this.
_FFT_MAX_REL = 0.25
# fft extends its grid over every point when that adds at most this many nodes per point.
_FFT_NODES_PER_POINT = 0.5
# The bound's factor with a background (the weights pi move too), and the margin below
# tol that a refined grid aims at.
_FFT_BACKGROUND = 1.25
_FFT_REFINE_MARGIN = 0.9
# fft refines its grid at most once, by at most this factor in step (64 times the nodes),
# and only while the direct sum would cost more: N * M above this many times the nodes.
_FFT_MIN_REFINE = 0.125
_FFT_DIRECT_PER_NODE = 16

T = TypeVar("T")


# --------------------------------------------------------------------------------------------
# choosing a method


def choose_method(
    method: str, kern: Kernel, n_points: int, n_bins: int, *, tol: float | None = None
) -> str:
    """Validate ``method`` and resolve ``"auto"``: the fastest method whose bound is ``<= tol``.

    ``tol`` is the error the caller accepts, in the shared measure (loss error relative to
    ``max(1, mean |log q|)``, gradient error absolute); ``None`` means exact
    (:data:`kdeloss.fast.EXACT_TOL` ``= 1e-12``). It is used by ``"auto"`` only; an explicit
    method is returned as it is (after validation) whatever ``tol``. ``"auto"`` gives

    * Laplace: ``"sorted"`` (exact) when ``n_points * n_bins`` exceeds
      :data:`kdeloss.fast.AUTO_SORTED_MIN`, else ``"direct"``;
    * box: ``"fft"``, which is exact for it (sums over sorted runs, no grid), when
      ``n_points * n_bins`` exceeds :data:`kdeloss.fast.AUTO_BOX_MIN`, else ``"direct"``;
    * Gaussian and other kernels on the line with a length scale: ``"fft"`` when
      ``tol >= FFT_TOL`` (``1e-6``, the bound ``"fft"`` keeps or falls back) and
      ``n_points * n_bins`` is at least :data:`kdeloss.fast.AUTO_FFT_MIN`, where it is faster
      than ``"direct"`` on the benchmark's problem; else ``"direct"``;
    * circular kernels (von Mises): ``"direct"``.

    Parameters
    ----------
    method : str
        One of ``METHODS``: ``"auto"``, ``"direct"``, ``"sorted"``, ``"fft"``.
    kern : Kernel
        The resolved kernel.
    n_points, n_bins : int
        ``N`` and ``M``.
    tol : float, optional
        The largest error ``"auto"`` may accept; default exact.

    Returns
    -------
    str
        ``"direct"``, ``"sorted"`` or ``"fft"``.

    Raises
    ------
    ValueError
        For an unknown method, ``"sorted"`` with a kernel other than Laplace, ``"fft"`` with
        a circular kernel or without a length scale, or a ``tol`` that is not a number > 0.

    Examples
    --------
    >>> from kdeloss import get_kernel
    >>> choose_method("auto", get_kernel("laplace"), 1000, 256)
    'sorted'
    >>> choose_method("auto", get_kernel("gaussian"), 10**4, 10**4)
    'direct'
    >>> choose_method("auto", get_kernel("gaussian"), 10**4, 10**4, tol=1e-6)
    'fft'
    >>> choose_method("sorted", get_kernel("gaussian"), 10, 10)
    Traceback (most recent call last):
    ...
    ValueError: method: "sorted" needs the Laplace kernel, got 'gaussian'
    """
    if not isinstance(method, str) or method not in METHODS:
        names = ", ".join(repr(m) for m in METHODS)
        raise ValueError(f"method: unknown method {method!r}; expected one of {names}")
    if tol is None:
        tol = EXACT_TOL
    elif not (isinstance(tol, int | float) and not isinstance(tol, bool) and tol > 0):
        raise ValueError(f"tol: expected a number > 0 or None, got {tol!r}")
    laplace = kern.exact_fast_path == "sorted"
    size = n_points * n_bins
    if method == "auto":
        if laplace:
            return "sorted" if size > AUTO_SORTED_MIN else "direct"
        if kern.exact_fast_path == "box_runs":
            return "fft" if size > AUTO_BOX_MIN else "direct"
        line = not kern.circular and math.isfinite(kern.length_scale)
        return "fft" if line and tol >= FFT_TOL and size >= AUTO_FFT_MIN else "direct"
    if method == "sorted" and not laplace:
        raise ValueError(f'method: "sorted" needs the Laplace kernel, got {kern.name!r}')
    if method == "fft" and kern.circular:
        raise ValueError(
            f'method: "fft" needs a kernel on the line, got the circular kernel {kern.name!r}; '
            'use "direct"'
        )
    if method == "fft" and not math.isfinite(kern.length_scale):
        raise ValueError(
            'method: "fft" needs the kernel\'s length scale: give the kernel object a finite '
            '"bandwidth" attribute, or use "direct"'
        )
    return method


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
    weights: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    """Loss ``-mean(log q)`` and gradient ``S mean(pi) - rsum / M``; with bin ``weights``
    (summing to 1, and already in ``rsum = sum_m w_m pi_m r(t_m)``), the loss
    ``-sum_m w_m log q_m`` and the gradient ``S sum_m w_m pi_m - rsum``."""
    s = np.exp(ls)
    if weights is not None:
        return _weighted_loss(weights, logq), s * _weight_sum(weights, pi) - rsum
    grad = s - rsum / m if pi is None else s * pi.mean() - rsum / m
    return float(-mean_of_logs(logq)), grad


def _weighted_loss(weights: np.ndarray, logq: np.ndarray) -> float:
    """``-sum_m w_m log q_m`` over the bins with ``w_m > 0``: a bin of weight 0 adds nothing,
    even where ``log q = -inf`` (``0 log 0 = 0``). With ``sum w = 1`` no partial sum exceeds
    ``max |log q|``, so it cannot overflow."""
    live = weights > 0.0
    if live.all():
        return float(-(weights @ logq))
    return float(-(weights[live] @ logq[live]))


def _weight_sum(weights: np.ndarray, pi: np.ndarray | None) -> float:
    """``sum_m w_m pi_m`` (``pi = 1`` without a background)."""
    return 1.0 if pi is None else float(weights @ pi)


def _uncovered(what: str, m: int, tm: float, kern: Kernel | None = None) -> ValueError:
    """A bin no kernel covers or, for a kernel positive everywhere, one whose ``log q``
    overflows."""
    if kern is not None and kern.positive:
        return unrepresentable_error(m, tm)
    return uncovered_bin_error(what, m, tm)


def _near_the_float_limit(x: np.ndarray, t: np.ndarray, h: float) -> bool:
    """Whether positions, bins or the bandwidth reach ``2^1000`` (about ``1e301``), where the
    sums and thresholds of ``"sorted"`` and ``"fft"`` could overflow. The exact ``"direct"``
    method scales positions by powers of two there, and answers instead.
    """
    big = max(float(np.abs(x).max()), float(np.abs(t).max()), float(h))
    return not big < _FLOAT_LIMIT


# The fast methods hand inputs this large to "direct" (a power of two).
_FLOAT_LIMIT = 2.0**1000


# --------------------------------------------------------------------------------------------
# direct


class _FastRows:
    """Row blocks of ``exp(A - max(log S))`` for the kernels whose :attr:`kdeloss.Kernel.row_form`
    is ``"abs"`` (Laplace), ``"square"`` (Gaussian) or ``"cosine"`` (von Mises).

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
        self.form = kern.row_form
        if self.form == "cosine":
            k = kern.kappa
            self.ok = 2.0 * k <= _GUARD and float(np.abs(x).max()) <= 1e3
            self.right = np.stack([k * np.cos(x), k * np.sin(x), self.lsn - k])
        else:
            self.ok = self.form in ("abs", "square")
        if self.ok:
            self.const = kern.log_norm()

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
                # beyond this the products below could overflow: leave it to log_rows
                self.w_ok = bool(np.abs(self.w).max() < _W_MAX)
                if self.form == "square" and self.w_ok:
                    self.cw = self.lsn - 0.5 * self.w * self.w
        return self.c

    def fill(self, tc: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """``exp(A - max log S)`` into ``out``; return ``(log q_model, row sums)`` or None."""
        if not self.ok:
            return None
        kern = self.kern
        const: float | np.ndarray = self.const
        if self.form == "cosine":
            left = np.stack([np.cos(tc), np.sin(tc), np.ones(tc.size)], axis=1)
            np.dot(left, self.right, out=out)
        else:
            c = self._centre(tc)
            if c is None or not self.w_ok:
                return None
            with np.errstate(over="ignore"):
                s = (tc - c) / kern.bandwidth
            smax = float(np.abs(s).max())
            if not smax <= 24.0:  # bins far apart in bandwidths: let log_rows do it
                return None
            if self.form == "abs":
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
        if self.form == "abs":
            # such a term has |w_j| <= |s_m| + depth and |log S_j| <= depth: its rounding
            # error is below 1.1e-16 (2|s| + 2 depth)
            bound = 2.0 * (smax + depth)
        elif self.form == "square":
            depth += 0.5 * smax * smax  # the row sums carry e^{s^2/2}
            reach = smax + math.sqrt(2.0 * depth)  # |w_j| of a term that matters
            bound = smax * reach + 0.5 * reach * reach + depth
        else:
            bound = 2.0 * kern.kappa + depth
        if bound > _GUARD:
            return None
        return const + self.lmax + np.log(total), total


def _exact_block(
    kern: Kernel,
    z: np.ndarray,
    ls: np.ndarray,
    x: np.ndarray,
    tc: np.ndarray,
    need_cover: bool | np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | int:
    """``(log q_model, row sums, exp(A - peak))`` for a row block, from ``log_rows``.

    Rows no kernel reaches get ``log q_model = -inf``, zero entries and row sum 1; if
    ``need_cover`` (a bool, or one per row: the rows of positive weight), the index in the
    block of the first such row that needs cover is returned instead.
    """
    covered, lead, terms = weighted_log_rows(kern, tc, x, z, ls)
    bad = ~covered & need_cover
    if bad.any():
        return int(np.flatnonzero(bad)[0])
    lse, e, total = row_logsumexp(terms)
    log_model = np.where(covered, lead + lse, -np.inf)
    e = np.where(covered[:, None], e, 0.0)
    total = np.where(covered, total, 1.0)
    return log_model, total, e


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
    weights: np.ndarray | None = None,
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
    weights : ndarray, shape (M,), optional
        The target's bin weights ``w_m >= 0``, summing to 1 (default ``None``: ``1/M``
        each); they multiply the per-bin coefficients ``1/M`` (or ``pi_m / M``) of the
        reductions. A bin of weight 0 adds nothing and may be uncovered.

    Returns
    -------
    loss : float
    grad : ndarray, shape (N,)

    Raises
    ------
    ValueError
        If a bin of positive weight is covered by no kernel and there is no background.

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
                need = eps == 0.0 and (True if weights is None else weights[i0:i1] > 0.0)
                exact = _exact_block(kern, z, ls, x, tc, need)
                if isinstance(exact, int):
                    return acc, i0 + exact
                log_model, total, e = exact
            else:
                log_model, total = fast
            if pi is None:
                logq[i0:i1] = log_model
                weight = 1.0 / total
            else:
                logq[i0:i1], pi[i0:i1] = with_background(log_model, eps, log_u)
                weight = pi[i0:i1] / total
            if weights is not None:
                weight = weight * weights[i0:i1]
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
    return _finish(ls, logq, pi, rsum, m, weights)


# --------------------------------------------------------------------------------------------
# sorted (Laplace): linear recursions over the bins

#: Block length of the decay recursions of :func:`kdeloss.fast.sorted_laplace`: a block is
#: one product with a ``SCAN_BLOCK x SCAN_BLOCK`` matrix of powers, so no value passes
#: through more than about this many roundings at each level of the blocked recursion.
SCAN_BLOCK = 16
# The linear-space path needs every bin's density, scaled so that the largest weight is 1,
# at least this large; below, terms that underflowed could matter, and the log-space path
# runs instead.
_LINEAR_FLOOR = 1e-250
# The linear-space path corrects the bins' deviation from equal spacing (rounding of the
# float bin centres) by factors exp(+-skew); it runs only when |skew| <= _MAX_SKEW ...
_MAX_SKEW = 1.0
# ... and skips the correction when |skew| is below this (it then changes q by < 2e-14).
_NEGLIGIBLE_SKEW = 1e-14
# _anchor re-anchors a segment on its largest term at most this many times (each pass
# measures the terms from a nearer anchor, so their rounding shrinks).
_ANCHOR_PASSES = 4
# A loss larger than this in size is recomputed as sum(log q / M): the plain mean of logs
# near 1e308 can overflow.
_HUGE_LOG = 1e300


def _intervals(x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interval index ``kp_j = #{m : t_m <= x_j}`` and the bins either side of each point.

    ``kp = 0`` is left of every bin, ``kp = M`` at or right of the last one; otherwise
    ``t_{kp-1} <= x_j < t_{kp}``. Returns ``kp`` and ``ends`` of shape ``(N, 2)``:
    ``(t_{kp-1}, t_{kp})``, ``-inf`` and ``inf`` beyond the ends. The bins are equally
    spaced, so ``kp`` is arithmetic (then checked, and moved by one where rounding put a
    point in the neighbouring interval); only if that fails (bin centres that rounding made
    unequally spaced) is it a binary search.

    Examples
    --------
    >>> kp, ends = _intervals(np.array([-1.0, 0.25, 0.5, 2.0]), np.array([0.0, 0.5, 1.0]))
    >>> kp
    array([0, 1, 2, 3])
    >>> ends[1]
    array([0. , 0.5])
    """
    m = t.size
    t0 = float(t[0])
    bounds = np.empty((m + 1, 2))  # bounds[kp] = (t_{kp-1}, t_kp)
    bounds[0, 0], bounds[1:, 0] = -np.inf, t
    bounds[:m, 1], bounds[m, 1] = t, np.inf
    spacing = (float(t[-1]) - t0) / (m - 1) if m > 1 else 0.0
    if spacing > 0.0:
        with np.errstate(over="ignore", invalid="ignore"):
            pos = np.subtract(x, t0)
            pos /= spacing
        pos += 1.0
        np.clip(pos, 0.0, float(m), out=pos)
        kp = pos.astype(np.intp)  # truncation is floor here: pos >= 0
        for _ in range(2):
            ends = np.take(bounds, kp, axis=0)
            below, above = ends[:, 0] > x, ends[:, 1] <= x
            if not (below.any() or above.any()):
                return kp, ends
            kp = kp - below + above
    kp = np.searchsorted(t, x, side="right")
    return kp, np.take(bounds, kp, axis=0)


def _decay_scan(v: np.ndarray, log_a: float) -> np.ndarray:
    """``y_n = v_n + a y_{n-1}`` (``y_{-1} = 0``, ``a = e^{log_a} <= 1``) along each row, blocked.

    Each row is cut into blocks of :data:`SCAN_BLOCK` ``= B``. The block sums at each
    block's end (``sum_l v_{s+l} a^{B-1-l}``, a matrix-vector product) run the same
    recursion with ``a^B`` (recursively), which gives the value ``E`` carried into every
    block; ``a E`` is added to the block's first entry, and one product with the ``B x B``
    lower triangular matrix of powers ``a^{i-l}`` finishes all blocks at once. So a term
    passes through at most ``B + 3`` roundings at each of ``ceil(log_B n)`` levels, and
    each power is one ``exp``: no long recursion, whose rounding grows like ``u / (1 - a)``,
    and no prefix sum scaled by ``a^{-i}``, whose exponents grow with the length. ``v`` may
    be overwritten.

    Examples
    --------
    >>> y = _decay_scan(np.ones((1, 3000)), math.log(0.5))
    >>> bool(np.allclose(y[0, -3:], 2.0, rtol=0, atol=1e-15))
    True
    """
    rows, n = v.shape
    b = SCAN_BLOCK
    nb = -(-n // b)
    if nb * b == n and v.flags.c_contiguous:
        blocks = v.reshape(rows, nb, b)
    else:
        blocks = np.zeros((rows, nb, b))
        blocks.reshape(rows, nb * b)[:, :n] = v
    lag = np.arange(b)
    with np.errstate(over="ignore", invalid="ignore"):  # log_a = -inf: a^0 set to 1 below
        powers = np.exp(np.maximum(lag[:, None] - lag[None, :], 0) * log_a)
    powers = np.where(lag[:, None] > lag[None, :], powers, np.eye(b))  # a^{i-l}, l <= i
    if nb > 1:
        ends = _decay_scan(np.matmul(blocks, powers[-1]), log_a * b)
        blocks[:, 1:, 0] += math.exp(log_a) * ends[:, :-1]
    out = np.matmul(blocks, powers.T)
    return out.reshape(rows, nb * b)[:, :n]


def _affine_scan(c: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``y_n = v_n + c_n y_{n-1}`` for ``c, v >= 0`` (``c_0`` unused), by recursive doubling.

    All terms are non-negative, so the relative error is at most ``2 ceil(log2 n)`` roundings.

    Examples
    --------
    >>> _affine_scan(np.array([0.0, 0.5, 0.5]), np.array([1.0, 1.0, 1.0]))
    array([1.  , 1.5 , 1.75])
    """
    y = v.copy()
    c = c.copy()
    c[0] = 0.0
    s = 1
    while s < y.size:
        y[s:] = y[s:] + c[s:] * y[:-s]
        c[s:] = c[s:] * c[:-s]
        s *= 2
    return y


def _segments(keys: np.ndarray) -> np.ndarray:
    """Start of each run of equal values in the sorted ``keys``."""
    return np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))


def _anchor(
    lw: np.ndarray, dist: np.ndarray, x: np.ndarray, sign: float, h: float, starts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each segment's sum of ``e^{lw - dist}`` as (anchor, offset), and each entry's share.

    ``lw`` are log weights up to a common constant (the logits), ``dist_j = sign (t - x_j)/h``
    the distance of point ``j`` to the bin ``t`` its segment feeds. The sum is
    ``e^{lw_p - dist_p + offset}`` with ``p`` its largest term (the anchor); the terms
    relative to it, ``(lw_j - lw_p) + sign (x_j - x_p) / h``, come from differences of
    logits and of positions, never from the rounded large ``dist``.
    """
    counts = np.diff(np.append(starts, lw.size))
    index = np.arange(lw.size)

    def top_of(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        top = np.maximum.reduceat(v, starts)
        first = np.where(v == np.repeat(top, counts), index, lw.size)
        return top, np.minimum.reduceat(first, starts)

    def relative_to(p: np.ndarray) -> np.ndarray:
        pr = np.repeat(p, counts)
        with np.errstate(over="ignore", invalid="ignore"):
            rel = (lw - lw[pr]) + sign * (x - x[pr]) / h
        rel = np.where(np.isnan(rel), -np.inf, rel)
        return np.where(index == pr, 0.0, rel)

    with np.errstate(over="ignore", invalid="ignore"):
        _, p = top_of(lw - dist)  # the largest term, up to rounding of the large dist
    rel = relative_to(p)
    for _ in range(_ANCHOR_PASSES):  # terms relative to a far anchor round: re-anchor
        top, best = top_of(rel)
        if not (top > 0.0).any():
            break
        p = np.where(top > 0.0, best, p)
        rel = relative_to(p)
    part = np.exp(np.minimum(rel, 0.0))
    total = np.add.reduceat(part, starts)
    total = np.where(total > 0.0, total, 1.0)
    return p, np.log(total), part / np.repeat(total, counts)


Anchored = tuple[np.ndarray, np.ndarray, np.ndarray]
"""A sum as (``z_p``, ``x_p``, offset) of its anchor ``p``; offset ``-inf``: no mass."""


def _anchored_diff(a: Anchored, b: Anchored, sign: float, h: float) -> np.ndarray:
    """``log A - log B`` for two sums on the same side of a bin, given as anchored sums.

    Both decay alike towards the bin, so the difference is the same at every bin:
    ``(z_a - z_b) + sign (x_a - x_b) / h + (o_a - o_b)`` (``sign = 1`` for sums from the
    left; ``z`` the logits, whose difference is that of the log weights, without the
    rounding of ``log S``). ``inf`` if only ``A`` has mass, ``-inf`` if only ``B`` or neither.
    """
    (ls_a, x_a, o_a), (ls_b, x_b, o_b) = a, b
    with np.errstate(over="ignore", invalid="ignore"):
        d = (ls_a - ls_b) + sign * (x_a - x_b) / h + (o_a - o_b)
    some_a, some_b = o_a > -np.inf, o_b > -np.inf
    d = np.where(np.isnan(d), 0.0, d)
    return np.where(some_a & some_b, d, np.where(some_a, np.inf, -np.inf))


def _anchored_scan(new: Anchored, sign: float, h: float) -> Anchored:
    """Prefix log-sums over the bins of anchored sums, by recursive doubling.

    Entry ``i`` becomes the sum of entries ``0..i``, all seen from bin ``i``: a sum's
    anchor and offset do not change as it decays from bin to bin (its anchor decays alike),
    so combining two is one :func:`_anchored_diff` and a ``log1p``, and no distance enters.
    """
    ls, x, o = (v.copy() for v in new)
    s = 1
    while s < o.size:
        early = (ls[:-s], x[:-s], o[:-s])
        late = (ls[s:], x[s:], o[s:])
        d = _anchored_diff(early, late, sign, h)
        use = d > 0.0
        with np.errstate(invalid="ignore"):
            grow = np.log1p(np.exp(-np.abs(d)))
        grow = np.where(np.isnan(grow), 0.0, grow)
        ls[s:], x[s:], o[s:] = (
            np.where(use, early[0], late[0]),
            np.where(use, early[1], late[1]),
            np.where(use, early[2], late[2]) + grow,
        )
        s *= 2
    return ls, x, o


def _finish_checked(
    ls: np.ndarray,
    logq: np.ndarray,
    pi: np.ndarray | None,
    rsum: np.ndarray,
    m: int,
    weights: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    """:func:`_finish`, with the mean of ``log q`` taken safely when the logs are huge."""
    with np.errstate(over="ignore"):
        loss, grad = _finish(ls, logq, pi, rsum, m, weights)
    if weights is None and (not math.isfinite(loss) or abs(loss) > _HUGE_LOG):
        loss = float(-(logq / m).sum())
    if not math.isfinite(loss):
        raise ValueError(
            "bandwidth: the loss is not representable (log q is below -1.8e308): the bins "
            "are too many bandwidths from the points; widen the bandwidth or move the points"
        )
    return loss, grad


def _linear_path(
    ls: np.ndarray,
    x: np.ndarray,
    t: np.ndarray,
    h: float,
    kp: np.ndarray,
    ends: np.ndarray,
    eps: float,
    log_u: float,
    weights: np.ndarray | None = None,
) -> tuple[float, np.ndarray] | None:
    """Loss and gradient with linear-space recursions; None where they cannot be exact.

    Weights are scaled so that the largest is 1. Needs the bins' deviation from equal
    spacing below :data:`_MAX_SKEW` bandwidths and every bin's scaled density above
    :data:`_LINEAR_FLOOR` (so nothing that underflowed can matter). ``ends`` (the bins
    either side of each point, from :func:`_intervals`) is overwritten.
    """
    m = t.size
    spacing = (float(t[-1]) - float(t[0])) / (m - 1) if m > 1 else 0.0
    # skew_m = (t_m - t_0 - m * spacing) / h, from the exact differences of the bins
    skew = np.zeros(m)
    step = np.diff(t)
    step -= spacing
    np.cumsum(step, out=skew[1:])
    del step
    with np.errstate(over="ignore", invalid="ignore"):
        log_a = -(spacing / h)
        worst = float(np.abs(skew).max()) / h
    if not worst <= _MAX_SKEW:
        return None
    # row 0 runs left to right, row 1 right to left: sum_{l <= m} v_l e^{-(t_m - t_l)/h} and
    # sum_{l >= m} v_l e^{-(t_l - t_m)/h}, with t_l = t_0 + l * spacing + h skew_l
    tilt = None
    if worst > _NEGLIGIBLE_SKEW:
        skew /= h
        tilt = np.stack([np.exp(skew), np.exp(-skew[::-1])])
    del skew

    def both_sides(sums: np.ndarray) -> np.ndarray:
        """``sums`` holds the inputs from the left in row 0, from the right in row 1."""
        sums[1] = sums[1, ::-1].copy()
        if tilt is None:
            return _decay_scan(sums, log_a)
        return _decay_scan(sums * tilt, log_a) / tilt

    # per point S_j e^{-top} e^{-(x_j - t_{kp-1})/h} and S_j e^{-top} e^{-(t_kp - x_j)/h}
    top = float(ls.max())
    near = np.empty((2, x.size))
    with np.errstate(over="ignore", invalid="ignore"):
        np.subtract(ends.T, x, out=near)
        near /= np.array([[h], [-h]])
        np.exp(near, out=near)
        near *= np.exp(ls - top)
    del ends
    sums = np.empty((2, m))
    sums[0] = np.bincount(kp, near[1], minlength=m + 1)[:m]  # into the bin on the right
    sums[1] = np.bincount(kp, near[0], minlength=m + 1)[1:]  # into the bin on the left
    sums = both_sides(sums)
    q = sums[0] + sums[1, ::-1]  # 2h q_model e^{-top}
    if not float(q.min()) >= _LINEAR_FLOOR:
        return None
    log_model = np.log(q) + (top - math.log(2.0) - math.log(h))
    if eps == 0.0:
        logq, pi = log_model, None
        np.reciprocal(q, out=sums[0])
    else:
        logq, pi = with_background(log_model, eps, log_u)
        np.divide(pi, q, out=sums[0])
    del q
    if weights is not None:
        sums[0] *= weights
    sums[1] = sums[0]  # c_m = w_m pi_m / q_m, sent back both ways
    back = both_sides(sums)
    seen = np.empty((m + 1, 2))  # seen[kp]: bins m <= kp - 1 from t_{kp-1}, m >= kp from t_kp
    seen[0, 0], seen[1:, 0] = 0.0, back[0]
    seen[:m, 1], seen[m, 1] = back[1, ::-1], 0.0
    del back, sums
    near *= np.take(seen, kp, axis=0).T
    return _finish_checked(ls, logq, pi, np.add(near[0], near[1], out=near[0]), m, weights)


def _log_path(
    z: np.ndarray,
    ls: np.ndarray,
    x: np.ndarray,
    t: np.ndarray,
    h: float,
    kp: np.ndarray,
    eps: float,
    log_u: float,
    weights: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    """Loss and gradient in log space, with the gradient from fractions (any regime).

    Every sum is held as (anchor point, offset): ``log`` of the sum at bin ``m`` is
    ``log S_p - |t_m - x_p| / h + offset``. Comparisons of two sums use differences of
    logits and of positions (and, across a bin, the two distances with their rounding
    errors), so no large exponent is ever subtracted from another; ``log S_p = z_p - c``
    enters only the loss.
    """
    m, n = t.size, x.size
    order = np.argsort(kp, kind="stable")
    ks, xs, lss = kp[order], x[order], z[order]  # logits: their differences are exact
    starts = _segments(ks)
    ids = ks[starts]
    t_right = np.append(t, np.inf)[ks]  # the bin each point feeds on its right ...
    t_left = np.insert(t, 0, -np.inf)[ks]  # ... and on its left
    with np.errstate(over="ignore", invalid="ignore"):
        anchor_l, off_l, share_l = _anchor(lss, (t_right - xs) / h, xs, 1.0, h, starts)
        anchor_r, off_r, share_r = _anchor(lss, (xs - t_left) / h, xs, -1.0, h, starts)

    # the new mass entering each bin's left sum (from interval kp - 1) and right sum
    to_l, to_r = ids < m, ids > 0
    new_l = (np.zeros(m), np.zeros(m), np.full(m, -np.inf))
    new_r = (np.zeros(m), np.zeros(m), np.full(m, -np.inf))
    for new, at, anchor, off in (
        (new_l, ids[to_l], anchor_l[to_l], off_l[to_l]),
        (new_r, ids[to_r] - 1, anchor_r[to_r], off_r[to_r]),
    ):
        new[0][at], new[1][at], new[2][at] = lss[anchor], xs[anchor], off

    # the left and right sums at every bin, and which fraction of each is new there
    left = _anchored_scan(new_l, 1.0, h)
    right = tuple(v[::-1] for v in _anchored_scan(tuple(v[::-1] for v in new_r), -1.0, h))
    none = (np.zeros(1), np.zeros(1), np.full(1, -np.inf))
    carried_l = _anchored_diff(
        tuple(np.concatenate([e, v[:-1]]) for e, v in zip(none, left, strict=True)),
        new_l,
        1.0,
        h,
    )
    carried_r = _anchored_diff(
        tuple(np.concatenate([v[1:], e]) for e, v in zip(none, right, strict=True)),
        new_r,
        -1.0,
        h,
    )
    kept_l, fresh_l = expit(carried_l), expit(-carried_l)
    kept_r, fresh_r = expit(carried_r), expit(-carried_r)

    top = float(z.max())
    log_sum = math.log(float(np.exp(z - top).sum()))  # log S = (z - top) - log_sum
    # left against right at each bin: (ls_l - ls_r) - (d_l - d_r) / h + (o_l - o_r)
    (ls_l, x_l, ol), (ls_r, x_r, orr) = left, right
    some_l, some_r = ol > -np.inf, orr > -np.inf
    dl, el = two_sum(t, -np.where(some_l, x_l, t))
    dr, er = two_sum(np.where(some_r, x_r, t), -t)
    with np.errstate(over="ignore", invalid="ignore"):
        gap = (ls_l - ls_r) - ((dl - dr) + (el - er)) / h + (ol - orr)
        gap = np.where(
            some_l & some_r, np.where(np.isnan(gap), 0.0, gap), np.where(some_l, np.inf, -np.inf)
        )
        from_left = expit(gap)  # fraction of q from the left
        log_big = np.where(
            gap > 0.0,
            ((ls_l - top) - log_sum) - dl / h + ol,
            ((ls_r - top) - log_sum) - dr / h + orr,
        )
        log_model = log_big + np.log1p(np.exp(-np.abs(gap)))
    log_model += -math.log(2.0) - math.log(h)
    if eps == 0.0:
        unfit = ~np.isfinite(log_model)
        if weights is not None:
            unfit &= weights > 0.0  # a bin of weight 0 adds nothing
        if unfit.any():
            bad = int(np.flatnonzero(unfit)[0])
            raise ValueError(
                f"bandwidth: bin {bad} at t = {float(t[bad]):.12g} is more than ~1e308 "
                "bandwidths from every point, so log q is not representable; widen the "
                "bandwidth or move the points"
            )
        logq, pi = log_model, None
        weight = np.ones(m)
    else:
        with np.errstate(invalid="ignore"):
            log_model = np.where(np.isnan(log_model), -np.inf, log_model)
        logq, pi = with_background(log_model, eps, log_u)
        weight = pi
    if weights is not None:
        weight = weight * weights
        from_left = np.where(weight > 0.0, from_left, 0.5)  # NaN-free where nothing counts

    # sum_m w_m pi_m r_j(t_m): along the left sums, H_m = w_m rho_m + kept_{m+1} H_{m+1}
    h_l = _affine_scan(np.append(0.0, kept_l[:0:-1]), (weight * from_left)[::-1])[::-1]
    h_r = _affine_scan(np.append(0.0, kept_r[:-1]), weight * (1.0 - from_left))
    reach_l = np.append(fresh_l * h_l, 0.0)  # per unit of new mass at bin kp (none at M)
    reach_r = np.insert(fresh_r * h_r, 0, 0.0)  # at bin kp - 1 (none left of bin 0)
    rsum = np.empty(n)
    rsum[order] = share_l * reach_l[ks] + share_r * reach_r[ks]
    return _finish_checked(ls, logq, pi, rsum, m, weights)


def sorted_laplace(
    z: np.ndarray,
    x: np.ndarray,
    t: np.ndarray,
    h: float,
    eps: float = 0.0,
    log_u: float = 0.0,
    *,
    weights: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    r"""Loss and exact gradient for the Laplace kernel in linear time.

    With ``K(d) = e^{-|d|/h} / (2h)`` the density at a bin splits into the points on its
    left and on its right, ``2h q(t_m) = L_m + R_m``. Give each point the interval
    ``[t_k, t_{k+1})`` of equally spaced bins it lies in (arithmetic, no sort); then

    .. math::

        L_m = a_m L_{m-1} + \sum_{x_j \in [t_{m-1}, t_m)} S_j e^{-(t_m - x_j)/h},
        \qquad a_m = e^{-(t_m - t_{m-1})/h},

    and ``R_m`` the same from the right: two recursions over the bins whose inputs have
    exponents at most one bin spacing. The mean responsibilities are the same
    construction run back from the bins to the points, with weights ``c_m = pi_m / q(t_m)``:

    .. math::

        \sum_m \pi_m r_j(t_m) = S_j \Big( e^{-(t_{k+1} - x_j)/h} \sum_{m > k} c_m
            e^{-(t_m - t_{k+1})/h} + e^{-(x_j - t_k)/h} \sum_{m \le k} c_m
            e^{-(t_k - t_m)/h} \Big).

    Points left of every bin form one more interval, whose sum enters ``L_0`` (their kernels
    are proportional on all bins, so merging them is exact), and points at or right of the
    last bin one whose sum enters ``R_{M-1}``.

    Two paths compute this (``method="sorted"`` keeps its name; nothing is sorted); only
    positions or a bandwidth within reach of the float limit (``2^1000``) go to
    ``"direct"``. Steps: :func:`kdeloss.logspace.log_softmax`, :func:`_intervals` (which
    interval each point is in), then :func:`_linear_path`, or :func:`_log_path` when the
    first declines.

    *Linear* (the usual case; ``O(N + M)`` time and memory): weights scaled so that the
    largest is 1, one ``np.bincount`` per side for the interval sums, the recursions with
    the constant factor ``a = e^{-spacing/h}`` in :func:`_decay_scan` (blocks of
    :data:`SCAN_BLOCK` ``= 16`` bins as one matrix product with the powers of ``a``, then
    the block ends the same way, recursively), the rounding of the float bin centres away
    from equal spacing put back exactly by factors ``e^{+-skew}``. It runs when the skew is
    below one bandwidth and every bin's scaled density is above ``1e-250``, so that terms
    that underflowed are below ``1e-50`` of it; otherwise the log-space path runs.

    Error bound (``u = 2^-53``): a term of ``L_m`` passes through at most 16 additions,
    2 products and 2 exponentials at each of ``L = ceil(log_16 M)`` levels (``22 L``
    roundings), and its factors ``e^{-y}`` are each off by ``2 u |y|`` with the ``|y|``
    summing to its exponent ``E`` (decay plus ``log`` of its scaled weight); only terms
    with ``E <= 700`` reach ``1e-16`` of a density above ``1e-250``. So
    ``|dq/q| <= (22 L + 1410) u + 2e-14`` (skew left out when below ``1e-14``), which is
    ``2e-13`` for ``M <= 16^5 ~ 10^6`` and grows by ``2.4e-15`` per factor 16 in ``M``:
    the loss within ``2e-13``, and the responsibilities (the forward error through
    ``c_m = pi_m / q_m``, and the backward recursions' own) within ``4.5e-13`` relative,
    hence the gradient within ``4.5e-13`` absolute. No exponent of the target's width in
    bandwidths, ``W``, enters: one long recursion would err by about ``u / (1 - a)``
    (``a`` rounded once and used up to ``M`` times: measured ``1.4e-13`` at the
    benchmark's ``a = e^{-2 10^-5}``, ``1.4e-12`` at ``e^{-2 10^-6}``), and prefix sums
    over centred positions, as before, by ``u W``.

    *Log space* (bins far from all the mass, bandwidths far below the bin spacing, huge logit
    spreads; ``O(N log N + M log M)``): every sum is held as an anchor point ``p`` (its largest
    term) and an offset ``o``, ``log L_m = log S_p - (t_m - x_p)/h + o``. A sum keeps its anchor
    and offset as it decays from bin to bin, so two sums on one side of a bin compare by ``(z_p -
    z_p') + (x_p - x_p')/h + (o - o')``, differences of logits and of positions, and the two sides
    by ``(t_m - x_p) - (x_p' - t_m)`` with both distances' rounding errors kept
    (:func:`kdeloss.logspace.two_sum`): no large exponent is ever subtracted from another (``log
    S_p`` itself enters only the loss). Each interval's sum gets its anchor and its members' shares
    from differences of logits and positions (:func:`_anchor`); the sums over the bins are prefix
    sums by recursive doubling (:func:`_anchored_scan`). The gradient comes from fractions only: at
    each bin the fraction of ``q`` from the left, the fraction of the left sum carried from the
    previous bin, each point's share of its interval's sum, all in ``[0, 1]`` and each the
    ``expit`` of one such difference; the backward sums run over those fractions
    (:func:`_affine_scan`), so a bin ``10^300`` bandwidths from every point, or balanced between
    two points ``10^11`` bandwidths away, still gets its responsibilities to rounding. Error: each
    compared exponent is off by ``u`` times the size of its own difference (``(x_p - x_p')/h``,
    ``z_p - z_p'``), ``ceil(log2 M)`` doubling steps add ``2 u`` each to the offsets, and the
    fractions and backward sums ``(2 log2 M + 6) u``: the loss within ``(2 log2 M + 6) u`` relative
    to ``max(1, mean |log q|)``, the gradient within ``(4 log2 M + 12) u`` absolute (``1e-14`` for
    ``M = 10^6``), beyond what rounding of the inputs' own differences already decides.

    Raises ``ValueError`` ("bandwidth: ...") if a bin is more than about ``1e308``
    bandwidths from every point and there is no background (``log q`` is not a float).

    Parameters
    ----------
    z, x : ndarray, shape (N,)
        Logits and positions.
    t : ndarray, shape (M,)
        Bin centres, ascending and equally spaced.
    h : float
        Laplace bandwidth.
    eps, log_u : float
        Background weight and log background density.
    weights : ndarray, shape (M,), optional
        The target's bin weights, summing to 1 (default ``None``: ``1/M``); they multiply
        the coefficients ``c_m`` sent back from the bins, and the bounds above hold as
        they are (all the sums stay sums of nonnegative terms).

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
    >>> bool(abs(L - L2) <= 1e-13 * abs(L2) and np.abs(g - g2).max() <= 1e-13)
    True

    A bandwidth a trillion times below the bin spacing (each bin sees its nearest points):

    >>> L, g = sorted_laplace(z[:50], x[:50] / 4, t, 1e-12)
    >>> L2, g2 = loss_and_grad(z[:50], x[:50] / 4, 0.0, 1.0, bandwidth=1e-12, bins=300,
    ...                        method="direct")
    >>> bool(abs(L - L2) <= 1e-13 * abs(L2) and np.abs(g - g2).max() <= 1e-13)
    True
    """
    if _near_the_float_limit(x, t, h):
        return direct(z, x, t, Laplace(h), eps, log_u, weights=weights)
    ls = log_softmax(z)
    kp, ends = _intervals(x, t)
    got = _linear_path(ls, x, t, h, kp, ends, eps, log_u, weights)
    if got is not None:
        return got
    return _log_path(z, ls, x, t, h, kp, eps, log_u, weights)


# --------------------------------------------------------------------------------------------
# fft


class _Grid(NamedTuple):
    """The FFT grid: node ``k`` at ``g0 + k * delta``, ``n`` nodes, kernel offsets up to
    ``half`` nodes, FFT length ``size``, and the points on it (``keep``; None: all)."""

    g0: float
    delta: float
    n: int
    half: int
    size: int
    keep: np.ndarray | None


def _fft_grid(x: np.ndarray, t: np.ndarray, kern: Kernel, h: float, step: float) -> _Grid | None:
    """The grid for ``fft``, or None when it would need more than
    :data:`kdeloss.fast.FFT_MAX_NODES` nodes or a step too small to represent.

    The grid spans the bins and every point within the kernel's reach of them
    (:meth:`kdeloss.Kernel.reach` at depth :data:`FFT_TAIL`), plus one node on each side; the
    kernel is tabulated out to that reach (two nodes more), so a circular convolution of length
    ``size >= n + half`` is a linear one at every node.
    """
    t0, t1 = float(t[0]), float(t[-1])
    delta = step * h
    with np.errstate(over="ignore"):
        reach = kern.reach(FFT_TAIL, h) * h
    xmin, xmax = float(x.min()), float(x.max())
    lo = min(t0, max(xmin, t0 - reach))
    hi = max(t1, min(xmax, t1 + reach))
    if not (delta >= _FFT_MIN_STEP and math.isfinite(hi - lo)):
        return None
    # every point on the grid, when the extra nodes cost less than picking the points out
    whole_lo, whole_hi = min(t0, xmin), max(t1, xmax)
    if (whole_lo < lo or whole_hi > hi) and math.isfinite(whole_hi - whole_lo):
        extra = ((lo - whole_lo) + (whole_hi - hi)) / delta
        if extra <= _FFT_NODES_PER_POINT * x.size and extra < FFT_MAX_NODES:
            lo, hi = whole_lo, whole_hi
    span = (hi - lo) / delta
    if not span < FFT_MAX_NODES - 3:
        return None
    n = math.ceil(span) + 3
    g0 = lo - delta  # the last node, g0 + (n - 1) delta, is at least hi + delta
    half = n - 1 if not reach < (n - 3) * delta else math.ceil(reach / delta) + 2
    size = scipy.fft.next_fast_len(n + half, real=True)
    keep = None if lo <= xmin and xmax <= hi else (x >= lo) & (x <= hi)
    return _Grid(g0, delta, n, half, size, keep)


def _interp(p: np.ndarray, g0: float, inv: float) -> tuple[np.ndarray, np.ndarray]:
    """Left node and the right node's weight for positions ``p >= g0`` on the grid."""
    pos = p - g0
    pos *= inv
    i = pos.astype(np.intp)  # truncation is the floor here
    pos -= i
    return i, pos


def _spread(i: np.ndarray, f: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Linear binning: ``values`` split between nodes ``i`` and ``i + 1`` as ``1 - f : f``.

    Two passes of ``np.bincount`` over the same index array (``i + 1`` is never formed).
    """
    right = np.bincount(i, values * f, minlength=n)
    out = np.bincount(i, values, minlength=n) - right
    out[1:] += right[:-1]
    return out


def _kernel_table(kern: Kernel, g: _Grid) -> tuple[np.ndarray, np.ndarray, float] | None:
    """The kernel at grid offsets ``-half..half``, scaled to peak 1, in FFT wrap-around order;
    the envelope of the interpolation error (same layout); and ``log`` of the peak.

    Linear binning of the points and linear reading at the bins replace ``K(d)`` by a mean of
    ``K(d + s)`` over offsets ``s`` within ``2 delta`` with mean 0 and ``E[s^2] <= delta^2/2``,
    so the error is at most ``(delta^2/4) max |K''|`` near ``d``. The envelope is that bound
    from second differences ``|K_{i-1} - 2 K_i + K_{i+1}| = delta^2 |K''(xi_i)|``: their
    maximum over the nine nodes within four steps, times :data:`_FFT_SAFETY` / 4, plus their
    rounding error. A jump in ``K`` (box, or a compact kernel's edge) gives a large envelope
    there, and ``fft`` falls back.
    """
    half, pad = g.half, _FFT_WINDOW + 1
    d = np.arange(-half - pad, half + pad + 1) * g.delta
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        lk = np.asarray(kern.logpdf(d), dtype=float)
    ktop = float(lk.max())
    if not (math.isfinite(ktop) and np.all(lk < np.inf) and not np.isnan(lk).any()):
        return None
    with np.errstate(under="ignore"):
        k = np.exp(lk - ktop)
    second = np.abs(k[:-2] - 2.0 * k[1:-1] + k[2:]) + _EPS * 4.0 * (k[:-2] + k[1:-1] + k[2:])
    w = 2 * _FFT_WINDOW + 1
    env = second[: second.size - w + 1].copy()
    for s in range(1, w):
        np.maximum(env, second[s : s + env.size], out=env)
    env *= 0.25 * _FFT_SAFETY
    k = k[pad:-pad]  # offsets -half..half; env has the same length
    size = g.size
    kvec = np.zeros((2, size))
    for row, v in ((0, k), (1, env)):
        kvec[row, : half + 1] = v[half:]
        kvec[row, size - half :] = v[:half]
    return kvec[0], kvec[1], ktop


def _convolve(wf: np.ndarray, kf: np.ndarray, g: _Grid, workers: int) -> np.ndarray:
    """Inverse FFT of the products of ``wf`` with each row of ``kf``: the convolutions at the
    nodes ``0..n-1``."""
    return scipy.fft.irfft(wf * kf, g.size, workers=workers)[..., : g.n]


def _bin_mean_bound(
    values: np.ndarray, bins: np.ndarray, m: int, weights: np.ndarray | None = None
) -> float:
    """An upper bound of ``mean_m v(t_m)`` for ``v`` at most the larger of its values at the
    two nodes around ``t_m``: ``sum_k count_k max(v_k, v_{k+1}) / M``, with ``count_k`` the
    number of bins between nodes ``k`` and ``k + 1``. ``values`` holds ``v`` at the nodes
    ``k0..k1`` next to the bins, ``bins`` the index of the first bin right of each. With bin
    ``weights`` (summing to 1) it bounds the weighted mean ``sum_m w_m v(t_m)``: ``count_k``
    is then the weight of those bins."""
    top = np.maximum(values[:-1], values[1:])
    if weights is None:
        counts = np.diff(bins, append=m)[:-1]
        return float(counts @ top) / m
    cum = np.concatenate([[0.0], np.cumsum(weights)])
    mass = np.maximum(cum[bins[1:]] - cum[bins[:-1]], 0.0) * (1.0 + 4.0 * m * _EPS)
    return float(mass @ top)


def fft(
    z: np.ndarray,
    x: np.ndarray,
    t: np.ndarray,
    kern: Kernel,
    eps: float = 0.0,
    log_u: float = 0.0,
    *,
    step: float = FFT_STEP,
    tol: float = FFT_TOL,
    weights: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    r"""Loss and gradient by linear binning and FFT convolution, within a checked bound.

    The weights ``S_j`` are spread linearly onto a grid of spacing ``delta = step * h``
    (each point's weight split between its two neighbouring nodes in proportion to
    closeness), the grid is convolved with the kernel by FFT, and ``q`` is read at the bins
    by linear interpolation: the approach of KDEpy's ``FFTKDE`` (Odland 2018). The gradient
    needs ``sum_m c_m K(t_m - x_j)`` with ``c_m = pi_m / q(t_m)``: spread ``c`` onto the
    grid, correlate it with the kernel by a second FFT, and read the result at the points
    with the same linear weights. Reading back is the transpose of spreading, so the gradient
    returned is the exact gradient of the loss returned, for an effective kernel ``K~``.

    **Error bound.** In the shared measure (loss error relative to
    ``max(1, mean |log q|)``, gradient error the largest absolute difference), both errors
    are at most ``tol`` (default :data:`kdeloss.fast.FFT_TOL` ``= 1e-6``), or the function
    falls back to the exact method. It does not rely on an a-priori estimate: after the
    convolution it bounds, at each bin, ``a_m = A_m / q~(t_m)`` where ``A_m`` sums

    * the interpolation error ``sum_j S_j |K~ - K|(t_m - x_j)``: linear binning and reading
      replace ``K(d)`` by a mean of ``K(d + s)`` over ``|s| <= 2 delta`` with ``E s = 0``,
      ``E s^2 <= delta^2 / 2``, so ``|K~ - K|(d) <= (delta^2/4) max |K''|`` near ``d``; that
      envelope is tabulated from the kernel's second differences on the grid (their maximum
      over nine nodes, times 1.25) and convolved with the weights by a third FFT;
    * the points left off the grid (beyond the kernel's reach of every bin, where
      ``log K`` is :data:`FFT_TAIL` ``= 40`` below its peak), bounded by
      ``sum S_j K(distance to the nearest bin)``, and the kernel's tail beyond the table;
    * FFT and summation roundoff (``3 eps log2(size) ||K||_2 ||w||_1`` with ``w`` the
      weights on the grid, the kernel table's rounding and ``N eps`` relative).

    Then ``sum_j |r~_mj - r_mj| <= 2 a_m / (1 - 2 a_m)`` at every bin (``r`` the
    responsibilities), the gradient error is at most the mean of that over the bins (times
    1.25 with a background, for ``pi``), plus the correlation's roundoff, and the loss error
    is at most half of it. With a target's bin weights ``w_m`` (summing to 1) every mean
    over the bins is the weighted mean ``sum_m w_m (.)``: the loss error is at most
    ``sum_m w_m |log q~ - log q|(t_m)``, the gradient error at most
    ``sum_m w_m sum_j |r~_mj - r_mj|`` (times 1.25 with a background), so the bound is the
    weighted mean of the same per-bin bound, taken over the grid intervals by the weight of
    their bins. If that bound exceeds ``tol`` the grid is refined once (the
    interpolation term falls like ``step^2``); if it still does, or the grid would need more
    than :data:`kdeloss.fast.FFT_MAX_NODES` nodes, or a step below ``1e-306``, the function
    returns the exact ``"direct"`` result instead. So far points with a heavy weight, a bin
    far out in the tails of every kernel (density range too large for FFT roundoff), a
    bandwidth tiny against the target, or a kernel with a jump all give the exact answer.

    The default ``step = 1/1024`` (:data:`kdeloss.fast.FFT_STEP`) keeps the Gaussian bound
    near ``6e-7`` where the target is well inside the points (the benchmark's problem); the
    errors there are far smaller (about ``1e-9``). Where the bins lie several bandwidths
    from the points the bound grows (with the kernel's curvature there) and the grid is
    refined.

    Two kernels are never binned. The Laplace kernel: the function returns
    :func:`kdeloss.fast.sorted_laplace`, exact (``1e-12``) and linear in ``N + M`` (two
    recursions over the bins), faster than any grid method. The box kernel: an exact
    algorithm (:func:`_box_sorted`), prefix structure over the sorted points and bins,
    ``O((N + M) log N)``. ``step`` and ``tol`` are then ignored. For a custom kernel the
    envelope assumes ``K`` is smooth on the scale of the grid step wherever it is not
    flagged by its second differences, and :meth:`kdeloss.Kernel.reach` assumes ``K`` does
    not rise again beyond its probes.

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
        Grid spacing in bandwidths (ignored for Laplace and box, which need no grid).
    tol : float
        The bound to keep (on both error measures).
    weights : ndarray, shape (M,), optional
        The target's bin weights, summing to 1 (default ``None``: ``1/M`` each).

    Returns
    -------
    loss : float
    grad : ndarray, shape (N,)

    Raises
    ------
    ValueError
        Box kernel without a background: a bin covered by no box (as ``"direct"``).

    Examples
    --------
    >>> from kdeloss import bin_centers, get_kernel, loss_and_grad
    >>> rng = np.random.default_rng(2)
    >>> z, x = rng.normal(size=2000), rng.normal(size=2000)
    >>> t = bin_centers(-1.0, 1.0, 1000)
    >>> L, g = fft(z, x, t, get_kernel("gaussian", 0.2))
    >>> L2, g2 = loss_and_grad(z, x, -1.0, 1.0, kernel="gaussian", bandwidth=0.2, bins=1000)
    >>> bool(abs(L - L2) < 1e-6 and np.abs(g - g2).max() < 1e-6)
    True
    """
    if _near_the_float_limit(x, t, kern.bandwidth):
        return direct(z, x, t, kern, eps, log_u, weights=weights)
    if kern.exact_fast_path == "sorted":
        return sorted_laplace(z, x, t, kern.bandwidth, eps, log_u, weights=weights)
    if kern.exact_fast_path == "box_runs":
        return _box_sorted(z, x, t, kern.bandwidth, eps, log_u, weights=weights)
    h = kern.length_scale
    soft = _Softmax(z)
    for _ in range(2):
        grid = _fft_grid(x, t, kern, h, step)
        if grid is None:
            break
        result = _fft_on_grid(soft, x, t, kern, grid, eps, log_u, weights)
        if result is None:
            break
        loss, grad, bound, interp = result
        if bound <= tol:
            return loss, grad
        # the interpolation term falls like step^2; nothing else does
        rest = bound - interp
        if not (interp > 0.0 and rest < 0.5 * tol):
            break
        shrink = math.sqrt((tol - rest) / interp) * _FFT_REFINE_MARGIN
        if shrink < _FFT_MIN_REFINE or x.size * t.size < _FFT_DIRECT_PER_NODE * grid.n / shrink:
            break
        step *= shrink
    return _fallback(z, x, t, kern, eps, log_u, weights)


def _fft_on_grid(
    weights: _Softmax,
    x: np.ndarray,
    t: np.ndarray,
    kern: Kernel,
    g: _Grid,
    eps: float,
    log_u: float,
    bin_weights: np.ndarray | None = None,
) -> tuple[float, np.ndarray, float, float] | None:
    """One pass of ``fft`` on the grid ``g``: loss, gradient, error bound and its
    interpolation part; None where the bound cannot be formed (``q`` not positive)."""
    m, n_pts = t.size, x.size
    table = _kernel_table(kern, g)
    if table is None:
        return None
    kvec, evec, ktop = table
    workers = worker_count()
    kf = scipy.fft.rfft(np.stack([kvec, evec]), workers=workers)
    inv = 1.0 / g.delta

    # spread the weights of the points on the grid (S_j below 2^-1022 count as lost below)
    s = weights.s
    xk, sk = (x, s) if g.keep is None else (x[g.keep], s[g.keep])
    ib, fb = _interp(xk, g.g0, inv)
    grid_w = _spread(ib, fb, sk, g.n)

    conv, conv_e = _convolve(scipy.fft.rfft(grid_w, g.size, workers=workers), kf, g, workers)
    it, ft = _interp(t, g.g0, inv)
    k0, k1 = int(it[0]), int(it[-1]) + 1
    near = slice(k0, k1 + 1)  # the nodes next to the bins
    if not float(conv[near].min()) > 0.0:
        return None
    # bins[k - k0] is the first bin right of node k
    bins = np.searchsorted(it, np.arange(k0, k1 + 1))

    # what the grid leaves out: underflowed weights and kernel values, the kernel's tail
    # beyond the table, the points off the grid
    lost = _FFT_LOST_SLACK * (n_pts + 1) + math.exp(-FFT_TAIL)
    if g.keep is not None:
        lost += _dropped_mass(weights, x, t, kern, ~g.keep, ktop)
    # an FFT convolution's error at any node is at most about eps log2(size) ||a||_1 ||b||_2
    # (||a||_1 = sum S <= 1 here)
    roundoff = _FFT_ROUNDOFF * _EPS * math.log2(g.size) * float(np.sqrt(kvec @ kvec))
    factor = 1.0 if eps == 0.0 else _FFT_BACKGROUND
    bounds = _error_bound(
        conv[near], conv_e[near], lost + roundoff, n_pts, bins, m, factor, bin_weights
    )
    if bounds is None:
        return None
    bound, interp = bounds

    qb = _read(conv, it, ft)
    log_model = np.log(qb)
    if eps == 0.0:
        if bin_weights is None:
            loss = -float(log_model.mean()) - ktop
        else:
            loss = _weighted_loss(bin_weights, log_model) - ktop
        pi = None
        gamma = np.divide(1.0, qb, out=qb)
    else:
        log_model += ktop
        logq, pi = with_background(log_model, eps, log_u)
        loss = -float(logq.mean()) if bin_weights is None else _weighted_loss(bin_weights, logq)
        gamma = np.divide(pi, qb, out=qb)
    # each bin's coefficient: 1/M (applied below), or its weight
    per_bin = 1.0 / m
    if bin_weights is not None:
        gamma *= bin_weights
        per_bin = 1.0

    # sum_m gamma_m K(t_m - x_j) / e^ktop, read at the points: r_bar_j M / S_j
    grid_c = _spread_sorted(it, ft, gamma, bins, k0, g.n)
    corr = _correlate(grid_c, kf[0], g, workers)
    bound += roundoff * float(grid_c.sum()) * float(sk.max()) * per_bin
    corr *= -per_bin
    # the gradient S_j (mean(pi) - r_bar_j / S_j)
    if bin_weights is None:
        mean_pi = 1.0 if pi is None else float(pi.mean())
    else:
        mean_pi = _weight_sum(bin_weights, pi)
    part = _read(corr, ib, fb)
    part += mean_pi
    part *= sk
    if g.keep is None:
        grad = part
    else:
        grad = s * mean_pi
        grad[g.keep] = part
    return loss, grad, bound, interp


def _error_bound(
    q: np.ndarray,
    env: np.ndarray,
    lost: float,
    n_pts: int,
    bins: np.ndarray,
    m: int,
    factor: float,
    weights: np.ndarray | None = None,
) -> tuple[float, float] | None:
    """The bound of ``fft`` from ``q~`` and the convolved error envelope at the nodes next to
    the bins (see :func:`fft`), and its interpolation part; None if ``a_m`` is too large.

    ``a = (env + lost) / q~ + eps (N + table)`` bounds ``sum_j S_j |K~ - K| / q~`` at a node,
    and so at the bins between two nodes (ratios of linear interpolants); then
    ``sum_j |r~ - r| <= 2a / (1 - 2a)``, whose mean over the bins (times ``factor`` with a
    background) bounds both errors; with bin ``weights``, the weighted mean.
    """
    with np.errstate(over="ignore"):
        a_rel = env + lost
        a_rel /= q
        a_rel += _EPS * (n_pts + _FFT_TABLE_ULPS)
    if not float(a_rel.max()) < _FFT_MAX_REL:
        return None
    resp = 2.0 * a_rel / (1.0 - 2.0 * a_rel)
    return (
        factor * _bin_mean_bound(resp, bins, m, weights),
        factor * _bin_mean_bound(2.0 * env / q, bins, m, weights),
    )


def _read(values: np.ndarray, i: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Linear interpolation of node ``values`` at left nodes ``i`` with right weights ``f``
    (the transpose of :func:`_spread`)."""
    out = np.take(np.diff(values), i)
    out *= f
    out += np.take(values, i)
    return out


def _spread_sorted(
    it: np.ndarray, ft: np.ndarray, values: np.ndarray, bins: np.ndarray, k0: int, n: int
) -> np.ndarray:
    """:func:`_spread` for ascending ``it`` (the bins), by sums over runs."""
    counts = np.diff(bins, append=it.size)
    runs = counts > 0
    starts = bins[runs]
    nodes = np.flatnonzero(runs) + k0
    right = np.add.reduceat(values * ft, starts)
    out = np.zeros(n)
    out[nodes] = np.add.reduceat(values, starts) - right
    out[nodes + 1] += right
    return out


def _correlate(grid_c: np.ndarray, kf: np.ndarray, g: _Grid, workers: int) -> np.ndarray:
    """``sum_a c_a K(g_a - g_b)`` at every node ``b`` (a cross-correlation, by FFT)."""
    cf = scipy.fft.rfft(grid_c, g.size, workers=workers)
    return scipy.fft.irfft(cf * np.conj(kf), g.size, workers=workers)[: g.n]


def _dropped_mass(
    weights: _Softmax, x: np.ndarray, t: np.ndarray, kern: Kernel, off: np.ndarray, ktop: float
) -> float:
    """``sum S_j K(d_j) / e^ktop`` over the points off the grid, ``d_j`` the distance to the
    nearest bin: the most they add to ``q~`` at any bin (``K`` falls beyond its reach)."""
    xo = x[off]
    t0, t1 = float(t[0]), float(t[-1])
    with np.errstate(over="ignore"):
        d = np.where(xo < t0, t0 - xo, xo - t1)
    d = np.minimum(d, np.finfo(float).max)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        lk = np.asarray(kern.logpdf(d), dtype=float) - ktop
    a = weights.log_at(off) + lk
    top = float(a.max())
    if top == -math.inf:
        return 0.0
    if not top < 0.0:  # a far point as heavy as the grid's peak: certainly too much
        return math.inf
    return float(np.exp(a).sum())


class _Softmax:
    """Softmax weights ``S = e^(z - max z) / sum`` (no log taken, so logits of size ``1e300``
    keep their ties), and their logs on demand."""

    def __init__(self, z: np.ndarray) -> None:
        self.z = z
        self.top = float(z.max())
        e = z - self.top
        np.exp(e, out=e)
        total = float(e.sum())
        e *= 1.0 / total
        self.s = e
        self.log_total = math.log(total)

    def log_at(self, where: np.ndarray) -> np.ndarray:
        """``log S`` at the points selected by ``where``."""
        return (self.z[where] - self.top) - self.log_total


def _fallback(
    z: np.ndarray,
    x: np.ndarray,
    t: np.ndarray,
    kern: Kernel,
    eps: float,
    log_u: float,
    weights: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    """The exact method ``fft`` falls back to."""
    return direct(z, x, t, kern, eps, log_u, weights=weights)


# --------------------------------------------------------------------------------------------
# box (exact)


def _first_at_least(a: np.ndarray, c: float) -> np.ndarray:
    """The smallest float ``>= a - c`` in exact arithmetic (``a - c`` rounded, then nudged)."""
    s, err = two_sum(a, -c)  # s + err == a - c exactly
    with np.errstate(over="ignore"):
        return np.where(err > 0.0, np.nextafter(s, np.inf), s)


def _last_at_most(a: np.ndarray, c: float) -> np.ndarray:
    """The largest float ``<= a + c`` in exact arithmetic."""
    s, err = two_sum(a, c)
    with np.errstate(over="ignore"):
        return np.where(err < 0.0, np.nextafter(s, -np.inf), s)


def _log_pair_add(
    h1: np.ndarray, s1: np.ndarray, h2: np.ndarray, s2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``log(e^(h1 + s1) + e^(h2 + s2))`` as a pair ``(h, s)``, ``h = max(h1, h2)``.

    Keeping the large part ``h`` apart means ``h1 - h`` is exact even where ``h`` is
    ``1e300`` (logits of that size), which ``h1 + s1`` would not be. ``h = -inf``: empty.
    """
    h = np.maximum(h1, h2)
    base = np.where(h > -np.inf, h, 0.0)
    return h, np.logaddexp(s1 + (h1 - base), s2 + (h2 - base))


def _range_logsumexp(
    hi: np.ndarray, lo: np.ndarray, left: np.ndarray, right: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``log sum exp(hi[k] + lo[k])`` over ``k`` in ``left_i:right_i``, for every ``i``, as a
    pair (see :func:`_log_pair_add`); ``(-inf, -inf)`` for an empty range.

    A binary tree of pairwise sums (a segment tree): each range is the sum of at most
    ``2 log2 n`` disjoint nodes, all positive, so there is no cancellation (prefix sums
    would subtract). ``O(n + k log n)`` for ``k`` ranges.
    """
    n = hi.size
    size = 1 << max(0, (n - 1).bit_length())
    th, ts = np.full(2 * size, -np.inf), np.full(2 * size, -np.inf)
    th[size : size + n], ts[size : size + n] = hi, lo
    level = size
    while level > 1:
        ph, ps = th[level : 2 * level].reshape(-1, 2), ts[level : 2 * level].reshape(-1, 2)
        th[level // 2 : level], ts[level // 2 : level] = _log_pair_add(
            ph[:, 0], ps[:, 0], ph[:, 1], ps[:, 1]
        )
        level //= 2
    acc_h, acc_s = np.full(left.size, -np.inf), np.full(left.size, -np.inf)
    a = left.astype(np.intp) + size
    b = right.astype(np.intp) + size
    while True:
        live = a < b
        if not live.any():
            return acc_h, acc_s
        for side in (0, 1):
            if side == 0:
                take = np.flatnonzero(live & (a & 1 == 1))
                node = a[take]
                a[take] += 1
            else:
                take = np.flatnonzero(live & (b & 1 == 1))
                b[take] -= 1
                node = b[take]
            acc_h[take], acc_s[take] = _log_pair_add(acc_h[take], acc_s[take], th[node], ts[node])
        a >>= 1
        b >>= 1


def _box_sorted(
    z: np.ndarray,
    x: np.ndarray,
    t: np.ndarray,
    h: float,
    eps: float,
    log_u: float,
    *,
    weights: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    r"""Loss and exact gradient for the box kernel in ``O((N + M) log (N + M))``.

    ``K(d) = 1/h`` for ``|d| <= h/2``: the density at a bin is ``W_m / h`` with ``W_m`` the
    softmax weight of the points within ``h/2`` of it, a contiguous run of the sorted points;
    each point's responsibilities are ``r_mj = S_j / W_m`` on the contiguous run of bins
    within ``h/2`` of it, so ``r_bar_j = (S_j / M) sum pi_m / W_m`` over that run. The runs
    are found by binary search against the exact thresholds ``t_m +- h/2`` (rounded the safe
    way, so ``|t - x| <= h/2`` is decided exactly, as the reference does), and the sums over
    runs come from a segment tree in log space (:func:`_range_logsumexp`): no subtraction,
    about ``1e-15 log N`` relative. The runs are summed in the logits themselves (not
    ``log S``), so a responsibility ``e^{z_j - log W}`` keeps the exact difference of two
    logits even when a far larger logit elsewhere sets the normalisation. With bin
    ``weights`` (summing to 1) ``log w_m`` joins ``log pi_m`` in the second tree, and a bin
    of weight 0 may be uncovered.
    """
    m = t.size
    c = 0.5 * h
    ls = log_softmax(z)
    zmax = float(z.max())
    with np.errstate(over="ignore"):
        # log sum_j e^{z_j} = zmax + norm_rest, the two kept apart (zmax may be 1e300)
        norm_rest = math.log(float(np.exp(np.maximum(z - zmax, LOG_WEIGHT_FLOOR)).sum()))
    order = np.argsort(x, kind="stable")
    xs, lw = x[order], z[order]
    lo = np.searchsorted(xs, _first_at_least(t, c), side="left")
    hi = np.searchsorted(xs, _last_at_most(t, c), side="right")
    # log W_m = peak_m + rest_m, the peak kept apart (logits of size 1e300)
    peak, rest = _range_logsumexp(lw, np.zeros(lw.size), lo, hi)
    covered = peak > -np.inf
    with np.errstate(over="ignore", invalid="ignore"):
        log_model = np.where(
            covered, (peak - zmax) + (rest - norm_rest) - math.log(h), -np.inf
        )
    if eps == 0.0:
        needed = covered if weights is None else covered | (weights == 0.0)
        if not needed.all():
            first = int(np.argmin(needed))
            raise _uncovered("bins", first, float(t[first]))
        logq, pi = log_model, None
        log_pi = np.zeros(m)
    else:
        logq, pi = with_background(log_model, eps, log_u)
        with np.errstate(divide="ignore"):
            log_pi = np.log(pi)
    if weights is not None:
        with np.errstate(divide="ignore"):
            log_pi = log_pi + np.log(weights)
    # r_bar_j M = sum_m pi_m S_j / W_m over the bins within h/2 of x_j
    top = np.where(covered, -peak, -np.inf)
    with np.errstate(invalid="ignore"):
        low = np.where(covered, log_pi - rest, -np.inf)
    b_lo = np.searchsorted(t, _first_at_least(x, c), side="left")
    b_hi = np.searchsorted(t, _last_at_most(x, c), side="right")
    g_top, g_low = _range_logsumexp(top, low, b_lo, b_hi)
    with np.errstate(over="ignore", invalid="ignore"):
        rsum = np.exp((z + g_top) + g_low)
    rsum[~np.isfinite(g_top) | ~np.isfinite(rsum)] = 0.0
    return _finish(ls, logq, pi, rsum, m, weights)
