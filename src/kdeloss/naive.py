"""The textbook formula, computed with densities: for contrast only, never for use.

``dl/dz_i = S_i - S_i K_i / sum_j S_j K_j`` evaluated literally. When every point is far
from ``t`` each ``K_j`` underflows to 0 and the ratio becomes ``0/0 = NaN``, although the true
gradient is perfectly finite (see :func:`kdeloss.bin_grad`). The book uses these functions to
show exactly where that happens; they return NaN/inf on purpose and do not warn.
"""

from __future__ import annotations

import numpy as np

from ._validate import as_bins_at, as_interval, as_points
from .kernels import get_kernel
from .loss import KernelLike, bin_centers

__all__ = ["naive_bin_grad", "naive_loss_and_grad"]


def naive_bin_grad(
    z: np.ndarray,
    x: np.ndarray,
    t: float | np.ndarray,
    *,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
) -> np.ndarray:
    """Per-bin gradient from densities, ``S - S*K/(S.K)``; NaN once every ``K`` underflows.

    Examples
    --------
    >>> naive_bin_grad([0.0, 0.0], [0.0, 1.0], 0.5)
    array([0., 0.])
    >>> naive_bin_grad([0.0, 0.0], [800.0, 801.0], 0.0)    # exp(-800) underflows
    array([nan, nan])
    """
    z, x = as_points(z, x)
    kern = get_kernel(kernel, bandwidth)
    tt, scalar = as_bins_at(t)
    s = np.exp(z) / np.exp(z).sum()
    k = kern.pdf(tt[:, None] - x[None, :])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        g = s[None, :] - s[None, :] * k / (k @ s)[:, None]
    return g[0] if scalar else g


def naive_loss_and_grad(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
    bins: int = 256,
) -> tuple[float, np.ndarray]:
    """Binned loss and gradient from densities: ``inf`` and NaN far from the target.

    Examples
    --------
    >>> naive_loss_and_grad([0.0, 0.0], [800.0, 801.0], 0.0, 1.0, bins=4)
    (inf, array([nan, nan]))
    """
    z, x = as_points(z, x)
    as_interval(a, b)
    kern = get_kernel(kernel, bandwidth)
    t = bin_centers(a, b, bins)
    s = np.exp(z) / np.exp(z).sum()
    k = kern.pdf(t[:, None] - x[None, :])
    q = k @ s
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        loss = -np.mean(np.log(q))
        g = s - (s[None, :] * k / q[:, None]).mean(axis=0)
    return float(loss), g
