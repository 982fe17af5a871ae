"""Figures for the book: the model density ``q`` against the uniform target.

Matplotlib is an optional dependency (``pip install kdeloss[demos]``), so this module is not
imported by ``import kdeloss``; import it as ``from kdeloss.book.plots import plot_density``.

Colours come from the Okabe-Ito palette, which stays distinguishable under the common forms
of colour blindness; the curves also differ in line style, so no information is carried by
colour alone.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.lines import Line2D

from .._validate import as_interval, as_points, as_vector
from ..kernels import LogPdf, get_kernel
from ..loss import log_density, softmax

__all__ = ["OKABE_ITO", "DensityArtists", "density_grid", "plot_density"]

#: The Okabe-Ito colour-blind-safe palette (Okabe and Ito, 2008), by name.
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}


# density_grid reaches this many bandwidths beyond the target and the points.
GRID_MARGIN = 4.0


class DensityArtists(NamedTuple):
    """What :func:`plot_density` drew."""

    density: Line2D
    """The model density ``q(t)`` on the grid."""
    target: Line2D
    """The target density: ``1 / (b - a)`` on ``[a, b]``, 0 elsewhere on the grid."""
    points: PathCollection | None
    """The points ``x_j`` on the horizontal axis, marker area proportional to ``S_j``."""


def density_grid(
    x: np.ndarray,
    a: float,
    b: float,
    *,
    kernel: str | LogPdf = "laplace",
    bandwidth: float = 1.0,
    num: int = 801,
) -> np.ndarray:
    """An evaluation grid that shows the target interval, every point and its kernel's spread.

    Parameters
    ----------
    x : array_like, shape (N,)
        Point positions.
    a, b : float
        The target interval, ``a < b``.
    kernel, bandwidth
        As in :func:`kdeloss.log_density`; the margin around the data is four bandwidths
        (one unit for a kernel object without a bandwidth).
    num : int
        Number of grid points.

    Returns
    -------
    ndarray, shape (num,)
        Increasing positions; ``[-pi, pi]`` for a circular kernel such as ``"vonmises"``.

    Examples
    --------
    >>> density_grid([0.0, 3.0], 1.0, 2.0, bandwidth=0.5, num=5)
    array([-2.  , -0.25,  1.5 ,  3.25,  5.  ])
    """
    kern = get_kernel(kernel, bandwidth)
    xx = np.asarray(x, dtype=float)
    if kern.circular:
        return np.linspace(-np.pi, np.pi, num)
    margin = GRID_MARGIN * (kern.bandwidth if np.isfinite(kern.bandwidth) else 1.0)
    lo = min(a, float(xx.min())) - margin
    hi = max(b, float(xx.max())) + margin
    return np.linspace(lo, hi, num)


def plot_density(
    ax: Axes,
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    kernel: str | LogPdf = "laplace",
    bandwidth: float = 1.0,
    grid: np.ndarray | None = None,
    show_points: bool = True,
    marker_area: float = 300.0,
    legend: bool = True,
    headroom: float = 1.6,
) -> DensityArtists:
    r"""Draw the weighted kernel density ``q`` and the uniform target on ``[a, b]``.

    ``q(t) = sum_j S_j K(t - x_j)`` with ``S = softmax(z)`` is drawn from
    :func:`kdeloss.log_density` (so it is the library's own ``q``, not a re-implementation);
    where no kernel reaches ``t`` (the box kernel) ``q(t) = 0`` is drawn.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw.
    z : array_like, shape (N,)
        Logits; the weights are ``S = softmax(z)``.
    x : array_like, shape (N,)
        Point positions.
    a, b : float
        The target interval, ``a < b``; its density is ``1 / (b - a)``.
    kernel, bandwidth
        As in :func:`kdeloss.log_density`.
    grid : array_like, optional
        Where to evaluate ``q``; by default :func:`density_grid`.
    show_points : bool
        Mark each ``x_j`` on the horizontal axis, with marker area ``marker_area * S_j``.
    marker_area : float
        Marker area (points squared) of a point of weight 1.
    legend : bool
        Draw a legend in the upper right corner.
    headroom : float
        The vertical axis runs from 0 to ``headroom`` times the highest value drawn, leaving
        room for the legend.

    Returns
    -------
    DensityArtists
        The density line, the target line and the point markers (``None`` if not shown).

    Raises
    ------
    ValueError
        For invalid ``z``, ``x``, ``a``, ``b``, ``kernel``, ``bandwidth`` or ``grid``; the
        message starts with the argument's name.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> art = plot_density(ax, [0.0, 0.0], [-1.0, 2.0], 0.0, 1.0, kernel="gaussian")
    >>> art.target.get_ydata().max()
    np.float64(1.0)
    >>> plt.close(fig)
    """
    zz, xx = as_points(z, x)
    lo, hi = as_interval(a, b)
    kern = get_kernel(kernel, bandwidth)
    if grid is None:
        t = density_grid(xx, lo, hi, kernel=kern)
    else:
        t = as_vector("grid", grid)
    # Only evaluate log q where some kernel reaches t; q is 0 elsewhere.
    reached = np.isfinite(kern.logpdf(t[:, None] - xx[None, :])).any(axis=1)
    q = np.zeros_like(t)
    if reached.any():
        q[reached] = np.exp(log_density(zz, xx, t[reached], kernel=kern))

    height = 1.0 / (hi - lo)
    (target,) = ax.plot(
        [t[0], lo, lo, hi, hi, t[-1]],
        [0.0, 0.0, height, height, 0.0, 0.0],
        color=OKABE_ITO["orange"],
        linestyle="--",
        linewidth=2,
        label=rf"target $\mathcal{{U}}[{lo:g}, {hi:g}]$",
    )
    ax.fill_between([lo, hi], [height, height], color=OKABE_ITO["orange"], alpha=0.15)
    (density,) = ax.plot(t, q, color=OKABE_ITO["blue"], linewidth=2, label=r"model $q(t)$")
    points = None
    if show_points:
        points = ax.scatter(
            xx,
            np.zeros_like(xx),
            s=marker_area * softmax(zz),
            color=OKABE_ITO["vermillion"],
            edgecolor=OKABE_ITO["black"],
            zorder=3,
            clip_on=False,
            label=r"points $x_j$ (area $\propto S_j$)",
        )
    ax.set_xlabel("angle $t$ (radians)" if kern.circular else "position $t$")
    ax.set_ylabel("density")
    ax.set_xlim(t[0], t[-1])
    # Headroom above the highest curve keeps the legend clear of the data.
    ax.set_ylim(0.0, headroom * max(height, float(q.max())))
    if legend:
        ax.legend(loc="upper right", frameon=False, fontsize="small")
    return DensityArtists(density=density, target=target, points=points)
