r"""The shift demo: every point glides toward the target centre at one speed.

One parameter, the distance ``delta`` every point has moved toward the centre ``c`` of the
target ``[a, b]`` (:func:`kdeloss.book.shift.shift_toward`). Each picture shows the points on the
line with the target interval, the per-bin gradient at the centre bin, the whole-interval
gradient (the unbinned loss, :func:`kdeloss.book.shift.interval_loss_and_grad`) and the losses
against ``delta``. With the Laplace kernel the interval bars hold still until the first
point reaches ``[a, b]`` and the centre bars until the first point reaches ``c``
(the theorems ``thm-laplace-shift-bin`` and ``thm-laplace-shift-interval`` of the book); with
the Gaussian or von Mises kernel they move from the start.

Examples
--------
>>> f = shift_frame(delta=0.5)
>>> f.interval_held, f.bin_held
(True, True)
>>> bool(f.interval_change < 1e-12 and f.bin_change < 1e-12)
True
>>> g = shift_frame(delta=0.5, kernel="gaussian")
>>> bool(g.interval_change > 1e-3)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import traitlets
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..._validate import as_bandwidth, as_interval, as_points, as_scalar
from ...kernels import get_kernel
from ...loss import log_density, responsibilities, softmax
from ..plots import OKABE_ITO
from ..shift import (
    bin_arrival,
    gradient_change_curve,
    interval_arrival,
    shift_toward,
)
from .live import LiveDemo
from .style import demo_axes

__all__ = [
    "CHANGE_FLOOR",
    "SHIFT_DEFAULTS",
    "SHIFT_FIGSIZE",
    "SHIFT_KERNELS",
    "ShiftDemo",
    "ShiftFrame",
    "draw_shift",
    "plot_change_curves",
    "plot_change_inset",
    "plot_shift_picture",
    "shift_frame",
]

#: Figure size of the shift demo: the line on top, three panels below.
SHIFT_FIGSIZE: tuple[float, float] = (6.4, 4.4)
# The line panel: its height is this factor above the largest density, so the arrows and the
# point labels (at these fractions of that height) stay clear of the curve's peak.
DENSITY_HEADROOM = 1.6
ARROW_HEIGHT = 0.06
LABEL_HEIGHT = 0.13
# Marker area (points^2) of a point of weight 1 (a point's area is this times S_j).
POINT_MARKER_AREA = 200.0
# Gradient panels: width of a bar, and half-width of the tick at its value at delta = 0;
# their y-limit is this factor above the largest |gradient| along the whole move.
BAR_WIDTH = 0.6
TICK_HALF_WIDTH = 0.38
GRAD_HEADROOM = 1.15
# The density on the line: drawn at this many positions, over the span of the target and the
# points widened by this fraction of it on each side.
GRID_POINTS = 241
GRID_MARGIN = 0.1

#: The kernels the demo offers, label -> name.
SHIFT_KERNELS: dict[str, str] = {
    "Laplace": "laplace",
    "Gaussian": "gaussian",
    "von Mises": "vonmises",
}

#: The default configuration: five points around the target [-0.4, 0.4], all inside
#: (-pi, pi) so that the von Mises kernel (on the circle) sees the same picture.
SHIFT_DEFAULTS: dict[str, Any] = {
    "z": (0.6, -0.2, 0.1, 0.9, -0.4),
    "x": (-2.8, -1.7, 1.1, 2.0, 2.9),
    "a": -0.4,
    "b": 0.4,
    "bandwidth": 0.7,
    "delta_max": 1.6,
}

_CURVE_POINTS = 81


def _frozen(a: object) -> np.ndarray:
    arr = np.array(a, dtype=float)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True)
class ShiftFrame:
    """Everything one picture of the shift demo draws (arrays are read-only)."""

    delta: float
    """How far every point has moved toward the centre."""
    kernel: str
    """Kernel name: ``"laplace"``, ``"gaussian"`` or ``"vonmises"``."""
    bandwidth: float
    a: float
    b: float
    centre: float
    """``c = (a + b) / 2``, the bin of the per-bin gradient and the points' goal."""
    z: np.ndarray
    weights: np.ndarray
    """``S = softmax(z)``."""
    x0: np.ndarray
    """Starting positions."""
    x: np.ndarray
    """Positions after the move."""
    grid: np.ndarray
    """Where the density ``q`` is drawn."""
    density: np.ndarray
    """``q`` on ``grid`` for the moved points."""
    bin_grad: np.ndarray
    """``dl/dz`` at the centre bin, now."""
    bin_grad0: np.ndarray
    """... and at ``delta = 0``."""
    interval_grad: np.ndarray
    """``dL/dz`` of the unbinned loss over ``[a, b]``, now."""
    interval_grad0: np.ndarray
    """... and at ``delta = 0``."""
    bin_change: float
    """``max_i |dl/dz_i - dl/dz_i(0)|`` at the centre."""
    interval_change: float
    """``max_i |dL/dz_i - dL/dz_i(0)|``."""
    bin_loss: float
    """``-log q(c)`` now."""
    interval_loss: float
    """``L`` now."""
    curve_deltas: np.ndarray
    """``delta`` from 0 to ``delta_max``, for the loss panel."""
    curve_bin_loss: np.ndarray
    curve_interval_loss: np.ndarray
    grad_limit: float
    """Symmetric y-limit of the gradient bars, the same for every ``delta``."""
    bin_arrival: float
    """``delta`` at which the first point reaches the centre."""
    interval_arrival: float
    """``delta`` at which the first point reaches ``[a, b]``."""
    bin_held: bool
    """``delta <= bin_arrival``: the per-bin theorem covers this move (Laplace)."""
    interval_held: bool
    """``delta <= interval_arrival``: the whole-interval theorem covers it (Laplace)."""
    message: str
    """One line saying what the theorem predicts at this ``delta``."""


@lru_cache(maxsize=32)
def _curve(
    kernel: str,
    bandwidth: float,
    z: tuple[float, ...],
    x: tuple[float, ...],
    a: float,
    b: float,
    delta_max: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    deltas = np.linspace(0.0, delta_max, _CURVE_POINTS)
    cur = gradient_change_curve(
        np.array(z), np.array(x), a, b, deltas, kernel=kernel, bandwidth=bandwidth
    )
    lim = GRAD_HEADROOM * max(
        float(np.abs(cur.bin_grads).max()), float(np.abs(cur.interval_grads).max())
    )
    return deltas, cur.bin_losses, cur.interval_losses, lim


def _message(kernel: str, delta: float, d_int: float, d_bin: float) -> str:
    if not get_kernel(kernel).shift_theorem:
        return "not Laplace: no shift theorem, the bars move from the start"
    if delta <= d_int:
        return f"all bars hold still until a point reaches [a, b] at δ = {d_int:.2f}"
    if delta <= d_bin:
        return f"a point entered [a, b] at δ = {d_int:.2f}: the interval bars move"
    return f"a point passed the centre at δ = {d_bin:.2f}: every bar moves"


def shift_frame(
    delta: float = 0.0,
    *,
    kernel: str = "laplace",
    bandwidth: float = SHIFT_DEFAULTS["bandwidth"],
    z: Sequence[float] = SHIFT_DEFAULTS["z"],
    x: Sequence[float] = SHIFT_DEFAULTS["x"],
    a: float = SHIFT_DEFAULTS["a"],
    b: float = SHIFT_DEFAULTS["b"],
    delta_max: float = SHIFT_DEFAULTS["delta_max"],
) -> ShiftFrame:
    """One picture of the shift demo, as data: pure, no drawing.

    Parameters
    ----------
    delta : float
        How far every point has moved toward the centre ``(a + b) / 2``, ``>= 0``.
    kernel : {"laplace", "gaussian", "vonmises"}
        The kernel (von Mises reads the positions as angles).
    bandwidth : float
        ``h > 0``.
    z, x : sequence of float
        Logits and starting positions; no point may start inside ``(a, b)``.
    a, b : float
        The target interval.
    delta_max : float
        The end of the loss panel's ``delta`` axis.

    Returns
    -------
    ShiftFrame

    Examples
    --------
    >>> f = shift_frame(1.0)
    >>> f.interval_held, f.bin_held, f.interval_arrival, f.bin_arrival
    (False, True, 0.7, 1.1)
    >>> bool(f.bin_change < 1e-12 < f.interval_change)
    True
    """
    if kernel not in SHIFT_KERNELS.values():
        names = ", ".join(repr(v) for v in SHIFT_KERNELS.values())
        raise ValueError(f"kernel: expected one of {names}, got {kernel!r}")
    d = as_scalar("delta", delta)
    if d < 0:
        raise ValueError(f"delta: must be >= 0, got {d}")
    h = as_bandwidth(bandwidth)
    zz, x0 = as_points(z, x)
    lo, hi = as_interval(a, b)
    dmax = as_scalar("delta_max", delta_max)
    if np.any((x0 > lo) & (x0 < hi)):
        raise ValueError("x: the demo needs every point to start outside (a, b)")
    c = 0.5 * (lo + hi)
    circ = get_kernel(kernel, h).circular
    xt = shift_toward(x0, c, d, circular=circ)
    cur = gradient_change_curve(zz, x0, lo, hi, [0.0, d], kernel=kernel, bandwidth=h)
    deltas, bl, il, lim = _curve(kernel, h, tuple(zz), tuple(x0), lo, hi, dmax)
    # The arrivals are events on the line: when the first point reaches [a, b] or c.
    d_int = round(interval_arrival(x0, lo, hi), 12)
    d_bin = round(bin_arrival(x0, c), 12)
    span = max(hi, float(x0.max())) - min(lo, float(x0.min()))
    grid = np.linspace(
        min(lo, float(x0.min())) - GRID_MARGIN * span,
        max(hi, float(x0.max())) + GRID_MARGIN * span,
        GRID_POINTS,
    )
    dens = np.exp(log_density(zz, xt, grid, kernel=kernel, bandwidth=h))
    return ShiftFrame(
        delta=d,
        kernel=kernel,
        bandwidth=h,
        a=lo,
        b=hi,
        centre=c,
        z=_frozen(zz),
        weights=_frozen(softmax(zz)),
        x0=_frozen(x0),
        x=_frozen(xt),
        grid=_frozen(grid),
        density=_frozen(dens),
        bin_grad=_frozen(cur.bin_grads[1]),
        bin_grad0=_frozen(cur.bin_grads[0]),
        interval_grad=_frozen(cur.interval_grads[1]),
        interval_grad0=_frozen(cur.interval_grads[0]),
        bin_change=float(cur.bin_change[1]),
        interval_change=float(cur.interval_change[1]),
        bin_loss=float(cur.bin_losses[1]),
        interval_loss=float(cur.interval_losses[1]),
        curve_deltas=_frozen(deltas),
        curve_bin_loss=_frozen(bl),
        curve_interval_loss=_frozen(il),
        grad_limit=lim,
        bin_arrival=d_bin,
        interval_arrival=d_int,
        bin_held=bool(d <= d_bin),
        interval_held=bool(d <= d_int),
        message=_message(kernel, d, d_int, d_bin),
    )


def _bars(ax: Axes, g: np.ndarray, g0: np.ndarray, color: str, lim: float) -> None:
    """Gradient bars ``g`` with ticks at ``g0`` (their values at ``delta = 0``)."""
    idx = np.arange(1, g.size + 1)
    ax.bar(idx, g, width=BAR_WIDTH, color=color, label="now")
    ax.hlines(
        g0,
        idx - TICK_HALF_WIDTH,
        idx + TICK_HALF_WIDTH,
        color=OKABE_ITO["black"],
        lw=1.6,
        label=r"at $\delta=0$",
    )
    ax.axhline(0.0, color=OKABE_ITO["black"], lw=0.6)
    ax.set_xticks(idx, [f"{i}" for i in idx])
    ax.set_xlabel("point $i$")
    ax.set_ylim(-lim, lim)


def draw_shift(target: Figure | Sequence[Axes], frame: ShiftFrame) -> list[Axes]:
    """Draw a :class:`ShiftFrame`: the line on top; centre bars, interval bars and losses below.

    Parameters
    ----------
    target : Figure or four Axes
        A figure (cleared, given the four panels) or ``(line, centre, interval, loss)`` axes.
    frame : ShiftFrame

    Returns
    -------
    list of Axes
        ``[line, centre, interval, loss]``. The bars are ``containers[0]`` of the centre and
        interval panels, in point order.

    Examples
    --------
    >>> from kdeloss.book.demos import demo_figure
    >>> f = shift_frame(0.3)
    >>> axes = draw_shift(demo_figure(SHIFT_FIGSIZE), f)
    >>> heights = [p.get_height() for p in axes[2].containers[0]]
    >>> bool(np.allclose(heights, f.interval_grad))
    True
    """
    axes = _shift_axes(target)
    line, cen, itv, los = axes
    _draw_line(line, frame)
    _draw_gradient_panels(cen, itv, frame)
    _draw_loss_curves(los, frame)
    return axes


def _shift_axes(target: Figure | Sequence[Axes]) -> list[Axes]:
    """``[line, centre, interval, loss]``: the line above three panels, or given axes."""
    if not isinstance(target, Figure):
        return demo_axes(target, 4)
    target.clear()
    gs = target.add_gridspec(2, 3, height_ratios=[1.0, 1.15], hspace=0.62, wspace=0.42)
    axes = [
        target.add_subplot(gs[0, :]),
        target.add_subplot(gs[1, 0]),
        target.add_subplot(gs[1, 1]),
        target.add_subplot(gs[1, 2]),
    ]
    target.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.11)
    return axes


def _draw_line(line: Axes, f: ShiftFrame) -> None:
    """The line: target interval, density, points now (filled) and at the start (hollow)."""
    c = OKABE_ITO
    line.axvspan(f.a, f.b, color=c["orange"], alpha=0.25, lw=0, label="target $[a,b]$")
    line.axvline(f.centre, color=c["black"], ls="--", lw=0.8, label="centre $c$")
    line.plot(f.grid, f.density, color=c["blue"], lw=1.5, label=r"model $q(x)$")
    top = DENSITY_HEADROOM * float(f.density.max())
    line.scatter(
        f.x0,
        np.full(f.x0.size, 0.0),
        s=POINT_MARKER_AREA * f.weights,
        facecolor="none",
        edgecolor=c["black"],
        lw=0.6,
        zorder=3,
        clip_on=False,
        label="start",
    )
    line.scatter(
        f.x,
        np.full(f.x.size, 0.0),
        s=POINT_MARKER_AREA * f.weights,
        color=c["vermillion"],
        edgecolor=c["black"],
        lw=0.6,
        zorder=4,
        clip_on=False,
        label=r"points (area $\propto S_j$)",
    )
    for j, (xs, xn) in enumerate(zip(f.x0, f.x, strict=True)):
        line.annotate(
            "",
            xy=(xn, ARROW_HEIGHT * top),
            xytext=(xs, ARROW_HEIGHT * top),
            arrowprops={"arrowstyle": "->", "color": c["black"], "lw": 0.6},
        )
        line.text(xn, LABEL_HEIGHT * top, f"{j + 1}", ha="center", fontsize="x-small")
    line.set_xlim(f.grid[0], f.grid[-1])
    line.set_ylim(0.0, top)
    unit = " (angle, radians)" if get_kernel(f.kernel).circular else ""
    line.set_xlabel(f"position $t${unit}")
    line.set_ylabel("density")
    name = {v: k for k, v in SHIFT_KERNELS.items()}[f.kernel]
    line.set_title(
        rf"{name} kernel, $h={f.bandwidth:g}$, moved $\delta={f.delta:.3f}$"
        f"\n{f.message}"
    )
    line.legend(
        loc="upper center", ncols=5, frameon=False, fontsize="x-small", bbox_to_anchor=(0.5, 1.0)
    )


def _draw_gradient_panels(cen: Axes, itv: Axes, f: ShiftFrame) -> None:
    """The gradient bars at the centre bin and on the whole interval, against ``delta = 0``."""
    c = OKABE_ITO
    held = get_kernel(f.kernel).shift_theorem
    _bars(cen, f.bin_grad, f.bin_grad0, c["blue"], f.grad_limit)
    state = "held" if held and f.bin_held else "moving"
    cen.set_title(f"centre bin $c$: {state}\n" + rf"change ${f.bin_change:.1e}$", fontsize="small")
    cen.set_ylabel(r"$\partial l/\partial z_i$ at $c$")
    cen.legend(loc="lower left", frameon=False, fontsize="xx-small")
    _bars(itv, f.interval_grad, f.interval_grad0, c["bluish_green"], f.grad_limit)
    state = "held" if held and f.interval_held else "moving"
    itv.set_title(
        f"whole $[a,b]$: {state}\n" + rf"change ${f.interval_change:.1e}$", fontsize="small"
    )
    itv.set_ylabel(r"$\partial L/\partial z_i$")


def _draw_loss_curves(los: Axes, f: ShiftFrame) -> None:
    """The losses against ``delta``, with the arrivals at the interval and the centre marked."""
    c = OKABE_ITO
    los.plot(f.curve_deltas, f.curve_interval_loss, color=c["bluish_green"], lw=1.5, label="$L$")
    los.plot(
        f.curve_deltas, f.curve_bin_loss, color=c["blue"], lw=1.5, ls="-.", label="$-\\log q(c)$"
    )
    los.plot([f.delta], [f.interval_loss], "o", color=c["bluish_green"], ms=4)
    los.plot([f.delta], [f.bin_loss], "o", color=c["blue"], ms=4)
    los.axvline(f.interval_arrival, color=c["orange"], ls=":", lw=1.2, label="reach $[a,b]$")
    los.axvline(f.bin_arrival, color=c["vermillion"], ls=":", lw=1.2, label="reach $c$")
    los.set_xlabel(r"moved $\delta$")
    los.set_ylabel("loss")
    los.set_title(f"losses: $L={f.interval_loss:.3f}$", fontsize="small")
    los.legend(loc="upper right", frameon=False, fontsize="xx-small")


class ShiftDemo(LiveDemo):
    """The live shift demo (an anywidget): move every point toward the target centre.

    Points ``x0`` move toward ``c = (a + b)/2`` by ``delta``; Laplace kernel of bandwidth
    ``h`` (or the Gaussian when ``gaussian`` is set), ``bins`` midpoint bins. It draws the
    density, the centre bin's gradient ``S - r(c)`` and the whole-interval gradient against
    their values at ``delta = 0``, and how far each has moved against ``delta``.

    Parameters
    ----------
    **traits
        Initial ``delta`` (0 to 1.6), ``h`` (0.2 to 1.5), ``gaussian``, ``bins`` (2 to 128),
        and the fixed ``x0``, ``z``, ``a``, ``b`` (default: :data:`SHIFT_DEFAULTS`).

    Examples
    --------
    >>> w = ShiftDemo(delta=0.5)
    >>> w.delta, w.h, w.gaussian
    (0.5, 0.7, False)
    """

    _module = "shift"
    delta = traitlets.Float(0.0).tag(sync=True)
    h = traitlets.Float(SHIFT_DEFAULTS["bandwidth"]).tag(sync=True)
    gaussian = traitlets.Bool(False).tag(sync=True)
    bins = traitlets.Int(64).tag(sync=True)
    a = traitlets.Float(SHIFT_DEFAULTS["a"]).tag(sync=True)
    b = traitlets.Float(SHIFT_DEFAULTS["b"]).tag(sync=True)
    x0 = traitlets.List(traitlets.Float(), list(SHIFT_DEFAULTS["x"])).tag(sync=True)
    z = traitlets.List(traitlets.Float(), list(SHIFT_DEFAULTS["z"])).tag(sync=True)


def plot_shift_picture(
    fig: Figure,
    delta: float,
    *,
    bandwidth: float = SHIFT_DEFAULTS["bandwidth"],
    z: Sequence[float] = SHIFT_DEFAULTS["z"],
    x: Sequence[float] = SHIFT_DEFAULTS["x"],
    t: float = 0.0,
) -> list[Axes]:
    r"""The idea in a picture: every ``log K_j`` at the bin rises by ``delta/h``; ``r`` stays.

    Left: ``log K(t - x_j)`` for each point before (hollow) and after (filled) every point
    moved toward ``t`` by ``delta``, joined by arrows of equal length. Right: the
    responsibilities ``r_j(t)`` before and after, which coincide.

    Parameters
    ----------
    fig : Figure
        Cleared and given two panels.
    delta : float
        The move, at most the nearest point's distance for the picture to be the theorem's.
    bandwidth, z, x, t
        The Laplace bandwidth, logits, starting positions and the bin.

    Returns
    -------
    list of Axes
        ``[log_kernels, responsibilities]``.

    Examples
    --------
    >>> from kdeloss.book.demos import demo_figure
    >>> left, right = plot_shift_picture(demo_figure(), 1.0)
    >>> len(right.containers)
    2
    """
    fig.clear()
    left, right = fig.subplots(1, 2)
    c = OKABE_ITO
    zz, x0 = as_points(z, x)
    h = as_bandwidth(bandwidth)
    y = shift_toward(x0, t, delta)
    k = get_kernel("laplace", h)
    idx = np.arange(1, x0.size + 1)
    lk0, lk1 = k.logpdf(t - x0), k.logpdf(t - y)
    left.scatter(idx, lk0, facecolor="none", edgecolor=c["black"], s=40, label="before", zorder=3)
    left.scatter(
        idx, lk1, color=c["vermillion"], s=40, label=rf"after $\delta={delta:g}$", zorder=3
    )
    for i, (u, v) in enumerate(zip(lk0, lk1, strict=True)):
        left.annotate(
            "",
            xy=(idx[i], v),
            xytext=(idx[i], u),
            arrowprops={"arrowstyle": "->", "color": c["blue"], "lw": 1.2},
        )
    left.set_xticks(idx, [f"{i}" for i in idx])
    left.set_xlabel("point $j$")
    left.set_ylabel(r"$\log K(t - x_j)$")
    left.set_title(rf"each rises by $\delta/h = {delta / h:.3g}$")
    left.legend(loc="lower left", frameon=False)
    r0 = responsibilities(zz, x0, t, bandwidth=h)
    r1 = responsibilities(zz, y, t, bandwidth=h)
    right.bar(idx - 0.18, r0, width=0.36, color=c["sky_blue"], label="before")
    right.bar(idx + 0.18, r1, width=0.36, color=c["blue"], label="after")
    right.set_xticks(idx, [f"{i}" for i in idx])
    right.set_xlabel("point $j$")
    right.set_ylabel(r"responsibility $r_j(t)$")
    right.set_title(rf"largest change of $r_j$: {np.abs(r1 - r0).max():.1e}")
    right.legend(loc="upper right", frameon=False)
    fig.tight_layout()
    return [left, right]


# The curves of plot_change_curves and plot_change_inset, in this order: colour and style.
_CHANGE_COLOURS = [OKABE_ITO[k] for k in ("blue", "bluish_green", "vermillion", "reddish_purple")]
_CHANGE_STYLES = ["-", "--", "-.", ":"]
# ... and of their arrival marks (dotted vertical lines).
_MARK_COLOURS = [OKABE_ITO["orange"], OKABE_ITO["black"], OKABE_ITO["sky_blue"]]


def plot_change_curves(
    ax: Axes,
    deltas: np.ndarray,
    curves: dict[str, np.ndarray],
    marks: dict[str, float] | None = None,
    *,
    title: str = "",
) -> None:
    r"""Plot gradient changes against ``delta``, with vertical lines at the marked arrivals.

    Parameters
    ----------
    ax : Axes
    deltas : array, shape (D,)
    curves : dict of label -> array, shape (D,)
        E.g. ``max_i |dL/dz_i(delta) - dL/dz_i(0)|`` for several settings; drawn in
        Okabe-Ito colours with distinct line styles.
    marks : dict of label -> float, optional
        Arrival moments, drawn as dotted vertical lines.
    title : str

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> plot_change_curves(ax, np.array([0.0, 1.0]), {"a": np.array([0.0, 0.1])}, {"m": 0.5})
    >>> len(ax.lines)
    2
    >>> plt.close(fig)
    """
    colors, styles = _CHANGE_COLOURS, _CHANGE_STYLES
    for i, (label, ys) in enumerate(curves.items()):
        ax.plot(deltas, ys, color=colors[i % 4], ls=styles[i % 4], lw=1.8, label=label)
    mark_colors = _MARK_COLOURS
    for i, (label, d) in enumerate((marks or {}).items()):
        ax.axvline(d, color=mark_colors[i % 3], ls=":", lw=1.4, label=label)
    ax.set_xlabel(r"distance moved $\delta$")
    ax.set_ylabel(r"gradient change $\max_i|g_i(\delta) - g_i(0)|$")
    ax.set_ylim(bottom=0.0)
    ax.set_xlim(float(deltas[0]), float(deltas[-1]))
    if title:
        ax.set_title(title)
    ax.legend(loc="upper left", frameon=False, fontsize="small")


#: Changes below this are drawn at it on a log scale (exact zeros have no logarithm); it lies
#: below the rounding level ``2**-52`` of a gradient entry of order one.
CHANGE_FLOOR = 1e-17


def plot_change_inset(
    ax: Axes,
    deltas: np.ndarray,
    curves: dict[str, np.ndarray],
    marks: dict[str, float] | None = None,
    *,
    bounds: Sequence[float] = (0.1, 0.13, 0.3, 0.4),
    floor: float = CHANGE_FLOOR,
) -> Axes:
    r"""An inset of :func:`plot_change_curves` on a log scale: the corners near zero.

    A gradient change that stays at rounding level (``1e-16``) and then rises to ``1e-4``
    is invisible on the linear scale of the main panel; on a log scale the moment it leaves
    zero, and whether it does so with a corner or smoothly, can be read off. Values below
    ``floor`` (exact zeros included) are drawn at ``floor``.

    Parameters
    ----------
    ax : Axes
        The main panel; the inset is placed inside it.
    deltas : array, shape (D,)
        The distances moved, usually a finer grid over a short window.
    curves : dict of label -> array, shape (D,)
        Drawn in the colours and line styles of :func:`plot_change_curves`, in the same order.
    marks : dict of label -> float, optional
        Arrival moments, dotted vertical lines in the colours of :func:`plot_change_curves`.
    bounds : (x0, y0, width, height)
        Position of the inset in the main panel's axes fraction.
    floor : float
        The smallest value drawn, > 0.

    Returns
    -------
    Axes
        The inset, with a logarithmic y axis.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> ins = plot_change_inset(ax, np.array([0.0, 1.0]), {"a": np.array([0.0, 1e-3])})
    >>> ins.get_yscale(), float(ins.lines[0].get_ydata()[0])
    ('log', 1e-17)
    >>> plt.close(fig)
    """
    if not floor > 0:
        raise ValueError(f"floor: expected a positive number, got {floor!r}")
    dd = np.asarray(deltas, dtype=float)
    ins = ax.inset_axes(list(bounds))
    colors, styles = _CHANGE_COLOURS, _CHANGE_STYLES
    top = floor
    for i, ys in enumerate(curves.values()):
        yy = np.maximum(np.asarray(ys, dtype=float), floor)
        top = max(top, float(yy.max()))
        ins.plot(dd, yy, color=colors[i % 4], ls=styles[i % 4], lw=1.5)
    mark_colors = _MARK_COLOURS
    for i, d in enumerate((marks or {}).values()):
        ins.axvline(d, color=mark_colors[i % 3], ls=":", lw=1.2)
    ins.set_yscale("log")
    ins.set_ylim(floor / 3.0, top * 3.0)
    ins.set_xlim(float(dd[0]), float(dd[-1]))
    ins.set_xlabel(r"$\delta$", fontsize="small", labelpad=1)
    ins.set_title("near the arrivals, log scale", fontsize="small", pad=2)
    ins.tick_params(labelsize="small")
    ins.set_facecolor("white")
    ins.set_zorder(5)
    return ins
