r"""The one-hot demo: a smooth kernel hardens into the box, and the gradient into ``S - e_y``.

The kernel family is the generalized normal (exponential power) density of width ``h``,

.. math::

    K_p(d) = \frac{p}{h\,\Gamma(1/p)} \exp\!\left(-\left|\frac{2d}{h}\right|^p\right),

which is the Laplace kernel (scale ``h/2``) at ``p = 1``, a Gaussian at ``p = 2``, and tends
to the box kernel ``1/h`` on ``|d| <= h/2`` as ``p -> inf`` (:class:`kdeloss.GeneralizedNormal`).
Points sit on a grid of spacing ``h``, so the box covers exactly one of them (two where the
bin is halfway between neighbours), and the per-bin gradient ``S - r(t)`` tends to the
softmax cross-entropy gradient ``S - e_y``.

Examples
--------
>>> f = onehot_frame(hardness=np.inf, position=2.2, seed=0)
>>> f.covering
(2,)
>>> bool(np.allclose(f.grad, f.weights - np.eye(f.x.size)[2]))
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
from matplotlib.figure import FigureBase

from ..._validate import as_bandwidth, as_scalar
from ...kernels import GeneralizedNormal
from ...loss import bin_grad, softmax
from ..plots import OKABE_ITO
from .live import LiveDemo
from .style import FIGSIZE, demo_axes

__all__ = [
    "OneHotDemo",
    "OneHotFrame",
    "draw_onehot",
    "onehot_frame",
]

#: Figure size of the one-hot demo (two stacked panels).
ONEHOT_FIGSIZE: tuple[float, float] = (FIGSIZE[0], 4.0)
# Marker areas (points^2): a point of weight 1 (its area is this times S_j), and the star
# over a covering point, drawn at this height (the kernel's peak is 1).
POINT_MARKER_AREA = 260.0
STAR_MARKER_AREA = 90.0
STAR_HEIGHT = 1.12
# The gradient panel, in bandwidths: width of a bar, half-width of the box limit's tick, and
# the margin left of the first point and right of the last.
BAR_WIDTH = 0.55
TICK_HALF_WIDTH = 0.36
X_MARGIN = 0.6


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class OneHotFrame:
    """Everything one picture of the one-hot demo draws (arrays are read-only)."""

    hardness: float
    """Shape exponent ``p`` of the kernel (``inf``: the box)."""
    position: float
    """The bin ``t``."""
    seed: int
    """Seed of the logits."""
    bandwidth: float
    """Kernel width ``h`` (the point spacing)."""
    x: np.ndarray
    """Point positions ``x_j = j h``."""
    z: np.ndarray
    """Logits."""
    weights: np.ndarray
    """Softmax weights ``S = softmax(z)``."""
    kernel_at_points: np.ndarray
    """``K_p(t - x_j) / K_p(0)``: how much of each point the kernel at the bin sees."""
    curve_x: np.ndarray
    """Positions where the kernel centred on the bin is drawn."""
    curve_k: np.ndarray
    """``K_p(t - u) / K_p(0)`` at ``curve_x``."""
    grad: np.ndarray
    """The per-bin gradient ``S - r(t)`` (:func:`kdeloss.bin_grad`) with the kernel ``K_p``."""
    limit: np.ndarray
    """The box-kernel gradient at the same bin, ``S - e_y`` (or its set version)."""
    covering: tuple[int, ...]
    """Indices of the points the box covers at the bin (usually one: ``y``)."""
    gap: float
    """``max_i |grad_i - limit_i|``."""


def onehot_frame(
    *,
    hardness: float = 2.0,
    position: float = 2.2,
    seed: int = 0,
    n: int = 6,
    spacing: float = 1.0,
    scale: float = 1.0,
    num: int = 401,
) -> OneHotFrame:
    """Compute one picture of the one-hot demo (pure: no drawing).

    Parameters
    ----------
    hardness : float
        Shape exponent ``p >= 1`` of :class:`kdeloss.GeneralizedNormal` (``np.inf``: the box).
    position : float
        The bin ``t``; keep it within half a spacing of the points, where the box covers one.
    seed : int
        Seed of the logits ``z ~ Normal(0, scale**2)``.
    n : int
        Number of points, at ``x_j = j * spacing``.
    spacing : float
        Point spacing, also the kernel width ``h``.
    scale : float
        Standard deviation of the logits.
    num : int
        Number of positions at which the kernel curve is drawn.

    Returns
    -------
    OneHotFrame

    Examples
    --------
    >>> f = onehot_frame(hardness=1.0, position=2.2)
    >>> f.covering, round(f.gap, 3)
    ((2,), 0.21)
    >>> onehot_frame(hardness=128.0, position=2.2).gap < 1e-12
    True
    """
    h = as_bandwidth(spacing)
    t = as_scalar("position", position)
    if not (isinstance(n, int | np.integer) and n >= 2):
        raise ValueError(f"n: expected an integer >= 2, got {n!r}")
    x = h * np.arange(n, dtype=float)
    if not (x[0] - 0.5 * h <= t <= x[-1] + 0.5 * h):
        raise ValueError(
            f"position: expected a bin within half a spacing of the points, in "
            f"[{x[0] - 0.5 * h:g}, {x[-1] + 0.5 * h:g}], got {t:g}"
        )
    z = np.random.default_rng(int(seed)).normal(scale=scale, size=n)
    kern = GeneralizedNormal(h, hardness)
    log0 = float(kern.logpdf(np.zeros(1))[0])
    grad = bin_grad(z, x, t, kernel=kern)
    limit = bin_grad(z, x, t, kernel="box", bandwidth=h)
    covered = np.flatnonzero(np.abs(t - x) <= 0.5 * h)
    curve_x = np.linspace(x[0] - h, x[-1] + h, num)
    return OneHotFrame(
        hardness=float(kern.shape),
        position=t,
        seed=int(seed),
        bandwidth=h,
        x=_frozen(x),
        z=_frozen(z),
        weights=_frozen(softmax(z)),
        kernel_at_points=_frozen(np.exp(kern.logpdf(t - x) - log0)),
        curve_x=_frozen(curve_x),
        curve_k=_frozen(np.exp(kern.logpdf(t - curve_x) - log0)),
        grad=_frozen(grad),
        limit=_frozen(limit),
        covering=tuple(int(i) for i in covered),
        gap=float(np.max(np.abs(grad - limit))),
    )


def _p_label(p: float) -> str:
    if math.isinf(p):
        return r"\infty"
    return f"{p:.3g}"


def draw_onehot(target: FigureBase | Sequence[Axes], frame: OneHotFrame) -> list[Axes]:
    """Draw a :class:`OneHotFrame`: the kernel at the bin (top) and the gradient bars (bottom).

    Top: the kernel ``K_p`` centred on the bin ``t``, scaled to 1 at its centre, the points
    (marker area proportional to ``S_j``, the covering point starred) and a stem to the
    kernel's value at each point. Bottom, under each point: the gradient bar ``S_i - r_i(t)``,
    the limit ``S - e_y`` (black tick) and the weight ``S_i`` (orange diamond).

    Parameters
    ----------
    target : Figure, SubFigure or two Axes
        A figure or subfigure (cleared, given two stacked panels) or ``(top, bottom)`` axes.
    frame : OneHotFrame

    Returns
    -------
    list of Axes
        ``[top, bottom]``. The bars are ``bottom.containers[0]``, in point order.

    Examples
    --------
    >>> from kdeloss.book.demos import demo_figure
    >>> f = onehot_frame(hardness=4.0)
    >>> top, bottom = draw_onehot(demo_figure(), f)
    >>> heights = [b.get_height() for b in bottom.containers[0]]
    >>> bool(np.allclose(heights, f.grad))
    True
    """
    top, bottom = demo_axes(
        target, 2, nrows=2, sharex=True, gridspec_kw={"height_ratios": [1.0, 1.35]}
    )
    _draw_kernel_panel(top, frame)
    _draw_gradient_panel(bottom, frame)
    return [top, bottom]


def _draw_kernel_panel(top: Axes, frame: OneHotFrame) -> None:
    """Top: the kernel centred on the bin, and the points it sees (the covering one starred)."""
    c = OKABE_ITO
    x, t = frame.x, frame.position
    p = _p_label(frame.hardness)
    cov = list(frame.covering)
    top.fill_between(frame.curve_x, frame.curve_k, color=c["sky_blue"], alpha=0.35, lw=0)
    top.plot(
        frame.curve_x, frame.curve_k, color=c["blue"], lw=1.5,
        label=rf"$K_\beta(t-x)$, $\beta={p}$",
    )
    top.vlines(x, 0.0, frame.kernel_at_points, color=c["blue"], lw=1.0, linestyles=":")
    top.axvline(t, color=c["black"], lw=1.0, ls="--", label=f"bin $t={t:.2f}$")
    top.scatter(
        x,
        np.zeros_like(x),
        s=POINT_MARKER_AREA * frame.weights,
        color=c["vermillion"],
        edgecolor=c["black"],
        zorder=3,
        clip_on=False,
        label=r"points $x_j$ (area $\propto S_j$)",
    )
    top.scatter(
        x[cov],
        np.full(len(cov), STAR_HEIGHT),
        marker="*",
        s=STAR_MARKER_AREA,
        color=c["reddish_purple"],
        edgecolor=c["black"],
        lw=0.5,
        zorder=4,
        clip_on=False,
        label="covered by the box" if len(cov) > 1 else "covering point $y$",
    )
    top.set_ylim(0.0, 1.9)
    top.set_yticks([0.0, 0.5, 1.0])
    top.set_ylabel(r"$K_\beta(t-x)/K_\beta(0)$")
    top.set_title(rf"kernel shape $\beta={p}$  (1: Laplace, 2: Gaussian, $\infty$: box)")
    top.legend(loc="upper center", frameon=False, ncols=2, handlelength=1.5, columnspacing=1.0)


def _draw_gradient_panel(bottom: Axes, frame: OneHotFrame) -> None:
    """Bottom: the gradient bars under their points, the box limit and the weights."""
    c = OKABE_ITO
    x, t, h = frame.x, frame.position, frame.bandwidth
    one = len(frame.covering) == 1
    bottom.bar(
        x, frame.grad, width=BAR_WIDTH * h, color=c["blue"], label=r"$\partial l/\partial z_i$"
    )
    bottom.hlines(
        frame.limit,
        x - TICK_HALF_WIDTH * h,
        x + TICK_HALF_WIDTH * h,
        color=c["black"],
        lw=2.0,
        label=r"$S-e_y$ (box)" if one else r"box limit (set $P$)",
    )
    bottom.scatter(
        x, frame.weights, marker="D", s=18.0, color=c["orange"], zorder=3, label=r"weight $S_i$"
    )
    bottom.axhline(0.0, color=c["black"], lw=0.6)
    bottom.axvline(t, color=c["black"], lw=1.0, ls="--")
    bottom.set_ylim(-1.05, max(0.75, 1.1 * float(frame.weights.max()) + 0.05))
    bottom.set_xlim(x[0] - X_MARGIN * h, x[-1] + X_MARGIN * h)
    bottom.set_xticks(x, [f"$x_{{{j + 1}}}$" for j in range(x.size)])
    bottom.set_xlabel("point (position)")
    bottom.set_ylabel("per-bin gradient")
    bottom.set_title(
        rf"$\max_i\,|\partial l/\partial z_i - (S-e_y)_i| = {frame.gap:.1e}$"
        if one
        else rf"$\max_i\,|\partial l/\partial z_i - (\mathrm{{box\ limit}})_i| = {frame.gap:.1e}$"
    )
    bottom.legend(loc="lower right", frameon=False, ncols=3, handlelength=1.5, columnspacing=1.0)


class OneHotDemo(LiveDemo):
    """The live one-hot demo (an anywidget): hardness, bin, logit spread, and the box.

    The kernel is :class:`GeneralizedNormal` of width ``h`` (``exp(-|2d/h|^p)``; the box
    ``|d| <= h/2`` when ``box`` is set). Points ``x_j = j h`` with logits ``spread * z0``,
    ``z0`` drawn from ``seed`` as in :func:`onehot_frame`. It draws the kernel at the bin and
    the per-bin gradient ``S - r(t)`` against the box limit ``S - e_y``.

    Parameters
    ----------
    seed : int
        Seed of ``z0``.
    n : int
        Number of points.
    **traits
        Initial ``log2p`` (``p = 2**log2p``, 0 to 7), ``box``, ``t``, ``spread`` (0 to 3), ``h``.

    Examples
    --------
    >>> w = OneHotDemo(t=2.5, box=True)
    >>> w.demo_state()["box"], len(w.x)
    (True, 6)
    """

    _module = "onehot"
    log2p = traitlets.Float(1.0).tag(sync=True)
    box = traitlets.Bool(False).tag(sync=True)
    t = traitlets.Float(2.2).tag(sync=True)
    spread = traitlets.Float(1.0).tag(sync=True)
    h = traitlets.Float(1.0).tag(sync=True)
    x = traitlets.List(traitlets.Float()).tag(sync=True)
    z0 = traitlets.List(traitlets.Float()).tag(sync=True)

    def __init__(self, *, seed: int = 0, n: int = 6, **traits: Any) -> None:
        h = float(traits.get("h", 1.0))
        traits.setdefault("x", [h * j for j in range(n)])
        traits.setdefault("z0", np.random.default_rng(int(seed)).normal(size=n).tolist())
        super().__init__(**traits)
