"""Kernels for the weighted kernel density estimate ``q(t) = sum_j S_j K(t - x_j)``.

A kernel is anything with a ``logpdf(d)`` method that maps an array of displacements
``d = t - x_j`` to ``log K(d)`` (``-inf`` where ``K`` is zero). The four built-in kernels
are picked by name with :func:`kdeloss.get_kernel`:

============  =====================================================================
name          density ``K(d)``
============  =====================================================================
``laplace``   ``exp(-|d| / h) / (2 h)``
``gaussian``  ``exp(-d**2 / (2 h**2)) / (h sqrt(2 pi))``
``box``       ``1 / h`` for ``|d| <= h / 2``, else ``0`` (the 0/1 kernel of the one-hot case)
``vonmises``  ``exp(kappa cos d) / (2 pi I0(kappa))`` with ``kappa = 1 / h**2``, on the circle
============  =====================================================================

Besides ``logpdf``, every built-in kernel implements :meth:`kdeloss.Kernel.log_rows`, which
returns ``log K(t_m - x_j)`` split into a per-row offset and a remainder that is computed from
*differences of positions*, never from two large logs subtracted. That is what keeps the loss
and gradient exact for points a million bandwidths away from the target.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np
from scipy.special import erfcx, gammaln, i0e, log_ndtr, ndtr

from ._validate import as_bandwidth, as_scalar
from .logspace import logit_gaps, two_sum

__all__ = [
    "KERNELS",
    "Box",
    "CustomKernel",
    "Gaussian",
    "GeneralizedNormal",
    "Kernel",
    "Laplace",
    "LogPdf",
    "ScaledKernel",
    "VonMises",
    "WrappedBox",
    "WrappedLaplace",
    "get_kernel",
    "weighted_log_rows",
    "wrap_angle",
]


@runtime_checkable
class LogPdf(Protocol):
    """Anything with a ``logpdf(d)`` method can serve as a kernel."""

    def logpdf(self, d: np.ndarray) -> np.ndarray: ...


def wrap_angle(d: np.ndarray) -> np.ndarray:
    """Wrap angles to the half-open interval ``(-pi, pi]``.

    >>> wrap_angle(np.array([np.pi, -np.pi, 3 * np.pi / 2]))
    array([ 3.14159265,  3.14159265, -1.57079633])
    """
    d = np.asarray(d, dtype=float)
    # angles already in (-pi, pi] are returned as they are, to the last bit
    return np.where((d > -np.pi) & (d <= np.pi), d, np.pi - np.mod(np.pi - d, 2 * np.pi))


class Kernel:
    """Base class of the built-in kernels.

    Parameters
    ----------
    bandwidth : float
        The scale ``h > 0``.

    Notes
    -----
    Subclasses implement :meth:`logpdf`. :meth:`log_rows` has a generic implementation
    (subtract the row maximum), which subclasses override when differences of positions
    give a more accurate remainder.
    """

    name: str = "kernel"
    circular: bool = False
    #: ``K(d) > 0`` for every ``d``: a row of ``log_rows`` at ``-inf`` then means that ``log q``
    #: is below the float range (the loss is not a float), not that no kernel covers the bin.
    positive: bool = False
    #: The exact fast algorithm the methods have for this kernel, if any: ``"sorted"``
    #: (linear recursions over the bins, :func:`kdeloss.fast.sorted_laplace`, for
    #: ``log K = -|d|/h + c``) or ``"box_runs"`` (sums over runs of the sorted points and bins,
    #: for a box); None for none.
    exact_fast_path: str | None = None
    #: The form of ``log K(d) - log_norm()`` the direct method's fast row blocks can build
    #: from centred positions: ``"abs"`` (``-|d|/h``), ``"square"`` (``-d**2/(2 h**2)``) or
    #: ``"cosine"`` (``kappa (cos d - 1)``, with the kernel's ``kappa``); None for none (the
    #: rows then come from :meth:`split_rows`).
    row_form: str | None = None
    #: ``log K`` is affine in the distance ``|d|`` (Laplace, and wrapped Laplace in the wrapped
    #: distance): the shift theorem holds, so a point that moves toward a bin without reaching
    #: it leaves the gradient there unchanged.
    shift_theorem: bool = False
    #: ``K`` takes a single value where it is not zero (a box): a bin covered by exactly one
    #: kernel belongs to that point, the one-hot case.
    one_hot: bool = False
    #: :meth:`logpdf` is the library's own and exact to rounding (not a user's function), so
    #: that a reference may size its working precision from it.
    exact_logpdf: bool = True

    def __init__(self, bandwidth: float = 1.0) -> None:
        self.bandwidth = as_bandwidth(bandwidth)

    @property
    def length_scale(self) -> float:
        """The kernel's length unit, for grids: the bandwidth if it is a number > 0, else NaN.

        Examples
        --------
        >>> Gaussian(0.5).length_scale, ScaledKernel("box", 1.0, 2.0).length_scale
        (0.5, 2.0)
        """
        return _positive_or_nan(self.bandwidth)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(bandwidth={self.bandwidth!r})"

    def logpdf(self, d: np.ndarray) -> np.ndarray:
        """``log K(d)`` for an array of displacements ``d``."""
        raise NotImplementedError

    def pdf(self, d: np.ndarray) -> np.ndarray:
        """``K(d)``; may underflow to 0 far from the centre, where :meth:`logpdf` does not."""
        return np.exp(self.logpdf(d))

    # What the methods and the studies ask of a kernel. A kernel that cannot answer raises
    # NotImplementedError; callers turn that into a ValueError that names ``kernel``.

    def kinks(self, x: np.ndarray) -> np.ndarray:
        """Where ``t -> log K(t - x_j)`` has a jump in slope (or in value): none by default."""
        return np.empty(0)

    def dlogpdf(self, d: np.ndarray) -> np.ndarray:
        """``d/dd log K(d)``, away from the kinks."""
        raise NotImplementedError(f"{self.name}: no derivative of log K")

    def kink_slope_jump(self) -> float:
        """The jump of the slope of ``t -> log K(t - x_j)`` at each of its :meth:`kinks` (for a
        kernel whose log has corners, not jumps, there)."""
        raise NotImplementedError(f"{self.name}: no slope jump at the kinks")

    def log_norm(self) -> float:
        """The constant ``c`` of the :attr:`row_form`: ``log K(d) = form(d) + c``."""
        raise NotImplementedError(f"{self.name}: no row form")

    def log_shift_change(self, u: np.ndarray, delta: float) -> np.ndarray:
        """``log K(u - delta) - log K(u)`` for distances ``u`` from a bin, in closed form:
        the change of a point's log kernel when it moves ``delta`` toward the bin."""
        raise NotImplementedError(f"{self.name}: no closed form for the shift")

    def cdf(self, d: np.ndarray) -> np.ndarray:
        """``C(d) = int_{-inf}^d K``."""
        raise NotImplementedError(f"{self.name}: no cdf")

    def log_mass(self, x: np.ndarray, a: float, b: float) -> np.ndarray:
        """``log int_a^b K(t - x_j) dt`` for each point, accurate far from ``[a, b]``."""
        raise NotImplementedError(f"{self.name}: no closed-form mass")

    def self_overlap(self, d: np.ndarray) -> np.ndarray:
        """``int K(t) K(t - d) dt``, the overlap of two kernels ``d`` apart."""
        raise NotImplementedError(f"{self.name}: no closed-form overlap")

    def tail_mean(self, s: np.ndarray) -> np.ndarray:
        """``T(s) = E[(X - s)^+]`` for ``X ~ K`` and ``s >= 0``: the mean excess beyond ``s``,
        from ``T(0) = E|X| / 2`` down to 0 (the Wasserstein-1 distance needs it)."""
        raise NotImplementedError(f"{self.name}: no closed-form tail mean")

    def mp_logpdf(self, d: object, h: object = None) -> object:
        """``log K(d)`` in mpmath, at the working precision (for references); ``h`` defaults
        to the bandwidth; ``-inf`` where ``K = 0``.

        ``d`` is taken as exact (it may carry more digits than the working precision, as an
        exact difference of two floats does): the built-in kernels decide where ``K = 0``
        from ``d`` itself, and form no difference of two large numbers, so the result is
        accurate to the working precision relative to its own size.
        """
        raise NotImplementedError(f"{self.name}: no mpmath form")

    def log_rows(
        self, t: np.ndarray, x: np.ndarray, log_weights: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Split ``log K(t_m - x_j)`` into ``offset[m] + rest[m, j]``.

        Parameters
        ----------
        t : ndarray, shape (M,)
            Evaluation points (bin centres).
        x : ndarray, shape (N,)
            Point positions.
        log_weights : ndarray, shape (N,), optional
            ``log S``. Given, each row is split at the point ``p`` whose term
            ``log S_p + log K(t_m - x_p)`` is (about) the largest, so that the terms that
            matter have small ``rest`` (computed from differences of positions, to a
            rounding of its own size). Without it, at the nearest point.

        Returns
        -------
        offset : ndarray, shape (M,)
            ``log K(t_m - x_p)`` at the row's split point ``p``; ``-inf`` for a row no
            kernel reaches (or, for a kernel positive everywhere, whose log underflows the
            float range).
        rest : ndarray, shape (M, N)
            ``log K(t_m - x_j) - offset[m]``. Without ``log_weights``: at most 0, and 0 at
            the nearest point.
        """
        _, offset, rest = self.split_rows(t, x, log_weights)
        return offset, rest

    def split_rows(
        self,
        t: np.ndarray,
        x: np.ndarray,
        log_weights: np.ndarray | None = None,
        split: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`log_rows`, and the index ``p[m]`` of each row's split point.

        Knowing ``p`` lets a caller form ``log S_j - log S_p`` from the logits directly
        (``z_j - z_p``, one rounding), which keeps responsibilities exact when the logits
        span many orders of magnitude. The built-in kernels override this with splits
        computed from differences of positions; this generic version subtracts rounded
        values of :meth:`logpdf`. ``split``, if given, is used as ``p``.
        """
        with np.errstate(over="ignore"):  # a displacement beyond the float range is inf
            logk = self.logpdf(t[:, None] - x[None, :])
        score = logk if log_weights is None else logk + log_weights[None, :]
        p = score.argmax(axis=1) if split is None else split
        offset = logk[np.arange(t.size), p]
        safe = np.where(np.isfinite(offset), offset, 0.0)
        return p, *_finish_rows(offset, logk - safe[:, None], log_weights)

    def reach(self, log_ratio: float, scale: float | None = None) -> float:
        """Distance, in units of ``scale``, beyond which ``log K`` stays ``log_ratio`` below
        its peak.

        The generic version probes ``log K`` at ``0`` and at ``+-2^k scale`` (``k = -1..12``)
        and returns the smallest probe from which every farther probe is that low (``inf``
        if none is): it assumes ``K`` does not rise again between and beyond the probes.
        The built-in kernels override it with the exact value.

        Parameters
        ----------
        log_ratio : float
            ``L > 0``: the depth below the peak.
        scale : float, optional
            The length unit; default the bandwidth.

        Examples
        --------
        >>> Gaussian(0.5).reach(8.0) == 4.0   # sqrt(2 L) bandwidths
        True
        """
        h = self.bandwidth if scale is None else scale
        probes = 2.0 ** np.arange(-1, 13)
        with np.errstate(over="ignore", invalid="ignore"):
            lk = self.logpdf(np.concatenate([[0.0], probes * h, -probes * h]))
        side = np.maximum(lk[1 : probes.size + 1], lk[probes.size + 1 :])
        low = side <= float(lk.max()) - log_ratio
        # the smallest probe from which every farther probe is low too
        tail = np.logical_and.accumulate(low[::-1])[::-1]
        return float(probes[np.argmax(tail)]) if tail.any() else math.inf


def _positive_or_nan(h: object) -> float:
    """``float(h)`` if it is a number > 0 (``inf`` included), else NaN."""
    try:
        v = float(h)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return v if v > 0 else math.nan


def weighted_log_rows(
    kern: Kernel, t: np.ndarray, x: np.ndarray, z: np.ndarray, log_s: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``log S_j + log K(t_m - x_j)`` as ``lead[m] + terms[m, j]``, every term that matters
    accurate to a rounding of its own size.

    Each row is split at its heaviest term ``p`` (:meth:`Kernel.split_rows`), and
    ``log S_j - log S_p`` is taken from the logits, ``z_j - z_p``. Where rounding in the
    choice of ``p`` picked a term that is not the heaviest (two terms equal to the last
    digit, with very different logits), the row is split again at the heaviest.

    Returns
    -------
    covered : ndarray of bool, shape (M,)
        Rows with a finite ``lead`` (some kernel reaches the bin, in the float range).
    lead : ndarray, shape (M,)
        ``log S_p + log K(t_m - x_p)``.
    terms : ndarray, shape (M, N)
        The rest; ``terms[m, p] = 0``.
    """
    p, offset, rest = kern.split_rows(t, x, log_s.real)
    terms = logit_gaps(z, log_s, p) + rest
    heaviest = terms.real.argmax(axis=1)
    rows = np.arange(t.size)
    moved = np.flatnonzero((heaviest != p) & (terms.real[rows, heaviest] > 0.0))
    if moved.size:
        q = heaviest[moved]
        _, offset_q, rest_q = kern.split_rows(t[moved], x, log_s.real, q)
        offset, p = offset.copy(), p.copy()
        offset[moved], p[moved] = offset_q, q
        terms = terms.copy()
        terms[moved] = logit_gaps(z, log_s, q) + rest_q
    lead = offset + log_s[p]
    covered = np.isfinite(offset)
    return covered, lead, terms


def _line_split(
    t: np.ndarray,
    x: np.ndarray,
    h: float,
    dist: Callable[[np.ndarray], np.ndarray],
    log_weights: np.ndarray | None,
    split: np.ndarray | None,
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What a kernel on the line needs to split its rows: the position scale ``sc``
    (:func:`_scale`), ``t`` and ``x`` as a column and a row, the split point ``p`` of each row
    (the largest ``log S - dist(d / h)``, or ``split``), its position and its displacement
    ``(t - x_p) / h``. Displacements are formed scaled, so they never overflow.
    """
    sc = _scale(t, x)
    tt, xj = t[:, None], x[None, :]
    with np.errstate(over="ignore", invalid="ignore"):
        s = (sc * tt - sc * xj) / h / sc
        p, xp = _split_point(x, -dist(s), log_weights, split)
    return sc, tt, xj, p, xp, s[np.arange(t.size), p]


def _half_square(s: np.ndarray) -> np.ndarray:
    return 0.5 * s * s


def _split_point(
    x: np.ndarray,
    log_k: np.ndarray,
    log_weights: np.ndarray | None,
    split: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the index and position of the point with the largest ``log_k`` (rounded
    ``log K`` values, or any increasing function of them), or with weights the largest
    ``log_weights + log_k``."""
    if split is not None:
        return split, x[split]
    score = log_k if log_weights is None else log_k + log_weights[None, :]
    p = score.argmax(axis=1)
    return p, x[p]


def _finish_rows(
    offset: np.ndarray, rest: np.ndarray, log_weights: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """With no weights, rows are split at the largest ``rest`` (0); with weights as they are.

    A row whose offset underflowed the float range (``-inf``) gets ``rest = 0``: it stands for
    a bin no kernel reaches, and its ``rest`` (differences of overflowing numbers) means
    nothing.
    """
    dead = ~np.isfinite(offset)
    if dead.any():
        rest = np.where(dead[:, None], 0.0, rest)
    return _renormalise(offset, rest) if log_weights is None else (offset, rest)


def _scale(t: np.ndarray, x: np.ndarray) -> float:
    """1, or 1/4 when ``2t - x_j - x_p`` (up to four times the largest position) could
    overflow; scaling by a power of two is exact there."""
    big = max(float(np.abs(t).max()), float(np.abs(x).max()))
    return 1.0 if big < _BIG else 0.25


# Below this in magnitude, four positions can be added without overflow.
_BIG = 2.0**1020


def _mid_gap(t: np.ndarray, xj: np.ndarray, xp: np.ndarray, scale: float) -> np.ndarray:
    """``scale * (2t - x_j - x_p)`` to about two roundings of the result.

    ``x_j + x_p`` is split exactly into a sum and its rounding error (Knuth's two-sum), so
    points far from the origin but close to ``t`` keep their small differences.
    """
    s, err = two_sum(scale * xj, scale * xp)
    return ((2.0 * scale) * t - s) - err


def _renormalise(offset: np.ndarray, rest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move each row's largest ``rest`` into ``offset`` (the nearest point may have been
    picked from rounded distances, so its ``rest`` need not be the largest)."""
    top = rest.max(axis=1)
    top = np.where(np.isfinite(top), top, 0.0)
    return offset + top, rest - top[:, None]


def _log_diff_exp(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """``log(exp(hi) - exp(lo))`` for ``hi >= lo``."""
    with np.errstate(divide="ignore"):
        return hi + np.log(-np.expm1(lo - hi))


class Laplace(Kernel):
    """Laplace kernel ``K(d) = exp(-|d| / h) / (2 h)``.

    Its log is linear in ``|d|``, which is behind the shift property and the
    prefix-sum algorithm.

    Examples
    --------
    >>> k = Laplace(bandwidth=2.0)
    >>> float(k.pdf(np.array([0.0]))[0])
    0.25
    >>> bool(k.logpdf(np.array([-4.0]))[0] == -2.0 - np.log(4.0))
    True
    """

    name = "laplace"
    positive = True
    exact_fast_path = "sorted"
    row_form = "abs"
    shift_theorem = True

    def logpdf(self, d: np.ndarray) -> np.ndarray:
        h = self.bandwidth
        with np.errstate(over="ignore"):
            return -np.abs(d) / h - (_LOG2 + math.log(h))

    def kinks(self, x: np.ndarray) -> np.ndarray:
        """The points themselves: ``|t - x_j|`` has a corner at ``t = x_j``."""
        return np.asarray(x, dtype=float)

    def dlogpdf(self, d: np.ndarray) -> np.ndarray:
        return -np.sign(d) / self.bandwidth

    def kink_slope_jump(self) -> float:
        """``-2/h``: the slope of ``-|t - x_j|/h`` goes from ``1/h`` to ``-1/h``."""
        return -2.0 / self.bandwidth

    def log_norm(self) -> float:
        """``-log(2h)``."""
        return -(math.log(2.0) + math.log(self.bandwidth))

    def log_shift_change(self, u: np.ndarray, delta: float) -> np.ndarray:
        """``delta/h`` while the point has not reached the bin (``delta <= u``), then
        ``(2u - delta)/h``: ``delta/h - 2 max(0, delta - u)/h``. Needs ``u >= 0``."""
        uu = np.asarray(u, dtype=float)
        if np.any(uu < 0):
            raise ValueError("u: the closed form for the Laplace kernel needs every u_j >= 0")
        h = self.bandwidth
        return delta / h - 2.0 * np.maximum(0.0, delta - uu) / h

    def cdf(self, d: np.ndarray) -> np.ndarray:
        s = np.asarray(d, dtype=float) / self.bandwidth
        return np.where(s < 0, 0.5 * np.exp(np.minimum(s, 0.0)), 1.0 - 0.5 * np.exp(-np.abs(s)))

    def log_mass(self, x: np.ndarray, a: float, b: float) -> np.ndarray:
        # closed form on each side of [a, b]; inside, 1 - (e^{-hi} + e^{lo}) / 2
        x = np.asarray(x, dtype=float)
        lo, hi = (a - x) / self.bandwidth, (b - x) / self.bandwidth
        width = hi - lo
        side = np.log(0.5) + np.log(-np.expm1(-width))
        inside = np.log1p(-0.5 * (np.exp(-np.maximum(hi, 0.0)) + np.exp(np.minimum(lo, 0.0))))
        return np.where(lo >= 0, -lo + side, np.where(hi <= 0, hi + side, inside))

    def self_overlap(self, d: np.ndarray) -> np.ndarray:
        """``(1 + |d|/h) exp(-|d|/h) / (4 h)``."""
        s = np.abs(np.asarray(d, dtype=float)) / self.bandwidth
        return (1 + s) * np.exp(-s) / (4 * self.bandwidth)

    def tail_mean(self, s: np.ndarray) -> np.ndarray:
        """``(h/2) exp(-s/h)``.

        >>> Laplace(2.0).tail_mean(np.array([0.0, 2.0]))
        array([1.        , 0.36787944])
        """
        return 0.5 * self.bandwidth * np.exp(-np.asarray(s, dtype=float) / self.bandwidth)

    def mp_logpdf(self, d: object, h: object = None) -> object:
        import mpmath as mp

        hh = mp.mpf(self.bandwidth) if h is None else h
        c, inv_h = _mp_const("laplace", hh)
        return c - abs(d) * inv_h

    def split_rows(
        self,
        t: np.ndarray,
        x: np.ndarray,
        log_weights: np.ndarray | None = None,
        split: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # |d_j| - |d_p| from positions: sign * (x_j - x_p) on the nearest point's side,
        # sign_j * (x_j + x_p - 2t) across it (a compensated sum). Never the difference of
        # two large |d|.
        h = self.bandwidth
        sc, tt, xj, p, xp, dp = _line_split(t, x, h, np.abs, log_weights, split)
        with np.errstate(over="ignore", invalid="ignore"):
            sigp = np.sign(xp - t)[:, None]
            sig = np.sign(xj - tt)
            sig = np.where(sig == 0.0, -sigp, sig)  # a point at t: |d_j| = 0, either side
            xpc = xp[:, None]
            gap = np.where(
                sig == sigp, sigp * (sc * xj - sc * xpc), -sig * _mid_gap(tt, xj, xpc, sc)
            )
            rest = -(gap / h) / sc
            offset = -np.abs(dp) - (_LOG2 + math.log(h))
        return p, *_finish_rows(offset, rest, log_weights)

    def reach(self, log_ratio: float, scale: float | None = None) -> float:
        return log_ratio * self.bandwidth / (self.bandwidth if scale is None else scale)


_LOG2 = math.log(2.0)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_TWO_PI = 2.0 * math.pi


def _mp_log_i0e(mp: Any, kappa: Any) -> Any:
    """``log(I0(kappa) e^-kappa)`` at the working precision, for any ``kappa >= 0``."""
    prec = mp.prec
    if kappa <= prec:
        return mp.log(mp.besseli(0, kappa)) - kappa
    # Asymptotic series I0(k) e^-k = (2 pi k)^-1/2 sum_n ((2n-1)!!)^2 / (n! (8k)^n); its
    # smallest term is about e^{-2k} < 2^-prec here, and the terms decrease until n ~ 2k.
    tol = mp.ldexp(mp.mpf(1), -prec - 8)
    term = mp.mpf(1)
    total = mp.mpf(1)
    n = 0
    while True:
        n += 1
        term = term * (2 * n - 1) ** 2 / (8 * kappa * n)
        total += term
        if term < tol:
            break
    return mp.log(total) - mp.log(2 * mp.pi * kappa) / 2


# The constants of the built-in kernels' mpmath forms, by kernel and h (at a precision):
# (log of the normalising constant, then what each form multiplies or compares with).
_MP_CONST_FORMS: dict[str, Callable[[Any, Any], tuple[Any, ...]]] = {
    "laplace": lambda mp, h: (-mp.log(2 * h), 1 / h),
    "gaussian": lambda mp, h: (-mp.log(h) - mp.log(2 * mp.pi) / 2, 1 / h),
    "box": lambda mp, h: (-mp.log(h), h / 2, -h / 2),  # h/2 is exact
    "vonmises": lambda mp, h: (
        -mp.log(2 * mp.pi) - _mp_log_i0e(mp, 1 / (h * h)),
        2 / (h * h),
    ),
}
_MP_CACHE: dict[tuple[str, Any, int], tuple[Any, ...]] = {}
_MP_LAST: dict[str, tuple[Any, int, tuple[Any, ...]]] = {}


def _mp_const(form: str, h: Any) -> tuple[Any, ...]:
    """``_MP_CONST_FORMS[form]`` at ``h`` and the working precision, computed once (a
    reference evaluates ``log K`` at every bin and point, with the same ``h``)."""
    from mpmath import mp

    prec = mp.prec
    last = _MP_LAST.get(form)
    if last is not None and last[0] is h and last[1] == prec:
        return last[2]
    key = (form, h, prec)
    value = _MP_CACHE.get(key)
    if value is None:
        if len(_MP_CACHE) >= 256:
            _MP_CACHE.clear()
        value = _MP_CONST_FORMS[form](mp, h)
        _MP_CACHE[key] = value
    _MP_LAST[form] = (h, prec, value)
    return value


class Gaussian(Kernel):
    """Gaussian kernel: the normal density with standard deviation ``h``.

    Examples
    --------
    >>> k = Gaussian(bandwidth=1.0)
    >>> round(float(k.pdf(np.array([0.0]))[0]), 6)
    0.398942
    """

    name = "gaussian"
    positive = True
    row_form = "square"

    def logpdf(self, d: np.ndarray) -> np.ndarray:
        h = self.bandwidth
        with np.errstate(over="ignore"):
            return -0.5 * (np.asarray(d) / h) ** 2 - (math.log(h) + _LOG_SQRT_2PI)

    def dlogpdf(self, d: np.ndarray) -> np.ndarray:
        return -np.asarray(d, dtype=float) / self.bandwidth**2

    def log_norm(self) -> float:
        """``-log(h sqrt(2 pi))``."""
        return -(math.log(self.bandwidth) + 0.5 * math.log(2.0 * math.pi))

    def log_shift_change(self, u: np.ndarray, delta: float) -> np.ndarray:
        """``(2 u delta - delta^2) / (2 h^2)``."""
        h = self.bandwidth
        return (2.0 * np.asarray(u, dtype=float) - delta) * delta / (2.0 * h * h)

    def cdf(self, d: np.ndarray) -> np.ndarray:
        return ndtr(np.asarray(d, dtype=float) / self.bandwidth)

    def log_mass(self, x: np.ndarray, a: float, b: float) -> np.ndarray:
        # Phi(hi) - Phi(lo); right of the interval, the mirrored tails
        x = np.asarray(x, dtype=float)
        lo, hi = (a - x) / self.bandwidth, (b - x) / self.bandwidth
        return np.where(
            lo > 0,
            _log_diff_exp(log_ndtr(-lo), log_ndtr(-hi)),
            _log_diff_exp(log_ndtr(hi), log_ndtr(lo)),
        )

    def self_overlap(self, d: np.ndarray) -> np.ndarray:
        """The normal density with variance ``2 h^2``."""
        h = self.bandwidth
        d = np.asarray(d, dtype=float)
        return np.exp(-(d**2) / (4 * h * h)) / (2 * h * math.sqrt(math.pi))

    def tail_mean(self, s: np.ndarray) -> np.ndarray:
        """``h phi(s/h) - s (1 - Phi(s/h))``, written with ``erfcx`` so that it does not
        cancel to 0 early in the tail.

        >>> float(Gaussian(1.0).tail_mean(np.array([0.0]))[0])   # E|X| / 2 = 1/sqrt(2 pi)
        0.3989422804014327
        """
        h = self.bandwidth
        r = np.asarray(s, dtype=float) / h
        bracket = 1.0 / math.sqrt(2 * math.pi) - 0.5 * r * erfcx(r / math.sqrt(2))
        return np.maximum(h * np.exp(-0.5 * r * r) * bracket, 0.0)

    def mp_logpdf(self, d: object, h: object = None) -> object:
        import mpmath as mp

        hh = mp.mpf(self.bandwidth) if h is None else h
        c, inv_h = _mp_const("gaussian", hh)
        u = d * inv_h
        return c - mp.ldexp(u * u, -1)

    def split_rows(
        self,
        t: np.ndarray,
        x: np.ndarray,
        log_weights: np.ndarray | None = None,
        split: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # d_j**2 - d_p**2 = (x_p - x_j) * (2t - x_j - x_p), both factors from positions,
        # each divided by h before they are multiplied (h**2 may under- or overflow).
        h = self.bandwidth
        sc, tt, xj, p, xp, dp = _line_split(t, x, h, _half_square, log_weights, split)
        with np.errstate(over="ignore", invalid="ignore"):
            xpc = xp[:, None]
            near = (sc * xpc - sc * xj) / h
            far = _mid_gap(tt, xj, xpc, sc) / h
            gap = np.where((near == 0.0) | (far == 0.0), 0.0, near * far)
            rest = -(0.5 / (sc * sc)) * gap
            offset = -0.5 * dp**2 - (math.log(h) + _LOG_SQRT_2PI)
        return p, *_finish_rows(offset, rest, log_weights)

    def reach(self, log_ratio: float, scale: float | None = None) -> float:
        ratio = 1.0 if scale is None else self.bandwidth / scale
        return math.sqrt(2.0 * log_ratio) * ratio


class Box(Kernel):
    """Box kernel: ``1 / h`` on ``|d| <= h / 2`` and 0 elsewhere.

    With it every kernel value is 0 or the same constant, which is the one-hot case.

    Examples
    --------
    >>> Box(bandwidth=0.5).pdf(np.array([0.0, 0.25, 0.3]))
    array([2., 2., 0.])
    """

    name = "box"
    exact_fast_path = "box_runs"
    one_hot = True

    def logpdf(self, d: np.ndarray) -> np.ndarray:
        h = self.bandwidth
        inside = np.abs(d) <= 0.5 * h
        return np.where(inside, -math.log(h), -np.inf)

    def kinks(self, x: np.ndarray) -> np.ndarray:
        """The box edges ``x_j -+ h/2``, where ``K`` jumps."""
        x = np.asarray(x, dtype=float)
        return np.concatenate([x - 0.5 * self.bandwidth, x + 0.5 * self.bandwidth])

    def mp_logpdf(self, d: object, h: object = None) -> object:
        import mpmath as mp

        hh = mp.mpf(self.bandwidth) if h is None else h
        # no abs() or negation of d, which would round it to the working precision
        c, half, neg_half = _mp_const("box", hh)
        return c if neg_half <= d <= half else mp.ninf

    def reach(self, log_ratio: float, scale: float | None = None) -> float:
        return 0.5 * (1.0 if scale is None else self.bandwidth / scale)


class VonMises(Kernel):
    """Von Mises kernel on the circle, ``exp(kappa cos d) / (2 pi I0(kappa))``.

    ``kappa = 1 / h**2``, so for small ``h`` it is close to a Gaussian of scale ``h`` in the
    wrapped angle. It works at any bandwidth: ``log I0`` uses the exponentially scaled
    Bessel function (and its asymptotic form where ``kappa`` would overflow), and angles
    many turns around are reduced exactly.

    Examples
    --------
    >>> k = VonMises(bandwidth=0.01)           # kappa = 10_000
    >>> bool(np.isfinite(k.logpdf(np.array([np.pi]))[0]))
    True
    >>> float(k.logpdf(np.array([2 * np.pi]))[0]) == float(k.logpdf(np.array([0.0]))[0])
    True
    """

    name = "vonmises"
    circular = True
    positive = True
    row_form = "cosine"

    @property
    def kappa(self) -> float:
        """Concentration ``1 / h**2`` (``inf`` when it exceeds the float range)."""
        inv = 1.0 / self.bandwidth
        return inv * inv if inv < 1e154 else math.inf

    def log_norm(self) -> float:
        """``-log(2 pi I0(kappa))``, minus ``kappa``: the constant added to ``kappa (cos d - 1)``.

        ``log I0(kappa) = kappa + log(i0e(kappa))``; for ``kappa`` beyond ``1e300`` the
        asymptotic ``i0e(kappa) = (2 pi kappa)^(-1/2) (1 + 1/(8 kappa) + ...)`` is used, in
        which the correction is below ``1e-300``.
        """
        h = self.bandwidth
        if h > 1e-150:
            return -math.log(2.0 * math.pi * float(i0e(self.kappa)))
        return -math.log(h) - _LOG_SQRT_2PI

    def dlogpdf(self, d: np.ndarray) -> np.ndarray:
        return -np.sin(np.asarray(d, dtype=float)) / self.bandwidth**2

    def log_shift_change(self, u: np.ndarray, delta: float) -> np.ndarray:
        """``kappa (cos(u - delta) - cos u) = 2 kappa sin(delta/2) sin(u - delta/2)``, without
        cancellation."""
        u = np.asarray(u, dtype=float)
        return 2.0 * math.sin(0.5 * delta) * np.sin(u - 0.5 * delta) / self.bandwidth**2

    def mp_logpdf(self, d: object, h: object = None) -> object:
        import mpmath as mp

        # kappa (cos d - 1) - log(2 pi I0(kappa) e^-kappa): no kappa to cancel, at any kappa
        hh = mp.mpf(self.bandwidth) if h is None else h
        c, two_kappa = _mp_const("vonmises", hh)
        s = mp.sin(mp.ldexp(d, -1))  # d/2, exactly
        return c - two_kappa * s * s

    def logpdf(self, d: np.ndarray) -> np.ndarray:
        # kappa*cos(d) - log(2 pi I0(kappa)) with cos(d) - 1 = -2 sin(d/2)**2, and
        # kappa sin(d/2)**2 = (sin(d/2) / h)**2 (no kappa, which may overflow). sin(d/2)**2
        # has period 2 pi in d, so d is not wrapped: NumPy reduces the argument exactly,
        # where a subtraction of a float 2 pi would not be.
        with np.errstate(over="ignore"):
            return -2.0 * (np.sin(0.5 * np.asarray(d, dtype=float)) / self.bandwidth) ** 2 + (
                self.log_norm()
            )

    def split_rows(
        self,
        t: np.ndarray,
        x: np.ndarray,
        log_weights: np.ndarray | None = None,
        split: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # sin(d_j/2)^2 - sin(d_p/2)^2 = sin((d_j - d_p)/2) sin((d_j + d_p)/2)
        #                              = sin((x_p - x_j)/2) sin((2t - x_j - x_p)/2),
        # every angle carried as an exact sum hi + lo of two floats, so that points many
        # turns from the target keep their exact angles.
        h = self.bandwidth
        sc = _scale(t, x)
        with np.errstate(over="ignore", invalid="ignore"):
            tt = t[:, None]
            xj = x[None, :]
            half = _sin_half(*two_sum(sc * tt, -sc * xj), scale=sc)
            p, xp = _split_point(x, -2.0 * (half / h) ** 2, log_weights, split)
            hp = half[np.arange(t.size), p]
            xpc = xp[:, None]
            near = _sin_half(*two_sum(sc * xpc, -sc * xj), scale=sc) / h
            far = _sin_half(*_mid_gap_terms(tt, xj, xpc, sc), scale=sc) / h
            gap = np.where((near == 0.0) | (far == 0.0), 0.0, near * far)
            rest = -2.0 * gap
            offset = -2.0 * (hp / h) ** 2 + self.log_norm()
        return p, *_finish_rows(offset, rest, log_weights)


def _mid_gap_terms(
    t: np.ndarray, xj: np.ndarray, xp: np.ndarray, scale: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``scale * (2t - x_j - x_p)`` as an unevaluated sum of three floats, exactly.

    As an angle nothing may be rounded away: a rounding of ``1e-16`` relative is a whole
    number of turns when the angle is ``1e20``.
    """
    s, e1 = two_sum(scale * xj, scale * xp)
    hi, e2 = two_sum((2.0 * scale) * t, -s)
    return hi, e2, -e1


def _sin_half(*terms: np.ndarray, scale: float) -> np.ndarray:
    """``sin(a / 2)`` for the angle ``a = sum(terms) / scale``, exactly up to rounding.

    The terms are an unevaluated sum (a large one and its rounding errors); none may be
    dropped or added in floating point, since even a tiny error is a large angle when the
    angle is many turns. So the sine and cosine of the sum are built with the addition
    formulas, one term at a time. ``scale`` is 1 (the terms are halved, exactly) or 1/4
    (then ``sin(a/2) = 2 sin(a/4) cos(a/4)``, and nothing is multiplied up to overflow).
    """
    k = 0.5 if scale == 1.0 else 1.0
    first, *rest = terms
    s, c = np.sin(k * first), np.cos(k * first)
    for u in rest:
        su, cu = np.sin(k * u), np.cos(k * u)
        s, c = s * cu + c * su, c * cu - s * su
    return s if scale == 1.0 else 2.0 * s * c


class WrappedLaplace(Kernel):
    r"""Laplace kernel on the wrapped distance, normalised on the circle.

    .. math::

        K(d) = \frac{\exp(-|\operatorname{wrap}(d)|/h)}{2h\,(1 - e^{-\pi/h})},

    since ``int_{-pi}^{pi} exp(-|d|/h) dd = 2h (1 - exp(-pi/h))``. Its log is linear in the
    wrapped distance ``|wrap(d)|``, which is all the shift property needs, as long as the
    wrapped distance itself shrinks linearly (no point crosses the antipode of a bin).

    Examples
    --------
    >>> k = WrappedLaplace(bandwidth=1.0)
    >>> from scipy.integrate import quad
    >>> round(quad(lambda d: float(k.pdf(np.array([d]))[0]), -np.pi, np.pi)[0], 12)
    1.0
    >>> bool(np.isclose(k.logpdf(np.array([np.pi]))[0], k.logpdf(np.array([-np.pi]))[0]))
    True
    """

    name = "wrapped_laplace"
    circular = True
    positive = True
    shift_theorem = True

    def log_shift_change(self, u: np.ndarray, delta: float) -> np.ndarray:
        """As for :class:`Laplace`, for wrapped distances ``0 <= u_j <= pi`` that shrink
        (no point crosses the antipode of the bin)."""
        return Laplace(self.bandwidth).log_shift_change(u, delta)

    def logpdf(self, d: np.ndarray) -> np.ndarray:
        h = self.bandwidth
        w = wrap_angle(d)
        # log(2h (1 - e^{-pi/h})) with expm1, accurate for large h too
        return -np.abs(w) / h - (math.log(2.0 * h) + math.log(-math.expm1(-math.pi / h)))


class WrappedBox(Kernel):
    """Box kernel on the wrapped distance: ``1/h`` for ``|wrap(d)| <= h/2``, else 0.

    Needs ``h <= 2 pi`` (the box must fit on the circle to be normalised).

    Examples
    --------
    >>> k = WrappedBox(bandwidth=0.5)
    >>> k.pdf(np.array([0.2, 2 * np.pi - 0.2, 0.3]))
    array([2., 2., 0.])
    """

    name = "wrapped_box"
    circular = True
    one_hot = True

    def __init__(self, bandwidth: float = 1.0) -> None:
        super().__init__(bandwidth)
        if self.bandwidth > _TWO_PI:
            raise ValueError(f"bandwidth: the box must fit on the circle, got {self.bandwidth}")

    def logpdf(self, d: np.ndarray) -> np.ndarray:
        h = self.bandwidth
        inside = np.abs(wrap_angle(d)) <= 0.5 * h
        return np.where(inside, -math.log(h), -np.inf)


class GeneralizedNormal(Kernel):
    r"""Generalized normal kernel of width ``h`` and shape ``p``; the box kernel at ``p = inf``.

    ``K_p(d) = p / (h Gamma(1/p)) * exp(-|2 d / h|**p)``: Laplace (scale ``h/2``) at
    ``p = 1``, Gaussian (standard deviation ``h / (2 sqrt 2)``) at ``p = 2``, and ``1/h`` on
    ``|d| <= h/2`` (0 elsewhere) at ``p = inf``, the ``"box"`` kernel of bandwidth ``h``.

    Parameters
    ----------
    bandwidth : float
        Width ``h > 0`` of the limiting box.
    shape : float
        Exponent ``p >= 1``; ``np.inf`` gives the box exactly.

    Examples
    --------
    >>> k = GeneralizedNormal(bandwidth=1.0, shape=1.0)
    >>> bool(np.isclose(k.pdf(np.array([0.3]))[0], np.exp(-0.6)))   # Laplace, scale 1/2
    True
    >>> GeneralizedNormal(1.0, np.inf).pdf(np.array([0.0, 0.5, 0.6]))
    array([1., 1., 0.])
    """

    name = "gennorm"

    def __init__(self, bandwidth: float = 1.0, shape: float = 2.0) -> None:
        super().__init__(bandwidth)
        p = float(shape)
        if not p >= 1.0:
            raise ValueError(f"shape: expected a number >= 1 (or inf), got {shape!r}")
        self.shape = p
        self.one_hot = math.isinf(p)

    def __repr__(self) -> str:
        return f"GeneralizedNormal(bandwidth={self.bandwidth!r}, shape={self.shape!r})"

    def logpdf(self, d: np.ndarray) -> np.ndarray:
        h, p = self.bandwidth, self.shape
        u = np.abs(2.0 * np.asarray(d, dtype=float) / h)
        if math.isinf(p):
            return np.where(u <= 1.0, -math.log(h), -np.inf)
        with np.errstate(over="ignore"):
            power = u**p
        return math.log(p) - math.log(h) - float(gammaln(1.0 / p)) - power


class CustomKernel(Kernel):
    """Adapter for a user object with a ``logpdf(d)`` method; ``bandwidth`` is not applied."""

    def __init__(self, obj: LogPdf) -> None:
        self.obj = obj
        self.bandwidth = float("nan")
        self.name = getattr(obj, "name", type(obj).__name__)
        self.circular = bool(getattr(obj, "circular", False))
        self.exact_logpdf = False

    @property
    def length_scale(self) -> float:
        """The object's ``bandwidth`` attribute if it has one that is a number > 0, else NaN."""
        return _positive_or_nan(getattr(self.obj, "bandwidth", math.nan))

    def mp_logpdf(self, d: object, h: object = None) -> object:
        """The object's own ``mp_logpdf(d, h)``, if it has one."""
        fn = getattr(self.obj, "mp_logpdf", None)
        if not callable(fn):
            raise NotImplementedError(f"{self.name}: no mpmath form")
        return fn(d, h)

    def __repr__(self) -> str:
        return f"CustomKernel({self.obj!r})"

    def logpdf(self, d: np.ndarray) -> np.ndarray:
        out = np.asarray(self.obj.logpdf(np.asarray(d, dtype=float)), dtype=float)
        if out.shape != np.shape(d):
            raise ValueError(
                f"kernel: logpdf returned shape {out.shape} for input of shape {np.shape(d)}"
            )
        if np.any(np.isnan(out)) or np.any(out == np.inf):
            raise ValueError("kernel: logpdf returned NaN or +inf")
        return out


class ScaledKernel(Kernel):
    """The kernel ``c K`` for a constant ``c = exp(log_c) > 0``; not normalised unless ``c = 1``.

    ``log_c`` is added in log space (also in ``log_rows``), so ``c`` may underflow as a
    float (``log_c = -1e4``) and the loss and gradient stay exact. It is the object of the
    scale-invariance theorem: the gradient does not change, the loss moves by ``-log c``.

    Parameters
    ----------
    base : str or object with ``logpdf(d)``
        The kernel ``K`` (a name is resolved with ``bandwidth``).
    log_c : float
        ``log c``, any finite number.
    bandwidth : float
        For a kernel given by name.

    Examples
    --------
    >>> k = ScaledKernel("laplace", np.log(3.0))
    >>> round(float(k.pdf(np.array([0.0]))[0]), 12)     # 3 * 1/2
    1.5
    """

    def __init__(self, base: str | LogPdf, log_c: float, bandwidth: float = 1.0) -> None:
        self.base = get_kernel(base, bandwidth)
        self.log_c = as_scalar("log_c", log_c)
        self.bandwidth = self.base.bandwidth
        self.name = f"scaled_{self.base.name}"
        self.circular = self.base.circular
        self.positive = self.base.positive
        self.exact_logpdf = self.base.exact_logpdf

    def __repr__(self) -> str:
        return f"ScaledKernel({self.base!r}, log_c={self.log_c!r})"

    def logpdf(self, d: np.ndarray) -> np.ndarray:
        return self.base.logpdf(d) + self.log_c

    def split_rows(
        self,
        t: np.ndarray,
        x: np.ndarray,
        log_weights: np.ndarray | None = None,
        split: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p, offset, rest = self.base.split_rows(t, x, log_weights, split)
        return p, offset + self.log_c, rest

    def reach(self, log_ratio: float, scale: float | None = None) -> float:
        return self.base.reach(log_ratio, scale)

    @property
    def length_scale(self) -> float:
        return self.base.length_scale

    def mp_logpdf(self, d: object, h: object = None) -> object:
        import mpmath as mp

        v = self.base.mp_logpdf(d, h)
        return v if v is None else v + mp.mpf(self.log_c)


#: The kernels by name, for :func:`get_kernel`. The first four are on the line (von Mises on
#: the circle); the wrapped ones are the line kernels folded onto the circle.
KERNELS: dict[str, type[Kernel]] = {
    k.name: k for k in (Laplace, Gaussian, Box, VonMises, WrappedLaplace, WrappedBox)
}


def get_kernel(kernel: str | LogPdf = "laplace", bandwidth: float = 1.0) -> Kernel:
    """Resolve a kernel name or object.

    Parameters
    ----------
    kernel : str or object with ``logpdf(d)``
        A name in :data:`KERNELS` (``"laplace"``, ``"gaussian"``, ``"box"``, ``"vonmises"``,
        ``"wrapped_laplace"``, ``"wrapped_box"``), a :class:`Kernel` instance (used as it
        is), or any object with ``logpdf(d)`` (wrapped, used as it is: ``bandwidth`` is not
        applied to it). Not a class: pass an instance.
    bandwidth : float
        ``h > 0``, for a kernel given by name.

    Returns
    -------
    Kernel

    Raises
    ------
    ValueError
        For an unknown name, an object without ``logpdf``, or a bandwidth that is not > 0.

    Examples
    --------
    >>> get_kernel("gaussian", 0.5)
    Gaussian(bandwidth=0.5)
    >>> get_kernel("cauchy")
    Traceback (most recent call last):
    ...
    ValueError: kernel: unknown kernel name 'cauchy'; expected one of 'laplace', \
'gaussian', 'box', 'vonmises', 'wrapped_laplace', 'wrapped_box', or an object with a \
logpdf(d) method
    >>> get_kernel(Laplace)
    Traceback (most recent call last):
    ...
    ValueError: kernel: got the class Laplace; pass an instance, for example \
Laplace(bandwidth=0.5), or a kernel name such as 'laplace'
    """
    h = as_bandwidth(bandwidth)
    if isinstance(kernel, str):
        try:
            return KERNELS[kernel](h)
        except KeyError:
            names = ", ".join(repr(n) for n in KERNELS)
            raise ValueError(
                f"kernel: unknown kernel name {kernel!r}; expected one of {names}, "
                "or an object with a logpdf(d) method"
            ) from None
    if isinstance(kernel, type):
        raise ValueError(
            f"kernel: got the class {kernel.__name__}; pass an instance, for example "
            f"{kernel.__name__}(bandwidth=0.5), or a kernel name such as 'laplace'"
        )
    if isinstance(kernel, Kernel):
        return kernel
    if callable(getattr(kernel, "logpdf", None)):
        return CustomKernel(kernel)
    raise ValueError(
        f"kernel: expected a kernel name or an object with a logpdf(d) method, got {kernel!r}"
    )
