r"""The loss, its exact gradient, and the responsibilities, computed in log space.

Notation (the book's notation page): points ``x_j`` with logits ``z_j``, weights
``S = softmax(z)``, a normalised kernel ``K``, the weighted density
``q(t) = sum_j S_j K(t - x_j)`` and a uniform target on ``[a, b]``. Binning is the midpoint
rule with ``M`` bins at ``t_m = a + (m + 1/2)(b - a)/M``:

.. math::

    L_M(z) = -\frac{1}{M} \sum_m \log q(t_m), \qquad
    \frac{\partial L_M}{\partial z_i} = S_i - \frac{1}{M} \sum_m r_i(t_m),

where ``r_i(t) = S_i K(t - x_i) / q(t)`` is the responsibility of point ``i`` for ``t``.
Nothing here divides one density by another: ``log q`` is a log-sum-exp and ``r`` is a
softmax of ``z + log K``, so points far from the target (where every ``K`` underflows) give
finite, exact numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import fast
from ._validate import (
    as_background,
    as_bins,
    as_bins_at,
    as_interval,
    as_points,
    as_scalar,
    as_target,
    as_tol,
)
from .kernels import Kernel, LogPdf, get_kernel, weighted_log_rows
from .logspace import (
    log_softmax,
    log_width,
    mean_of_logs,
    row_logsumexp,
    softmax,
    uncovered_bin_error,
    unrepresentable_error,
    with_background,
)

__all__ = [
    "bin_centers",
    "bin_grad",
    "density_terms",
    "log_density",
    "log_softmax",
    "loss",
    "loss_and_grad",
    "model_probability",
    "responsibilities",
    "softmax",
]

KernelLike = str | LogPdf
#: A target: ``None`` (uniform on ``[a, b]``), one weight per bin, or a density ``p(t)``.
TargetLike = np.ndarray | Callable[[np.ndarray], np.ndarray] | None


def bin_centers(a: float, b: float, bins: int) -> np.ndarray:
    """Midpoint-rule nodes ``t_m = a + (m + 1/2)(b - a)/M`` for ``m = 0..M-1``.

    Where ``b - a`` overflows (``a = -1e308, b = 1e308``) the nodes are formed as
    ``(1 - f) a + f b`` with ``f = (m + 1/2)/M`` instead.

    Examples
    --------
    >>> bin_centers(0.0, 1.0, 4)
    array([0.125, 0.375, 0.625, 0.875])
    >>> bin_centers(-1e308, 1e308, 2)
    array([-5.e+307,  5.e+307])
    """
    a, b = as_interval(a, b)
    m = as_bins(bins)
    k = np.arange(m) + 0.5
    width = b - a
    if np.isfinite(width):
        return a + k * (width / m)
    f = k / m
    return (1.0 - f) * a + f * b


# Entries (rows times N) of one block when a table is made in pieces (``loss``), so that no
# call holds more than a few arrays of this size at once.
_BLOCK_ENTRIES = 2**19


def density_terms(
    z: np.ndarray,
    x: np.ndarray,
    t: np.ndarray,
    kern: Kernel,
    what: str,
    eps: float = 0.0,
    log_u: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``log q(t_m)``, ``r[m, j]`` and ``pi[m]``: the pieces every quantity is made of.

    For modules and advanced users: the inputs are taken as clean (validated arrays,
    a resolved :class:`kdeloss.Kernel`, ``0 <= eps < 1``), and the whole ``M x N`` table
    is held. ``what`` names the caller's argument in the uncovered-bin error.

    ``q = (1 - eps) * sum_j S_j K_j + eps * u`` and ``pi = (1 - eps) * sum_j S_j K_j / q`` is
    the probability that the model, not the background, explains ``t_m``. Without a
    background (``eps = 0``) a row that no kernel reaches raises, naming ``what``, and so
    does a row whose ``log q`` is below the float range (a kernel positive everywhere,
    points ``1e308`` bandwidths away). With a background such rows have ``pi = 0``.
    """
    ls = log_softmax(z)
    covered, lead, terms = weighted_log_rows(kern, t, x, z, ls)
    if not covered.all() and eps == 0.0:
        m = int(np.flatnonzero(~covered)[0])
        if kern.positive:
            raise unrepresentable_error(m, float(t[m]))
        raise uncovered_bin_error(what, m, float(t[m]))
    lse, e, total = row_logsumexp(terms)
    r = e / total[:, None]
    log_model = lead + lse
    if not covered.all():
        log_model = np.where(covered, log_model, -np.inf)
    if eps == 0.0:
        return log_model, r, np.ones(t.size)
    logq, pi = with_background(log_model, eps, log_u)
    return logq, r, pi


def _core_blocks(
    z: np.ndarray,
    x: np.ndarray,
    t: np.ndarray,
    kern: Kernel,
    what: str,
    eps: float = 0.0,
    log_u: float = 0.0,
) -> np.ndarray:
    """``log q(t_m)`` alone, from :func:`density_terms` on blocks of rows (bounded memory)."""
    rows = max(1, _BLOCK_ENTRIES // x.size)
    parts = []
    for i in range(0, t.size, rows):
        try:
            parts.append(density_terms(z, x, t[i : i + rows], kern, what, eps, log_u)[0])
        except ValueError as err:
            raise _renumbered(err, i) from None
    return np.concatenate(parts)


def _renumbered(err: ValueError, first: int) -> ValueError:
    """``err``, about a bin of a block that starts at bin ``first``, with the bin's index."""
    msg = str(err)
    head, sep, tail = msg.partition(" bin ")
    number, sep2, rest = tail.partition(" at t")
    if not (sep and sep2 and number.isdigit()):
        return err
    return ValueError(f"{head} bin {first + int(number)} at t{rest}")


def _log_background_density(density: object) -> float:
    """Validate ``background_density > 0`` and return its log."""
    u = as_scalar("background_density", density)
    if not u > 0.0:
        raise ValueError(f"background_density: must be > 0, got {u}")
    return float(np.log(u))


def loss_and_grad(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
    bins: int = 256,
    background: float = 0.0,
    method: str = "auto",
    tol: float | None = None,
    target: TargetLike = None,
) -> tuple[float, np.ndarray]:
    r"""Binned cross-entropy ``L_M`` and its exact gradient with respect to the logits.

    .. math::

        L_M = -\frac{1}{M}\sum_{m=0}^{M-1} \log q(t_m), \qquad
        \frac{\partial L_M}{\partial z_i} = S_i - \frac{1}{M}\sum_m r_i(t_m)

    With a ``target`` of bin weights ``w_m >= 0`` (normalised to ``wbar = w / sum w``) the
    uniform ``1/M`` becomes ``wbar_m``: ``L = -sum_m wbar_m log q(t_m)`` and
    ``dL/dz_i = S_i - sum_m wbar_m r_i(t_m)``, the cross-entropy of the target ``p`` and
    its gradient ``S - E_p[r]``. A bin of weight 0 adds nothing, by ``0 log 0 = 0``: it may
    be uncovered (a box kernel that reaches no point there) without raising.

    With ``background = eps > 0`` the density is ``q = (1 - eps) sum_j S_j K_j + eps u`` with
    ``u = 1/(b - a)`` the target density, and each bin's gradient is multiplied by
    ``pi(t_m) = (1 - eps) sum_j S_j K_j(t_m) / q(t_m)``, the probability that the model (not
    the background) explains the bin: ``dL_M/dz_i = mean_m pi(t_m) (S_i - r_i(t_m))``.

    Parameters
    ----------
    z : array_like, shape (N,)
        Logits, finite.
    x : array_like, shape (N,)
        Point positions (angles for ``"vonmises"``), finite.
    a, b : float
        The uniform target's support ``[a, b]``, ``a < b``.
    kernel : str or object with ``logpdf(d)``
        ``"laplace"`` (default), ``"gaussian"``, ``"box"``, ``"vonmises"``, or a kernel object.
    bandwidth : float
        Kernel scale ``h > 0`` (``kappa = 1/h**2`` for von Mises).
    bins : int
        Number of midpoint bins ``M >= 1``.
    background : float
        Weight ``eps`` in ``[0, 1)`` of a fixed uniform background component (default 0).
    method : {"auto", "direct", "sorted", "fft"}
        How to compute it (:mod:`kdeloss.fast`). Errors are in one measure: the loss's
        relative to ``max(1, mean_m |log q(t_m)|)``, the gradient's absolute (its entries
        are differences of probabilities), against the exact value at the given floats.
        Each method keeps its bound on every input it answers, or falls back to an exact
        method, or raises ``ValueError``; it never returns a number outside its bound.

        ``"direct"``: any kernel, exact (``1e-12``), ``O(N M)`` time in row blocks on all
        cores, ``O(N + M)`` memory. ``"sorted"``: the Laplace kernel, exact (``1e-12``),
        ``O(N + M)`` after grouping the points by bin. ``"fft"``: a kernel on the line;
        the Laplace kernel goes to ``"sorted"`` and the box kernel to an exact sum over
        sorted runs, others are binned onto a grid and convolved by FFT, with a checked
        error bound ``tol`` (default :data:`kdeloss.fast.FFT_TOL` ``= 1e-6``): the grid is
        refined, or the exact method used, where the bound would not hold. ``"auto"``
        (default): the fastest method whose bound is at most ``tol``
        (:func:`kdeloss.fast.choose_method`).
    tol : float, optional
        The error ``"auto"`` may accept (default ``None``: exact), and the bound ``"fft"``
        keeps. A number in ``(0, 1)``.
    target : array_like of shape (M,), or callable, optional
        ``None`` (default): uniform on ``[a, b]``. An array: the target's weight ``w_m >= 0``
        at each bin, not all zero (normalised here). A callable ``p``: called once with the
        array of bin centres, it must return an array of that shape (a density, or any
        weights); its values are the ``w_m``. The error bounds above hold in the same
        measure with the weighted mean (``max(1, sum_m wbar_m |log q(t_m)|)``).

    Returns
    -------
    loss : float
        ``L_M``.
    grad : ndarray, shape (N,)
        ``dL_M/dz``; it sums to zero.

    Raises
    ------
    ValueError
        On bad input (the message names the argument: a negative, NaN, inf or all-zero
        ``target``, one of the wrong size or shape, or a callable that raises or returns
        such values gives ``"target: ..."``), if a bin of positive weight is covered by no
        kernel (possible only with ``"box"`` and no background), for an unknown ``method``,
        for
        ``"sorted"`` with a kernel other than Laplace, and for ``"fft"`` with a circular
        kernel.

    Examples
    --------
    One point at 0 and the target [0, 1] in two bins: ``L = mean(|t_m|) + log 2``, and the
    gradient is 0 because a single weight cannot change.

    >>> L, g = loss_and_grad([0.0], [0.0], 0.0, 1.0, bins=2)
    >>> bool(L == 0.5 + np.log(2.0)), g
    (True, array([0.]))

    Two points: the one nearer the target gets a negative gradient (descent raises it).

    >>> L, g = loss_and_grad([0.0, 0.0], [0.5, 3.0], 0.0, 1.0)
    >>> bool(g[0] < 0 < g[1]), float(abs(g.sum())) < 1e-15
    (True, True)

    A background damps the gradient of a far cluster, which the plain loss does not:

    >>> far = np.array([30.0, 31.0])
    >>> _, g0 = loss_and_grad([0.0, 0.0], far, 0.0, 1.0)
    >>> _, g1 = loss_and_grad([0.0, 0.0], far, 0.0, 1.0, background=0.01)
    >>> bool(abs(g1[0]) < 1e-9 < abs(g0[0]))
    True

    The methods agree; ``"sorted"`` is exact and fast for the Laplace kernel:

    >>> rng = np.random.default_rng(7)
    >>> z, x = rng.normal(size=1000), rng.normal(size=1000)
    >>> L1, g1 = loss_and_grad(z, x, -1.0, 1.0, bins=1000, method="direct")
    >>> L2, g2 = loss_and_grad(z, x, -1.0, 1.0, bins=1000, method="sorted")
    >>> bool(abs(L1 - L2) < 1e-13 and np.abs(g1 - g2).max() < 1e-15)
    True

    A target that is not uniform: weights at the bins, or a density called at the centres.
    Equal weights give the uniform target back:

    >>> L3, g3 = loss_and_grad(z, x, -1.0, 1.0, bins=1000, target=np.ones(1000))
    >>> bool(abs(L3 - L2) < 1e-13 and np.abs(g3 - g2).max() < 1e-15)
    True
    >>> L4, g4 = loss_and_grad(z, x, -1.0, 1.0, bins=1000, target=lambda t: 1.0 - t * t)
    >>> bool(abs(float(g4.sum())) < 1e-15)
    True
    """
    z, x = as_points(z, x)
    aa, bb = as_interval(a, b)
    eps = as_background(background)
    log_u = -log_width(aa, bb)
    kern = get_kernel(kernel, bandwidth)
    t = bin_centers(aa, bb, bins)
    tol = as_tol(tol)
    how = fast.choose_method(method, kern, x.size, t.size, tol=tol)
    w = as_target(target, t)
    if how == "sorted":
        return fast.sorted_laplace(z, x, t, kern.bandwidth, eps, log_u, weights=w)
    if how == "fft":
        ftol = fast.FFT_TOL if tol is None else tol
        return fast.fft(z, x, t, kern, eps, log_u, tol=ftol, weights=w)
    if x.size * t.size > _DENSE_MAX:
        return fast.direct(z, x, t, kern, eps, log_u, weights=w)
    return _dense_loss_and_grad(z, x, t, kern, eps, log_u, w)


# Up to this many table entries (N * M), "direct" holds the whole table (the reference).
_DENSE_MAX = 2**16


def _dense_loss_and_grad(
    z: np.ndarray,
    x: np.ndarray,
    t: np.ndarray,
    kern: Kernel,
    eps: float,
    log_u: float,
    weights: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    """The direct method with the whole ``M x N`` table in memory, for small problems.

    With bin ``weights`` (summing to 1) only the bins of positive weight are evaluated: the
    others add nothing (``0 log 0 = 0``), so they may be uncovered.
    """
    if weights is not None:
        return _dense_weighted(z, x, t, kern, eps, log_u, weights)
    logq, r, pi = density_terms(z, x, t, kern, "bins", eps, log_u)
    if eps == 0.0:
        grad = softmax(z) - r.mean(axis=0)
    else:
        grad = softmax(z) * pi.mean() - (pi[:, None] * r).mean(axis=0)
    return _mean_loss(logq), grad


def _dense_weighted(
    z: np.ndarray,
    x: np.ndarray,
    t: np.ndarray,
    kern: Kernel,
    eps: float,
    log_u: float,
    weights: np.ndarray,
) -> tuple[float, np.ndarray]:
    """:func:`_dense_loss_and_grad` with bin weights, on the bins of positive weight."""
    live = np.flatnonzero(weights > 0.0)
    w = weights[live]
    try:
        logq, r, pi = density_terms(z, x, t[live], kern, "bins", eps, log_u)
    except ValueError as err:
        raise _reindexed(err, live) from None
    c = w if eps == 0.0 else w * pi
    grad = softmax(z) * float(c.sum()) - c @ r
    return float(-(w @ logq)), grad


def _reindexed(err: ValueError, index: np.ndarray) -> ValueError:
    """``err``, about bin ``i`` of the bins ``index`` picked out, with the bin's own index."""
    msg = str(err)
    head, sep, tail = msg.partition(" bin ")
    number, sep2, rest = tail.partition(" at t")
    if not (sep and sep2 and number.isdigit()):
        return err
    return ValueError(f"{head} bin {int(index[int(number)])} at t{rest}")


def _mean_loss(logq: np.ndarray) -> float:
    """``-mean(log q)``: never overflows where every ``log q`` is a float."""
    return float(-mean_of_logs(logq))


def loss(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
    bins: int = 256,
    background: float = 0.0,
    target: TargetLike = None,
) -> complex | float:
    """``L_M`` alone; accepts complex logits, for complex-step differentiation.

    The loss is analytic in the logits, so with ``z + i*eps*e_k`` the imaginary part of
    the result divided by ``eps`` is ``dL_M/dz_k`` to round-off. Arguments as in
    :func:`loss_and_grad` (with a ``target``, ``-sum_m wbar_m log q(t_m)`` over the bins of
    positive weight).

    Examples
    --------
    >>> z = np.array([0.3, -0.2]); x = np.array([-0.5, 1.5])
    >>> eps = 1e-30
    >>> dz0 = loss(z + np.array([1j * eps, 0]), x, 0.0, 1.0, bins=8).imag / eps
    >>> bool(np.isclose(dz0, loss_and_grad(z, x, 0.0, 1.0, bins=8)[1][0], rtol=1e-14))
    True
    """
    z, x = as_points(z, x, allow_complex=True)
    aa, bb = as_interval(a, b)
    eps = as_background(background)
    log_u = -log_width(aa, bb)
    kern = get_kernel(kernel, bandwidth)
    t = bin_centers(aa, bb, bins)
    w = as_target(target, t)
    if not np.iscomplexobj(z):
        return loss_and_grad(
            z, x, aa, bb, kernel=kern, bins=t.size, background=eps, method="direct", target=w
        )[0]
    if w is None:
        value = -mean_of_logs(_core_blocks(z, x, t, kern, "bins", eps, log_u))
        return complex(value)
    live = np.flatnonzero(w > 0.0)
    try:
        logq = _core_blocks(z, x, t[live], kern, "bins", eps, log_u)
    except ValueError as err:
        raise _reindexed(err, live) from None
    return complex(-(w[live] @ logq))


def _at(
    z: object,
    x: object,
    t: object,
    kernel: KernelLike,
    bandwidth: float,
    background: float,
    background_density: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    z, x = as_points(z, x)
    eps = as_background(background)
    log_u = _log_background_density(background_density)
    kern = get_kernel(kernel, bandwidth)
    tt, scalar = as_bins_at(t)
    logq, r, pi = density_terms(z, x, tt, kern, "t", eps, log_u)
    return z, logq, r, pi, scalar


def responsibilities(
    z: np.ndarray,
    x: np.ndarray,
    t: float | np.ndarray,
    *,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
) -> np.ndarray:
    r"""Responsibilities ``r_i(t) = S_i K(t - x_i) / q(t) = softmax(z + log K(t - x))_i``.

    The posterior probability that component ``i`` produced ``t``.

    Parameters
    ----------
    z, x : array_like, shape (N,)
        Logits and positions.
    t : float or array_like, shape (T,)
        Where to evaluate.
    kernel, bandwidth
        As in :func:`loss_and_grad`.

    Returns
    -------
    ndarray
        Shape ``(N,)`` for a scalar ``t``, ``(T, N)`` for an array; each row sums to 1.

    Examples
    --------
    >>> responsibilities([0.0, 0.0], [-1.0, 1.0], 0.0)
    array([0.5, 0.5])
    >>> responsibilities([0.0, 0.0], [1e6, 1e6 + 1.0], 0.0)   # far away: still exact
    array([0.73105858, 0.26894142])
    """
    _, _, r, _, scalar = _at(z, x, t, kernel, bandwidth, 0.0, 1.0)
    return r[0] if scalar else r


def model_probability(
    z: np.ndarray,
    x: np.ndarray,
    t: float | np.ndarray,
    *,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
    background: float = 0.0,
    background_density: float = 1.0,
) -> float | np.ndarray:
    r"""``pi(t) = (1 - eps) sum_j S_j K(t - x_j) / q(t)``: how likely the model made ``t``.

    With a background component ``eps u`` in ``q``, this is the posterior probability that
    ``t`` came from the kernels rather than from the background; it is 1 when
    ``background = 0``. ``background_density`` is the value of ``u`` at ``t``.

    Examples
    --------
    >>> float(model_probability([0.0], [0.0], 0.0, background=0.5, background_density=0.5))
    0.5
    >>> float(model_probability([0.0], [50.0], 0.0, background=0.01)) < 1e-20
    True
    """
    _, _, _, pi, scalar = _at(z, x, t, kernel, bandwidth, background, background_density)
    return float(pi[0]) if scalar else pi


def bin_grad(
    z: np.ndarray,
    x: np.ndarray,
    t: float | np.ndarray,
    *,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
    background: float = 0.0,
    background_density: float = 1.0,
) -> np.ndarray:
    r"""Gradient of the one-bin loss ``l(t) = -log q(t)``: ``dl/dz_i = S_i - r_i(t)``.

    This is the seed's per-bin quantity, "weight minus responsibility". With a background
    weight ``eps > 0`` it is ``pi(t) (S_i - r_i(t))`` (see :func:`model_probability`).

    Parameters
    ----------
    z, x : array_like, shape (N,)
        Logits and positions.
    t : float or array_like, shape (T,)
        The bin (or bins).
    kernel, bandwidth
        As in :func:`loss_and_grad`.
    background : float
        Background weight ``eps`` in ``[0, 1)``.
    background_density : float
        The background density's value ``u(t) > 0`` (for :func:`loss_and_grad` it is
        ``1/(b - a)``).

    Returns
    -------
    ndarray
        Shape ``(N,)`` for a scalar ``t``, ``(T, N)`` for an array; each row sums to 0.

    Examples
    --------
    With a box kernel that covers only point 1 the gradient is ordinary softmax
    cross-entropy with label 1, ``S - e_1``:

    >>> bin_grad([0.0, 0.0, 0.0], [0.0, 1.0, 2.0], 1.0, kernel="box", bandwidth=0.5)
    array([ 0.33333333, -0.66666667,  0.33333333])
    """
    z, _, r, pi, scalar = _at(z, x, t, kernel, bandwidth, background, background_density)
    g = pi[:, None] * (softmax(z)[None, :] - r) if background else softmax(z)[None, :] - r
    return g[0] if scalar else g


def log_density(
    z: np.ndarray,
    x: np.ndarray,
    t: float | np.ndarray,
    *,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
    background: float = 0.0,
    background_density: float = 1.0,
) -> float | np.ndarray:
    """``log q(t)`` with ``q(t) = (1 - eps) sum_j S_j K(t - x_j) + eps u``, in log space.

    Returns a float for a scalar ``t`` and shape ``(T,)`` for an array. Where no kernel
    reaches ``t`` (possible only with ``"box"``) and there is no background it raises
    instead of returning ``-inf``.

    Examples
    --------
    >>> float(log_density([0.0], [0.0], 0.0, kernel="laplace", bandwidth=0.5))
    0.0
    >>> float(log_density([0.0], [1e6], 0.0))   # q underflows; log q does not
    -1000000.6931471806
    """
    _, logq, _, _, scalar = _at(z, x, t, kernel, bandwidth, background, background_density)
    return float(logq[0]) if scalar else logq
