r"""Independent checks of the gradient, and of the midpoint rule behind the binned loss.

The book's chapters "Deriving the gradient" and "Checking it numerically" call these
functions; ``tests/test_core_chapters.py`` runs the same checks without the book.

Derivatives, three ways that share no code with :func:`kdeloss.loss_and_grad`
    :func:`central_difference`, :func:`fd_gradient` (central finite differences),
    :func:`complex_step_derivative`, :func:`complex_step_gradient` (complex step),
    :func:`lambdify_bin_grad`, :func:`lambdify_loss_grad` (``sympy.lambdify`` of the
    symbolic derivative), and :func:`check_gradients` over :func:`random_cases`.
Step size
    :func:`fd_step_sweep` and :class:`StepSweep`: the error of a central difference against
    its step, with the truncation and round-off model that explains its V shape.
The integral and the binning error
    :func:`kinks`, :func:`reference_loss`, :func:`reference_gradient` (adaptive quadrature,
    split at the kinks of ``log q``), :func:`binning_errors`, :func:`local_orders`,
    :func:`fitted_order`, :func:`midpoint_error_model` (the leading error term of the
    midpoint rule, kinks included), and :func:`binning_study`, which does all of it;
    :func:`end_slopes` and :func:`balance_end_slopes` for the smooth case in which the
    leading term vanishes.
Optimality in the weights
    :func:`kkt_ratios` (the optimality test of the weights) and :func:`convexity_gaps`.
High precision
    :func:`mp_loss_and_grad`: the literal density formula in ``mpmath``, where nothing
    underflows (the loss and gradient of :func:`kdeloss.testing.reference`).
Symbolic steps
    :func:`in_weights` and :func:`indexed_derivation`, for showing the derivation.

SymPy and mpmath are imported only by the functions that need them.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from scipy import integrate

from .._validate import as_bins, as_interval, as_points, as_vector
from ..kernels import LogPdf, get_kernel
from ..loss import bin_centers, bin_grad, log_density, loss, loss_and_grad, responsibilities

__all__ = [
    "EPS",
    "BinningStudy",
    "GradientCase",
    "GradientCheck",
    "IndexedDerivation",
    "StepSweep",
    "binning_errors",
    "binning_study",
    "central_difference",
    "check_gradients",
    "complex_step_derivative",
    "complex_step_gradient",
    "convexity_gaps",
    "fd_gradient",
    "fd_step_sweep",
    "fitted_order",
    "in_weights",
    "indexed_derivation",
    "kinks",
    "kkt_ratios",
    "lambdify_bin_grad",
    "lambdify_loss_grad",
    "local_orders",
    "midpoint_error_model",
    "mp_loss_and_grad",
    "random_cases",
    "reference_gradient",
    "reference_loss",
]

#: Unit round-off of float64 times two: the spacing of floats just above 1, ``2**-52``.
EPS: float = float(np.finfo(float).eps)

KernelLike = str | LogPdf

#: The imaginary step of the complex-step derivatives: far below any truncation error, and
#: harmless because the complex step subtracts nothing (the result is exact to round-off).
COMPLEX_STEP: float = 1e-30

# The quadrature references (scipy.integrate.quad, quad_vec), piece by piece between the
# kinks: relative tolerance, the absolute one of the gradient, and quad's subinterval limit.
QUAD_RTOL = 1e-13
QUAD_ATOL_GRAD = 1e-15
QUAD_LIMIT = 200

# A distance this small stands for 0 approached from one side: it picks the one-sided
# derivative of log K at a kink (any nonzero float below every real distance would do).
KINK_SIDE = 1e-300


# --------------------------------------------------------------------------------------
# Derivatives
# --------------------------------------------------------------------------------------


def central_difference(
    f: Callable[[np.ndarray], float], z: np.ndarray, k: int, step: float
) -> float:
    """Central difference ``(f(z + h e_k) - f(z - h e_k)) / (2h)``.

    The step actually taken is the difference of the two rounded arguments, so that the
    division uses the step that was really made, not the one that was asked for.

    Examples
    --------
    >>> f = lambda v: float(np.sin(v[0]))
    >>> d = central_difference(f, np.array([0.3]), 0, 1e-5)
    >>> bool(abs(d - np.cos(0.3)) < 1e-10)
    True
    """
    zp = np.array(z, dtype=float)
    zm = zp.copy()
    zp[k] += step
    zm[k] -= step
    return (f(zp) - f(zm)) / (zp[k] - zm[k])


def fd_gradient(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    step: float | None = None,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
    bins: int = 256,
) -> np.ndarray:
    """``dL_M/dz`` by central differences of :func:`kdeloss.loss`, one logit at a time.

    Parameters
    ----------
    z, x, a, b, kernel, bandwidth, bins
        As in :func:`kdeloss.loss_and_grad`.
    step : float, optional
        The step ``h``; by default ``EPS ** (1/3)`` (about ``6e-6``), near the best step
        for a loss, third derivative and round-off all of order one (see :class:`StepSweep`).

    Examples
    --------
    >>> z, x = np.array([0.3, -0.2]), np.array([-0.5, 1.5])
    >>> g = fd_gradient(z, x, 0.0, 1.0, bins=8)
    >>> bool(np.allclose(g, loss_and_grad(z, x, 0.0, 1.0, bins=8)[1], atol=1e-9))
    True
    """
    z, x = as_points(z, x)
    h = EPS ** (1 / 3) if step is None else float(step)

    def f(v: np.ndarray) -> float:
        return float(loss(v, x, a, b, kernel=kernel, bandwidth=bandwidth, bins=bins))

    return np.array([central_difference(f, z, k, h) for k in range(z.size)])


def complex_step_derivative(
    f: Callable[[complex], complex], x0: float, step: float = COMPLEX_STEP
) -> float:
    r"""Complex-step derivative ``Im f(x0 + i h) / h`` of a real-analytic ``f``.

    For ``f`` analytic near the real point ``x0`` and real on the real axis,
    ``f(x0 + i h) = f(x0) + i h f'(x0) - h^2 f''(x0) / 2 + O(h^3)``; the imaginary part is
    ``h f'(x0) + O(h^3)`` and involves no subtraction, so ``h`` can be tiny and the result is
    exact to round-off (Squire and Trapp, 1998). If ``f`` is not analytic, the answer can be
    plainly wrong: NumPy's ``abs`` of a complex number is its (real) modulus, so its
    imaginary part, and the "derivative", is zero.

    Examples
    --------
    >>> complex_step_derivative(np.exp, 1.0) == np.exp(1.0)
    np.True_
    >>> complex_step_derivative(np.abs, 2.0)        # the true derivative is 1
    np.float64(0.0)
    """
    return np.imag(f(x0 + 1j * step)) / step


def complex_step_gradient(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    step: float = COMPLEX_STEP,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
    bins: int = 256,
) -> np.ndarray:
    """``dL_M/dz`` by the complex step: ``Im L_M(z + i h e_k) / h`` for each ``k``.

    :func:`kdeloss.loss` accepts complex logits, and ``L_M`` is analytic in them (a
    log-sum-exp of ``z`` plus constants), so this is exact to round-off.

    Examples
    --------
    >>> z, x = np.array([0.3, -0.2, 1.0]), np.array([-0.5, 1.5, 0.2])
    >>> g = complex_step_gradient(z, x, 0.0, 1.0, bins=8)
    >>> bool(np.allclose(g, loss_and_grad(z, x, 0.0, 1.0, bins=8)[1], rtol=0, atol=1e-15))
    True
    """
    z, x = as_points(z, x)
    out = np.empty(z.size)
    for k in range(z.size):
        zc = z.astype(complex)
        zc[k] += 1j * step
        out[k] = np.imag(loss(zc, x, a, b, kernel=kernel, bandwidth=bandwidth, bins=bins)) / step
    return out


@functools.lru_cache(maxsize=16)
def _lambdified(n: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    from ..symbolic import lambdify_gradient

    return lambdify_gradient(n)


def lambdify_bin_grad(
    z: np.ndarray,
    x: np.ndarray,
    t: float | np.ndarray,
    *,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
) -> np.ndarray:
    """The one-bin gradient from ``sympy.lambdify`` of the symbolic derivative.

    The SymPy expression (:func:`kdeloss.symbolic.gradient`, the derivative exactly as
    SymPy returns it, not simplified) is evaluated with the kernel values
    ``K_j = K(t - x_j)``. Those are densities, so this underflows far from the target,
    like any formula with densities; use it where the kernel values are of moderate size.

    Returns
    -------
    ndarray
        Shape ``(N,)`` for a scalar ``t``, ``(T, N)`` for an array, like
        :func:`kdeloss.bin_grad`.

    Examples
    --------
    >>> z, x = np.array([0.3, -0.2]), np.array([-0.5, 1.5])
    >>> bool(np.allclose(lambdify_bin_grad(z, x, 0.25), bin_grad(z, x, 0.25), atol=1e-15))
    True
    """
    z, x = as_points(z, x)
    kern = get_kernel(kernel, bandwidth)
    tt = np.atleast_1d(np.asarray(t, dtype=float))
    f = _lambdified(z.size)
    kv = kern.pdf(tt[:, None] - x[None, :])
    out = np.array([f(z, row) for row in kv])
    return out[0] if np.ndim(t) == 0 else out


def lambdify_loss_grad(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
    bins: int = 256,
) -> np.ndarray:
    """``dL_M/dz`` as the mean over the bins of :func:`lambdify_bin_grad`.

    Examples
    --------
    >>> z, x = np.array([0.3, -0.2]), np.array([-0.5, 1.5])
    >>> g = lambdify_loss_grad(z, x, 0.0, 1.0, bins=8)
    >>> bool(np.allclose(g, loss_and_grad(z, x, 0.0, 1.0, bins=8)[1], atol=1e-15))
    True
    """
    t = bin_centers(a, b, bins)
    return lambdify_bin_grad(z, x, t, kernel=kernel, bandwidth=bandwidth).mean(axis=0)


@dataclass(frozen=True)
class GradientCase:
    """One random problem: logits, positions, target, kernel, bandwidth and bins."""

    z: np.ndarray
    x: np.ndarray
    a: float
    b: float
    kernel: str
    bandwidth: float
    bins: int

    @property
    def options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`kdeloss.loss_and_grad`."""
        return {"kernel": self.kernel, "bandwidth": self.bandwidth, "bins": self.bins}


def random_cases(
    count: int,
    *,
    seed: int = 0,
    kernels: Sequence[str] = ("laplace", "gaussian", "vonmises"),
    max_points: int = 6,
) -> list[GradientCase]:
    """Random problems for the gradient checks, reproducible from ``seed``.

    Each case has ``N`` in ``2..max_points`` points in ``(-3, 3)`` (inside ``(-pi, pi)``, so
    they are valid angles too), logits from a normal distribution with standard deviation
    1.5, a target ``[a, b]`` inside ``(-2.5, 2.5)`` of length 0.3 to 1.5, a kernel drawn from
    ``kernels``, a bandwidth in ``(0.3, 1.5)`` and ``8`` to ``200`` bins. Kernel values then
    stay far from underflow, so formulas written with densities (:func:`lambdify_bin_grad`)
    are fair competitors.

    Examples
    --------
    >>> cases = random_cases(3, seed=1)
    >>> [c.kernel in ("laplace", "gaussian", "vonmises") for c in cases]
    [True, True, True]
    """
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        n = int(rng.integers(2, max_points + 1))
        a = float(rng.uniform(-2.5, 1.0))
        out.append(
            GradientCase(
                z=rng.normal(scale=1.5, size=n),
                x=rng.uniform(-3.0, 3.0, size=n),
                a=a,
                b=a + float(rng.uniform(0.3, 1.5)),
                kernel=str(rng.choice(list(kernels))),
                bandwidth=float(rng.uniform(0.3, 1.5)),
                bins=int(rng.integers(8, 201)),
            )
        )
    return out


@dataclass(frozen=True)
class GradientCheck:
    """Errors of the three independent gradients against ``kdeloss``, one entry per case.

    Every error is ``max_i |g_i - g_i^kdeloss|``. Gradient components are differences of two
    probabilities, so they lie in ``[-1, 1]`` and an absolute error is the natural scale.

    Attributes
    ----------
    fd : ndarray
        Central differences of ``L_M`` against :func:`kdeloss.loss_and_grad`.
    complex_step : ndarray
        Complex step of ``L_M`` against :func:`kdeloss.loss_and_grad`.
    lambdify_bins : ndarray
        ``lambdify`` per bin against :func:`kdeloss.bin_grad`, worst bin.
    lambdify_loss : ndarray
        The bin average of ``lambdify`` against :func:`kdeloss.loss_and_grad`.
    step : float
        The finite-difference step used.
    """

    fd: np.ndarray
    complex_step: np.ndarray
    lambdify_bins: np.ndarray
    lambdify_loss: np.ndarray
    step: float

    def worst(self) -> dict[str, float]:
        """The largest error of each method."""
        return {
            "fd": float(self.fd.max()),
            "complex_step": float(self.complex_step.max()),
            "lambdify_bins": float(self.lambdify_bins.max()),
            "lambdify_loss": float(self.lambdify_loss.max()),
        }


def check_gradients(cases: Sequence[GradientCase], *, step: float | None = None) -> GradientCheck:
    """Compare ``kdeloss``'s gradients with the three independent ones on every case.

    Examples
    --------
    >>> res = check_gradients(random_cases(5, seed=2))
    >>> w = res.worst()
    >>> w["complex_step"] < 1e-14, w["lambdify_bins"] < 1e-14, w["fd"] < 1e-8
    (True, True, True)
    """
    h = EPS ** (1 / 3) if step is None else float(step)
    fd, cs, lb, ll = [], [], [], []
    for c in cases:
        _, g = loss_and_grad(c.z, c.x, c.a, c.b, **c.options)
        fd.append(np.abs(fd_gradient(c.z, c.x, c.a, c.b, step=h, **c.options) - g).max())
        cs.append(np.abs(complex_step_gradient(c.z, c.x, c.a, c.b, **c.options) - g).max())
        t = bin_centers(c.a, c.b, c.bins)
        kw = {"kernel": c.kernel, "bandwidth": c.bandwidth}
        gl = lambdify_bin_grad(c.z, c.x, t, **kw)
        lb.append(np.abs(gl - bin_grad(c.z, c.x, t, **kw)).max())
        ll.append(np.abs(gl.mean(axis=0) - g).max())
    return GradientCheck(np.array(fd), np.array(cs), np.array(lb), np.array(ll), h)


# --------------------------------------------------------------------------------------
# Step size
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepSweep:
    r"""Error of a central difference against its step, with a model that explains it.

    A central difference of ``L`` with step ``s`` has a truncation error
    ``s^2 |L'''| / 6`` (Taylor's theorem) and a round-off error of about ``EPS |L| / s``
    (``EPS = 2^-52``; each value of ``L`` is wrong by about ``EPS |L| / 2``, and the difference
    of two of them is divided by ``2s``). The sum is smallest at
    ``s* = (3 EPS |L| / |L'''|)^(1/3)``.

    Attributes
    ----------
    steps : ndarray
        The steps ``s``.
    errors : ndarray
        ``|central difference - exact|`` at each step.
    exact : float
        The exact derivative (``kdeloss``'s gradient component).
    loss : float
        ``L_M`` at the point.
    third : float
        ``d^3 L_M / dz_k^3`` at the point.
    """

    steps: np.ndarray
    errors: np.ndarray
    exact: float
    loss: float
    third: float

    def truncation(self, steps: np.ndarray | None = None) -> np.ndarray:
        """Modelled truncation error ``s^2 |L'''| / 6``."""
        h = self.steps if steps is None else np.asarray(steps, dtype=float)
        return h**2 * abs(self.third) / 6.0

    def roundoff(self, steps: np.ndarray | None = None) -> np.ndarray:
        """Modelled round-off error ``EPS |L| / s``."""
        h = self.steps if steps is None else np.asarray(steps, dtype=float)
        return EPS * abs(self.loss) / h

    def model(self, steps: np.ndarray | None = None) -> np.ndarray:
        """Truncation plus round-off."""
        return self.truncation(steps) + self.roundoff(steps)

    @property
    def predicted_step(self) -> float:
        """The minimiser of :meth:`model`, ``(3 EPS |L| / |L'''|)^(1/3)``."""
        return (3.0 * EPS * abs(self.loss) / abs(self.third)) ** (1 / 3)

    @property
    def predicted_error(self) -> float:
        """:meth:`model` at :attr:`predicted_step`."""
        return float(self.model(np.array([self.predicted_step]))[0])

    @property
    def best_step(self) -> float:
        """The measured step with the smallest error."""
        return float(self.steps[int(np.argmin(self.errors))])

    @property
    def best_error(self) -> float:
        """The smallest measured error."""
        return float(self.errors.min())


def fd_step_sweep(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    steps: np.ndarray,
    *,
    k: int = 0,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
    bins: int = 256,
) -> StepSweep:
    """Central differences of ``L_M`` in ``z_k`` for many steps, against the exact gradient.

    ``L'''`` is measured by a second difference (step ``1e-3``) of the exact gradient
    component ``k``; its own error, about ``1e-6`` relative, does not matter for a model.

    Examples
    --------
    >>> sw = fd_step_sweep([0.3, -0.2], [-0.5, 1.5], 0.0, 1.0, np.logspace(-1, -9, 9))
    >>> 1e-7 < sw.predicted_step < 1e-3, bool(sw.best_error < 1e-8)
    (True, True)
    """
    z, x = as_points(z, x)
    opts = {"kernel": kernel, "bandwidth": bandwidth, "bins": bins}
    value, g = loss_and_grad(z, x, a, b, **opts)

    def f(v: np.ndarray) -> float:
        return float(loss(v, x, a, b, **opts))

    hs = np.asarray(steps, dtype=float)
    errors = np.array([abs(central_difference(f, z, k, h) - g[k]) for h in hs])
    delta = 1e-3
    e = np.zeros(z.size)
    e[k] = delta
    gp = loss_and_grad(z + e, x, a, b, **opts)[1][k]
    gm = loss_and_grad(z - e, x, a, b, **opts)[1][k]
    third = (gp - 2.0 * g[k] + gm) / delta**2
    return StepSweep(hs, errors, float(g[k]), value, float(third))


# --------------------------------------------------------------------------------------
# The integral and the binning error
# --------------------------------------------------------------------------------------


def kinks(
    x: np.ndarray, a: float, b: float, *, kernel: KernelLike = "laplace", bandwidth: float = 1.0
) -> np.ndarray:
    """The points of ``(a, b)`` where ``log q`` has a kink (a jump in its slope).

    For the Laplace kernel these are the points ``x_j`` inside the target; for the box kernel
    the edges ``x_j +- h/2``; the Gaussian and von Mises kernels have none.

    Examples
    --------
    >>> kinks(np.array([-2.0, 0.5, 0.25]), 0.0, 1.0)
    array([0.25, 0.5 ])
    >>> kinks(np.array([0.5]), 0.0, 1.0, kernel="gaussian")
    array([], dtype=float64)
    """
    aa, bb = as_interval(a, b)
    kern = get_kernel(kernel, bandwidth)
    c = kern.kinks(np.asarray(x, dtype=float))
    return np.unique(c[(c > aa) & (c < bb)])


def _pieces(x, a, b, kernel, bandwidth) -> np.ndarray:
    aa, bb = as_interval(a, b)
    return np.concatenate([[aa], kinks(x, aa, bb, kernel=kernel, bandwidth=bandwidth), [bb]])


def reference_loss(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
) -> float:
    r"""The loss as an integral, ``L = -(1/(b-a)) int_a^b log q(t) dt``, to about 1e-14.

    The integral is split at the :func:`kinks` of ``log q``, so that on each piece the
    integrand is smooth and adaptive Gauss-Kronrod quadrature (:func:`scipy.integrate.quad`)
    converges fast. ``log q`` comes from :func:`kdeloss.log_density`, so it is exact far
    from the target too.

    Examples
    --------
    One Laplace point at 0, target [0, 1]: ``L = int_0^1 (t + log 2) dt = 1/2 + log 2``.

    >>> L = reference_loss([0.0], [0.0], 0.0, 1.0)
    >>> bool(abs(L - (0.5 + np.log(2.0))) < 1e-14)
    True
    """
    z, x = as_points(z, x)
    edges = _pieces(x, a, b, kernel, bandwidth)

    def f(t: float) -> float:
        return float(log_density(z, x, t, kernel=kernel, bandwidth=bandwidth))

    total = math.fsum(
        integrate.quad(f, lo, hi, epsabs=0.0, epsrel=QUAD_RTOL, limit=QUAD_LIMIT)[0]
        for lo, hi in itertools.pairwise(edges)
    )
    return -total / (edges[-1] - edges[0])


def reference_gradient(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
) -> np.ndarray:
    r"""The gradient of the integral, ``S_i - (1/(b-a)) int_a^b r_i(t) dt``, by quadrature.

    The responsibilities :func:`kdeloss.responsibilities` are integrated as a vector with
    :func:`scipy.integrate.quad_vec`, piece by piece between the :func:`kinks`.

    Examples
    --------
    Two Laplace points left of the target, at -1 and -2 with equal logits: every
    responsibility is constant on [0, 1], ``r = softmax(z + x/h)``.

    >>> g = reference_gradient([0.0, 0.0], [-1.0, -2.0], 0.0, 1.0)
    >>> expected = 0.5 - np.exp([-1.0, -2.0]) / np.exp([-1.0, -2.0]).sum()
    >>> bool(np.allclose(g, expected, rtol=0, atol=1e-14))
    True
    """
    z, x = as_points(z, x)
    edges = _pieces(x, a, b, kernel, bandwidth)

    def r(t: float) -> np.ndarray:
        return responsibilities(z, x, t, kernel=kernel, bandwidth=bandwidth)

    total = sum(
        integrate.quad_vec(r, lo, hi, epsabs=QUAD_ATOL_GRAD, epsrel=QUAD_RTOL)[0]
        for lo, hi in itertools.pairwise(edges)
    )
    s = np.exp(z - np.logaddexp.reduce(z))
    return s - total / (edges[-1] - edges[0])


def binning_errors(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    bins: Sequence[int],
    *,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
    reference: float | None = None,
) -> np.ndarray:
    """Signed binning errors ``L_M - L`` for each ``M`` in ``bins``.

    ``L`` is :func:`reference_loss` unless ``reference`` is given.

    Examples
    --------
    >>> e = binning_errors([0.0, 0.0], [-0.5, 1.5], 0.0, 1.0, [8, 16], kernel="gaussian")
    >>> bool(3.9 < e[0] / e[1] < 4.1)                 # second order: halve h, error / 4
    True
    """
    ref = (
        reference_loss(z, x, a, b, kernel=kernel, bandwidth=bandwidth)
        if reference is None
        else float(reference)
    )
    return np.array(
        [loss(z, x, a, b, kernel=kernel, bandwidth=bandwidth, bins=m) - ref for m in bins]
    )


def local_orders(bins: Sequence[int], errors: np.ndarray) -> np.ndarray:
    r"""Observed orders between consecutive entries of ``bins``.

    Entry ``k`` is ``log(|e_k| / |e_{k+1}|) / log(M_{k+1} / M_k)``.
    If ``e = C / M^p`` exactly, every entry is ``p``.

    Examples
    --------
    >>> local_orders([10, 20, 40], np.array([1e-2, 2.5e-3, 6.25e-4]))
    array([2., 2.])
    """
    m = np.asarray(bins, dtype=float)
    e = np.abs(np.asarray(errors, dtype=float))
    return np.log(e[:-1] / e[1:]) / np.log(m[1:] / m[:-1])


def fitted_order(bins: Sequence[int], errors: np.ndarray) -> float:
    """Least-squares slope ``p`` of ``log|e| = log C - p log M``: one order for the whole range.

    Examples
    --------
    >>> round(fitted_order([10, 20, 40], np.array([1e-2, 2.5e-3, 6.25e-4])), 12)
    2.0
    """
    m = np.log(np.asarray(bins, dtype=float))
    e = np.log(np.abs(np.asarray(errors, dtype=float)))
    slope = np.polyfit(m, e, 1)[0]
    return float(-slope)


@dataclass(frozen=True)
class BinningStudy:
    """How ``L_M`` approaches the integral ``L`` as the number of bins ``M`` grows.

    Attributes
    ----------
    bins : ndarray of int
        The numbers of bins ``M``.
    errors : ndarray
        ``L_M - L`` (signed).
    model : ndarray
        The leading-order prediction :func:`midpoint_error_model` of ``L_M - L``.
    reference : float
        ``L``, from :func:`reference_loss`.
    kinks : ndarray
        The kinks of ``log q`` inside the target.
    """

    bins: np.ndarray
    errors: np.ndarray
    model: np.ndarray
    reference: float
    kinks: np.ndarray

    @property
    def scaled_errors(self) -> np.ndarray:
        """``M^2 (L_M - L)``: constant for a clean second-order method."""
        return self.bins.astype(float) ** 2 * self.errors

    @property
    def scaled_model(self) -> np.ndarray:
        """``M^2`` times :attr:`model`."""
        return self.bins.astype(float) ** 2 * self.model

    def fitted_order(self) -> float:
        """:func:`fitted_order` over all of :attr:`bins`."""
        return fitted_order(self.bins, self.errors)

    def consecutive_orders(self) -> np.ndarray:
        """:func:`local_orders` between neighbouring entries of :attr:`bins`."""
        return local_orders(self.bins, self.errors)

    def doubling_orders(self, start: int) -> np.ndarray:
        """Orders ``log2(|e(M)| / |e(2M)|)`` for ``M = start, 2 start, ...`` in :attr:`bins`."""
        ms = [start]
        while 2 * ms[-1] in set(self.bins.tolist()):
            ms.append(2 * ms[-1])
        pos = {int(m): k for k, m in enumerate(self.bins)}
        e = np.array([self.errors[pos[m]] for m in ms])
        return local_orders(ms, e)

    @property
    def max_abs_error(self) -> float:
        """``max_M |L_M - L|``."""
        return float(np.abs(self.errors).max())


def binning_study(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    bins: Sequence[int],
    *,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
) -> BinningStudy:
    """Measure ``L_M - L`` for every ``M`` in ``bins`` and predict it with the error model.

    Examples
    --------
    >>> st = binning_study([0.0, 0.0], [-0.5, 1.5], 0.0, 1.0, [8, 16, 32], kernel="gaussian")
    >>> np.round(st.doubling_orders(8), 1)
    array([2., 2.])
    """
    ref = reference_loss(z, x, a, b, kernel=kernel, bandwidth=bandwidth)
    ms = np.array([as_bins(m) for m in bins])
    err = binning_errors(z, x, a, b, ms, kernel=kernel, bandwidth=bandwidth, reference=ref)
    mod = midpoint_error_model(z, x, a, b, ms, kernel=kernel, bandwidth=bandwidth)
    return BinningStudy(ms, err, mod, ref, kinks(x, a, b, kernel=kernel, bandwidth=bandwidth))


class EndSlopes(NamedTuple):
    """Derivatives of ``f = log q`` at the ends of the target (see :func:`end_slopes`)."""

    d1_a: float
    """``f'(a)``."""
    d1_b: float
    """``f'(b)``."""
    d3_a: float
    """The third derivative of ``f`` at ``a``."""
    d3_b: float
    """The third derivative of ``f`` at ``b``."""

    def second_order_limit(self, a: float, b: float) -> float:
        """The limit of ``M^2 (L_M - L)``: ``(b - a)(f'(b) - f'(a)) / 24``."""
        return (b - a) * (self.d1_b - self.d1_a) / 24.0

    def fourth_order_limit(self, a: float, b: float) -> float:
        """The limit of ``M^4 (L_M - L)`` when ``f'(a) = f'(b)``:
        ``-7 (b - a)^3 (d3_b - d3_a) / 5760``."""
        return -7.0 * (b - a) ** 3 * (self.d3_b - self.d3_a) / 5760.0


def end_slopes(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    kernel: KernelLike = "gaussian",
    bandwidth: float = 1.0,
    step: float = 1e-3,
) -> EndSlopes:
    r"""First and third derivatives of ``f = log q`` at ``a`` and ``b`` (no kinks allowed).

    ``f'(t) = sum_j r_j(t) (log K)'(t - x_j)`` is exact; the third derivative is the second
    central difference of ``f'`` with step ``step`` (error ``O(step^2)``). They give the two
    leading terms of the midpoint rule's error for a smooth ``f``,

    .. math::

        L_M - L = \frac{(b-a)\,(f'(b) - f'(a))}{24\,M^2}
                  - \frac{7 (b-a)^3 (f'''(b) - f'''(a))}{5760\,M^4} + O(M^{-6}),

    see :meth:`EndSlopes.second_order_limit` and :meth:`EndSlopes.fourth_order_limit`.

    Raises
    ------
    ValueError
        ``kernel: ...`` if ``log q`` has a kink within ``step`` of ``[a, b]``.

    Examples
    --------
    One Gaussian point at 0, ``h = 1``: ``f(t) = -t^2/2 + const``, so ``f'(t) = -t`` and the
    third derivative is 0.

    >>> e = end_slopes([0.0], [0.0], -1.0, 2.0)
    >>> round(e.d1_a, 12), round(e.d1_b, 12), round(e.d3_a, 6), round(e.d3_b, 6)
    (1.0, -2.0, 0.0, 0.0)
    """
    z, x = as_points(z, x)
    aa, bb = as_interval(a, b)
    kern = get_kernel(kernel, bandwidth)
    if kinks(x, aa - step, bb + step, kernel=kern).size:
        raise ValueError("kernel: end_slopes needs a log q without kinks near [a, b]")
    ends = np.array([aa, bb])
    d1 = _dlogq(z, x, ends, kern, 1.0)
    up = _dlogq(z, x, ends + step, kern, 1.0)
    down = _dlogq(z, x, ends - step, kern, 1.0)
    d3 = (up - 2.0 * d1 + down) / step**2
    return EndSlopes(float(d1[0]), float(d1[1]), float(d3[0]), float(d3[1]))


def balance_end_slopes(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    index: int = -1,
    kernel: KernelLike = "gaussian",
    bandwidth: float = 1.0,
    bracket: tuple[float, float] = (-5.0, 5.0),
) -> np.ndarray:
    """Logits equal to ``z`` except ``z[index]``, chosen so that ``f'(a) = f'(b)``, ``f = log q``.

    This is the exceptional case of the midpoint rule for a smooth ``log q``: the ``M^-2`` term
    of the binning error vanishes and the error is ``O(M^-4)`` (:func:`end_slopes`). The root
    is found by :func:`scipy.optimize.brentq` with ``z[index]`` in ``bracket``.

    Raises
    ------
    ValueError
        ``bracket: ...`` if ``f'(b) - f'(a)`` has the same sign at both ends of ``bracket``.

    Examples
    --------
    >>> x = [-1.6, -0.35, 0.45, 2.1]
    >>> zb = balance_end_slopes([0.3, -0.4, 0.2, 0.0], x, -1.0, 1.0, bandwidth=0.5)
    >>> round(float(zb[-1]), 6)
    0.828278
    >>> e = end_slopes(zb, x, -1.0, 1.0, bandwidth=0.5)
    >>> bool(abs(e.d1_b - e.d1_a) < 1e-12)
    True
    """
    from scipy import optimize

    z, x = as_points(z, x)
    kern = get_kernel(kernel, bandwidth)

    def gap(v: float) -> float:
        zz = z.copy()
        zz[index] = v
        e = end_slopes(zz, x, a, b, kernel=kern)
        return e.d1_b - e.d1_a

    lo, hi = (float(v) for v in bracket)
    if gap(lo) * gap(hi) > 0:
        raise ValueError("bracket: f'(b) - f'(a) has the same sign at both ends")
    out = z.copy()
    out[index] = optimize.brentq(gap, lo, hi, xtol=1e-14, rtol=4 * EPS)
    return out


def _dlog_kernel(kern: Any, d: np.ndarray) -> np.ndarray:
    """``d/dt log K(t - x_j)`` as a function of ``d = t - x_j`` (away from kinks)."""
    try:
        return kern.dlogpdf(d)
    except NotImplementedError:
        raise ValueError(
            f"kernel: midpoint_error_model needs the derivative of log K, which {kern!r} "
            "does not give"
        ) from None


def _dlogq(z, x, t, kern, side: float) -> np.ndarray:
    """``(log q)'(t)`` as ``sum_j r_j(t) (log K_j)'(t)``; one-sided (``side`` = +-1) at kinks."""
    r = responsibilities(z, x, t, kernel=kern)
    d = t[:, None] - x[None, :]
    d = np.where(d == 0.0, side * KINK_SIDE, d)
    return (r * _dlog_kernel(kern, d)).sum(axis=1)


def midpoint_error_model(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    bins: Sequence[int],
    *,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
) -> np.ndarray:
    r"""Leading term of the binning error ``L_M - L``, kinks included.

    With ``f = log q``, bin width ``H = (b - a)/M``, slope jumps ``J_k`` of ``f`` at the kinks
    ``c_k`` in ``(a, b)`` and the kinks' fractional positions ``theta_k`` in their bins,

    .. math::

        L_M - L = \frac{H^2}{b-a}\Big[\frac{f'(b) - f'(a)}{24}
                   + \sum_k J_k \big(\phi(\theta_k) - \tfrac{1}{24}\big)\Big] + O(H^3),
        \qquad \phi(\theta) = \tfrac12 \min(\theta, 1-\theta)^2 .

    For the Laplace kernel ``J_k = -2 r_k(c_k) / h`` (:meth:`kdeloss.Kernel.kink_slope_jump`
    times the responsibility). Without kinks the ``O(H^3)`` is
    ``O(H^4)``. Kinks exactly at ``a`` or ``b`` are not handled.

    Examples
    --------
    One Laplace point left of the target: ``log q`` is linear there, the error is 0.

    >>> midpoint_error_model([0.0], [-1.0], 0.0, 1.0, [4, 5])
    array([0., 0.])
    """
    z, x = as_points(z, x)
    aa, bb = as_interval(a, b)
    kern = get_kernel(kernel, bandwidth)
    ms = np.array([as_bins(m) for m in bins], dtype=float)
    ends = np.array([aa, bb])
    fa = _dlogq(z, x, ends[:1], kern, +1.0)[0]
    fb = _dlogq(z, x, ends[1:], kern, -1.0)[0]
    c = kinks(x, aa, bb, kernel=kern)
    jumps = np.empty(0)
    if c.size:
        try:  # the slope of log K_j jumps by J at its kink; that of log q by r_j J
            jump = kern.kink_slope_jump()
        except NotImplementedError:
            raise ValueError(
                "kernel: kinks are modelled for kernels whose log has corners (Laplace), "
                f"not for {kern.name!r}"
            ) from None
        rk = responsibilities(z, x, c, kernel=kern)
        # Points that coincide share one kink; their responsibilities add up.
        jumps = np.array([jump * rk[m, x == ck].sum() for m, ck in enumerate(c)])
    width = bb - aa
    out = np.empty(ms.size)
    for n, m in enumerate(ms):
        hh = width / m
        theta = np.mod((c - aa) / hh, 1.0)
        phi = 0.5 * np.minimum(theta, 1.0 - theta) ** 2
        out[n] = hh**2 / width * ((fb - fa) / 24.0 + np.sum(jumps * (phi - 1.0 / 24.0)))
    return out


# --------------------------------------------------------------------------------------
# High precision
# --------------------------------------------------------------------------------------


def mp_loss_and_grad(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
    bins: int = 256,
    dps: int = 50,
) -> tuple[float, np.ndarray]:
    r"""``L_M`` and its gradient from the literal density formula, in ``dps``-digit arithmetic.

    The loss and gradient of :func:`kdeloss.testing.reference`: the float64 inputs (and the
    float64 bin centres) are taken exactly; kernel values, ``q`` and the ratios
    ``S_i K_i / q`` are computed with ``mpmath``, whose exponent range is unbounded, so
    nothing underflows. This is a reference that shares no code with ``kdeloss``'s log-space
    implementation. Any kernel with an mpmath form (``mp_logpdf``).

    Examples
    --------
    >>> L, g = mp_loss_and_grad([0.0, 0.0], [800.0, 801.0], 0.0, 1.0, bins=4)
    >>> L0, g0 = loss_and_grad([0.0, 0.0], [800.0, 801.0], 0.0, 1.0, bins=4)
    >>> bool(abs(L - L0) <= 1e-15 * L), bool(np.allclose(g, g0, rtol=0, atol=1e-15))
    (True, True)
    """
    from ..testing import reference

    loss, grad, _ = reference(z, x, a, b, kernel=kernel, bandwidth=bandwidth, bins=bins, dps=dps)
    return loss, grad


# --------------------------------------------------------------------------------------
# Optimality in the weights
# --------------------------------------------------------------------------------------


def kkt_ratios(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
    bins: int = 256,
) -> np.ndarray:
    r"""``gamma_i = mean_m K(t_m - x_i) / q(t_m)``, minus the derivative of ``L_M`` in ``S_i``.

    ``L_M`` is minimal over the weights exactly when ``gamma_i <= 1`` for every ``i``, with
    equality where ``S_i > 0``; and ``dL_M/dz_i = S_i (1 - gamma_i)``. Computed from
    ``log K - log q``, so it stays exact when ``S_i`` is tiny or the points are far.

    Examples
    --------
    One point: ``q = K``, so ``gamma = 1``.

    >>> kkt_ratios([0.0], [0.3], 0.0, 1.0)
    array([1.])
    """
    z, x = as_points(z, x)
    kern = get_kernel(kernel, bandwidth)
    t = bin_centers(a, b, bins)
    logq = log_density(z, x, t, kernel=kern)
    logk = kern.logpdf(t[:, None] - x[None, :])
    return np.exp(logk - logq[:, None]).mean(axis=0)


def convexity_gaps(
    x: np.ndarray,
    a: float,
    b: float,
    *,
    samples: int = 200,
    seed: int = 0,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
    bins: int = 256,
) -> np.ndarray:
    r"""Gaps ``lam L(S) + (1 - lam) L(S') - L(lam S + (1 - lam) S')`` for random weights.

    ``L`` is ``L_M`` as a function of the weights (``z = log S``); ``S`` and ``S'`` are drawn
    uniformly from the simplex and ``lam`` uniformly from ``(0, 1)``. Convexity says every
    gap is ``>= 0``.

    Examples
    --------
    >>> bool(convexity_gaps([-0.5, 0.2, 1.5], 0.0, 1.0, samples=50).min() > -1e-14)
    True
    """
    xx = as_vector("x", x)
    rng = np.random.default_rng(seed)
    opts = {"kernel": kernel, "bandwidth": bandwidth, "bins": bins}

    def f(w: np.ndarray) -> float:
        return float(loss(np.log(w), xx, a, b, **opts))

    out = np.empty(samples)
    for k in range(samples):
        s1, s2 = rng.dirichlet(np.ones(xx.size), size=2)
        lam = rng.uniform()
        out[k] = lam * f(s1) + (1 - lam) * f(s2) - f(lam * s1 + (1 - lam) * s2)
    return out


# --------------------------------------------------------------------------------------
# Symbolic steps
# --------------------------------------------------------------------------------------


def in_weights(expr: Any, z: Sequence[Any], S: Sequence[Any]) -> Any:
    r"""Rewrite an expression in ``exp(z_j)`` that is invariant under ``z -> z + c`` in weights.

    Such an expression (the one-bin loss's derivative is one) does not change when every
    ``exp(z_j)`` is divided by ``sum_k exp(z_k)``, so ``exp(z_j)`` may be replaced by ``S_j``
    and then ``sum_j S_j`` by 1.

    Examples
    --------
    >>> import sympy as sp
    >>> from kdeloss.symbolic import make_symbols, gradient
    >>> z, K = make_symbols(2)
    >>> S = sp.symbols("S1:3", positive=True)
    >>> sp.simplify(in_weights(gradient(z, K)[0], z, S))
    S1*(K1*S1 - K1 + K2*S2)/(K1*S1 + K2*S2)
    """
    import sympy as sp

    sub = {sp.exp(zj): sj for zj, sj in zip(z, S, strict=True)}
    return expr.subs(sub).subs(sp.Add(*S), 1)


class IndexedDerivation(NamedTuple):
    """The one-bin derivative for general ``n`` with SymPy's indexed sums, step by step."""

    loss: Any
    """``l = -log(sum_j K_j e^{z_j} / sum_j e^{z_j})``."""
    derivative: Any
    """``dl/dz_i`` as SymPy returns it, with sums of Kronecker deltas."""
    sifted: Any
    """The same after ``sum_j f(j) delta_ij = f(i)``."""
    named: Any
    """The same with ``Z = sum_j e^{z_j}`` and ``Q = sum_j K_j e^{z_j}`` named."""
    difference: Any
    """``named - (S_i - S_i K_i / q)`` with ``S_i = e^{z_i}/Z``, ``q = Q/Z``, simplified."""
    symbols: dict[str, Any]
    """The symbols: ``i``, ``j``, ``n``, ``z``, ``K``, ``Z``, ``Q``."""


def indexed_derivation() -> IndexedDerivation:
    """Differentiate the one-bin loss for symbolic ``n`` with ``sympy.IndexedBase`` sums.

    Examples
    --------
    >>> indexed_derivation().difference
    0
    """
    import sympy as sp

    n, i, j = sp.symbols("n i j", integer=True, positive=True)
    z = sp.IndexedBase("z", real=True)
    K = sp.IndexedBase("K", positive=True)
    Z, Q = sp.symbols("Z Q", positive=True)
    z_sum = sp.Sum(sp.exp(z[j]), (j, 1, n))
    q_sum = sp.Sum(K[j] * sp.exp(z[j]), (j, 1, n))
    bin_loss = -sp.log(q_sum / z_sum)
    d = sp.diff(bin_loss, z[i])

    def sift(e: Any) -> Any:
        return e.replace(
            lambda s: isinstance(s, sp.Sum) and s.function.has(sp.KroneckerDelta),
            lambda s: s.function.subs(sp.KroneckerDelta(i, j), 1).subs(j, i),
        )

    sifted = sift(d)
    named = sifted.subs({z_sum: Z, q_sum: Q})
    s_i = sp.exp(z[i]) / Z
    closed = s_i - s_i * K[i] / (Q / Z)
    diff = sp.simplify(named - closed)
    syms = {"i": i, "j": j, "n": n, "z": z, "K": K, "Z": Z, "Q": Q}
    return IndexedDerivation(bin_loss, d, sifted, named, diff, syms)
