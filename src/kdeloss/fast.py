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
    The Laplace kernel only, exact (``1e-12`` in every regime; see
    :func:`kdeloss.fast.sorted_laplace`). Each point is put in its interval between equally
    spaced bins by arithmetic (the name is historical: nothing is sorted), and two
    recursions over the bins, blocked so that rounding does not accumulate, give the density
    and the gradient: ``O(N + M)`` time and memory in the usual case; in log space,
    ``O(N log N + M log M)``, where bins are far from all the mass.
``"fft"``
    Any kernel on the line, approximate (``1e-6`` relative at the default grid). Linear
    binning onto a grid and two FFT convolutions, in the manner of KDEpy's ``FFTKDE``
    (Odland 2018). Falls back to an exact method when it cannot keep its error. For the
    Laplace kernel it runs ``"sorted"``, which is exact and faster than any grid.
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
from scipy.special import expit, i0e

from .kernels import CustomKernel, Gaussian, Kernel, Laplace, VonMises
from .loss import log_softmax

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
    global _POOL, _POOL_SIZE
    with _POOL_LOCK:
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

    NumPy releases the GIL inside its loops, so the calls overlap. If a thread cannot be
    started (``RuntimeError``, as in Pyodide), everything runs here, serially; the results
    are the same because each call does the same work either way.
    """
    global _THREADS_OK
    if count > 1 and _THREADS_OK:
        try:
            futures = [_pool(count).submit(fn, i) for i in range(count)]
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
    return float(-logq.mean()), grad


def _background(log_model: np.ndarray, eps: float, log_u: float) -> tuple[np.ndarray, np.ndarray]:
    """``log q`` and ``pi`` for ``q = (1 - eps) q_model + eps u`` (``eps > 0``)."""
    log_fit = math.log1p(-eps) + log_model
    logq = np.logaddexp(log_fit, math.log(eps) + log_u)
    return logq, np.exp(log_fit - logq)


def _logaddexp(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.logaddexp(a, b)``, four times faster (vectorised exp and log1p); ``-inf`` if both
    are ``-inf``."""
    top = np.maximum(a, b)
    with np.errstate(invalid="ignore"):
        d = np.abs(a - b)
    np.negative(d, out=d)
    np.exp(d, out=d)
    np.log1p(d, out=d)
    d += top
    return np.where(top == -np.inf, -np.inf, d)


def _uncovered(what: str, m: int, tm: float) -> ValueError:
    return ValueError(
        f"{what}: bin {m} at t = {tm:.12g} is covered by no kernel, so q = 0 and "
        f"log q = -inf there; widen the bandwidth, move the points, or add a background"
    )


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

    def _centre(self, tc: np.ndarray) -> float:
        h = self.kern.bandwidth
        key = round(0.5 * (float(tc[0]) + float(tc[-1])) / (8.0 * h))
        if key != self.key:
            self.key = key
            self.c = key * 8.0 * h
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
            s = (tc - self._centre(tc)) / kern.bandwidth
            smax = float(np.abs(s).max())
            if smax > 24.0:  # bins far apart in bandwidths: let log_rows do it
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
    offset, rest = kern.log_rows(tc, x)
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
        raise _uncovered("bins", first, float(t[first]))
    rsum = results[0][0]
    for acc, _ in results[1:]:
        rsum = rsum + acc
    return _finish(ls, logq, pi, rsum, m)


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


def _log_weights(z: np.ndarray) -> np.ndarray:
    """``log softmax(z)`` as ``(z - max z) - log sum e^{z - max z}``.

    Subtracting the maximum first keeps each result exact to rounding of its own size;
    ``z - (max z + log sum)`` loses ``u |max z|`` (``1e-11`` at ``z ~ 1e5``).

    Examples
    --------
    >>> _log_weights(np.array([1e5, 1e5]))
    array([-0.69314718, -0.69314718])
    """
    rel = z - float(z.max())
    return rel - math.log(float(np.exp(rel).sum()))


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


def _two_diff(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a - b = d + e`` exactly: ``d`` the rounded difference, ``e`` its rounding error.

    Examples
    --------
    >>> _two_diff(np.array([1e16]), np.array([1.0]))
    (array([1.e+16]), array([-1.]))
    """
    with np.errstate(over="ignore", invalid="ignore"):
        d = a - b
        back = d - a
        e = (a - (d - back)) + (-b - back)
    return d, np.where(np.isfinite(e), e, 0.0)


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
    ls: np.ndarray, logq: np.ndarray, pi: np.ndarray | None, rsum: np.ndarray, m: int
) -> tuple[float, np.ndarray]:
    """:func:`_finish`, with the mean of ``log q`` taken safely when the logs are huge."""
    with np.errstate(over="ignore"):
        loss, grad = _finish(ls, logq, pi, rsum, m)
    if not math.isfinite(loss) or abs(loss) > _HUGE_LOG:
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
        logq, pi = _background(log_model, eps, log_u)
        np.divide(pi, q, out=sums[0])
    del q
    sums[1] = sums[0]  # c_m = pi_m / q_m, sent back both ways
    back = both_sides(sums)
    seen = np.empty((m + 1, 2))  # seen[kp]: bins m <= kp - 1 from t_{kp-1}, m >= kp from t_kp
    seen[0, 0], seen[1:, 0] = 0.0, back[0]
    seen[:m, 1], seen[m, 1] = back[1, ::-1], 0.0
    del back, sums
    near *= np.take(seen, kp, axis=0).T
    return _finish_checked(ls, logq, pi, np.add(near[0], near[1], out=near[0]), m)


def _log_path(
    z: np.ndarray,
    ls: np.ndarray,
    x: np.ndarray,
    t: np.ndarray,
    h: float,
    kp: np.ndarray,
    eps: float,
    log_u: float,
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
    dl, el = _two_diff(t, np.where(some_l, x_l, t))
    dr, er = _two_diff(np.where(some_r, x_r, t), t)
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
        if not np.isfinite(log_model).all():
            bad = int(np.flatnonzero(~np.isfinite(log_model))[0])
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
        logq, pi = _background(log_model, eps, log_u)
        weight = pi

    # sum_m pi_m r_j(t_m): along the left sums, H_m = w_m rho_m + kept_{m+1} H_{m+1}
    h_l = _affine_scan(np.append(0.0, kept_l[:0:-1]), (weight * from_left)[::-1])[::-1]
    h_r = _affine_scan(np.append(0.0, kept_r[:-1]), weight * (1.0 - from_left))
    reach_l = np.append(fresh_l * h_l, 0.0)  # per unit of new mass at bin kp (none at M)
    reach_r = np.insert(fresh_r * h_r, 0, 0.0)  # at bin kp - 1 (none left of bin 0)
    rsum = np.empty(n)
    rsum[order] = share_l * reach_l[ks] + share_r * reach_r[ks]
    return _finish_checked(ls, logq, pi, rsum, m)


def sorted_laplace(
    z: np.ndarray,
    x: np.ndarray,
    t: np.ndarray,
    h: float,
    eps: float = 0.0,
    log_u: float = 0.0,
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

    Two paths compute this (``method="sorted"`` keeps its name; nothing is sorted). Neither
    falls back to ``"direct"``: there is no regime without an exact near-linear algorithm.
    Steps: :func:`_log_weights`, :func:`_intervals` (which interval each point is in), then
    :func:`_linear_path`, or :func:`_log_path` when the first declines.

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
    term) and an offset ``o``, ``log L_m = log S_p - (t_m - x_p)/h + o``. A sum keeps its
    anchor and offset as it decays from bin to bin, so two sums on one side of a bin compare by
    ``(z_p - z_p') + (x_p - x_p')/h + (o - o')``, differences of logits and of positions, and
    the two sides by ``(t_m - x_p) - (x_p' - t_m)`` with both distances' rounding errors kept
    (:func:`_two_diff`): no large exponent is ever subtracted from another (``log S_p`` itself
    enters only the loss). Each interval's sum gets its anchor and its members' shares from
    differences of logits and positions (:func:`_anchor`); the sums over the bins are prefix
    sums by recursive doubling (:func:`_anchored_scan`). The gradient comes from fractions
    only: at each bin the fraction of ``q`` from the left, the fraction of the left sum carried
    from the previous bin, each point's share of its interval's sum, all in ``[0, 1]`` and each
    the ``expit`` of one such difference; the backward sums run over those fractions
    (:func:`_affine_scan`), so a bin ``10^300`` bandwidths from every point, or balanced
    between two points ``10^11`` bandwidths away, still gets its responsibilities to rounding.
    Error: each compared exponent is off by ``u`` times the size of its own difference (``(x_p
    - x_p')/h``, ``z_p - z_p'``), ``ceil(log2 M)`` doubling steps add ``2 u`` each to the
    offsets, and the fractions and backward sums ``(2 log2 M + 6) u``: the loss within ``(2
    log2 M + 6) u`` relative to ``max(1, mean |log q|)``, the gradient within ``(4 log2 M + 12)
    u`` absolute (``1e-14`` for ``M = 10^6``), beyond what rounding of the inputs' own
    differences already decides.

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
    ls = _log_weights(z)
    kp, ends = _intervals(x, t)
    got = _linear_path(ls, x, t, h, kp, ends, eps, log_u)
    if got is not None:
        return got
    return _log_path(z, ls, x, t, h, kp, eps, log_u)


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
    ``step = 1/256``. For the Laplace kernel no grid is used: the function returns
    :func:`kdeloss.fast.sorted_laplace`, exact (``1e-12``) and linear in ``N + M`` (two
    recursions over the bins), which is faster than any grid method; ``step`` is then
    ignored. For other kernels the grid reaches as far from the bins as the kernel is above
    ``e^-60`` of its peak and farther points are dropped. FFT roundoff is about ``1e-16``
    of the largest value on the grid, so where the density at some bin is below ``1e-7`` of
    that, or the grid would need more than :data:`kdeloss.fast.FFT_MAX_NODES` nodes (a
    target wider than about 8000 bandwidths at the default step), the function falls back
    to the exact method, ``"direct"``, and returns its result.

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
        Grid spacing in bandwidths (ignored for Laplace, which needs no grid).

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
    if isinstance(kern, Laplace):
        return sorted_laplace(z, x, t, kern.bandwidth, eps, log_u)
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
