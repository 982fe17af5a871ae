"""An independent high-precision reference for the loss and gradient (mpmath, 60 digits).

It takes the float64 inputs exactly and evaluates the textbook formula with densities:
at 60 digits and mpmath's unbounded exponent, nothing underflows.
"""

from __future__ import annotations

from collections.abc import Callable

import mpmath as mp
import numpy as np


class Uncovered(ValueError):
    """A bin where every kernel is zero and there is no background: ``log q = -inf``."""


def _log_kernel(name: str | Callable, d, h):
    if callable(name):  # a custom kernel: its log density in mpmath, at (d, h)
        return name(d, h)
    if name == "laplace":
        return -abs(d) / h - mp.log(2 * h)
    if name == "gaussian":
        return -(d * d) / (2 * h * h) - mp.log(h * mp.sqrt(2 * mp.pi))
    if name == "vonmises":
        kappa = 1 / (h * h)
        return kappa * mp.cos(d) - mp.log(2 * mp.pi * mp.besseli(0, kappa))
    if name == "box":  # |d| <= h/2, decided exactly (d is exact here)
        # no abs() or negation of d: those round to the working precision
        return -mp.log(h) if -h / 2 <= d <= h / 2 else mp.ninf
    raise ValueError(name)


def reference(
    z, x, t, name: str | Callable, h: float, eps: float = 0.0, log_u: float = 0.0
) -> tuple[float, np.ndarray, np.ndarray]:
    """Mean of -log q over the points ``t``, its gradient, and r at each t (60 digits)."""
    return _evaluate(z, x, t, name, h, eps, log_u)[:3]


def reference_measured(
    z, x, t, name: str | Callable, h: float, eps: float = 0.0, log_u: float = 0.0
) -> tuple[float, np.ndarray, float]:
    """The loss, the gradient and ``mean_m |log q(t_m)|`` (the loss error's scale)."""
    loss, grad, _, scale = _evaluate(z, x, t, name, h, eps, log_u)
    return loss, grad, scale


def _evaluate(z, x, t, name, h, eps, log_u) -> tuple[float, np.ndarray, np.ndarray, float]:
    """Loss, gradient, responsibilities and mean |log q| (60 digits).

    With a background ``eps``: ``q = (1 - eps) q_model + eps exp(log_u)`` and the gradient
    ``mean_m pi_m (S - r(t_m))``. Raises :class:`Uncovered` if some ``q(t_m)`` is 0.
    The differences ``t - x`` are exact (``mp.fsub(..., exact=True)``). The precision is
    60 digits plus the size of the largest ``|t - x| / h``, so that differences of kernel
    exponents keep their digits however far the points are.
    """
    far = max(abs(float(tv) - float(xv)) for tv in t for xv in x) / float(h)
    extra = (int(np.ceil(np.log10(far))) if far > 1 else 0) if np.isfinite(far) else 330
    # and as many as the logits' size: z = (1e300, 1) must keep the 1 in z - max z
    spread = float(np.max(np.abs(np.asarray(z, dtype=float))))
    extra += int(np.ceil(np.log10(spread))) if spread > 1 else 0
    with mp.workdps(60 + extra):
        zz = [mp.mpf(float(v)) for v in z]
        xx = [mp.mpf(float(v)) for v in x]
        hh = mp.mpf(float(h))
        ee = mp.mpf(float(eps))
        top = max(zz)
        ez = [mp.exp(v - top) for v in zz]
        s = [e / mp.fsum(ez) for e in ez]
        back = ee * mp.exp(mp.mpf(float(log_u)))
        total_loss = mp.mpf(0)
        total_abs = mp.mpf(0)
        rbar = [mp.mpf(0)] * len(zz)
        pisum = mp.mpf(0)
        rows = []
        for m, tv in enumerate(t):
            tt = mp.mpf(float(tv))
            k = [mp.exp(_log_kernel(name, mp.fsub(tt, xj, exact=True), hh)) for xj in xx]
            model = mp.fsum(si * ki for si, ki in zip(s, k, strict=True))
            q = (1 - ee) * model + back
            if q == 0:
                raise Uncovered(f"bin {m} at t = {float(tv)!r} is covered by no kernel")
            total_loss += -mp.log(q)
            total_abs += abs(mp.log(q))
            r = [si * ki / model if model > 0 else mp.mpf(0) for si, ki in zip(s, k, strict=True)]
            pi = (1 - ee) * model / q
            pisum += pi
            rows.append([float(v) for v in r])
            rbar = [acc + pi * v for acc, v in zip(rbar, r, strict=True)]
        m = len(t)
        grad = [float(si * pisum / m - rb / m) for si, rb in zip(s, rbar, strict=True)]
        return float(total_loss / m), np.array(grad), np.array(rows), float(total_abs / m)


def errors(
    got: tuple[float, np.ndarray], ref: tuple[float, np.ndarray, float]
) -> tuple[float, float]:
    """The shared error measure: loss error relative to ``max(1, mean |log q_ref|)`` (``ref``
    carries that mean third) and the largest absolute gradient difference."""
    (lv, gv), (lr, gr, scale) = got, ref
    return abs(lv - lr) / max(1.0, scale), float(np.abs(np.asarray(gv) - gr).max())
