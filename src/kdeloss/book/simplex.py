r"""The loss over all weight vectors of three points, drawn on the simplex.

With three points the weight vectors ``S = (S_1, S_2, S_3)`` fill a triangle, the simplex.
:func:`plot_simplex_loss` draws the binned loss ``L_M`` over it as contours, with the weight
paths of training runs (:func:`kdeloss.em`, :func:`kdeloss.gradient_descent`) on top: the
picture of the chapter "EM and convexity". The loss of a weight vector with zero entries is
computed in log space (:func:`loss_on_weights`), so the edges of the triangle are drawn too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import logsumexp

from .._validate import as_bins, as_interval, as_vector
from ..kernels import LogPdf, get_kernel
from ..loss import bin_centers

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["loss_on_weights", "plot_simplex_loss", "simplex_grid", "simplex_xy"]

#: Corners of the triangle: all weight on point 1, 2, 3.
CORNERS = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3.0) / 2.0]])


def simplex_xy(weights: np.ndarray) -> np.ndarray:
    """Plane coordinates of weight vectors of three points (rows summing to 1).

    >>> simplex_xy(np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]])).round(3)
    array([[0.   , 0.   ],
           [0.75 , 0.433]])
    """
    w = np.asarray(weights, dtype=float)
    if w.shape[-1] != 3:
        raise ValueError(f"weights: expected rows of 3 weights, got shape {w.shape}")
    return w @ CORNERS


def simplex_grid(n: int) -> np.ndarray:
    """All weight vectors ``(i, j, n - i - j) / n`` of three points, shape ``((n+1)(n+2)/2, 3)``.

    >>> simplex_grid(2)
    array([[0. , 0. , 1. ],
           [0. , 0.5, 0.5],
           [0. , 1. , 0. ],
           [0.5, 0. , 0.5],
           [0.5, 0.5, 0. ],
           [1. , 0. , 0. ]])
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n: expected an integer >= 1, got {n!r}")
    rows = [(i, j, n - i - j) for i in range(n + 1) for j in range(n + 1 - i)]
    return np.array(rows, dtype=float) / n


def loss_on_weights(
    weights: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    kernel: str | LogPdf = "laplace",
    bandwidth: float = 1.0,
    bins: int = 256,
) -> np.ndarray:
    r"""The binned loss ``L_M(S) = -(1/M) sum_m log sum_j S_j K(t_m - x_j)`` per weight vector.

    Computed as ``-mean_m logsumexp_j(log S_j + log K(t_m - x_j))``, so weights may be zero
    (``log 0 = -inf`` drops the term), as long as some point with positive weight covers
    each bin.

    Parameters
    ----------
    weights : array_like, shape (G, N)
        Weight vectors, each non-negative and summing to 1.
    x, a, b, kernel, bandwidth, bins
        As in :func:`kdeloss.loss`.

    Returns
    -------
    ndarray, shape (G,)

    Examples
    --------
    >>> import kdeloss
    >>> w = np.array([[0.3, 0.7], [1.0, 0.0]])
    >>> got = loss_on_weights(w, [0.2, 0.9], 0.0, 1.0, bandwidth=0.5)
    >>> bool(np.isclose(got[0], kdeloss.loss(np.log(w[0]), [0.2, 0.9], 0.0, 1.0,
    ...                                     bandwidth=0.5)))
    True
    """
    xx = as_vector("x", x)
    w = np.asarray(weights, dtype=float)
    if w.ndim != 2 or w.shape[1] != xx.size:
        raise ValueError(f"weights: expected shape (G, {xx.size}), got {w.shape}")
    if np.any(w < 0) or not np.allclose(w.sum(axis=1), 1.0, rtol=0, atol=1e-12):
        raise ValueError("weights: expected non-negative rows summing to 1")
    lo, hi = as_interval(a, b)
    t = bin_centers(lo, hi, as_bins(bins))
    logk = get_kernel(kernel, bandwidth).logpdf(t[:, None] - xx[None, :])  # (M, N)
    with np.errstate(divide="ignore"):
        logw = np.log(w)  # (G, N)
    logq = logsumexp(logw[:, None, :] + logk[None, :, :], axis=2)  # (G, M)
    if not np.all(np.isfinite(logq)):
        raise ValueError("weights: some bin is covered by no point of positive weight")
    return -logq.mean(axis=1)


def plot_simplex_loss(
    ax: Axes,
    x: np.ndarray,
    a: float,
    b: float,
    runs: Sequence[Any],
    labels: Sequence[str],
    *,
    kernel: str | LogPdf = "laplace",
    bandwidth: float = 1.0,
    bins: int = 256,
    n: int = 90,
    optimum: np.ndarray | None = None,
) -> dict[str, Any]:
    r"""Contours of ``L_M - min L_M`` over the simplex of three points, and weight paths.

    The contour levels are logarithmic (``1e-4`` to ``1``), so the shape of the bowl near its
    minimum shows. Each run (anything with a ``weights`` array of shape ``(steps + 1, 3)``)
    is drawn as a path with a marker at every iterate.

    Parameters
    ----------
    ax : Axes
    x, a, b, kernel, bandwidth, bins
        The problem, as in :func:`kdeloss.loss`; ``x`` has three points.
    runs, labels
        Training runs and their legend labels.
    n : int
        Grid resolution (``n`` steps along each edge).
    optimum : array, shape (3,), optional
        A weight vector to mark with a star (the minimiser).

    Returns
    -------
    dict
        ``"contours"`` (the filled contour set), ``"paths"`` (one line per run) and
        ``"minimum"`` (the smallest loss on the grid).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from types import SimpleNamespace
    >>> fig, ax = plt.subplots()
    >>> run = SimpleNamespace(weights=np.array([[0.2, 0.2, 0.6], [0.4, 0.5, 0.1]]))
    >>> out = plot_simplex_loss(ax, [0.2, 0.7, -0.6], 0.0, 1.0, [run], ["EM"], n=20,
    ...                         bandwidth=0.3)
    >>> len(out["paths"])
    1
    >>> plt.close(fig)
    """
    import matplotlib.tri as mtri
    from matplotlib.colors import LogNorm

    from .plots import OKABE_ITO

    xx = as_vector("x", x)
    if xx.size != 3:
        raise ValueError(f"x: expected three points, got {xx.size}")
    if len(runs) != len(labels):
        raise ValueError(f"labels: expected {len(runs)} labels, got {len(labels)}")
    grid = simplex_grid(n)
    values = loss_on_weights(grid, xx, a, b, kernel=kernel, bandwidth=bandwidth, bins=bins)
    best = float(values.min())
    if optimum is not None:
        best = min(
            best,
            float(
                loss_on_weights(
                    np.asarray(optimum, dtype=float)[None, :],
                    xx,
                    a,
                    b,
                    kernel=kernel,
                    bandwidth=bandwidth,
                    bins=bins,
                )[0]
            ),
        )
    excess = np.maximum(values - best, 1e-4)
    pts = simplex_xy(grid)
    tri = mtri.Triangulation(pts[:, 0], pts[:, 1])
    levels = np.logspace(-4, 0, 13)
    contours = ax.tricontourf(
        tri, np.minimum(excess, 1.0), levels=levels, norm=LogNorm(), cmap="cividis", extend="max"
    )
    ax.tricontour(tri, excess, levels=levels, colors="white", linewidths=0.4, alpha=0.6)
    ax.plot(*CORNERS[[0, 1, 2, 0]].T, color=OKABE_ITO["black"], lw=1.0)
    names = [rf"all on $x_{k + 1} = {xx[k]:g}$" for k in range(3)]
    offsets = [(-0.02, -0.06, "left"), (1.02, -0.06, "right"), (0.5, 0.9, "center")]
    for (ox, oy, align), name in zip(offsets, names, strict=True):
        ax.text(ox, oy, name, ha=align, va="center", fontsize="small")
    colors = [OKABE_ITO["vermillion"], OKABE_ITO["sky_blue"], OKABE_ITO["yellow"]]
    markers = ["o", "s", "^"]
    paths = []
    for k, (run, label) in enumerate(zip(runs, labels, strict=True)):
        xy = simplex_xy(np.asarray(run.weights, dtype=float))
        (line,) = ax.plot(
            xy[:, 0],
            xy[:, 1],
            color=colors[k % 3],
            marker=markers[k % 3],
            ms=3.5,
            lw=1.2,
            label=label,
        )
        paths.append(line)
    if optimum is not None:
        ox, oy = simplex_xy(np.asarray(optimum, dtype=float)[None, :])[0]
        ax.plot(
            ox,
            oy,
            marker="*",
            ms=14,
            color=OKABE_ITO["orange"],
            markeredgecolor=OKABE_ITO["black"],
            ls="none",
            label="minimum",
        )
    ax.set_aspect("equal")
    ax.set_xlim(-0.08, 1.08)
    ax.set_ylim(-0.1, 0.95)
    ax.axis("off")
    return {"contours": contours, "paths": paths, "minimum": best}
