r"""The scale demo: slide a cluster away from the target; the gradient does not notice.

A cluster of points lies to the right of the target ``[a, b]``, at distance ``D`` from ``b``.
With the Laplace kernel every kernel value on the target is then
``K(t - x_j) = exp(-(x_j - t)/h) / (2h)``, so sliding the cluster by ``D`` multiplies *all*
of them by the same ``c = exp(-D/h)``. By scale invariance the gradient is unchanged, while
``q`` shrinks by ``c`` and the loss grows by ``-log c = D/h``. The naive formula, which
divides densities, underflows to ``0/0 = NaN`` near ``D = 745 h``.

:class:`kdeloss.ScaledKernel` multiplies any kernel by a constant ``c`` given as ``log c``,
so ``c`` may be far below the smallest float.

Examples
--------
>>> f0, f1 = scale_frame(distance=0.0), scale_frame(distance=500.0)
>>> bool(np.allclose(f0.grad, f1.grad, rtol=0, atol=1e-12)), round(f1.loss - f0.loss, 6)
(True, 500.0)
>>> bool(np.isnan(scale_frame(distance=780.0).naive_grad).all())
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import traitlets
from matplotlib.axes import Axes
from matplotlib.figure import Figure, FigureBase

from ..._validate import as_bandwidth, as_interval, as_scalar
from ...loss import loss_and_grad, softmax
from ...naive import naive_loss_and_grad
from ..plots import OKABE_ITO
from .live import LiveDemo
from .style import FIGSIZE, demo_axes

__all__ = [
    "ScaleDemo",
    "ScaleFrame",
    "cluster",
    "draw_scale",
    "naive_nan_distance",
    "naive_nan_estimate",
    "scale_frame",
]

#: Figure size of the scale demo (a strip above two panels).
SCALE_FIGSIZE: tuple[float, float] = (FIGSIZE[0], 4.0)
_LN10 = math.log(10.0)
# Marker areas (points^2) in the scene strip: the target's square, and a point of weight 1
# (a point's marker area is this times its weight S_j).
TARGET_MARKER_AREA = 60.0
POINT_MARKER_AREA = 200.0
# The slide arrow is drawn once the cluster has moved this fraction of the largest slide.
ARROW_MIN_SLIDE = 0.04
# Width of one gradient bar (exact and naive side by side, one unit per logit).
BAR_WIDTH = 0.38
# The gradient panel's y-limit: this factor above the largest |gradient| at D = 0, and never
# below GRAD_MIN_LIMIT (so a tiny gradient still gets a readable panel).
GRAD_HEADROOM = 1.25
GRAD_MIN_LIMIT = 0.05


def cluster(seed: int = 0, n: int = 5, bandwidth: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The demo's cluster: offsets in ``[0.5 h, 2.5 h]`` (sorted) and logits, from ``seed``.

    Returns
    -------
    offsets, z : ndarray, shape (n,)
        Positions relative to the end of the target (before the slide), and logits.

    Examples
    --------
    >>> off, z = cluster(0, 3)
    >>> off.shape, bool(np.all(off >= 0.5))
    ((3,), True)
    """
    rng = np.random.default_rng(int(seed))
    offsets = np.sort(rng.uniform(0.5, 2.5, size=n)) * bandwidth
    return offsets, rng.normal(size=n)


def naive_nan_distance(
    z: np.ndarray,
    offsets: np.ndarray,
    a: float = 0.0,
    b: float = 1.0,
    *,
    bandwidth: float = 1.0,
    bins: int = 64,
    hi: float = 2000.0,
    tol: float = 1e-6,
) -> float:
    """The smallest slide ``D`` at which :func:`kdeloss.naive_loss_and_grad` returns NaN.

    Points at ``x_j = b + D + offsets_j``, Laplace kernel. Found by bisection on ``[0, hi]``
    (the naive gradient is finite below the threshold and NaN above it).

    Examples
    --------
    >>> d = naive_nan_distance(np.zeros(2), np.array([0.5, 1.0]))
    >>> 735 < d < 750
    True
    """

    def is_nan(dist: float) -> bool:
        x = b + dist + np.asarray(offsets, dtype=float)
        _, g = naive_loss_and_grad(z, x, a, b, kernel="laplace", bandwidth=bandwidth, bins=bins)
        return bool(np.isnan(g).any())

    lo = 0.0
    if is_nan(lo) or not is_nan(hi):
        return math.nan
    while hi - lo > tol * max(1.0, hi):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if is_nan(mid) else (mid, hi)
    return hi


#: Natural log of the rounding threshold of a double product: a positive result below
#: ``2**-1075`` (half the smallest subnormal ``2**-1074``) rounds to zero.
LOG_UNDERFLOW = -1075.0 * math.log(2.0)


def naive_nan_estimate(
    z: np.ndarray,
    offsets: np.ndarray,
    a: float = 0.0,
    b: float = 1.0,
    *,
    bandwidth: float = 1.0,
    bins: int = 64,
) -> float:
    r"""Estimate, without running the naive code, the slide ``D`` at which it returns NaN.

    The naive gradient is ``0/0`` once every product ``S_j K(t - x_j)`` rounds to zero at
    some bin; the bin farthest from the cluster, ``t_0 = a + (b - a)/(2M)``, goes first.
    There ``log(S_j K) = log S_j - (b + D + offset_j - t_0)/h - log(2h)``, so the estimate is
    the slide where the largest of these falls to ``-1075 log 2`` (:data:`LOG_UNDERFLOW`):

    ``D / h = max_j [log S_j - (offset_j + b - t_0)/h - log(2h)] + 1075 log 2``.

    It ignores that ``K`` is itself rounded to a subnormal before the product, so
    :func:`naive_nan_distance` (which runs the code) lands a little below it.

    Returns
    -------
    float
        The estimated slide ``D``, in the units of ``x`` (``h`` times the bound on ``D/h``).

    Examples
    --------
    >>> off = np.array([0.5, 1.0])
    >>> est = naive_nan_estimate(np.zeros(2), off)
    >>> bool(0 <= est - naive_nan_distance(np.zeros(2), off) < 1.0)
    True
    """
    h = as_bandwidth(bandwidth)
    lo, hi = as_interval(a, b)
    zz = np.asarray(z, dtype=float)
    off = np.asarray(offsets, dtype=float)
    if zz.shape != off.shape or zz.ndim != 1 or zz.size == 0:
        raise ValueError("offsets: expected one offset per logit")
    t0 = lo + 0.5 * (hi - lo) / int(bins)
    log_s = zz - np.logaddexp.reduce(zz)
    top = float(np.max(log_s - (off + hi - t0) / h - math.log(2.0 * h)))
    return h * (top - LOG_UNDERFLOW)


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class ScaleFrame:
    """Everything one picture of the scale demo draws (arrays are read-only)."""

    distance: float
    """The slide ``D``: gap between the cluster's start position and the target."""
    seed: int
    """Seed of the cluster and its logits."""
    bandwidth: float
    """Laplace bandwidth ``h``."""
    a: float
    """Start of the target interval."""
    b: float
    """End of the target interval."""
    x: np.ndarray
    """Point positions ``b + D + offsets``."""
    z: np.ndarray
    """Logits."""
    weights: np.ndarray
    """``softmax(z)``."""
    grad: np.ndarray
    """Exact ``dL/dz`` (:func:`kdeloss.loss_and_grad`) at this ``D``."""
    grad_at_zero: np.ndarray
    """Exact ``dL/dz`` with no slide (``D = 0``)."""
    naive_grad: np.ndarray
    """``dL/dz`` from :func:`kdeloss.naive_loss_and_grad` (NaN once ``q`` underflows)."""
    loss: float
    """Exact ``L`` at this ``D``."""
    naive_loss: float
    """Naive ``L`` (``inf`` once ``q`` underflows)."""
    log10_q: float
    """``max_t log10 q(t)`` over the bins: the largest density on the target."""
    distances: np.ndarray
    """Slides at which the loss curves are drawn."""
    losses: np.ndarray
    """Exact ``L`` at ``distances``."""
    naive_losses: np.ndarray
    """Naive ``L`` at ``distances`` (``inf`` past the underflow)."""
    nan_distance: float
    """Smallest ``D`` at which the naive gradient is NaN (:func:`naive_nan_distance`)."""


def scale_frame(
    *,
    distance: float = 0.0,
    seed: int = 0,
    n: int = 5,
    bandwidth: float = 1.0,
    a: float = 0.0,
    b: float = 1.0,
    bins: int = 64,
    max_distance: float = 800.0,
    num: int = 161,
) -> ScaleFrame:
    """Compute one picture of the scale demo (pure: no drawing).

    Parameters
    ----------
    distance : float
        The slide ``D >= 0``, in the units of ``x``.
    seed : int
        Seed of the cluster (:func:`cluster`).
    n : int
        Number of points.
    bandwidth : float
        Laplace bandwidth ``h``.
    a, b : float
        The target interval.
    bins : int
        Midpoint bins on the target.
    max_distance : float
        The loss curves are drawn for ``D`` in ``[0, max_distance]``.
    num : int
        Number of points on the loss curves.

    Returns
    -------
    ScaleFrame

    Examples
    --------
    >>> f = scale_frame(distance=100.0)
    >>> round(f.log10_q, 1), bool(np.isfinite(f.naive_grad).all())
    (-44.1, True)
    """
    h = as_bandwidth(bandwidth)
    lo, hi = as_interval(a, b)
    dist = as_scalar("distance", distance)
    if dist < 0:
        raise ValueError(f"distance: expected a slide >= 0, got {dist:g}")
    offsets, z = cluster(seed, n, h)

    def at(d: float, fn: Any = loss_and_grad) -> tuple[float, np.ndarray]:
        return fn(z, hi + d + offsets, lo, hi, kernel="laplace", bandwidth=h, bins=bins)

    loss, grad = at(dist)
    _, grad0 = at(0.0)
    nloss, ngrad = at(dist, naive_loss_and_grad)
    ds = np.linspace(0.0, max(max_distance, dist), num)
    losses = np.array([at(d)[0] for d in ds])
    nlosses = np.array([at(d, naive_loss_and_grad)[0] for d in ds])
    # Largest density on the target: q is largest at the bin nearest the cluster.
    t_last = hi - 0.5 * (hi - lo) / bins
    x = hi + dist + offsets
    log10_q = float(
        np.logaddexp.reduce(np.log(softmax(z)) - np.abs(x - t_last) / h - math.log(2 * h)) / _LN10
    )
    return ScaleFrame(
        distance=dist,
        seed=int(seed),
        bandwidth=h,
        a=lo,
        b=hi,
        x=_frozen(x),
        z=_frozen(z),
        weights=_frozen(softmax(z)),
        grad=_frozen(grad),
        grad_at_zero=_frozen(grad0),
        naive_grad=_frozen(ngrad),
        loss=float(loss),
        naive_loss=float(nloss),
        log10_q=log10_q,
        distances=_frozen(ds),
        losses=_frozen(losses),
        naive_losses=_frozen(nlosses),
        nan_distance=naive_nan_distance(z, offsets, lo, hi, bandwidth=h, bins=bins),
    )


def draw_scale(target: FigureBase | Sequence[Axes], frame: ScaleFrame) -> list[Axes]:
    """Draw a :class:`ScaleFrame`: the scene, the loss against the slide, the gradient bars.

    Top strip: the target interval and the cluster (marker area proportional to ``S_j``).
    Bottom left: the loss ``L`` against the slide ``D``, exact and naive, with the current
    ``D`` and the slide at which the naive gradient turns to NaN. Bottom right: the exact
    gradient bars, the naive ones beside them ("NaN" where they are not numbers) and the
    exact gradient at ``D = 0`` (black ticks).

    Parameters
    ----------
    target : Figure, SubFigure or three Axes
        A figure or subfigure (cleared; one strip above two panels) or
        ``(scene, loss, grad)`` axes.
    frame : ScaleFrame

    Returns
    -------
    list of Axes
        ``[scene, loss, grad]``; the exact bars are ``grad.containers[0]`` and the naive
        ones ``grad.containers[1]`` (NaN bars are drawn with height 0).

    Examples
    --------
    >>> from kdeloss.book.demos import demo_figure
    >>> f = scale_frame(distance=300.0)
    >>> scene, loss, grad = draw_scale(demo_figure(), f)
    >>> bool(np.allclose([r.get_height() for r in grad.containers[0]], f.grad))
    True
    """
    axes = _scale_axes(target)
    scene, ax_loss, ax_grad = axes
    _draw_scene(scene, frame)
    _draw_loss_panel(ax_loss, frame)
    _draw_gradient_bars(ax_grad, frame)
    return axes


def _scale_axes(target: FigureBase | Sequence[Axes]) -> list[Axes]:
    """``[scene, loss, grad]``: a strip above two panels on a (cleared) figure, or given axes."""
    if not isinstance(target, FigureBase):
        return demo_axes(target, 3)
    target.clear()
    if isinstance(target, Figure):
        target.set_layout_engine("constrained")
    grid = target.add_gridspec(2, 2, height_ratios=[0.5, 1.0], width_ratios=[1.0, 1.0])
    scene = target.add_subplot(grid[0, :])
    return [scene, target.add_subplot(grid[1, 0]), target.add_subplot(grid[1, 1])]


def _draw_scene(scene: Axes, frame: ScaleFrame) -> None:
    """The scene strip: the target and the cluster on one axis of positions."""
    c = OKABE_ITO
    dmax = float(frame.distances[-1])
    scene.axvspan(frame.a, frame.b, color=c["orange"], alpha=0.5, lw=0)
    scene.scatter(
        [0.5 * (frame.a + frame.b)],
        [0.0],
        marker="s",
        s=TARGET_MARKER_AREA,
        color=c["orange"],
        edgecolor=c["black"],
        lw=0.5,
        zorder=2,
        label=r"target $[a,b]$",
    )
    scene.scatter(
        frame.x,
        np.zeros_like(frame.x),
        s=POINT_MARKER_AREA * frame.weights,
        color=c["vermillion"],
        edgecolor=c["black"],
        lw=0.5,
        zorder=3,
        label=r"points (area $\propto S_j$)",
    )
    if frame.distance > ARROW_MIN_SLIDE * dmax:
        scene.annotate(
            "",
            xy=(frame.x.min() - 0.01 * dmax, 0.0),
            xytext=(frame.b + 0.02 * dmax, 0.0),
            arrowprops={"arrowstyle": "->", "color": c["black"], "lw": 1.0},
        )
    scene.set_title(
        rf"slide $D = {frame.distance:.0f}\,h$:   largest $q$ on the target "
        rf"$\approx 10^{{{frame.log10_q:.0f}}}$"
    )
    scene.set_xlim(frame.a - 0.02 * dmax, frame.b + dmax + 4.0 * frame.bandwidth)
    scene.set_ylim(-1.0, 1.0)
    scene.set_yticks([])
    scene.set_xlabel("position $t$", labelpad=1)
    scene.legend(loc="upper left", frameon=False, ncols=2)


def _draw_loss_panel(ax_loss: Axes, frame: ScaleFrame) -> None:
    """The loss against the slide, exact and naive, with the current slide and the NaN onset."""
    c = OKABE_ITO
    ds = frame.distances
    ax_loss.plot(ds, frame.losses, color=c["blue"], lw=2.0, label="exact (log space)")
    finite = np.isfinite(frame.naive_losses)
    ax_loss.plot(
        ds[finite],
        frame.naive_losses[finite],
        color=c["vermillion"],
        lw=1.5,
        ls="--",
        label="naive",
    )
    if np.isfinite(frame.nan_distance):
        ax_loss.axvline(frame.nan_distance, color=c["vermillion"], lw=1.0, ls=":")
        ax_loss.text(
            frame.nan_distance,
            0.03,
            f"naive NaN\nfrom {frame.nan_distance:.0f}",
            transform=ax_loss.get_xaxis_transform(),
            ha="right",
            va="bottom",
            fontsize="small",
            color=c["vermillion"],
        )
    ax_loss.plot([frame.distance], [frame.loss], "o", color=c["blue"], ms=6, zorder=3)
    ax_loss.set_xlabel("slide $D$ (bandwidths)")
    ax_loss.set_ylabel("loss $L$")
    ax_loss.set_title(f"loss grows: $L = {frame.loss:.1f}$")
    ax_loss.legend(loc="upper left", frameon=False)


def _draw_gradient_bars(ax_grad: Axes, frame: ScaleFrame) -> None:
    """The gradient bars: exact, naive beside them ("NaN" where not numbers), ``D = 0`` ticks."""
    c = OKABE_ITO
    idx = np.arange(frame.grad.size)
    w = BAR_WIDTH
    ax_grad.bar(idx - w / 2, frame.grad, width=w, color=c["blue"], label="exact")
    naive = np.where(np.isfinite(frame.naive_grad), frame.naive_grad, 0.0)
    ax_grad.bar(
        idx + w / 2,
        naive,
        width=w,
        color=c["vermillion"],
        hatch="///",
        edgecolor="white",
        label="naive",
    )
    ax_grad.hlines(frame.grad_at_zero, idx - w, idx, color=c["black"], lw=1.8, label="at $D=0$")
    for i in np.flatnonzero(~np.isfinite(frame.naive_grad)):
        ax_grad.text(
            i + w / 2,
            0.0,
            "NaN",
            rotation=90,
            ha="center",
            va="bottom",
            fontsize="small",
            color=c["vermillion"],
        )
    ax_grad.axhline(0.0, color=c["black"], lw=0.6)
    lim = GRAD_HEADROOM * max(float(np.max(np.abs(frame.grad_at_zero))), GRAD_MIN_LIMIT)
    ax_grad.set_ylim(-lim, lim)
    ax_grad.set_xticks(idx, [f"$z_{{{j + 1}}}$" for j in idx])
    ax_grad.set_ylabel(r"$\partial L/\partial z_i$")
    nan_now = bool(np.isnan(frame.naive_grad).any())
    ax_grad.set_title("gradient: naive is NaN" if nan_now else "gradient: unchanged")
    ax_grad.legend(loc="lower right", frameon=False, handlelength=1.5)


class ScaleDemo(LiveDemo):
    """The live scale demo (an anywidget): slide the cluster, change the bins and the logits.

    Laplace kernel of bandwidth ``h``; points at ``b + h (D + offsets)`` with logits
    ``spread * z0`` (``offsets``, ``z0`` from :func:`cluster`). It draws the exact gradient
    (against its value at ``D = 0``), the naive formula's gradient (NaN once the densities
    underflow, near ``D = 745``) and the loss against ``D``.

    Parameters
    ----------
    seed, n : int
        Seed and size of the cluster.
    **traits
        Initial ``D`` (0 to 800), ``bins`` (2 to 128), ``spread`` (0 to 3), ``h``, ``a``, ``b``.

    Examples
    --------
    >>> w = ScaleDemo(D=10.0)
    >>> w.D, len(w.offsets), w.bins
    (10.0, 5, 64)
    """

    _module = "scale"
    D = traitlets.Float(0.0).tag(sync=True)
    bins = traitlets.Int(64).tag(sync=True)
    spread = traitlets.Float(1.0).tag(sync=True)
    h = traitlets.Float(1.0).tag(sync=True)
    a = traitlets.Float(0.0).tag(sync=True)
    b = traitlets.Float(1.0).tag(sync=True)
    offsets = traitlets.List(traitlets.Float()).tag(sync=True)
    z0 = traitlets.List(traitlets.Float()).tag(sync=True)

    def __init__(self, *, seed: int = 0, n: int = 5, **traits: Any) -> None:
        off, z = cluster(seed, n)
        traits.setdefault("offsets", off.tolist())
        traits.setdefault("z0", z.tolist())
        super().__init__(**traits)
