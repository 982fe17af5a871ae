r"""The remedy demo: training a far cluster with and without a fixed background component.

A cluster of three points sits left of the target ``[0, 1]`` with a gap ``distance`` between
its nearest point and the target (optionally with one more point in the middle of the
target). Gradient descent on the logits is run twice from the same start: on the plain loss,
and on the loss of ``q_eps = (1 - eps) q + eps u``. The plain loss moves the cluster's
weights the same way at every distance (Laplace kernel: the iterates do not depend on the
distance at all); with the background each bin's gradient is multiplied by the probability
``pi(t)`` that the model, not the background, explains ``t``, and a far cluster freezes.

Examples
--------
>>> near, far = remedy_frame(distance=0.0), remedy_frame(distance=3.0)
>>> bool(np.abs(near.plain_weights - far.plain_weights).max() < 1e-14)
True
>>> bool(far.moved_damped < 1e-3 * far.moved_plain)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import numpy as np
from IPython.display import HTML
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .._validate import as_scalar
from ..book.plots import OKABE_ITO
from ..loss import model_probability
from ..training import gradient_descent
from .player import FIGSIZE, DemoWidget, demo_axes, player

__all__ = [
    "REMEDY_FIGSIZE",
    "RemedyFrame",
    "draw_remedy",
    "remedy_distance_sweep",
    "remedy_frame",
    "remedy_player",
    "remedy_widget",
]

#: Figure size of the remedy demo (two stacked panels).
REMEDY_FIGSIZE: tuple[float, float] = (FIGSIZE[0], 4.0)

#: Colours of the cluster's points (nearest first), then of the point in the target.
POINT_COLOURS: tuple[str, ...] = (
    OKABE_ITO["blue"],
    OKABE_ITO["orange"],
    OKABE_ITO["reddish_purple"],
    OKABE_ITO["bluish_green"],
)

#: Offsets of the cluster's points behind its nearest point.
CLUSTER: tuple[float, ...] = (0.0, 0.4, 0.9)


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class RemedyFrame:
    """Everything one picture of the remedy demo draws (arrays are read-only)."""

    distance: float
    """Gap between the cluster's nearest point and the target's left end ``a``."""
    background: float
    """Background weight ``eps`` in ``[0, 1)``."""
    near_point: bool
    """Whether a fourth point sits in the middle of the target."""
    a: float
    """Left end of the target."""
    b: float
    """Right end of the target."""
    x: np.ndarray
    """Point positions, the cluster (nearest first) and then the near point if any."""
    plain_weights: np.ndarray
    """``S(k)`` of gradient descent on the plain loss, shape ``(steps + 1, N)``."""
    damped_weights: np.ndarray
    """``S(k)`` of gradient descent with the background, same shape."""
    t: np.ndarray
    """Positions in the target where ``pi`` is drawn."""
    pi_start: np.ndarray
    """``pi(t)`` at the starting weights, the probability that the model explains ``t``."""
    mean_pi_start: float
    """Mean of ``pi`` over the target at the start (the factor on the first gradient)."""
    moved_plain: float
    """``max_i |S_i(K) - S_i(0)|`` on the plain loss."""
    moved_damped: float
    """The same with the background."""


def remedy_frame(
    *,
    distance: float = 1.0,
    background: float = 0.05,
    near_point: bool = False,
    steps: int = 60,
    lr: float = 2.0,
    bandwidth: float = 0.2,
    bins: int = 32,
) -> RemedyFrame:
    """Compute one picture of the remedy demo (pure: no drawing).

    Parameters
    ----------
    distance : float
        Gap ``d >= 0`` between the cluster and the target ``[0, 1]``; the cluster's points
        are at ``-d``, ``-d - 0.4`` and ``-d - 0.9``.
    background : float
        ``eps`` in ``[0, 1)``; the background density is the target's, ``u = 1``.
    near_point : bool
        Add a point at 0.5, inside the target.
    steps, lr, bandwidth, bins
        Gradient-descent steps and step size, Laplace bandwidth, midpoint bins.

    Returns
    -------
    RemedyFrame

    Examples
    --------
    >>> f = remedy_frame(distance=0.5, background=0.0)
    >>> bool(np.array_equal(f.plain_weights, f.damped_weights)), f.mean_pi_start
    (True, 1.0)
    >>> f = remedy_frame(distance=3.0, near_point=True)
    >>> bool(f.mean_pi_start > 0.7)      # the near point explains most of the target
    True
    """
    d = as_scalar("distance", distance)
    if not d >= 0:
        raise ValueError(f"distance: must be >= 0, got {d}")
    eps = as_scalar("background", background)
    a, b = 0.0, 1.0
    x = [-d - c for c in CLUSTER] + ([0.5] if near_point else [])
    xs = np.array(x)
    z0 = np.zeros(xs.size)
    common = {"steps": steps, "lr": lr, "kernel": "laplace", "bandwidth": bandwidth, "bins": bins}
    plain = gradient_descent(z0, xs, a, b, **common)
    damped = gradient_descent(z0, xs, a, b, background=eps, **common)
    t = np.linspace(a, b, 101)
    pi = model_probability(
        z0, xs, t, kernel="laplace", bandwidth=bandwidth, background=eps, background_density=1.0
    )
    return RemedyFrame(
        distance=d,
        background=eps,
        near_point=bool(near_point),
        a=a,
        b=b,
        x=_frozen(xs),
        plain_weights=_frozen(plain.weights),
        damped_weights=_frozen(damped.weights),
        t=_frozen(t),
        pi_start=_frozen(pi),
        mean_pi_start=float(np.mean(pi)),
        moved_plain=float(np.abs(plain.weights[-1] - plain.weights[0]).max()),
        moved_damped=float(np.abs(damped.weights[-1] - damped.weights[0]).max()),
    )


def draw_remedy(target: Figure | Sequence[Axes], frame: RemedyFrame) -> list[Axes]:
    """Draw a :class:`RemedyFrame`: the set-up (top) and the weights over the iterations.

    Top: the target (shaded), the points, and ``pi(t)`` over the target at the start.
    Bottom: each point's weight ``S_j(k)``, solid for the plain loss and dashed with the
    background, in the point's colour.

    Parameters
    ----------
    target : matplotlib.figure.Figure or list of matplotlib.axes.Axes
        A figure (cleared, given two stacked panels) or the two axes ``[top, bottom]``.
    frame : RemedyFrame

    Returns
    -------
    list of Axes
        ``[top, bottom]``; the bottom's first ``N`` lines are the plain weights, the next
        ``N`` the damped ones.

    Examples
    --------
    >>> from kdeloss.demos import demo_figure
    >>> f = remedy_frame(distance=1.0)
    >>> top, bottom = draw_remedy(demo_figure(REMEDY_FIGSIZE), f)
    >>> n = f.x.size
    >>> bool(np.allclose(bottom.lines[n].get_ydata(), f.damped_weights[:, 0]))
    True
    """
    top, bottom = demo_axes(target, 2, nrows=2, gridspec_kw={"height_ratios": [1.0, 1.7]})
    c = OKABE_ITO
    n = frame.x.size
    top.axvspan(frame.a, frame.b, color=c["orange"], alpha=0.25, lw=0, label="target $[0, 1]$")
    top.plot(
        frame.t,
        frame.pi_start,
        color=c["bluish_green"],
        lw=2,
        label=rf"$\pi(t)$ at start (mean {frame.mean_pi_start:.2g})",
    )
    for j, xj in enumerate(frame.x):
        top.plot(xj, 0.0, "o", ms=7, color=POINT_COLOURS[j], mec=c["black"], clip_on=False)
    lo = min(frame.a, float(frame.x.min())) - 0.3
    top.set_xlim(lo, frame.b + 0.3)
    top.set_ylim(0.0, 1.15)
    top.set_yticks([0.0, 0.5, 1.0])
    top.set_xlabel("position $x$", labelpad=1)
    top.set_ylabel(r"$\pi(t)$")
    top.set_title(
        f"cluster at distance d = {frame.distance:.2f}, background eps = {frame.background:.3g}"
    )
    top.legend(loc="upper left", frameon=False, fontsize="x-small")

    k = np.arange(frame.plain_weights.shape[0])
    for j in range(n):
        bottom.plot(k, frame.plain_weights[:, j], color=POINT_COLOURS[j], lw=2)
    for j in range(n):
        bottom.plot(k, frame.damped_weights[:, j], color=POINT_COLOURS[j], lw=2, ls="--")
    bottom.set_ylim(-0.02, 1.02)
    bottom.set_xlim(0, k[-1])
    bottom.set_xlabel("iteration $k$")
    bottom.set_ylabel("weights $S_j(k)$")
    bottom.grid(True, color="#dddddd", lw=0.6)
    handles = [
        Line2D([], [], color=c["black"], lw=2, label="plain loss"),
        Line2D([], [], color=c["black"], lw=2, ls="--", label="with background"),
    ]
    bottom.legend(handles=handles, loc="center right", frameon=False, fontsize="x-small")
    steps = k[-1]
    bottom.set_title(
        f"largest weight change in {steps} steps: plain {frame.moved_plain:.2f}, "
        f"with background {frame.moved_damped:.2g}",
        fontsize="small",
    )
    return [top, bottom]


def remedy_widget(**defaults: Any) -> DemoWidget:
    """The live remedy demo: sliders for the distance and ``eps``, a box for the near point.

    Parameters
    ----------
    **defaults
        Initial ``distance`` (0 to 4), ``background`` (0 to 0.5) and ``near_point``; any
        other :func:`remedy_frame` argument is held fixed.

    Returns
    -------
    DemoWidget
        With ``controls`` ``{"distance", "background", "near_point"}`` and ``redraws``.

    Examples
    --------
    >>> w = remedy_widget(distance=0.5)
    >>> sorted(w.controls), w.redraws
    (['background', 'distance', 'near_point'], 1)
    >>> w.controls["background"].value = 0.2
    >>> w.redraws
    2
    """
    names = {"distance", "background", "near_point"}
    fixed = {k: v for k, v in defaults.items() if k not in names}
    style = {"description_width": "11em"}
    layout = widgets.Layout(width="32em")
    controls = {
        "distance": widgets.FloatSlider(
            value=float(defaults.get("distance", 1.0)),
            min=0.0,
            max=4.0,
            step=0.05,
            description="cluster distance d",
            readout_format=".2f",
            style=style,
            layout=layout,
        ),
        "background": widgets.FloatSlider(
            value=float(defaults.get("background", 0.05)),
            min=0.0,
            max=0.5,
            step=0.01,
            description="background eps",
            readout_format=".2f",
            style=style,
            layout=layout,
        ),
        "near_point": widgets.Checkbox(
            value=bool(defaults.get("near_point", False)),
            description="add a point inside the target",
            style=style,
            layout=layout,
        ),
    }

    def draw(fig: Figure, params: dict[str, Any]) -> None:
        draw_remedy(fig, remedy_frame(**{**fixed, **params}))

    return DemoWidget(
        controls,
        draw,
        figsize=REMEDY_FIGSIZE,
        alt="Weights of a far cluster over the iterations, with and without a background",
    )


def remedy_distance_sweep(num: int = 30, *, stop: float = 3.0) -> np.ndarray:
    """The distances the player steps through: ``num`` values from 0 to ``stop``.

    Examples
    --------
    >>> remedy_distance_sweep(3)
    array([0. , 1.5, 3. ])
    """
    return np.linspace(0.0, stop, num)


def remedy_player(
    *, distances: Sequence[float] | None = None, interval: int = 250, **params: Any
) -> HTML:
    """A kernel-free player that moves the cluster away (:func:`remedy_distance_sweep`).

    Parameters
    ----------
    distances : array_like, optional
        The frames' distances; 30 from 0 to 3 by default.
    interval : int
        Milliseconds per frame.
    **params
        Other :func:`remedy_frame` arguments (``background``, ``near_point``, ...).

    Returns
    -------
    IPython.display.HTML
    """
    values = remedy_distance_sweep() if distances is None else list(distances)

    def draw(fig: Figure, d: float) -> None:
        draw_remedy(fig, remedy_frame(distance=float(d), **params))

    return player(
        draw,
        values,
        figsize=REMEDY_FIGSIZE,
        interval=interval,
        alt=(
            "Player: as the cluster moves away from the target, its weights on the plain loss "
            "follow the same curves, while with the background they move less and less"
        ),
    )
