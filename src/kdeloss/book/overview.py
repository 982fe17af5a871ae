"""The front page's picture: the model against its target, and the gradient it gets.

Matplotlib is an optional dependency, so ``import kdeloss`` does not import this module;
use ``from kdeloss.book.overview import plot_overview``. Like :mod:`kdeloss.book.figures`,
the function draws on axes it is given and returns what it drew, so a test can compare the
drawn numbers with the library's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from matplotlib.axes import Axes
from matplotlib.container import BarContainer
from matplotlib.lines import Line2D

from .._validate import as_interval, as_points
from ..kernels import LogPdf, get_kernel
from ..loss import bin_centers, loss_and_grad, responsibilities, softmax
from .figures import COLORS, plot_components
from .plots import OKABE_ITO, density_grid

__all__ = ["OverviewArtists", "plot_overview"]


class OverviewArtists(NamedTuple):
    """What :func:`plot_overview` drew."""

    components: list[Line2D]
    """The weighted components ``S_j K(t - x_j)`` and their sum ``q`` (left panel)."""
    weights: BarContainer
    """Bars of the weights ``S_i`` (right panel)."""
    mean_resp: BarContainer
    """Bars of the mean responsibilities ``(1/M) sum_m r_i(t_m)`` (right panel)."""
    gradient: np.ndarray
    """The gradient ``S_i - (1/M) sum_m r_i(t_m)`` printed above each pair of bars."""


def plot_overview(
    axes: Sequence[Axes],
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    kernel: str | LogPdf = "laplace",
    bandwidth: float = 1.0,
    bins: int = 256,
) -> OverviewArtists:
    r"""The whole book in two panels: weight minus mean responsibility.

    Left (``axes[0]``): the weighted components ``S_j K(t - x_j)``, their sum ``q(t)`` and
    the target interval ``[a, b]`` shaded. Right (``axes[1]``): for each point, a bar of its
    weight ``S_i`` beside a bar of its mean responsibility over the ``bins`` bin centres of
    ``[a, b]``; the gradient of the binned loss, ``S_i`` minus that mean, is printed above
    each pair.

    Parameters
    ----------
    axes : sequence of two matplotlib.axes.Axes
        Where to draw the density and the bars.
    z, x : array_like, shape (N,)
        Logits and positions.
    a, b : float
        The target interval, ``a < b``.
    kernel, bandwidth, bins
        As in :func:`kdeloss.loss_and_grad`.

    Returns
    -------
    OverviewArtists
        The lines and bars drawn and the gradient printed.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from kdeloss import loss_and_grad
    >>> fig, axes = plt.subplots(1, 2)
    >>> art = plot_overview(axes, [0.0, 0.5], [-1.0, 0.5], 0.0, 1.0, bins=8)
    >>> _, grad = loss_and_grad([0.0, 0.5], [-1.0, 0.5], 0.0, 1.0, bins=8)
    >>> heights = [[p.get_height() for p in bars] for bars in (art.weights, art.mean_resp)]
    >>> bool(np.allclose(np.subtract(*heights), grad)), bool(np.allclose(art.gradient, grad))
    (True, True)
    >>> plt.close(fig)
    """
    zz, xx = as_points(z, x)
    lo, hi = as_interval(a, b)
    kern = get_kernel(kernel, bandwidth)
    if len(axes) != 2:
        raise ValueError(f"axes: expected two axes, got {len(axes)}")
    left, right = axes[0], axes[1]
    grid = density_grid(xx, lo, hi, kernel=kern)
    comps = plot_components(left, zz, xx, grid, a=lo, b=hi, kernel=kern, legend=False)
    peak = max(float(np.max(ln.get_ydata())) for ln in comps)
    left.set_ylim(0.0, 1.5 * peak)
    left.legend(frameon=False, fontsize="small", loc="upper left", ncol=2)
    left.set_title(r"model $q(t)$ and target $[a, b]$", fontsize=10)

    s = softmax(zz)
    r_mean = responsibilities(zz, xx, bin_centers(lo, hi, bins), kernel=kern).mean(axis=0)
    _, grad = loss_and_grad(zz, xx, lo, hi, kernel=kern, bins=bins)
    idx = np.arange(xx.size)
    colors = [COLORS[j % len(COLORS)] for j in idx]
    wbars = right.bar(
        idx - 0.2,
        s,
        width=0.4,
        color=colors,
        alpha=0.45,
        edgecolor=OKABE_ITO["black"],
        label="weight $S_i$",
    )
    rbars = right.bar(
        idx + 0.2,
        r_mean,
        width=0.4,
        color=colors,
        edgecolor=OKABE_ITO["black"],
        hatch="//",
        label=r"mean responsibility $\bar r_i$",
    )
    for j in idx:
        right.annotate(
            f"{grad[j]:+.2f}",
            (j, max(s[j], r_mean[j])),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            fontsize="small",
        )
    right.set_xticks(idx, [f"$i = {j + 1}$" for j in idx])
    right.set_xlabel("point")
    right.set_ylabel("probability")
    right.set_ylim(0.0, 1.3 * max(float(s.max()), float(r_mean.max())) + 0.08)
    right.legend(frameon=False, fontsize="small", loc="upper left")
    right.set_title(r"gradient $S_i - \bar r_i$ above each pair", fontsize=10)
    return OverviewArtists(comps, wbars, rbars, grad)
