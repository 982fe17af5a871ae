r"""The Laplace shift property: every point moves toward the target at one speed.

A point ``x_j`` that moves toward a place ``tbar`` (the target's centre, written
:math:`\bar t` in the book) by ``delta`` goes to ``x_j + delta * sign(tbar - x_j)`` (on the
circle, ``sign(wrap(tbar - x_j))``: along the shorter arc). The direction is fixed by the
starting position, so after reaching ``tbar`` the point keeps going and moves away again.
For a bin at ``t`` write

.. math::

    d_j(t) = \sigma_j \,(t - x_j), \qquad \sigma_j = \operatorname{sign}(\bar t - x_j),

the distance still to travel before ``x_j`` reaches ``t`` (negative if ``x_j`` moves away
from ``t``). After a move by ``delta`` the distance from the point to the bin is
``|d_j - delta|``. With the Laplace kernel ``log K(d) = -|d|/h - log 2h``, so while
``delta <= min_j d_j(t)`` every ``log K_j`` grows by the same ``delta / h``: the
responsibilities at ``t`` and the gradient there do not move, and ``-log q(t)`` drops by
``delta / h``. Past that point the change is exact too:

.. math::

    r_j(t; \delta) = \operatorname{softmax}_j\bigl(\log r(t; 0)
    + \log K(d - \delta) - \log K(d)\bigr),

which :func:`log_kernel_change` gives in closed form for the Laplace, Gaussian and von Mises
kernels.

Examples
--------
Three points move toward the bin at 0 by 0.5; the nearest starts 0.5 away. The gradient at 0
does not change, and the loss drops by ``0.5 / h``:

>>> from kdeloss import bin_grad, log_density
>>> z, x = np.array([0.3, -0.1, 0.5]), np.array([-2.0, 0.5, 3.0])
>>> y = shift_toward(x, 0.0, 0.5)
>>> y
array([-1.5,  0. ,  2.5])
>>> bool(np.allclose(bin_grad(z, y, 0.0), bin_grad(z, x, 0.0), rtol=0, atol=1e-15))
True
>>> round(float(log_density(z, y, 0.0) - log_density(z, x, 0.0)), 14)
0.5
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.integrate import quad_vec

from .._validate import as_interval, as_points, as_scalar, as_vector
from ..kernels import Kernel, LogPdf, get_kernel, wrap_angle
from ..loss import bin_centers, bin_grad, log_density, log_softmax, loss_and_grad, softmax

__all__ = [
    "ShiftCurve",
    "ahead_distances",
    "approach_directions",
    "bin_arrival",
    "entry_change_leading_order",
    "gradient_change_curve",
    "interval_arrival",
    "interval_kinks",
    "interval_loss_and_grad",
    "log_kernel_change",
    "predicted_bin_grad",
    "prefix_sum_log_density",
    "shift_theorem_checks",
    "shift_toward",
    "sympy_interval_log_ratios",
    "sympy_log_linear_only",
    "sympy_shift_bin",
]

KernelLike = str | LogPdf

# Subintervals quad_vec may use for the unbinned loss: enough for targets many bandwidths wide
# with kinks of the Laplace kernel inside.
QUAD_LIMIT = 20000


def _as_delta(delta: object) -> float:
    d = as_scalar("delta", delta)
    if d < 0:
        raise ValueError(f"delta: must be >= 0, got {d}")
    return d


def _offset(target: float, x: np.ndarray, circular: bool) -> np.ndarray:
    """``target - x``, wrapped to ``(-pi, pi]`` on the circle."""
    d = target - x
    return wrap_angle(d) if circular else d


def approach_directions(x: np.ndarray, target: float, *, circular: bool = False) -> np.ndarray:
    """Direction ``sigma_j`` in which each point moves to approach ``target``.

    ``sign(target - x_j)`` on the line; ``sign(wrap(target - x_j))`` on the circle (the
    shorter arc; at exactly the antipode the wrap gives ``+pi``, so such a point moves
    counter-clockwise). A point already at ``target`` gets 0 and never moves.

    Examples
    --------
    >>> approach_directions(np.array([-1.0, 0.0, 2.0]), 0.0)
    array([ 1.,  0., -1.])
    >>> approach_directions(np.array([3.5]), 0.0, circular=True)  # ccw, through pi, is shorter
    array([1.])
    """
    xx = as_vector("x", x)
    c = as_scalar("target", target)
    return np.sign(_offset(c, xx, circular))


def shift_toward(
    x: np.ndarray, target: float, delta: float, *, circular: bool = False
) -> np.ndarray:
    """Move every point toward ``target`` by the same distance ``delta >= 0``.

    ``x_j -> x_j + delta * sigma_j`` with ``sigma_j`` from :func:`approach_directions`,
    computed from the *starting* positions: a point that reaches ``target`` keeps going, so
    for ``delta > |target - x_j|`` it has passed it. Angles are not wrapped (the circular
    kernels wrap the differences themselves).

    Examples
    --------
    >>> shift_toward(np.array([-1.0, 0.25, 2.0]), 0.0, 0.5)
    array([-0.5 , -0.25,  1.5 ])
    """
    xx = as_vector("x", x)
    d = _as_delta(delta)
    return xx + d * approach_directions(xx, target, circular=circular)


def ahead_distances(
    x: np.ndarray, t: float, *, toward: float | None = None, circular: bool = False
) -> np.ndarray:
    r"""``d_j = sigma_j * (t - x_j)``: how far each point travels before it reaches bin ``t``.

    The points move toward ``toward`` (default: ``t`` itself). A negative ``d_j`` means the
    point moves away from ``t``; on the circle ``t - x_j`` is wrapped first, so ``d_j`` is
    negative also for a point whose shorter arc to ``t`` runs the other way (it would have to
    cross the antipode of ``t`` to get there).

    Examples
    --------
    >>> ahead_distances(np.array([-2.0, 1.0, 0.25]), 0.5, toward=0.0)
    array([ 2.5 ,  0.5 , -0.25])
    """
    xx = as_vector("x", x)
    tt = as_scalar("t", t)
    c = tt if toward is None else as_scalar("toward", toward)
    sigma = np.sign(_offset(c, xx, circular))
    return sigma * _offset(tt, xx, circular)


def bin_arrival(
    x: np.ndarray, t: float, *, toward: float | None = None, circular: bool = False
) -> float:
    """The largest ``delta`` the per-bin theorem covers: ``min_j u_j(t)``.

    For ``toward = t`` on the line this is ``min_j |t - x_j|``, the distance of the nearest
    point. A negative value means some point moves away from ``t`` from the start: the
    theorem covers no move at all.

    Examples
    --------
    >>> bin_arrival(np.array([-2.0, 1.5, 3.0]), 0.0)
    1.5
    """
    return float(ahead_distances(x, t, toward=toward, circular=circular).min())


def interval_arrival(x: np.ndarray, a: float, b: float, *, circular: bool = False) -> float:
    r"""The largest ``delta`` the whole-interval theorem covers, for points moving to the centre.

    ``min over t in [a, b] of min_j u_j(t)`` with ``toward = (a + b) / 2``. On the line, when
    no point lies in ``(a, b)``, it is ``min_j dist(x_j, [a, b])``; a point inside makes it
    negative. On the circle (an arc from ``a`` counter-clockwise to ``b``), a point whose
    antipode lies in the arc gets ``-pi``: some bin of the arc sees it move away.

    Examples
    --------
    >>> interval_arrival(np.array([-3.0, 2.0]), -0.5, 0.5)
    1.5
    >>> interval_arrival(np.array([-3.0, 0.2]), -0.5, 0.5)     # a point inside
    -0.3
    >>> interval_arrival(np.array([2.5]), -1.0, 1.0, circular=True)   # antipode in the arc
    -3.141592653589793
    """
    xx = as_vector("x", x)
    lo, hi = as_interval(a, b)
    c = 0.5 * (lo + hi)
    u = np.minimum(
        ahead_distances(xx, lo, toward=c, circular=circular),
        ahead_distances(xx, hi, toward=c, circular=circular),
    )
    if circular:
        # u_j(t) jumps from +pi to -pi where t passes the antipode of x_j.
        anti = np.mod(xx + np.pi - lo, 2 * np.pi) < (hi - lo)
        u = np.where(anti, -np.pi, u)
    return float(u.min())


def interval_kinks(x: np.ndarray, a: float, b: float, *, circular: bool = False) -> np.ndarray:
    """Positions in ``(a, b)`` where ``t -> log K(t - x_j)`` may have a kink (sorted).

    The points themselves, and on the circle their antipodes too (the wrapped distance has a
    corner there). :func:`interval_loss_and_grad` splits its quadrature at these.

    Examples
    --------
    >>> interval_kinks(np.array([-1.0, 0.25, 0.5]), 0.0, 1.0)
    array([0.25, 0.5 ])
    """
    xx = as_vector("x", x)
    lo, hi = as_interval(a, b)
    if circular:
        # the wrapped distance has corners where t = x_j + k pi
        k0 = np.floor((lo - xx) / np.pi) + 1.0
        steps = np.arange(math.ceil((hi - lo) / np.pi) + 1)
        cand_all = (xx[:, None] + (k0[:, None] + steps[None, :]) * np.pi).ravel()
    else:
        cand_all = xx
    inside = cand_all[(cand_all > lo) & (cand_all < hi)]
    return np.unique(inside)


def interval_loss_and_grad(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
    epsabs: float = 1e-14,
) -> tuple[float, np.ndarray]:
    r"""The unbinned loss ``L = -(1/(b-a)) int_a^b log q`` and ``dL/dz = S - mean_t r(t)``.

    Adaptive Gauss-Kronrod quadrature (:func:`scipy.integrate.quad_vec`) of the vector
    ``(-log q(t), r(t))``, split at :func:`interval_kinks` so that every piece is smooth.
    This is the loss the binned ``L_M`` approximates; the whole-interval shift theorem is
    exact for both.

    Parameters
    ----------
    z, x : array_like, shape (N,)
        Logits and positions (angles for a circular kernel).
    a, b : float
        The target ``[a, b]`` (an arc when the kernel is circular).
    kernel, bandwidth
        As in :func:`kdeloss.loss_and_grad`; a kernel must be positive on ``[a, b]``.
    epsabs : float
        Absolute error goal of the quadrature (per component).

    Returns
    -------
    loss : float
    grad : ndarray, shape (N,)

    Examples
    --------
    One point left of ``[0, 1]``: ``log q(t) = -(t - x)/h - log 2h`` exactly, so
    ``L = mean_t (t - x) + log 2 = 0.5 + 1 + log 2``.

    >>> L, g = interval_loss_and_grad([0.0], [-1.0], 0.0, 1.0)
    >>> bool(abs(L - (1.5 + np.log(2.0))) < 1e-14), bool(abs(g[0]) < 1e-15)
    (True, True)
    """
    zz, xx = as_points(z, x)
    lo, hi = as_interval(a, b)
    kern = get_kernel(kernel, bandwidth)
    logs = log_softmax(zz)

    def integrand(t: float) -> np.ndarray:
        # log_rows: log K(t - x_j) as an offset plus a remainder computed from differences
        # of positions, exact even when every point is far from t
        offset, rest = kern.log_rows(np.array([t]), xx)
        e = logs + rest[0]
        peak = e.max()
        w = np.exp(e - peak)
        total = w.sum()
        out = np.empty(xx.size + 1)
        out[0] = -(offset[0] + peak + math.log(total))
        out[1:] = w / total
        return out

    kinks = interval_kinks(xx, lo, hi, circular=bool(kern.circular))
    val, _ = quad_vec(
        integrand,
        lo,
        hi,
        epsabs=epsabs,
        epsrel=0.0,
        norm="max",
        points=list(kinks) if kinks.size else None,
        limit=QUAD_LIMIT,
    )
    mean = np.asarray(val) / (hi - lo)
    return float(mean[0]), softmax(zz) - mean[1:]


def log_kernel_change(
    u: np.ndarray, delta: float, *, kernel: str = "laplace", bandwidth: float = 1.0
) -> np.ndarray:
    r"""``log K(u_j - delta) - log K(u_j)`` in closed form: how a move changes each kernel value.

    ``u_j`` is the distance still to travel to the bin (:func:`ahead_distances`).

    ===============================  ==============================================
    kernel                           change of ``log K_j``
    ===============================  ==============================================
    ``laplace``                      ``delta/h - 2 max(0, delta - u_j)/h`` (for ``u_j >= 0``)
    ``gaussian``                     ``(2 u_j delta - delta**2) / (2 h**2)``
    ``vonmises``                     ``kappa (cos(u_j - delta) - cos u_j)``, ``kappa = 1/h**2``
    ``wrapped_laplace``              as ``laplace``, for ``0 <= u_j <= pi``
    ===============================  ==============================================

    The Laplace change is the same for every point until the first arrival. The Gaussian
    one grows with ``u_j``: the far points gain. The von Mises one grows like
    ``kappa sin(u_j) delta`` for small ``delta``: points a quarter-turn away gain most.

    Examples
    --------
    >>> log_kernel_change(np.array([1.0, 2.0, 4.0]), 1.5)
    array([0.5, 1.5, 1.5])
    >>> log_kernel_change(np.array([1.0, 2.0, 4.0]), 0.5, kernel="gaussian")
    array([0.375, 0.875, 1.875])
    """
    uu = as_vector("u", u)
    d = _as_delta(delta)
    kern = get_kernel(kernel, bandwidth)
    try:
        return kern.log_shift_change(uu, d)
    except NotImplementedError:
        raise ValueError(
            f"kernel: no closed form for {kern.name!r}; expected 'laplace', 'gaussian', "
            "'vonmises' or 'wrapped_laplace'"
        ) from None


def predicted_bin_grad(
    z: np.ndarray,
    x: np.ndarray,
    t: float,
    delta: float,
    *,
    kernel: str = "laplace",
    bandwidth: float = 1.0,
) -> np.ndarray:
    r"""The gradient at bin ``t`` after every point moved toward ``t`` by ``delta``, predicted.

    ``S - softmax(log r(t; 0) + Delta)`` with ``Delta`` from :func:`log_kernel_change`:
    computed from the *starting* responsibilities and the closed form alone, never from the
    moved positions. Comparing it with :func:`kdeloss.bin_grad` at the moved positions checks
    the closed form. For ``kernel="laplace"`` and ``delta <= min_j |t - x_j|``, ``Delta`` is
    constant and this is the starting gradient.

    Examples
    --------
    >>> z, x = np.array([0.0, 0.0]), np.array([-1.0, 3.0])
    >>> from kdeloss import bin_grad
    >>> bool(np.allclose(predicted_bin_grad(z, x, 0.0, 2.0),
    ...                  bin_grad(z, shift_toward(x, 0.0, 2.0), 0.0), atol=1e-15))
    True
    """
    zz, xx = as_points(z, x)
    tt = as_scalar("t", t)
    u = ahead_distances(xx, tt, circular=get_kernel(kernel, bandwidth).circular)
    logr0 = _log_responsibilities_at(zz, xx, tt, kernel, bandwidth)
    e = logr0 + log_kernel_change(u, delta, kernel=kernel, bandwidth=bandwidth)
    return softmax(zz) - softmax(e)


def _log_responsibilities_at(
    z: np.ndarray, x: np.ndarray, t: float, kernel: KernelLike, bandwidth: float
) -> np.ndarray:
    """``log r(t)`` computed in log space, so tiny responsibilities keep their digits."""
    kern = get_kernel(kernel, bandwidth)
    return log_softmax(log_softmax(z) + kern.logpdf(t - x))


def entry_change_leading_order(
    z: np.ndarray, x: np.ndarray, a: float, b: float, *, bandwidth: float = 1.0
) -> tuple[int, float, np.ndarray]:
    r"""What happens to ``dL/dz`` just after the first point enters ``[a, b]`` (Laplace).

    If point ``k`` is the first to arrive, at the edge ``t*`` (``a`` or ``b``) after moving
    ``delta_1``, then for ``delta = delta_1 + omega`` (the overshoot ``omega``) the bins in
    the strip of width ``omega`` behind it see it move away. To leading order in ``omega``,

    .. math::

        \frac{\partial L}{\partial z_i}(\delta) - \frac{\partial L}{\partial z_i}(0)
        = \frac{\omega^2}{h (b - a)}\, r_i(t^\ast) \bigl([i = k] - r_k(t^\ast)\bigr)
        + O(\omega^3),

    with the responsibilities at the edge ``t*`` of the starting configuration: the curve
    leaves its constant value tangentially (second order), and point ``k``'s own component
    rises.

    Returns
    -------
    k : int
        Index of the entering point (the first, if several arrive together).
    delta1 : float
        Its arrival, ``min_j dist(x_j, [a, b])``.
    coef : ndarray, shape (N,)
        The coefficient of ``omega**2``.

    Examples
    --------
    >>> k, d1, coef = entry_change_leading_order([0.0, 0.0], [-1.0, 3.0], 0.0, 1.0)
    >>> k, d1, bool(coef[0] > 0 > coef[1])
    (0, 1.0, True)
    """
    zz, xx = as_points(z, x)
    lo, hi = as_interval(a, b)
    dist = np.maximum(lo - xx, 0.0) + np.maximum(xx - hi, 0.0)
    if np.any((xx > lo) & (xx < hi)):
        raise ValueError("x: a point lies inside (a, b); the theorem needs every point outside")
    k = int(dist.argmin())
    edge = lo if xx[k] <= lo else hi
    r = np.exp(_log_responsibilities_at(zz, xx, edge, "laplace", bandwidth))
    onehot = np.zeros_like(r)
    onehot[k] = 1.0
    coef = r * (onehot - r[k]) / (bandwidth * (hi - lo))
    return k, float(dist[k]), coef


@dataclass(frozen=True)
class ShiftCurve:
    """Gradient and loss along a move of every point toward the centre of ``[a, b]``.

    All arrays have one entry per ``delta``.
    """

    deltas: np.ndarray
    """The distances moved, ``delta``."""
    centre: float
    """The centre ``c = (a + b) / 2``: the bin of the per-bin gradient and the points' goal."""
    bin_grads: np.ndarray
    """``dl/dz`` at the centre bin, shape ``(D, N)``."""
    interval_grads: np.ndarray
    """``dL/dz`` of the unbinned loss over ``[a, b]``, shape ``(D, N)``."""
    bin_losses: np.ndarray
    """``-log q(c)``."""
    interval_losses: np.ndarray
    """The unbinned loss ``L``."""
    bin_change: np.ndarray
    """``max_i |dl/dz_i(delta) - dl/dz_i(0)|`` at the centre bin."""
    interval_change: np.ndarray
    """``max_i |dL/dz_i(delta) - dL/dz_i(0)|``."""
    binned_change: np.ndarray
    """``max_i |dL_M/dz_i(delta) - dL_M/dz_i(0)|`` for the binned loss with ``bins`` bins."""
    bins: int
    """``M``, the number of bins of ``binned_change``."""
    bin_arrival: float
    """First arrival at the centre, ``min_j |c - x_j|``."""
    interval_arrival: float
    """First arrival at ``[a, b]`` (:func:`interval_arrival`)."""
    binned_arrival: float
    """First arrival at a bin centre (half a bin inside ``[a, b]``)."""


def gradient_change_curve(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    deltas: np.ndarray,
    *,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
    bins: int = 16,
) -> ShiftCurve:
    """Move every point toward the centre of ``[a, b]`` and record gradients and losses.

    For each ``delta`` the points are :func:`shift_toward` the centre ``c``; the per-bin
    gradient at ``c`` comes from :func:`kdeloss.bin_grad`, the whole-interval one from
    :func:`interval_loss_and_grad`, the binned one (``bins`` bins) from
    :func:`kdeloss.loss_and_grad`. On the circle (a circular kernel) the points take the
    shorter arc.

    Examples
    --------
    >>> cur = gradient_change_curve([0.0, 0.5], [-2.0, 3.0], -0.5, 0.5, [0.0, 1.0, 2.0])
    >>> cur.interval_arrival, cur.bin_arrival
    (1.5, 2.0)
    >>> bool(cur.interval_change[1] < 1e-12 < cur.interval_change[2])
    True
    """
    zz, xx = as_points(z, x)
    lo, hi = as_interval(a, b)
    dd = as_vector("deltas", deltas)
    if np.any(dd < 0):
        raise ValueError("deltas: every delta must be >= 0")
    kern: Kernel = get_kernel(kernel, bandwidth)
    circ = bool(kern.circular)
    c = 0.5 * (lo + hi)
    bg, ig, bl, il, mg = [], [], [], [], []
    for d in dd:
        y = shift_toward(xx, c, float(d), circular=circ)
        bg.append(bin_grad(zz, y, c, kernel=kern))
        bl.append(-float(log_density(zz, y, c, kernel=kern)))
        L, g = interval_loss_and_grad(zz, y, lo, hi, kernel=kern)
        il.append(L)
        ig.append(g)
        mg.append(loss_and_grad(zz, y, lo, hi, kernel=kern, bins=bins)[1])
    bin_grads, interval_grads = np.array(bg), np.array(ig)
    ref_b = bin_grad(zz, xx, c, kernel=kern)
    ref_i = interval_loss_and_grad(zz, xx, lo, hi, kernel=kern)[1]
    ref_m = loss_and_grad(zz, xx, lo, hi, kernel=kern, bins=bins)[1]
    centres = bin_centers(lo, hi, bins)
    return ShiftCurve(
        deltas=dd,
        centre=c,
        bin_grads=bin_grads,
        interval_grads=interval_grads,
        bin_losses=np.array(bl),
        interval_losses=np.array(il),
        bin_change=np.abs(bin_grads - ref_b).max(axis=1),
        interval_change=np.abs(interval_grads - ref_i).max(axis=1),
        binned_change=np.abs(np.array(mg) - ref_m).max(axis=1),
        bins=int(bins),
        bin_arrival=bin_arrival(xx, c, circular=circ),
        interval_arrival=interval_arrival(xx, lo, hi, circular=circ),
        binned_arrival=min(bin_arrival(xx, t, toward=c, circular=circ) for t in centres),
    )


def prefix_sum_log_density(
    z: np.ndarray, x: np.ndarray, t: np.ndarray, *, bandwidth: float = 1.0
) -> np.ndarray:
    r"""``log q(t)`` for the Laplace kernel from prefix sums over the sorted points.

    For the points left of ``t``, ``exp(-(t - x_j)/h) = exp(-t/h) exp(x_j/h)``, so their
    share of ``q(t)`` is ``exp(-t/h)`` times a prefix sum of ``S_j exp(x_j/h)`` over the
    sorted points; the points right of ``t`` give a suffix sum. Both are accumulated in log
    space (``logaddexp``), then looked up with a binary search: ``O((N + M) log N)`` in all.
    A sketch of the idea behind the fast algorithm; it loses accuracy when ``|t|/h`` is huge
    (two large logs are subtracted), which the real one avoids.

    Examples
    --------
    >>> z, x, t = np.array([0.1, -0.4, 0.3]), np.array([2.0, -1.0, 0.5]), np.array([0.0, 1.0])
    >>> bool(np.allclose(prefix_sum_log_density(z, x, t), log_density(z, x, t), atol=1e-14))
    True
    """
    zz, xx = as_points(z, x)
    tt = as_vector("t", t)
    h = float(bandwidth)
    order = np.argsort(xx)
    xs, ls = xx[order], log_softmax(zz)[order]
    left = np.logaddexp.accumulate(ls + xs / h)  # log sum_{j <= k} S_j e^{x_j/h}
    right = np.logaddexp.accumulate((ls - xs / h)[::-1])[::-1]  # log sum_{j >= k}
    k = np.searchsorted(xs, tt, side="right")  # points xs[:k] are <= t
    neg = np.full(tt.shape, -np.inf)
    lpart = np.where(k > 0, left[np.maximum(k - 1, 0)] - tt / h, neg)
    rpart = np.where(k < xs.size, right[np.minimum(k, xs.size - 1)] + tt / h, neg)
    return np.logaddexp(lpart, rpart) - math.log(2.0 * h)


def shift_theorem_checks(trials: int = 200, seed: int = 0) -> dict[str, float]:
    """Random configurations for the two shift theorems; the largest deviation of each claim.

    Each trial draws 1 to 8 points (logits normal, bandwidth in ``[0.2, 3]``), a bin ``t``
    and an interval ``[a, b]`` with every point outside it, some trials far away (up to
    100 from the target; much farther, the rounding of the moved positions themselves,
    ``ulp(x)/h``, exceeds ``10**-12``). It moves the points by a random admissible ``delta`` and
    records:

    ``bin_grad``
        ``max |dl/dz(t) after - before|`` (per-bin theorem, Laplace);
    ``bin_loss``
        ``max |(l after - l before) + delta/h|``;
    ``interval_grad``, ``interval_loss``
        the same for the unbinned loss over ``[a, b]`` (whole-interval theorem);
    ``binned_grad``
        the same for the binned gradient with 16 bins, moved up to the first arrival at a
        bin centre;
    ``after_arrival``
        ``max |bin_grad - predicted_bin_grad|`` for moves past the first arrival (Laplace,
        Gaussian and von Mises closed forms).

    Examples
    --------
    >>> res = shift_theorem_checks(trials=5)
    >>> sorted(res)
    ['after_arrival', 'bin_grad', 'bin_loss', 'binned_grad', 'interval_grad', 'interval_loss']
    >>> bool(max(res.values()) < 1e-12)
    True
    """
    rng = np.random.default_rng(seed)
    worst = dict.fromkeys(
        ["bin_grad", "bin_loss", "interval_grad", "interval_loss", "binned_grad", "after_arrival"],
        0.0,
    )

    def upd(key: str, value: float) -> None:
        worst[key] = max(worst[key], float(value))

    for trial in range(trials):
        n = int(rng.integers(1, 9))
        z = rng.normal(0.0, 1.5, n)
        h = float(rng.uniform(0.2, 3.0))
        far = float(rng.choice([0.0, 0.0, 10.0, 100.0]))
        side = rng.choice([-1.0, 1.0], n)
        # per bin
        t = float(rng.uniform(-2.0, 2.0))
        x = t + side * (far + rng.uniform(0.05, 4.0, n))
        delta = float(rng.uniform(0.0, 1.0)) * bin_arrival(x, t)
        y = shift_toward(x, t, delta)
        upd(
            "bin_grad",
            np.abs(bin_grad(z, y, t, bandwidth=h) - bin_grad(z, x, t, bandwidth=h)).max(),
        )
        dl = -log_density(z, y, t, bandwidth=h) + log_density(z, x, t, bandwidth=h)
        upd(
            "bin_loss",
            abs(dl + delta / h) / max(1.0, abs(float(log_density(z, x, t, bandwidth=h)))),
        )
        # whole interval
        a = float(rng.uniform(-2.0, 1.0))
        b = a + float(rng.uniform(0.1, 3.0))
        c = 0.5 * (a + b)
        gap = far + rng.uniform(0.05, 3.0, n)
        xi = np.where(side < 0, a - gap, b + gap)
        delta = float(rng.uniform(0.0, 1.0)) * interval_arrival(xi, a, b)
        yi = shift_toward(xi, c, delta)
        L0, g0 = interval_loss_and_grad(z, xi, a, b, bandwidth=h)
        L1, g1 = interval_loss_and_grad(z, yi, a, b, bandwidth=h)
        upd("interval_grad", np.abs(g1 - g0).max())
        upd("interval_loss", abs((L1 - L0) + delta / h) / max(1.0, abs(L0)))
        bins = 16
        reach = min(bin_arrival(xi, tm, toward=c) for tm in bin_centers(a, b, bins))
        ym = shift_toward(xi, c, float(rng.uniform(0.0, 1.0)) * reach)
        _, m0 = loss_and_grad(z, xi, a, b, bandwidth=h, bins=bins)
        _, m1 = loss_and_grad(z, ym, a, b, bandwidth=h, bins=bins)
        upd("binned_grad", np.abs(m1 - m0).max())
        # past the first arrival: the closed forms (positions near the bin, no far points)
        kernel = ("laplace", "gaussian", "vonmises")[trial % 3]
        xa = t + side * rng.uniform(0.05, 3.0, n)
        delta = float(rng.uniform(0.0, 3.0))
        got = bin_grad(z, shift_toward(xa, t, delta), t, kernel=kernel, bandwidth=h)
        want = predicted_bin_grad(z, xa, t, delta, kernel=kernel, bandwidth=h)
        upd("after_arrival", np.abs(got - want).max())
    return worst


# --- SymPy checks (SymPy is imported only when these are called) -----------------------


def sympy_shift_bin(n: int = 3) -> tuple[list[Any], Any]:
    r"""Symbolic per-bin theorem: the gradient change and the loss change after the move.

    The ``n`` points are at distances ``e_j + delta`` from the bin (``e_j >= 0``, so
    ``delta`` is at most the nearest distance); after the move they are at ``e_j``. The
    kernel values are ``exp(-|d|/h)/(2h)`` with the absolute value kept, so SymPy, not the
    reader, decides the sign of each distance.

    Returns
    -------
    grad_change : list of sympy expressions
        ``dl/dz_i(after) - dl/dz_i(before)``, simplified: ``[0, ..., 0]``.
    loss_change : sympy expression
        ``l(after) - l(before)``, simplified: ``-delta/h``.

    Examples
    --------
    >>> sympy_shift_bin(2)
    ([0, 0], -delta/h)
    """
    import sympy as sp

    from ..symbolic import bin_loss, gradient

    z = sp.symbols(f"z1:{n + 1}", real=True)
    e = sp.symbols(f"e1:{n + 1}", nonnegative=True)
    delta, h = sp.symbols("delta h", positive=True)

    def kern(d: Any) -> Any:
        return sp.exp(-sp.Abs(d) / h) / (2 * h)

    before = [kern(ej + delta) for ej in e]
    after = [kern(ej) for ej in e]
    gb, ga = gradient(z, before), gradient(z, after)
    grad_change = [
        sp.simplify(sp.powsimp(x1 - x0, force=True)) for x1, x0 in zip(ga, gb, strict=True)
    ]
    loss_change = sp.simplify(sp.expand_log(bin_loss(z, after) - bin_loss(z, before), force=True))
    return grad_change, loss_change


def sympy_interval_log_ratios() -> dict[str, Any]:
    r"""Symbolic whole-interval theorem: ``log K_i(t) - log K_j(t)`` does not depend on ``delta``.

    For a bin ``t`` in ``[a, b]``, a point left of the interval is at ``t - x`` and moves to
    ``x + delta``; a point right of it is at ``x - t`` and moves to ``x - delta``. The
    responsibilities depend on the kernel values only through these log-ratios, so if none
    depends on ``delta`` (for every ``t``) the whole gradient is unchanged.

    Returns
    -------
    dict
        For each pair of sides (``"left-left"``, ``"left-right"``, ``"right-right"``), the
        derivative of the log-ratio with respect to ``delta``: all 0. For contrast the
        same for the Gaussian kernel (``"gaussian left-left"``), which is not 0.

    Examples
    --------
    >>> sympy_interval_log_ratios()
    {'left-left': 0, 'left-right': 0, 'right-right': 0, 'gaussian left-left': (-x1 + x2)/h**2}
    """
    import sympy as sp

    t, x1, x2, delta = sp.symbols("t x1 x2 delta", real=True)
    h = sp.symbols("h", positive=True)

    def lap(dist: Any) -> Any:
        return -dist / h - sp.log(2 * h)

    def gau(dist: Any) -> Any:
        return -(dist**2) / (2 * h**2)

    left = {"x1": t - (x1 + delta), "x2": t - (x2 + delta)}
    right = {"x1": (x1 - delta) - t, "x2": (x2 - delta) - t}
    out = {
        "left-left": sp.diff(lap(left["x1"]) - lap(left["x2"]), delta),
        "left-right": sp.diff(lap(left["x1"]) - lap(right["x2"]), delta),
        "right-right": sp.diff(lap(right["x1"]) - lap(right["x2"]), delta),
        "gaussian left-left": sp.diff(gau(left["x1"]) - gau(left["x2"]), delta),
    }
    return {k: sp.simplify(v) for k, v in out.items()}


def sympy_log_linear_only() -> dict[str, Any]:
    r"""Which kernels keep the per-bin gradient under a common move, symbolically.

    Two points at distances ``d1, d2 >= delta`` from the bin keep their responsibilities iff
    ``f(d1 - delta) - f(d2 - delta) = f(d1) - f(d2)`` with ``f = log K``. The returned
    residuals are that difference minus its starting value.

    Examples
    --------
    >>> res = sympy_log_linear_only()
    >>> res["laplace"]
    0
    >>> res["gaussian"]
    delta*(d1 - d2)/h**2
    """
    import sympy as sp

    d1, d2, delta, h = sp.symbols("d1 d2 delta h", positive=True)
    kappa = 1 / h**2
    logs = {
        "laplace": lambda d: -d / h,
        "gaussian": lambda d: -(d**2) / (2 * h**2),
        "vonmises": lambda d: kappa * sp.cos(d),
    }
    out = {}
    for name, f in logs.items():
        res = (f(d1 - delta) - f(d2 - delta)) - (f(d1) - f(d2))
        out[name] = sp.factor(sp.simplify(res))
    return out
