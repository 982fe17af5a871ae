"""An independent high-precision reference for the loss and gradient (mpmath, 60 digits).

It takes the float64 inputs exactly and evaluates the textbook formula with densities:
at 60 digits and mpmath's unbounded exponent, nothing underflows.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np


def _log_kernel(name: str, d, h):
    if name == "laplace":
        return -abs(d) / h - mp.log(2 * h)
    if name == "gaussian":
        return -(d * d) / (2 * h * h) - mp.log(h * mp.sqrt(2 * mp.pi))
    if name == "vonmises":
        kappa = 1 / (h * h)
        return kappa * mp.cos(d) - mp.log(2 * mp.pi * mp.besseli(0, kappa))
    raise ValueError(name)


def reference(z, x, t, name: str, h: float) -> tuple[float, np.ndarray, np.ndarray]:
    """Mean of -log q over the points ``t``, its gradient, and r at each t.

    At 40 digits beyond the size of the largest ``|t - x| / h``, so that differences of
    kernel exponents keep 40 digits however far the points are.
    """
    far = max(abs(float(tv) - float(xv)) for tv in t for xv in x) / float(h)
    if not np.isfinite(far):
        extra = 330
    else:
        extra = int(np.ceil(np.log10(far))) if far > 1 else 0
    with mp.workdps(60 + max(0, extra)):
        zz = [mp.mpf(float(v)) for v in z]
        xx = [mp.mpf(float(v)) for v in x]
        hh = mp.mpf(float(h))
        ez = [mp.exp(v) for v in zz]
        s = [e / mp.fsum(ez) for e in ez]
        total_loss = mp.mpf(0)
        rbar = [mp.mpf(0)] * len(zz)
        rows = []
        for tv in t:
            tt = mp.mpf(float(tv))
            k = [mp.exp(_log_kernel(name, tt - xj, hh)) for xj in xx]
            q = mp.fsum(si * ki for si, ki in zip(s, k, strict=True))
            total_loss += -mp.log(q)
            r = [si * ki / q for si, ki in zip(s, k, strict=True)]
            rows.append([float(v) for v in r])
            rbar = [acc + v for acc, v in zip(rbar, r, strict=True)]
        m = len(t)
        grad = [float(si - rb / m) for si, rb in zip(s, rbar, strict=True)]
        return float(total_loss / m), np.array(grad), np.array(rows)
