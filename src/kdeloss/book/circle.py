r"""Angles: kernels on the wrapped distance, arcs, and polar pictures.

The seed's positions ``x_j`` are angles. On the circle a displacement ``d`` matters only
through its wrapped value ``wrap(d)`` in ``(-pi, pi]`` (:func:`kdeloss.wrap_angle`), and the
target ``[a, b]`` is the arc from ``a`` counter-clockwise to ``b`` (``0 < b - a <= 2 pi``).
The library's loss and gradient work unchanged with any circular kernel; this module adds

- :class:`WrappedLaplace`, the Laplace kernel on the wrapped distance,
  ``exp(-|wrap(d)|/h) / (2h (1 - exp(-pi/h)))``, for which the shift property survives on
  arcs (:func:`arc_margins` says where);
- :class:`WrappedBox`, the 0/1 kernel on the wrapped distance (the one-hot case);
- arc geometry (:func:`arc_distance`, :func:`in_arc`, :func:`arc_margins`);
- :func:`plot_polar_density`, the weighted KDE on polar axes against the target arc.

Matplotlib is needed only by :func:`plot_polar_density` (it draws on axes you pass in).

Examples
--------
>>> k = WrappedLaplace(bandwidth=0.5)
>>> bool(np.isclose(k.logpdf(np.array([0.3]))[0], k.logpdf(np.array([0.3 + 2 * np.pi]))[0]))
True
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .._validate import as_points, as_scalar, as_vector
from ..kernels import (
    LogPdf,
    ScaledKernel,
    WrappedBox,
    WrappedLaplace,
    get_kernel,
    wrap_angle,
)
from ..loss import bin_grad, log_density, loss, loss_and_grad, softmax
from ..testing import complex_step

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.collections import PathCollection
    from matplotlib.lines import Line2D

__all__ = [
    "CIRCLE_DEFAULTS",
    "PolarArtists",
    "antipode_depth_changes",
    "arc_distance",
    "arc_margins",
    "as_arc",
    "circle_checks",
    "circle_shift_checks",
    "in_arc",
    "plot_polar_density",
]

TWO_PI = 2.0 * math.pi
# The polar plot: the rim (where the points sit) is this factor beyond the largest of q and
# the target's density; the target arc is drawn with this many angles.
RIM_HEADROOM = 1.15
ARC_POINTS = 121

#: The circle chapter's configuration: an arc of length 1 around angle 0, five points in the
#: two gaps between the arc and its antipodal arc, and ``x_bad`` with the last point moved
#: into the antipodal arc.
CIRCLE_DEFAULTS: dict[str, object] = {
    "z": (0.4, -0.3, 0.2, 0.8, 0.0),
    "x": (-2.2, -1.2, 1.0, 1.9, 2.4),
    "x_bad": (-2.2, -1.2, 1.0, 1.9, 2.9),
    "a": -0.5,
    "b": 0.5,
    "bandwidth": 0.6,
}


def as_arc(a: object, b: object) -> tuple[float, float]:
    """Validate a target arc from ``a`` counter-clockwise to ``b``: ``0 < b - a <= 2 pi``.

    >>> as_arc(-0.5, 0.5)
    (-0.5, 0.5)
    """
    aa, bb = as_scalar("a", a), as_scalar("b", b)
    if not 0.0 < bb - aa <= TWO_PI:
        raise ValueError(f"a and b: an arc needs 0 < b - a <= 2 pi, got a = {aa}, b = {bb}")
    return aa, bb


def in_arc(x: np.ndarray, a: float, b: float) -> np.ndarray:
    """Whether each angle lies on the closed arc from ``a`` counter-clockwise to ``b``.

    >>> in_arc(np.array([0.0, 3.0, -3.0 + 2 * np.pi]), -0.5, 0.5)
    array([ True, False, False])
    """
    xx = as_vector("x", x)
    lo, hi = as_arc(a, b)
    return np.mod(xx - lo, TWO_PI) <= hi - lo


def arc_distance(x: np.ndarray, a: float, b: float) -> np.ndarray:
    """Distance along the circle from each angle to the arc ``[a, b]`` (0 on the arc).

    >>> arc_distance(np.array([0.0, 1.0, -2.0, np.pi]), -0.5, 0.5)
    array([0.        , 0.5       , 1.5       , 2.64159265])
    """
    xx = as_vector("x", x)
    lo, hi = as_arc(a, b)
    s = np.mod(xx - lo, TWO_PI)  # counter-clockwise from a
    length = hi - lo
    return np.where(s <= length, 0.0, np.minimum(s - length, TWO_PI - s))


def arc_margins(x: np.ndarray, a: float, b: float) -> np.ndarray:
    r"""Per point, how far it may move toward the arc while every bin of the arc sees it approach.

    A point moves toward the arc's centre along the shorter arc. For a bin ``t`` of the arc,
    ``u(t) = sigma * wrap(t - x)`` is how far it still has to go to reach ``t`` (negative if it
    moves away from ``t``). This returns ``min over t in [a, b] of u(t)``:

    - the distance to the arc, :func:`arc_distance`, for a point outside the arc whose
      antipode is not on it (it lies in one of the two gaps between the arc and its antipodal
      arc);
    - ``-pi`` for a point whose antipode lies on the arc (its shorter arc to some bins runs
      the other way: the bins around its antipode see it recede). This is conservative at the
      two ends of the antipodal arc: a point whose antipode is exactly ``a`` or ``b`` in fact
      approaches every bin (:func:`antipode_depth_changes`), but a rounded angle cannot say
      on which side of the end it lies;
    - a value ``<= 0`` for a point on the arc.

    The whole-arc shift theorem holds for ``0 <= delta <= min(arc_margins)`` and needs this
    minimum to be positive; that is impossible once ``b - a >= pi``.

    Examples
    --------
    >>> arc_margins(np.array([1.0, -2.0, 2.9]), -0.5, 0.5)
    array([ 0.5       ,  1.5       , -3.14159265])
    """
    xx = as_vector("x", x)
    lo, hi = as_arc(a, b)
    c = 0.5 * (lo + hi)
    sigma = np.sign(wrap_angle(c - xx))
    u = np.minimum(sigma * wrap_angle(lo - xx), sigma * wrap_angle(hi - xx))
    anti = np.mod(xx + math.pi - lo, TWO_PI) < hi - lo
    return np.where(anti, -math.pi, u)


class PolarArtists(NamedTuple):
    """What :func:`plot_polar_density` drew."""

    density: Line2D
    """The model density ``q(t)`` as the radius."""
    target: Line2D
    """The target density ``1/(b - a)`` over the arc."""
    points: PathCollection
    """The points on the rim, marker area proportional to ``S_j``."""


def plot_polar_density(
    ax: Axes,
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    kernel: str | LogPdf = "vonmises",
    bandwidth: float = 1.0,
    num: int = 721,
    show_antipodal: bool = True,
    marker_area: float = 300.0,
) -> PolarArtists:
    r"""Draw the weighted KDE on polar axes: radius ``q(t)`` at angle ``t``, the target arc shaded.

    Parameters
    ----------
    ax : matplotlib Axes with ``projection="polar"``
    z, x : array_like, shape (N,)
        Logits and angles.
    a, b : float
        The target arc, counter-clockwise from ``a`` to ``b``.
    kernel, bandwidth
        A circular kernel (``"vonmises"``, :class:`WrappedLaplace`, ...).
    num : int
        Number of angles at which ``q`` is drawn.
    show_antipodal : bool
        Also outline the antipodal arc ``[a + pi, b + pi]``, where a point breaks the
        whole-arc shift property.
    marker_area : float
        Marker area of a point of weight 1.

    Returns
    -------
    PolarArtists

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig = plt.figure()
    >>> ax = fig.add_subplot(projection="polar")
    >>> art = plot_polar_density(ax, [0.0, 1.0], [2.0, -1.0], -0.5, 0.5, bandwidth=0.6)
    >>> round(float(np.max(art.target.get_ydata())), 12)
    1.0
    >>> plt.close(fig)
    """
    from .plots import OKABE_ITO

    zz, xx = as_points(z, x)
    lo, hi = as_arc(a, b)
    kern = get_kernel(kernel, bandwidth)
    if not kern.circular:
        raise ValueError(f"kernel: expected a circular kernel, got {kern!r}")
    theta = np.linspace(-math.pi, math.pi, num)
    reached = np.isfinite(kern.logpdf(theta[:, None] - xx[None, :])).any(axis=1)
    q = np.zeros_like(theta)
    if reached.any():
        q[reached] = np.exp(log_density(zz, xx, theta[reached], kernel=kern))
    height = 1.0 / (hi - lo)
    rim = RIM_HEADROOM * max(float(q.max()), height)

    arc = np.linspace(lo, hi, ARC_POINTS)
    ax.fill_between(arc, 0.0, height, color=OKABE_ITO["orange"], alpha=0.2, lw=0)
    (target,) = ax.plot(
        np.concatenate([[lo], arc, [hi]]),
        np.concatenate([[0.0], np.full(arc.size, height), [0.0]]),
        color=OKABE_ITO["orange"],
        ls="--",
        lw=2,
        label=rf"target arc, density $1/(b-a)={height:.3g}$",
    )
    if show_antipodal:
        anti = arc + math.pi
        ax.plot(
            anti,
            np.full(anti.size, rim),
            color=OKABE_ITO["reddish_purple"],
            lw=4,
            solid_capstyle="butt",
            label="antipodal arc",
        )
    (density,) = ax.plot(theta, q, color=OKABE_ITO["blue"], lw=2, label=r"model $q(t)$")
    points = ax.scatter(
        xx,
        np.full(xx.size, rim),
        s=marker_area * softmax(zz),
        color=OKABE_ITO["vermillion"],
        edgecolor=OKABE_ITO["black"],
        zorder=3,
        clip_on=False,
        label=r"points $x_j$ (area $\propto S_j$)",
    )
    ax.set_ylim(0.0, rim * 1.05)
    ax.set_rlabel_position(200.0)
    ax.set_xlabel(r"angle $t$; radius: density")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return PolarArtists(density=density, target=target, points=points)


def _complex_step_grad(z, x, a, b, kernel, bins) -> np.ndarray:
    return complex_step(lambda v: loss(v, x, a, b, kernel=kernel, bins=bins), z)


def circle_checks(trials: int = 50, seed: int = 0) -> dict[str, float]:
    r"""Random checks of what survives on the circle unchanged; the largest deviation of each.

    ``gradient``
        ``dL_M/dz`` of :func:`kdeloss.loss_and_grad` against a complex-step derivative of
        :func:`kdeloss.loss`, von Mises and :class:`WrappedLaplace` (the gradient formula).
    ``wrap``
        the gradient when every angle is moved by a random multiple of ``2 pi`` (nothing
        changes: the kernels see only wrapped differences).
    ``one_hot``
        ``bin_grad`` with :class:`WrappedBox` against ``S - e_y``, with the covering point
        on the far side of ``+-pi`` from the bin.
    ``scale_grad``, ``scale_loss``
        the gradient and ``L - log c`` for ``c K`` (von Mises, ``c`` down to ``1e-200``)
        against those for ``K``.

    Examples
    --------
    >>> res = circle_checks(trials=3)
    >>> sorted(res)
    ['gradient', 'one_hot', 'scale_grad', 'scale_loss', 'wrap']
    >>> bool(max(res.values()) < 1e-12)
    True
    """
    rng = np.random.default_rng(seed)
    worst = dict.fromkeys(["gradient", "wrap", "one_hot", "scale_grad", "scale_loss"], 0.0)
    for _ in range(trials):
        n = int(rng.integers(2, 8))
        z = rng.normal(0.0, 1.0, n)
        x = rng.uniform(-math.pi, math.pi, n)
        a = float(rng.uniform(-math.pi, math.pi))
        b = a + float(rng.uniform(0.1, TWO_PI))
        h = float(rng.uniform(0.3, 2.0))
        for kern in (get_kernel("vonmises", h), WrappedLaplace(h)):
            _, g = loss_and_grad(z, x, a, b, kernel=kern, bins=24)
            cs = _complex_step_grad(z, x, a, b, kern, 24)
            worst["gradient"] = max(worst["gradient"], float(np.abs(g - cs).max()))
            shifted = x + TWO_PI * rng.integers(-3, 4, n)
            _, g2 = loss_and_grad(z, shifted, a, b, kernel=kern, bins=24)
            worst["wrap"] = max(worst["wrap"], float(np.abs(g2 - g).max()))
        # one-hot across the seam: the bin just below +pi, the covering point just above -pi
        w = 0.5
        t = math.pi - 0.1
        xs = np.concatenate([[-math.pi + 0.05], rng.uniform(-2.0, 2.0, n - 1)])
        gb = bin_grad(z, xs, t, kernel=WrappedBox(w))
        worst["one_hot"] = max(
            worst["one_hot"], float(np.abs(gb - (softmax(z) - np.eye(n)[0])).max())
        )
        c = float(10.0 ** rng.uniform(-200, 0))
        vm = get_kernel("vonmises", h)
        L1, g1 = loss_and_grad(z, x, a, b, kernel=vm, bins=24)
        L2, g2 = loss_and_grad(z, x, a, b, kernel=ScaledKernel(vm, math.log(c)), bins=24)
        worst["scale_grad"] = max(worst["scale_grad"], float(np.abs(g2 - g1).max()))
        worst["scale_loss"] = max(
            worst["scale_loss"], abs((L2 - L1) + math.log(c)) / max(1.0, abs(math.log(c)))
        )
    return worst


def circle_shift_checks(trials: int = 100, seed: int = 0) -> dict[str, float]:
    r"""Random checks of the shift property on the circle.

    ``bin_grad``, ``bin_loss``
        :class:`WrappedLaplace`, random bin and points anywhere on the circle, every point
        moved along its shorter arc toward the bin by ``delta <= min_j |wrap(t - x_j)|``:
        largest gradient change and largest ``|loss change + delta/h|``.
    ``arc_grad``
        An arc shorter than ``pi``, every point in the two gaps between the arc and its
        antipodal arc, a move toward the arc's centre by ``delta <= min arc_margins``:
        largest change of ``dL_M/dz`` (64 bins).
    ``antipodal_min``
        The same, but one point in the antipodal arc and a move of ``0.05``: the *smallest*
        change of ``dL_M/dz`` seen (positive: it always fails).
    ``vonmises_min``
        The admissible move of ``arc_grad`` with the von Mises kernel: the smallest change
        seen (positive).

    Examples
    --------
    >>> res = circle_shift_checks(trials=4)
    >>> bool(max(res["bin_grad"], res["bin_loss"], res["arc_grad"]) < 1e-12)
    True
    >>> bool(min(res["antipodal_min"], res["vonmises_min"]) > 1e-8)
    True
    """
    from .shift import bin_arrival, shift_toward

    rng = np.random.default_rng(seed)
    res = {"bin_grad": 0.0, "bin_loss": 0.0, "arc_grad": 0.0}
    res["antipodal_min"] = math.inf
    res["vonmises_min"] = math.inf
    bins = 64
    for _ in range(trials):
        n = int(rng.integers(2, 8))
        z = rng.normal(0.0, 1.0, n)
        h = float(rng.uniform(0.3, 2.0))
        kern = WrappedLaplace(h)
        # one bin
        t = float(rng.uniform(-math.pi, math.pi))
        x = rng.uniform(-math.pi, math.pi, n)
        delta = float(rng.uniform(0.0, 1.0)) * bin_arrival(x, t, circular=True)
        y = shift_toward(x, t, delta, circular=True)
        g0 = bin_grad(z, x, t, kernel=kern)
        g1 = bin_grad(z, y, t, kernel=kern)
        res["bin_grad"] = max(res["bin_grad"], float(np.abs(g1 - g0).max()))
        dl = float(log_density(z, x, t, kernel=kern) - log_density(z, y, t, kernel=kern))
        res["bin_loss"] = max(res["bin_loss"], abs(dl + delta / h))
        # an arc shorter than pi, points in the gaps
        length = float(rng.uniform(0.2, 2.5))
        a = float(rng.uniform(-math.pi, math.pi))
        b = a + length
        c = 0.5 * (a + b)
        gap = math.pi - length  # each gap between the arc and its antipodal arc
        off = rng.uniform(0.05, 0.95, n) * gap
        side = rng.choice([-1.0, 1.0], n)
        xg = np.where(side > 0, b + off, a - off)
        dmax = float(arc_margins(xg, a, b).min())
        delta = float(rng.uniform(0.0, 1.0)) * dmax
        yg = shift_toward(xg, c, delta, circular=True)
        _, m0 = loss_and_grad(z, xg, a, b, kernel=kern, bins=bins)
        _, m1 = loss_and_grad(z, yg, a, b, kernel=kern, bins=bins)
        res["arc_grad"] = max(res["arc_grad"], float(np.abs(m1 - m0).max()))
        vm = get_kernel("vonmises", h)
        _, v0 = loss_and_grad(z, xg, a, b, kernel=vm, bins=bins)
        _, v1 = loss_and_grad(
            z, shift_toward(xg, c, max(delta, 0.05), circular=True), a, b, kernel=vm, bins=bins
        )
        res["vonmises_min"] = min(res["vonmises_min"], float(np.abs(v1 - v0).max()))
        # one point moved into the antipodal arc
        xb = xg.copy()
        xb[0] = c + math.pi + float(rng.uniform(-0.45, 0.45)) * length
        _, p0 = loss_and_grad(z, xb, a, b, kernel=kern, bins=bins)
        _, p1 = loss_and_grad(
            z, shift_toward(xb, c, 0.05, circular=True), a, b, kernel=kern, bins=bins
        )
        res["antipodal_min"] = min(res["antipodal_min"], float(np.abs(p1 - p0).max()))
    return res


def antipode_depth_changes(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    depths: np.ndarray,
    delta: float,
    *,
    bandwidth: float = 1.0,
    bins: int | None = None,
) -> np.ndarray:
    r"""How much a point whose antipode lies ``depth`` inside the arc changes the gradient.

    The last point of ``x`` is put at ``a + depth + pi``: its antipode lies on the arc at
    distance ``depth`` from the end ``a``. Every point then moves toward the arc's centre along
    its shorter arc by ``delta`` (:func:`kdeloss.book.shift.shift_toward`), with the
    :class:`WrappedLaplace` kernel. Returns, per depth, ``max_i |dL/dz_i(delta) - dL/dz_i(0)|``
    for the whole-arc loss (``bins=None``: the unbinned loss, by quadrature between the kinks)
    or the binned loss with ``bins`` bins.

    The circle chapter's proposition on the antipodal arc: the change is zero at depth 0 (the
    point approaches every bin), and once ``delta >= depth`` it is at most
    ``depth**2 / (4 h (b - a))``.

    Examples
    --------
    >>> ch = antipode_depth_changes([0.0, 0.5], [1.5, 0.0], -0.5, 0.5, np.array([0.0, 0.1]),
    ...                             0.2, bandwidth=0.6)
    >>> bool(ch[0] < 1e-14), bool(0 < ch[1] <= 0.1**2 / (4 * 0.6))
    (True, True)
    """
    from .shift import interval_loss_and_grad, shift_toward

    zz, xx = as_points(z, x)
    lo, hi = as_arc(a, b)
    dd = as_vector("depths", depths)
    if np.any(dd < 0) or np.any(dd > hi - lo):
        raise ValueError(f"depths: expected values in [0, b - a], got {dd}")
    d = as_scalar("delta", delta)
    kern = WrappedLaplace(bandwidth)
    centre = 0.5 * (lo + hi)

    def grad(points: np.ndarray) -> np.ndarray:
        if bins is None:
            return interval_loss_and_grad(zz, points, lo, hi, kernel=kern)[1]
        return loss_and_grad(zz, points, lo, hi, kernel=kern, bins=bins)[1]

    out = np.empty(dd.size)
    for k, depth in enumerate(dd):
        y = xx.copy()
        y[-1] = lo + depth + math.pi
        moved = shift_toward(y, centre, d, circular=True)
        out[k] = float(np.abs(grad(moved) - grad(y)).max())
    return out
