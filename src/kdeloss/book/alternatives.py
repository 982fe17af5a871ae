r"""Other losses between the model density and the uniform target, for comparison.

The cross-entropy of :func:`kdeloss.loss_and_grad` gives a far group of points a gradient of
the same size as a near one. This module computes, with their exact gradients with respect
to the logits, losses that look at the same two densities differently:

============================  ============================================  ========
function                      loss                                          kernels
============================  ============================================  ========
:func:`squared_l2`            ``int (q - u)^2``                             G, L
:func:`mmd2`                  squared MMD with a Gaussian MMD kernel        G
:func:`wasserstein1`          ``int |F_q - F_u|``, earth mover's distance   G, L
:func:`truncated_reverse_kl`  ``KL(q~ || u)``, ``q`` cut to ``[a, b]``      G, L
============================  ============================================  ========

(G: ``"gaussian"``, L: ``"laplace"``.) Here ``q(x) = sum_j S_j K(x - x_j)`` with
``S = softmax(z)``, ``u = 1/(b - a)`` on ``[a, b]``, and ``F`` is a cumulative distribution
function. All of them use

.. math::

    \frac{\partial q(x)}{\partial z_i} = S_i \bigl(K(x - x_i) - q(x)\bigr),

the derivative of a softmax-weighted mixture. The plain reverse KL ``KL(q || u)`` is
infinite as soon as ``q`` has mass outside ``[a, b]``, which every full-support kernel has;
:func:`truncated_reverse_kl` is the finite version that renormalises ``q`` on ``[a, b]``.

:func:`gradient_on_cluster` measures, for any of these losses (and the cross-entropy), the
size of the gradient on a group of points as the group is moved away.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy.integrate import quad

from .._validate import as_bandwidth, as_bins, as_interval, as_points, as_scalar
from ..kernels import Kernel, get_kernel
from ..loss import bin_centers, density_terms, log_softmax, loss_and_grad, softmax

__all__ = [
    "LOSSES",
    "cross_entropy",
    "gradient_on_cluster",
    "kernel_cdf",
    "kernel_cdf_integral",
    "kernel_self_overlap",
    "log_mass",
    "mmd2",
    "outside_cost",
    "squared_l2",
    "truncated_reverse_kl",
    "wasserstein1",
    "wasserstein1_parts",
]

# How far the integration grids reach beyond the points and the target: to where the kernel
# is e^-40 below its peak (Kernel.reach: 40 h for Laplace), and at least 10 h (the Gaussian
# is below e^-50 of its peak there).
KERNEL_DEPTH = 40.0
MIN_REACH = 10.0

def _closed_form(kernel: object, bandwidth: float, what: str) -> Kernel:
    """The kernel object, checked to give the closed form ``what`` (a method name)."""
    kern = get_kernel(kernel, bandwidth)
    probe = {"cdf": (np.zeros(1),), "log_mass": (np.zeros(1), 0.0, 1.0),
             "self_overlap": (np.zeros(1),), "tail_mean": (np.zeros(1),)}[what]
    try:
        getattr(kern, what)(*probe)
    except NotImplementedError:
        raise ValueError(
            f"kernel: the closed forms here need a kernel with {what}() such as 'gaussian' or "
            f"'laplace', got {kern.name!r}"
        ) from None
    return kern


def kernel_cdf(kernel: str, d: np.ndarray, bandwidth: float) -> np.ndarray:
    """``C(d) = int_{-inf}^d K``, the kernel's cumulative distribution function.

    Examples
    --------
    >>> kernel_cdf("laplace", np.array([-1.0, 0.0, 1.0]), 1.0)
    array([0.18393972, 0.5       , 0.81606028])
    """
    return _closed_form(kernel, bandwidth, "cdf").cdf(d)


def log_mass(kernel: str, x: np.ndarray, a: float, b: float, bandwidth: float) -> np.ndarray:
    """``log int_a^b K(t - x_j) dt`` per point, accurate far from ``[a, b]``.

    Examples
    --------
    >>> float(np.exp(log_mass("gaussian", np.array([0.5]), 0.0, 1.0, 1e-3)[0]))
    1.0
    >>> lm = log_mass("laplace", np.array([-1000.0]), 0.0, 1.0, 1.0)[0]   # no underflow
    >>> bool(np.isclose(lm, -1000 + np.log(0.5 * (1 - np.exp(-1.0)))))
    True
    """
    return _closed_form(kernel, bandwidth, "log_mass").log_mass(x, a, b)


def kernel_self_overlap(kernel: str, d: np.ndarray, bandwidth: float) -> np.ndarray:
    """``int K(t) K(t - d) dt``: the overlap of two kernels whose centres are ``d`` apart.

    Gaussian: the normal density with variance ``2 h^2``. Laplace:
    ``(1 + |d|/h) exp(-|d|/h) / (4 h)``.

    Examples
    --------
    >>> float(kernel_self_overlap("laplace", np.array([0.0]), 0.5)[0])
    0.5
    """
    return _closed_form(kernel, bandwidth, "self_overlap").self_overlap(d)


def _quadratic(
    s: np.ndarray, gram: np.ndarray, cross: np.ndarray, const: float
) -> tuple[float, np.ndarray]:
    """``S^T G S - 2 S.c + const`` and its gradient with respect to the logits."""
    gs = gram @ s
    sgs = float(s @ gs)
    sc = float(s @ cross)
    value = sgs - 2.0 * sc + const
    grad = 2.0 * s * (gs - sgs) - 2.0 * s * (cross - sc)
    return value, grad


def squared_l2(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    kernel: str = "gaussian",
    bandwidth: float = 1.0,
) -> tuple[float, np.ndarray]:
    r"""Squared L2 distance ``int (q - u)^2`` and its gradient, in closed form.

    .. math::

        \int (q - u)^2 = S^\top G S - 2 S \cdot c + \frac{1}{b - a}, \qquad
        G_{ij} = \int K_i K_j, \quad c_j = \frac{1}{b-a} \int_a^b K_j,

    and ``dL/dz_i = int 2 (q - u) S_i (K_i - q)
    = 2 S_i ((G S)_i - S^T G S) - 2 S_i (c_i - S.c)``.

    Parameters
    ----------
    z, x : array_like, shape (N,)
        Logits and positions.
    a, b : float
        The target interval.
    kernel : str
        ``"gaussian"`` or ``"laplace"``.
    bandwidth : float
        Kernel scale ``h > 0``.

    Returns
    -------
    value : float
    grad : ndarray, shape (N,)

    Examples
    --------
    One very narrow kernel in the middle of [0, 1]: ``int q^2 = 1/(2 h sqrt(pi))`` is
    large and the cross term is ``-2``.

    >>> v, g = squared_l2([0.0], [0.5], 0.0, 1.0, bandwidth=0.01)
    >>> round(v, 6), g
    (27.209479, array([0.]))
    """
    z, x = as_points(z, x)
    aa, bb = as_interval(a, b)
    h = as_bandwidth(bandwidth)
    kern = _closed_form(kernel, h, "self_overlap")
    s = softmax(z)
    gram = kern.self_overlap(x[:, None] - x[None, :])
    cross = np.exp(kern.log_mass(x, aa, bb)) / (bb - aa)
    return _quadratic(s, gram, cross, 1.0 / (bb - aa))


def mmd2(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    bandwidth: float = 1.0,
    scale: float = 1.0,
) -> tuple[float, np.ndarray]:
    r"""Squared MMD between ``q`` (Gaussian kernels) and ``u``, with a Gaussian MMD kernel.

    With ``k(x, y) = exp(-(x - y)^2 / (2 sigma^2))`` (``sigma = scale``),
    ``MMD^2 = E_{q q} k - 2 E_{q u} k + E_{u u} k``, all in closed form:
    ``E_{qq} k = S^T G S`` with ``G_ij = (sigma / s2) exp(-(x_i - x_j)^2 / (2 s2^2))``,
    ``s2^2 = sigma^2 + 2 h^2``; ``E_{qu} k = S.c`` with
    ``c_j = sigma sqrt(2 pi) / (b - a) * (Phi((b - x_j)/s1) - Phi((a - x_j)/s1))``,
    ``s1^2 = sigma^2 + h^2``. The gradient has the same form as in :func:`squared_l2`.

    Examples
    --------
    >>> v, g = mmd2([0.0, 0.0], [0.25, 0.75], 0.0, 1.0, bandwidth=0.1, scale=0.5)
    >>> bool(0 < v < 0.05), bool(abs(g.sum()) < 1e-15)
    (True, True)
    """
    z, x = as_points(z, x)
    aa, bb = as_interval(a, b)
    h = as_bandwidth(bandwidth)
    sigma = as_scalar("scale", scale)
    if not sigma > 0:
        raise ValueError(f"scale: must be > 0, got {sigma}")
    s = softmax(z)
    s2 = math.sqrt(sigma**2 + 2 * h**2)
    s1 = math.sqrt(sigma**2 + h**2)
    width = bb - aa
    gram = (sigma / s2) * np.exp(-((x[:, None] - x[None, :]) ** 2) / (2 * s2**2))
    cross = sigma * math.sqrt(2 * math.pi) / width * np.exp(log_mass("gaussian", x, aa, bb, s1))
    r = width / sigma
    uu = (
        sigma * math.sqrt(2 * math.pi) * width * math.erf(r / math.sqrt(2))
        - 2 * sigma**2 * (-math.expm1(-0.5 * r * r))
    ) / width**2
    return _quadratic(s, gram, cross, uu)


def kernel_cdf_integral(kernel: str, y: np.ndarray, bandwidth: float) -> np.ndarray:
    r"""``Psi(y) = int_{-inf}^y F_K(s) ds = E[(y - X)^+]`` for ``X ~ K``, in closed form.

    ``F_K`` is the kernel's CDF (:func:`kernel_cdf`). For a symmetric kernel
    ``Psi(y) = max(y, 0) + T(|y|)``, with the tail mean ``T(s) = E[(X - s)^+]``, which
    falls from ``T(0) = E|X| / 2`` to 0:
    ``T(s) = (h/2) e^{-s/h}`` (Laplace) and ``T(s) = h phi(s/h) - s (1 - Phi(s/h))``
    (Gaussian, written with ``erfcx`` so that it does not underflow early).

    Parameters
    ----------
    kernel : str
        ``"gaussian"`` or ``"laplace"``.
    y : array_like
        Where to evaluate.
    bandwidth : float
        Kernel scale ``h > 0``.

    Examples
    --------
    >>> kernel_cdf_integral("laplace", np.array([-1.0, 0.0, 3.0]), 1.0)
    array([0.18393972, 0.5       , 3.02489353])
    """
    kern = _closed_form(kernel, as_bandwidth(bandwidth), "tail_mean")
    yy = np.asarray(y, dtype=float)
    tail = kern.tail_mean(np.abs(yy))
    return np.maximum(yy, 0.0) + tail


def outside_cost(kernel: str, x: np.ndarray, a: float, b: float, bandwidth: float) -> np.ndarray:
    r"""``V(x) = Psi(a - x) + Psi(x - b)``: a kernel at ``x``'s share of ``W_1`` off ``[a, b]``.

    ``W_1(q, u) = sum_j S_j V(x_j) + int_a^b |F_q - F_u|`` (book/alternatives.md), and
    ``V(x)`` is the distance from ``x`` to ``[a, b]`` plus a term between 0 and ``E|X|``.

    Examples
    --------
    >>> v = outside_cost("gaussian", np.array([-10.0, 11.0]), 0.0, 1.0, 0.1)
    >>> np.round(v, 12)
    array([10., 10.])
    """
    aa, bb = as_interval(a, b)
    xx = np.asarray(x, dtype=float)
    left = kernel_cdf_integral(kernel, aa - xx, bandwidth)
    return left + kernel_cdf_integral(kernel, xx - bb, bandwidth)


def wasserstein1_parts(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    kernel: str = "gaussian",
    bandwidth: float = 1.0,
) -> tuple[float, float]:
    r"""The two parts of ``W_1(q, u)``: outside the target, in closed form, and inside it.

    Returns ``(sum_j S_j V(x_j), int_a^b |F_q - F_u| dt)`` with :func:`outside_cost`; the
    second by adaptive quadrature (:func:`scipy.integrate.quad`). Their sum is ``W_1``.

    Examples
    --------
    One narrow kernel at 3, target [0, 1]: all of ``W_1 = 2.5`` is outside, where ``F_q = 0``
    on ``(-inf, a)`` and ``1 - F_q = 1`` on ``(b, 3)``; inside, ``|F_q - F_u| = t``.

    >>> out, inside = wasserstein1_parts([0.0], [3.0], 0.0, 1.0, bandwidth=1e-3)
    >>> round(out, 6), round(inside, 6)
    (2.0, 0.5)
    """
    z, x = as_points(z, x)
    aa, bb = as_interval(a, b)
    h = as_bandwidth(bandwidth)
    kern = _closed_form(kernel, h, "cdf")
    s = softmax(z)
    outside = float(s @ outside_cost(kern.name, x, aa, bb, h))

    def gap(t: float) -> float:
        fq = float(kern.cdf(t - x) @ s)
        return abs(fq - (t - aa) / (bb - aa))

    kinks = [float(v) for v in x if aa < v < bb]
    inside = quad(gap, aa, bb, points=kinks or None, limit=200, epsabs=1e-13, epsrel=1e-11)[0]
    return outside, float(inside)


def _grid(x: np.ndarray, a: float, b: float, kern: Kernel, h: float, num: int) -> np.ndarray:
    """A grid beyond which every kernel and the target have (numerically) no mass."""
    reach = max(kern.reach(KERNEL_DEPTH, 1.0), MIN_REACH * h)
    return np.linspace(min(a, float(x.min())) - reach, max(b, float(x.max())) + reach, num)


def wasserstein1(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    kernel: str = "gaussian",
    bandwidth: float = 1.0,
    num: int = 20001,
) -> tuple[float, np.ndarray]:
    r"""Wasserstein-1 (earth mover's) distance ``int |F_q - F_u|`` and its gradient.

    On the line ``W_1(q, u) = int |F_q(t) - F_u(t)| dt`` with ``F_q = sum_j S_j C(t - x_j)``
    (``C`` the kernel's CDF, :func:`kernel_cdf`), so

    .. math::

        \frac{\partial W_1}{\partial z_i}
        = \int \operatorname{sign}(F_q - F_u)\, S_i \bigl(C(t - x_i) - F_q(t)\bigr)\,dt .

    Both integrals are trapezoidal sums on ``num`` points spanning the target, every point
    and 10 (Gaussian) or 40 (Laplace) bandwidths beyond. The gradient is that of the sum, so
    it matches finite differences of ``value`` wherever ``F_q - F_u`` changes sign between
    grid points.

    Examples
    --------
    All the mass at 3 (a narrow kernel) and the target on [0, 1]: the mass moves 2.5 on
    average.

    >>> v, g = wasserstein1([0.0], [3.0], 0.0, 1.0, bandwidth=1e-3)
    >>> round(v, 4)
    2.5
    """
    z, x = as_points(z, x)
    aa, bb = as_interval(a, b)
    h = as_bandwidth(bandwidth)
    kern = _closed_form(kernel, h, "cdf")
    if isinstance(num, bool) or not isinstance(num, int) or num < 3:
        raise ValueError(f"num: expected an integer >= 3, got {num!r}")
    s = softmax(z)
    t = _grid(x, aa, bb, kern, h, num)
    cdf = kern.cdf(t[:, None] - x[None, :])  # (G, N)
    fq = cdf @ s
    fu = np.clip((t - aa) / (bb - aa), 0.0, 1.0)
    diff = fq - fu
    value = float(np.trapezoid(np.abs(diff), t))
    dfq = s[None, :] * (cdf - fq[:, None])
    grad = np.trapezoid(np.sign(diff)[:, None] * dfq, t, axis=0)
    return value, grad


def truncated_reverse_kl(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    kernel: str = "gaussian",
    bandwidth: float = 1.0,
    bins: int = 256,
) -> tuple[float, np.ndarray]:
    r"""``KL(q~ || u)`` for ``q~ = q / Q`` on ``[a, b]``, ``Q = int_a^b q``; midpoint rule.

    ``KL(q || u)`` itself is ``+inf`` when ``q`` puts mass outside ``[a, b]`` (``u = 0``
    there), so this keeps only the part of ``q`` on the target and renormalises it. With
    ``rho_i = S_i int_a^b K_i / Q`` (point ``i``'s share of the mass on the target) and the
    responsibilities ``r_i``,

    .. math::

        \frac{\partial \log \tilde q(t)}{\partial z_i} = r_i(t) - \rho_i, \qquad
        \frac{\partial\,\mathrm{KL}}{\partial z_i}
        = \frac{b-a}{M} \sum_m \tilde q(t_m) \bigl(1 + \log((b-a)\tilde q(t_m))\bigr)
          \bigl(r_i(t_m) - \rho_i\bigr),

    computed in log space. A point whose kernel has no mass on ``[a, b]`` has ``r_i = 0``
    and ``rho_i = 0``: this loss does not see it at all.

    Examples
    --------
    >>> v, g = truncated_reverse_kl([0.0, 0.0], [0.2, 0.8], 0.0, 1.0, bandwidth=0.3)
    >>> bool(v > 0), bool(abs(g.sum()) < 1e-15)
    (True, True)
    """
    z, x = as_points(z, x)
    aa, bb = as_interval(a, b)
    h = as_bandwidth(bandwidth)
    kern = _closed_form(kernel, h, "log_mass")
    m = as_bins(bins)
    t = bin_centers(aa, bb, m)
    width = bb - aa
    logq, r, _ = density_terms(z, x, t, kern, "bins")
    lm = log_softmax(z) + kern.log_mass(x, aa, bb)
    log_big_q = float(np.logaddexp.reduce(lm))
    rho = np.exp(lm - log_big_q)
    log_qt = logq - log_big_q  # log q~(t_m)
    w = np.exp(log_qt) * (width / m)  # q~(t_m) times the bin width
    ell = np.log(width) + log_qt
    value = float(w @ ell)
    grad = ((w * (1.0 + ell))[:, None] * (r - rho[None, :])).sum(axis=0)
    return value, grad


def cross_entropy(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    kernel: str = "gaussian",
    bandwidth: float = 1.0,
    bins: int = 256,
    background: float = 0.0,
) -> tuple[float, np.ndarray]:
    """The book's loss, :func:`kdeloss.loss_and_grad`, with the same signature as the others.

    Examples
    --------
    >>> cross_entropy([0.0], [0.5], 0.0, 1.0)[1]
    array([0.])
    """
    return loss_and_grad(
        z, x, a, b, kernel=kernel, bandwidth=bandwidth, bins=bins, background=background
    )


#: The losses by name, each ``f(z, x, a, b, **options) -> (value, grad)``.
LOSSES: dict[str, Callable[..., tuple[float, np.ndarray]]] = {
    "cross-entropy": cross_entropy,
    "squared L2": squared_l2,
    "MMD": mmd2,
    "Wasserstein-1": wasserstein1,
    "truncated reverse KL": truncated_reverse_kl,
}


def gradient_on_cluster(
    loss: Callable[..., tuple[float, np.ndarray]],
    distances: Sequence[float],
    *,
    near: Sequence[float],
    cluster: Sequence[float],
    z: Sequence[float] | None = None,
    a: float = 0.0,
    b: float = 1.0,
    **options: object,
) -> np.ndarray:
    """``|| dL/dz_cluster ||_2`` as a cluster of points is moved to each distance left of ``a``.

    The cluster's points sit at ``a - d - c`` for ``c`` in ``cluster`` (so ``d`` is the gap
    between its nearest point and the target); the ``near`` points stay where they are.

    Parameters
    ----------
    loss : callable
        ``loss(z, x, a, b, **options) -> (value, grad)``, e.g. a value of :data:`LOSSES`.
    distances : array_like
        The gaps ``d >= 0``.
    near : array_like
        Positions of the points that stay (may be empty).
    cluster : array_like
        Offsets ``c >= 0`` of the cluster's points, left of ``a - d``.
    z : array_like, optional
        Logits, near points first; zeros by default.
    a, b : float
        The target interval.
    **options
        Passed to ``loss``.

    Returns
    -------
    ndarray, shape (len(distances),)
        The Euclidean norm of the gradient's components on the cluster's logits.

    Examples
    --------
    The cross-entropy's push on a lone far cluster does not depend on its distance (Laplace
    kernel):

    >>> g = gradient_on_cluster(cross_entropy, [1.0, 10.0, 100.0], near=[],
    ...                         cluster=[0.0, 0.5], kernel="laplace", bandwidth=0.5)
    >>> bool(np.ptp(g) < 1e-12 * g[0])
    True
    """
    near_x = np.asarray(near, dtype=float)
    offsets = np.asarray(cluster, dtype=float)
    if offsets.size == 0 or np.any(offsets < 0):
        raise ValueError("cluster: expected at least one offset, all >= 0")
    n = near_x.size + offsets.size
    zz = np.zeros(n) if z is None else np.asarray(z, dtype=float)
    out = []
    for d in distances:
        if not d >= 0:
            raise ValueError(f"distances: every distance must be >= 0, got {d}")
        x = np.concatenate([near_x, a - d - offsets])
        _, g = loss(zz, x, a, b, **options)
        out.append(float(np.linalg.norm(g[near_x.size :])))
    return np.array(out)
