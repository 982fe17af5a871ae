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
from typing import Protocol, runtime_checkable

import numpy as np
from scipy.special import i0e

from ._validate import as_bandwidth, as_scalar

__all__ = [
    "KERNELS",
    "Box",
    "CustomKernel",
    "Gaussian",
    "Kernel",
    "Laplace",
    "LogPdf",
    "ScaledKernel",
    "VonMises",
    "get_kernel",
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
    return np.pi - np.mod(np.pi - np.asarray(d, dtype=float), 2 * np.pi)


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

    def __init__(self, bandwidth: float = 1.0) -> None:
        self.bandwidth = as_bandwidth(bandwidth)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(bandwidth={self.bandwidth!r})"

    def logpdf(self, d: np.ndarray) -> np.ndarray:
        """``log K(d)`` for an array of displacements ``d``."""
        raise NotImplementedError

    def pdf(self, d: np.ndarray) -> np.ndarray:
        """``K(d)``; may underflow to 0 far from the centre, where :meth:`logpdf` does not."""
        return np.exp(self.logpdf(d))

    def log_rows(self, t: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Split ``log K(t_m - x_j)`` into ``offset[m] + rest[m, j]``.

        Parameters
        ----------
        t : ndarray, shape (M,)
            Evaluation points (bin centres).
        x : ndarray, shape (N,)
            Point positions.

        Returns
        -------
        offset : ndarray, shape (M,)
            ``max_j log K(t_m - x_j)``; ``-inf`` for a row no kernel reaches.
        rest : ndarray, shape (M, N)
            ``log K(t_m - x_j) - offset[m]``: at most 0, and 0 at the row's nearest point.
        """
        return _split_rows(self.logpdf(t[:, None] - x[None, :]))

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


def _split_rows(logk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    offset = logk.max(axis=1)
    safe = np.where(np.isfinite(offset), offset, 0.0)
    return offset, logk - safe[:, None]


def _nearest(t: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: displacements ``d = t - x``, the nearest point's position and displacement."""
    d = t[:, None] - x[None, :]
    p = np.abs(d).argmin(axis=1)
    xp = x[p]
    dp = d[np.arange(t.size), p]
    return d, xp, dp


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

    def logpdf(self, d: np.ndarray) -> np.ndarray:
        h = self.bandwidth
        return -np.abs(d) / h - math.log(2.0 * h)

    def log_rows(self, t: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # |d_j| - |d_p| from positions: sigma*(x_j - x_p) on the nearest point's side,
        # sigma_j*(x_j + x_p - 2t) across it. Never the difference of two large |d|.
        h = self.bandwidth
        d, xp, dp = _nearest(t, x)
        sig = np.sign(-d)  # sign(x_j - t)
        sigp = np.sign(-dp)[:, None]
        same = sig == sigp
        xj = x[None, :]
        xpc = xp[:, None]
        gap = np.where(same, sigp * (xj - xpc), sig * ((xj + xpc) - 2.0 * t[:, None]))
        rest = -np.maximum(gap, 0.0) / h
        offset = -np.abs(dp) / h - math.log(2.0 * h)
        return offset, rest

    def reach(self, log_ratio: float, scale: float | None = None) -> float:
        return log_ratio * self.bandwidth / (self.bandwidth if scale is None else scale)


class Gaussian(Kernel):
    """Gaussian kernel: the normal density with standard deviation ``h``.

    Examples
    --------
    >>> k = Gaussian(bandwidth=1.0)
    >>> round(float(k.pdf(np.array([0.0]))[0]), 6)
    0.398942
    """

    name = "gaussian"

    def logpdf(self, d: np.ndarray) -> np.ndarray:
        h = self.bandwidth
        return -0.5 * (np.asarray(d) / h) ** 2 - math.log(h * math.sqrt(2.0 * math.pi))

    def log_rows(self, t: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # d_j**2 - d_p**2 = (x_p - x_j) * (2t - x_j - x_p), both factors from positions.
        h = self.bandwidth
        _, xp, dp = _nearest(t, x)
        xj = x[None, :]
        xpc = xp[:, None]
        gap = (xpc - xj) * ((2.0 * t[:, None] - xj) - xpc)
        rest = -0.5 * np.maximum(gap, 0.0) / (h * h)
        offset = -0.5 * (dp / h) ** 2 - math.log(h * math.sqrt(2.0 * math.pi))
        return offset, rest

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

    def logpdf(self, d: np.ndarray) -> np.ndarray:
        h = self.bandwidth
        inside = np.abs(d) <= 0.5 * h
        return np.where(inside, -math.log(h), -np.inf)

    def reach(self, log_ratio: float, scale: float | None = None) -> float:
        return 0.5 * (1.0 if scale is None else self.bandwidth / scale)


class VonMises(Kernel):
    """Von Mises kernel on the circle, ``exp(kappa cos d) / (2 pi I0(kappa))``.

    ``kappa = 1 / h**2``, so for small ``h`` it is close to a Gaussian of scale ``h`` in the
    wrapped angle. ``log I0`` uses the exponentially scaled Bessel function, so large
    ``kappa`` does not overflow.

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

    @property
    def kappa(self) -> float:
        """Concentration ``1 / h**2``."""
        return 1.0 / self.bandwidth**2

    def logpdf(self, d: np.ndarray) -> np.ndarray:
        kappa = self.kappa
        w = wrap_angle(d)
        # kappa*cos(w) - log(2 pi I0(kappa)), with cos(w) - 1 = -2 sin(w/2)**2 and
        # log I0(kappa) = log(i0e(kappa)) + kappa.
        return -2.0 * kappa * np.sin(0.5 * w) ** 2 - math.log(2.0 * math.pi * float(i0e(kappa)))


class CustomKernel(Kernel):
    """Adapter for a user object with a ``logpdf(d)`` method; ``bandwidth`` is not applied."""

    def __init__(self, obj: LogPdf) -> None:
        self.obj = obj
        self.bandwidth = float("nan")
        self.name = getattr(obj, "name", type(obj).__name__)
        self.circular = bool(getattr(obj, "circular", False))

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

    def __repr__(self) -> str:
        return f"ScaledKernel({self.base!r}, log_c={self.log_c!r})"

    def logpdf(self, d: np.ndarray) -> np.ndarray:
        return self.base.logpdf(d) + self.log_c

    def log_rows(self, t: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        offset, rest = self.base.log_rows(t, x)
        return offset + self.log_c, rest

    def reach(self, log_ratio: float, scale: float | None = None) -> float:
        return self.base.reach(log_ratio, scale)


KERNELS: dict[str, type[Kernel]] = {k.name: k for k in (Laplace, Gaussian, Box, VonMises)}


def get_kernel(kernel: str | LogPdf = "laplace", bandwidth: float = 1.0) -> Kernel:
    """Resolve a kernel name or object.

    Parameters
    ----------
    kernel : str or object with ``logpdf(d)``
        One of ``"laplace"``, ``"gaussian"``, ``"box"``, ``"vonmises"``, a :class:`Kernel`
        instance (used as it is), or any object with ``logpdf(d)`` (wrapped, used as it is:
        ``bandwidth`` is not applied to it).
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
'gaussian', 'box', 'vonmises', or an object with a logpdf(d) method
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
    if isinstance(kernel, Kernel):
        return kernel
    if callable(getattr(kernel, "logpdf", None)):
        return CustomKernel(kernel)
    raise ValueError(
        f"kernel: expected a kernel name or an object with a logpdf(d) method, got {kernel!r}"
    )
