r"""Reference values and error measures shared by the tests, the chapters and users.

:func:`reference` evaluates the binned loss, its gradient and ``log q`` at the bins *exactly*
(with :mod:`mpmath`, at least 60 significant digits and an unbounded exponent) at the float
inputs ``z``, ``x``, ``h`` and the float bin centres :func:`kdeloss.bin_centers`;
:func:`reference_at` does the same at any points ``t``, with any log background density, and
also returns the responsibilities (a :class:`Reference`). Both share no numerical code with
the library's log-space algorithms: kernel values come from the kernel's ``mp_logpdf`` at
exact differences of positions, they are summed as densities with ``fsum``, and the working
precision grows with the size of the exponents so that no difference of two large logs loses
digits.

:func:`loss_error` and :func:`grad_error` are the project's error measures (:func:`errors`
gives both for a result and a reference):

.. math::

    \text{loss error} = \frac{|L - L_\text{ref}|}{\max(1, \operatorname{mean}_m |\log
    q_\text{ref}(t_m)|)}, \qquad
    \text{gradient error} = \max_i |g_i - g_{\text{ref}, i}|.

:func:`central_difference` and :func:`complex_step` are gradients of any function of a vector
by finite differences, for checks.

Only NumPy and SciPy are imported with this module; :mod:`mpmath` is imported by
:func:`reference` and :func:`reference_at` when they are called (``pip install mpmath``;
SymPy brings it along).
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "FLOAT_MAX",
    "Reference",
    "central_difference",
    "complex_step",
    "errors",
    "grad_error",
    "loss_error",
    "reference",
    "reference_at",
]

#: The largest finite float; :func:`reference` clips ``log q`` values beyond it to it.
FLOAT_MAX = float(np.finfo(float).max)

# Bits by which the working precision exceeds the size (in bits) of the largest exponent
# that reaches the result, besides the requested digits.
_GUARD_BITS = 24
# At most this many extra bits. An exponent above 2**1400 (about 1e421) that reaches the
# result means some bin has |log q| above about 1e420 (the logits are below 1.8e308), so the
# loss is not a float whatever the precision; the cap only keeps that case fast.
_MAX_EXTRA_BITS = 1400


# --------------------------------------------------------------------------------------------
# finite differences


def central_difference(f: Callable[[np.ndarray], float], z: np.ndarray, step: float) -> np.ndarray:
    """Gradient of ``f`` at ``z`` by central differences, one coordinate at a time.

    ``(f(z + h e_k) - f(z - h e_k)) / (z_k^+ - z_k^-)``: the division uses the step that was
    really taken (the difference of the two rounded arguments), not the one asked for.

    Parameters
    ----------
    f : callable
        A real function of a float vector.
    z : array_like, shape (N,)
        Where to differentiate.
    step : float
        The step ``h > 0``; about ``1e-5`` times the scale of ``z`` balances truncation
        and round-off for a function whose derivatives are of order one.

    Returns
    -------
    ndarray, shape (N,)

    Examples
    --------
    >>> g = central_difference(lambda v: float(np.sum(np.sin(v))), np.array([0.3, 1.0]), 1e-5)
    >>> bool(np.allclose(g, np.cos([0.3, 1.0]), rtol=0, atol=1e-10))
    True
    """
    z = np.array(z, dtype=float)
    out = np.empty(z.size)
    for k in range(z.size):
        zp, zm = z.copy(), z.copy()
        zp[k] += step
        zm[k] -= step
        out[k] = (float(f(zp)) - float(f(zm))) / (zp[k] - zm[k])
    return out


def complex_step(
    f: Callable[[np.ndarray], complex], z: np.ndarray, step: float = 1e-30
) -> np.ndarray:
    """Gradient of a real-analytic ``f`` at real ``z`` by the complex step.

    ``Im f(z + i h e_k) / h`` involves no subtraction, so ``h`` can be tiny and the result is
    exact to round-off (Squire and Trapp, 1998) -- if ``f`` is analytic; :func:`kdeloss.loss`
    is, in the logits.

    Parameters
    ----------
    f : callable
        A function of a complex vector, real on real vectors.
    z : array_like, shape (N,)
        A real point.
    step : float
        The imaginary step (default ``1e-30``).

    Returns
    -------
    ndarray, shape (N,)

    Examples
    --------
    >>> import kdeloss
    >>> z, x = np.array([0.3, -0.2]), np.array([-0.5, 1.5])
    >>> g = complex_step(lambda v: kdeloss.loss(v, x, 0.0, 1.0, bins=8), z)
    >>> bool(np.allclose(g, kdeloss.loss_and_grad(z, x, 0.0, 1.0, bins=8)[1], rtol=0, atol=1e-15))
    True
    """
    z = np.array(z, dtype=float)
    out = np.empty(z.size)
    for k in range(z.size):
        zc = z.astype(complex)
        zc[k] += 1j * step
        out[k] = np.imag(f(zc)) / step
    return out


# --------------------------------------------------------------------------------------------
# error measures


def loss_error(
    loss: float, loss_ref: float, logq_ref: np.ndarray, *, weights: np.ndarray | None = None
) -> float:
    """``|L - L_ref| / max(1, mean_m |log q_ref(t_m)|)``: the project's loss error.

    Parameters
    ----------
    loss : float
        The value to judge.
    loss_ref, logq_ref
        The first and third results of :func:`reference`.
    weights : array_like, shape (M,), optional
        A target's bin weights (as given to :func:`reference`): the mean is then the
        weighted mean ``sum_m wbar_m |log q_ref(t_m)|`` over the bins of positive weight
        (``log q`` may be ``-inf`` at a bin of weight 0).

    Returns
    -------
    float
        ``inf`` if ``loss`` is not finite.

    Examples
    --------
    >>> f"{loss_error(10.000001, 10.0, np.array([-8.0, -12.0])):.3g}"      # 1e-6 / 10
    '1e-07'
    >>> f"{loss_error(0.5 + 1e-9, 0.5, np.array([-0.4, -0.6])):.3g}"       # the floor of 1
    '1e-09'
    >>> f"{loss_error(3.0 + 1e-6, 3.0, np.array([-np.inf, -3.0]), weights=[0, 1]):.3g}"
    '3.33e-07'
    """
    loss, loss_ref = float(loss), float(loss_ref)
    if not (math.isfinite(loss) and math.isfinite(loss_ref)):
        return 0.0 if loss == loss_ref else math.inf
    logq = np.abs(np.asarray(logq_ref, dtype=float))
    if weights is None:
        scale = max(1.0, float(np.sum(logq / logq.size)))  # no overflow near FLOAT_MAX
    else:
        w = np.asarray(weights, dtype=float)
        live = w > 0
        w = w[live] / w[live].max()
        scale = max(1.0, float(np.sum((w / w.sum()) * logq[live])))
    diff = abs(0.5 * loss - 0.5 * loss_ref)
    return 2.0 * (diff / scale)


def grad_error(grad: np.ndarray, grad_ref: np.ndarray) -> float:
    """``max_i |g_i - g_ref_i|``: the project's gradient error (absolute).

    Gradient components are differences of probabilities, in ``[-1, 1]``, so an absolute
    measure is the meaningful one. Returns ``inf`` on a shape mismatch or a non-finite entry.

    Examples
    --------
    >>> f"{grad_error(np.array([0.1, -0.1]), np.array([0.1, -0.1 + 1e-15])):.3g}"
    '9.99e-16'
    >>> grad_error(np.array([np.nan, 0.0]), np.array([0.0, 0.0]))
    inf
    """
    g = np.asarray(grad, dtype=float)
    r = np.asarray(grad_ref, dtype=float)
    if g.shape != r.shape or not np.all(np.isfinite(g)):
        return math.inf
    return float(np.max(np.abs(g - r))) if g.size else 0.0


def errors(
    got: tuple[float, np.ndarray], ref: Reference | tuple[float, np.ndarray, np.ndarray]
) -> tuple[float, float]:
    """The loss error and the gradient error of ``got = (loss, grad)`` against a reference.

    Parameters
    ----------
    got : (float, ndarray)
        A loss and its gradient, as :func:`kdeloss.loss_and_grad` returns them.
    ref : Reference or (float, ndarray, ndarray)
        What :func:`reference_at` or :func:`reference` returned for the same problem
        (``loss, grad, logq`` first).

    Returns
    -------
    (float, float)
        :func:`loss_error` and :func:`grad_error`.

    Examples
    --------
    >>> import kdeloss
    >>> t = kdeloss.bin_centers(0.0, 1.0, 8)
    >>> got = kdeloss.loss_and_grad([0.0, 0.5], [0.1, 0.7], 0.0, 1.0, bins=8)
    >>> max(errors(got, reference_at([0.0, 0.5], [0.1, 0.7], t))) < 1e-15
    True
    """
    loss, grad = got
    return loss_error(loss, ref[0], ref[2]), grad_error(grad, ref[1])


# --------------------------------------------------------------------------------------------
# the exact reference


class Reference(NamedTuple):
    """What :func:`reference_at` returns: the binned loss and what it is made of, exactly."""

    #: ``L = -mean_m log q(t_m)``, rounded to a float; ``inf`` beyond the float range.
    loss: float
    #: ``dL/dz``, shape ``(N,)``.
    grad: np.ndarray
    #: ``log q(t_m)``, shape ``(M,)``, clipped to ``[-FLOAT_MAX, FLOAT_MAX]``.
    logq: np.ndarray
    #: ``r_j(t_m) = S_j K(t_m - x_j) / q_model(t_m)``, shape ``(M, N)`` (0 in a bin that only
    #: the background covers).
    resp: np.ndarray


class _Kernel:
    """The kernel's ``mp_logpdf(d, h)`` at a fixed ``h``, with ``None`` where ``K = 0``."""

    def __init__(self, kernel: object, bandwidth: float) -> None:
        from .kernels import get_kernel

        if isinstance(kernel, str):
            kernel = get_kernel(kernel, bandwidth)  # a ValueError naming kernel or bandwidth
        elif isinstance(kernel, type):
            raise ValueError(
                f"kernel: expected a name or a kernel object, got the class {kernel!r}"
            )
        if not callable(getattr(kernel, "mp_logpdf", None)):
            raise ValueError(
                "kernel: the reference needs a kernel name, a built-in kernel or an object "
                f"with an mp_logpdf(d, h) method, got {kernel!r}"
            )
        self.obj: Any = kernel
        # h: the kernel's length scale (a user object's bandwidth) if it has one, else bandwidth
        hb = getattr(kernel, "length_scale", getattr(kernel, "bandwidth", bandwidth))
        h = hb if isinstance(hb, numbers.Real) and math.isfinite(float(hb)) else bandwidth
        if isinstance(h, bool) or not isinstance(h, numbers.Real) or not 0.0 < float(h) < math.inf:
            raise ValueError(f"bandwidth: must be a finite number > 0, got {h!r}")
        self.h = float(h)
        self.circular = bool(getattr(kernel, "circular", False))
        # the float log K may size the working precision only if it is the library's own
        self.logpdf = kernel.logpdf if getattr(kernel, "exact_logpdf", False) else None

    def setup(self, mp: Any) -> None:
        """Check the kernel has an mpmath form, at the current working precision."""
        self.mh = mp.mpf(self.h)
        try:
            self(mp, mp.zero)
        except NotImplementedError:
            raise ValueError(
                f"kernel: the reference needs log K in mpmath, which {self.obj!r} does not give "
                "(no mp_logpdf)"
            ) from None

    def __call__(self, mp: Any, d: Any) -> Any:
        out = self.obj.mp_logpdf(d, self.mh)
        if out is None:
            return None
        v = out if type(out) is mp.mpf else mp.mpf(out)
        if not mp.isfinite(v):
            if v == mp.ninf:
                return None
            raise ValueError(f"kernel: mp_logpdf returned {out!r}")
        return v


def _clipped(mp: Any, v: Any) -> float:
    """``v`` as a float, clipped to ``+-FLOAT_MAX``; ``-inf`` stays ``-inf``."""
    return -math.inf if v == mp.ninf else float(max(-FLOAT_MAX, min(FLOAT_MAX, v)))


def _target_weights(target: object, t: np.ndarray) -> np.ndarray | None:
    """The raw float weights of ``target`` at the bins (validated as the library does)."""
    from ._validate import as_target

    if target is None:
        return None
    as_target(target, t)  # raises ValueError("target: ...") for a bad one
    raw = target(t.copy()) if callable(target) else target
    return np.asarray(raw, dtype=float)


def _float_magnitude(
    z: np.ndarray, x: np.ndarray, t: np.ndarray, kern: _Kernel, base_bits: int
) -> float | None:
    """An upper bound on the exponents that reach the result, from the kernel's float
    ``log K``; None if unsure (then the caller asks mpmath)."""
    if kern.logpdf is None:
        return None
    with np.errstate(all="ignore"):
        d = t[:, None] - x[None, :]
        if not np.all(np.isfinite(d)):
            return None
        lk = np.asarray(kern.logpdf(d), dtype=float)
        peak = float(np.asarray(kern.logpdf(np.zeros(1)), dtype=float)[0])
        zero = lk == -math.inf
        if np.any(np.isnan(lk) | (lk == math.inf)) or not math.isfinite(peak):
            return None
        if np.any(zero) and bool(getattr(kern.obj, "positive", False)):
            return None  # a kernel positive everywhere whose float log underflowed
        zbig = float(np.abs(z).max())
        mag = np.abs(lk) + abs(peak) + 4.0
        a = np.where(zero, -math.inf, (z - z.max())[None, :] + lk)
        top = a.max(axis=1, keepdims=True)
        live = ~zero & (a >= top - 2.0 * base_bits)
        tops = top[np.isfinite(top)]
        out = max(
            zbig,
            float(np.abs(tops).max()) if tops.size else 0.0,
            float(mag[live].max()) if live.any() else 0.0,
        )
    return out * 1.01 if out < 2.0**60 else None


def _check_inputs(z: Any, x: Any, background: float) -> tuple[np.ndarray, np.ndarray, float]:
    zf = np.asarray(z, dtype=float).ravel()
    xf = np.asarray(x, dtype=float).ravel()
    if zf.size == 0 or not np.all(np.isfinite(zf)):
        raise ValueError("z: expected a non-empty array of finite numbers")
    if xf.size != zf.size or not np.all(np.isfinite(xf)):
        raise ValueError("x: expected finite numbers, as many as z")
    eps = float(background)
    if not 0.0 <= eps < 1.0:
        raise ValueError(f"background: must be in [0, 1), got {eps}")
    return zf, xf, eps


def reference(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    kernel: object = "laplace",
    bandwidth: float = 1.0,
    bins: int = 256,
    background: float = 0.0,
    dps: int = 80,
    target: object = None,
) -> tuple[float, np.ndarray, np.ndarray]:
    r"""The binned loss, its gradient and ``log q`` at the bins, exactly (mpmath).

    :func:`reference_at` at the float bin centres ``t = kdeloss.bin_centers(a, b, bins)``,
    with the background density ``1 / (b - a)`` (``b - a`` taken exactly). With a ``target``
    of bin weights ``w_m`` every mean over the bins is ``sum_m w_m (.) / sum w``, formed
    exactly from the float weights; bins of weight 0 are skipped (``0 log 0 = 0``).

    Parameters
    ----------
    z, x : array_like, shape (N,)
        Logits and positions, finite.
    a, b : float
        The target interval.
    kernel : str or kernel object
        As for :func:`reference_at`.
    bandwidth : float
        ``h > 0`` for a kernel given by name.
    bins : int
        ``M``.
    background : float
        ``eps`` in ``[0, 1)``.
    dps : int
        Significant digits of the working precision (at least 60 is the project's rule).
    target : array_like of shape (M,), or callable, optional
        As in :func:`kdeloss.loss_and_grad`: ``None`` (uniform), the weight of each bin, or
        a callable returning them at the array of bin centres. A bad one raises the same
        ``ValueError("target: ...")``.

    Returns
    -------
    loss : float
        ``L_M`` rounded to a float; ``inf`` if ``|L_M|`` is beyond the float range, in which
        case the library must raise a ``ValueError``.
    grad : ndarray, shape (N,)
        ``dL_M/dz``.
    logq : ndarray, shape (M,)
        ``log q(t_m)``; values beyond the float range are clipped to ``-FLOAT_MAX`` (so
        :func:`loss_error` computed from them errs on the strict side); ``-inf`` at a bin
        of weight 0 that no kernel covers.

    Raises
    ------
    ValueError
        Where the library must raise one too: invalid arguments (the message names the
        argument), non-finite bin centres (``"a and b: ..."``), a bin covered by no kernel
        without a background (``"bins: ..."``), or a kernel without ``mp_logpdf``.

    Examples
    --------
    >>> import kdeloss
    >>> L, g, logq = reference([0.0, 0.0], [0.0, 5e-11], 1e6, 1e6 + 1.0, kernel="gaussian",
    ...                        bins=4)
    >>> g                                    # near-equal points far away: not zero
    array([ 1.25000062e-05, -1.25000062e-05])
    >>> L0, g0 = kdeloss.loss_and_grad([0.0, 0.5], [0.1, 0.7], 0.0, 1.0, bins=8)
    >>> L1, g1, lq1 = reference([0.0, 0.5], [0.1, 0.7], 0.0, 1.0, bins=8)
    >>> loss_error(L0, L1, lq1) < 1e-15, grad_error(g0, g1) < 1e-15
    (True, True)
    >>> reference([0.0], [0.0], 1e308, 1.7e308)[0]     # log q(t) = -t - log 2: a float
    1.35e+308
    >>> reference([0.0], [0.0], 1e308, 1.7e308, kernel="gaussian")[0]    # -t**2/2: not one
    inf
    """
    from .loss import bin_centers

    zf, xf, eps = _check_inputs(z, x, background)
    kern = _Kernel(kernel, bandwidth)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = bin_centers(a, b, bins)  # validates a, b, bins (ValueError naming them)
    if not np.all(np.isfinite(t)):
        raise ValueError(f"a and b: the bin centres of [{a}, {b}] are not all finite")
    raw_w = _target_weights(target, t)

    def log_u(mp: Any) -> Any:
        return -mp.log(mp.fsub(mp.mpf(float(b)), mp.mpf(float(a)), exact=True))

    ref = _evaluate(zf, xf, t, kern, eps, log_u, dps, raw_w)
    return ref.loss, ref.grad, ref.logq


def reference_at(
    z: np.ndarray,
    x: np.ndarray,
    t: np.ndarray,
    *,
    kernel: object = "laplace",
    bandwidth: float = 1.0,
    background: float = 0.0,
    log_u: float = 0.0,
    dps: int = 80,
) -> Reference:
    r"""The loss ``-mean_m log q(t_m)`` at any points ``t``, its gradient, ``log q`` and the
    responsibilities, exactly (mpmath).

    The float inputs are taken as exact numbers. Differences ``t_m - x_j`` are formed
    exactly, kernel values (the kernel's ``mp_logpdf``) and weights are evaluated with ``dps``
    digits plus as many bits as the largest exponent that reaches the result has (so
    ``z = 1e300 + small`` or a point ``1e15`` bandwidths away lose nothing), and the densities
    ``q(t_m) = sum_j S_j K(t_m - x_j)`` are summed with ``fsum`` (terms below the working
    precision relative to a bin's largest are left out). With a background ``eps``,
    ``q = (1 - eps) q_model + eps u`` with ``log u = log_u``, and
    ``grad = mean_m pi_m (S - r(t_m))`` with ``pi = (1 - eps) q_model / q``. It shares no
    numerical code with the library's log-space algorithms.

    Parameters
    ----------
    z, x : array_like, shape (N,)
        Logits and positions, finite.
    t : array_like, shape (M,)
        Where ``q`` is evaluated (bin centres, say), finite.
    kernel : str or kernel object
        A kernel name (:func:`kdeloss.get_kernel`) or a kernel object with a method
        ``mp_logpdf(d, h)`` that returns ``log K(d)`` as an mpmath number (``None`` or
        ``-inf`` where ``K = 0``) for an exact mpmath ``d``: the built-in kernels on the line
        and von Mises (``kappa = 1/h**2`` evaluated exactly from the float ``h``, up to
        ``kappa = 1e600`` and beyond), a :class:`kdeloss.ScaledKernel` of one, or a user
        object; ``h`` is the kernel's length scale (a user object's ``bandwidth``) if it has a
        finite one, else ``bandwidth``.
    bandwidth : float
        ``h > 0`` for a kernel given by name.
    background : float
        ``eps`` in ``[0, 1)``.
    log_u : float
        The log of the background density (``-log(b - a)`` for the uniform target on
        ``[a, b]``).
    dps : int
        Significant digits of the working precision (at least 60 is the project's rule).

    Returns
    -------
    Reference
        ``(loss, grad, logq, resp)``; :func:`errors` measures a result against it.

    Raises
    ------
    ValueError
        For invalid arguments (the message names the argument), a point ``t_m`` covered by no
        kernel without a background (``"bins: ..."``), or a kernel without ``mp_logpdf``.

    Examples
    --------
    Two equal weights, one point 30 bandwidths away (Laplace kernel): its responsibility is
    about ``e^-30`` at both points ``t``.

    >>> import kdeloss
    >>> ref = reference_at([0.0, 0.0], [0.5, 30.5], [0.25, 0.75])
    >>> ref.resp[:, 1]
    array([9.35762297e-14, 1.54281120e-13])
    >>> r = kdeloss.responsibilities([0.0, 0.0], [0.5, 30.5], [0.25, 0.75])
    >>> bool(np.abs(r - ref.resp).max() <= 2**-53)
    True

    A point only the background covers: ``log q = log(eps) + log_u`` there, no responsibility.

    >>> ref = reference_at([0.0], [0.0], [5.0], kernel="box", background=0.5, log_u=-1.0)
    >>> ref.logq, ref.resp
    (array([-1.69314718]), array([[0.]]))
    """
    zf, xf, eps = _check_inputs(z, x, background)
    tf = np.asarray(t, dtype=float).ravel()
    if tf.size == 0 or not np.all(np.isfinite(tf)):
        raise ValueError("t: expected a non-empty array of finite numbers")
    lu = float(log_u)
    if not math.isfinite(lu):
        raise ValueError(f"log_u: expected a finite number, got {log_u!r}")
    kern = _Kernel(kernel, bandwidth)
    return _evaluate(zf, xf, tf, kern, eps, lambda mp: mp.mpf(lu), dps)


def _evaluate(
    zf: np.ndarray,
    xf: np.ndarray,
    t: np.ndarray,
    kern: _Kernel,
    eps: float,
    log_u: Callable[[Any], Any],
    dps: int,
    weights: np.ndarray | None = None,
) -> Reference:
    """The reference's loop over the bins, for clean inputs (``weights``: the target's raw
    bin weights, or None for equal ones)."""
    import mpmath

    mp = mpmath.mp
    n, m = zf.size, t.size
    base_bits = math.ceil(dps * math.log2(10)) + _GUARD_BITS
    zs = [mp.mpf(float(v)) for v in zf]
    xs = [mp.mpf(float(v)) for v in xf]
    ts = [mp.mpf(float(v)) for v in t]
    # exact differences t_m - x_j (a float difference needs at most ~2100 bits)
    d = [[mp.fsub(tm, xj, exact=True) for xj in xs] for tm in ts]

    # How large are the exponents that reach the result? From floats when they say so
    # reliably, else in mpmath at low precision.
    big = _float_magnitude(zf, xf, t, kern, base_bits)
    if big is None:
        with mp.workprec(64):
            kern.setup(mp)
            zmax = max(zs)
            big = max(abs(v) for v in zs)
            for row in d:
                lk = [kern(mp, dj) for dj in row]
                live = [(zs[j] - zmax + v, abs(v)) for j, v in enumerate(lk) if v is not None]
                if live:
                    top = max(v for v, _ in live)
                    cut = top - 2 * base_bits
                    big = max(big, abs(top), *(s for v, s in live if v >= cut))
    extra = max(0, int(mp.ceil(mp.log(big, 2))) + 2) if big > 1 else 0
    prec = base_bits + min(extra, _MAX_EXTRA_BITS)
    if kern.circular:
        # an angle of 2^k radians needs k more bits before its sine has any digits right
        turns = max(abs(float(v)) for row in d for v in row)
        if turns > 1.0:
            prec += math.ceil(math.log2(turns)) if math.isfinite(turns) else 1100

    with mp.workprec(prec):
        kern.setup(mp)
        # terms below cutoff (relative to the largest, in log) are below the working
        # precision's last digit; exp of a huge negative number is slow, so skip them
        cutoff = -((base_bits + 8) * mp.ln2 + mp.log(n))
        zmax = max(zs)
        lse = zmax + mp.log(mp.fsum(mp.exp(v - zmax) for v in zs if v - zmax > cutoff))
        log_s = [v - lse for v in zs]
        s = [mp.exp(v) if v > cutoff else mp.zero for v in log_s]
        one = mp.mpf(1)
        log_bg = mp.zero
        if eps:
            log_fit_c = mp.log1p(-mp.mpf(eps))
            log_bg = mp.log(mp.mpf(eps)) + log_u(mp)
        logq: list[Any] = []
        pis: list[Any] = []
        resp = np.zeros((m, n))
        cols: list[list[Any]] = [[] for _ in range(n)]  # pi_m r_j(t_m), per point
        exp, log, fsum = mp.exp, mp.log, mp.fsum
        wts = [one] * m if weights is None else [mp.mpf(float(v)) for v in weights]
        for mi, row in enumerate(d):
            lk = [kern(mp, dj) for dj in row]
            terms = [(j, log_s[j] + v) for j, v in enumerate(lk) if v is not None]
            if not terms and not wts[mi]:
                logq.append(mp.ninf)
                pis.append(mp.zero)
                continue
            if not terms:
                if not eps:
                    raise ValueError(
                        f"bins: bin {mi} at t = {float(t[mi]):.12g} is covered by no kernel, "
                        "so q = 0 and log q = -inf there"
                    )
                logq.append(log_bg)
                pis.append(mp.zero)
                continue
            top = max(v for _, v in terms)
            e = [(j, exp(v - top)) for j, v in terms if v - top > cutoff]
            total = fsum(v for _, v in e)
            log_model = top + log(total)
            if not eps:
                logq.append(log_model)
                pis.append(one)
                pi = one
            else:
                log_fit = log_fit_c + log_model
                hi, lo = (log_fit, log_bg) if log_fit >= log_bg else (log_bg, log_fit)
                lq = hi + (mp.log1p(exp(lo - hi)) if lo - hi > cutoff else 0)
                logq.append(lq)
                pi = exp(log_fit - lq) if log_fit - lq > cutoff else mp.zero
                pis.append(pi)
            for j, v in e:
                r = v / total
                resp[mi, j] = float(r)
                cols[j].append(r * pi * wts[mi])
        total_w = fsum(wts)
        loss = -fsum(w * v for w, v in zip(wts, logq, strict=True) if w) / total_w
        mean_pi = fsum(w * v for w, v in zip(wts, pis, strict=True)) / total_w
        grad = [s[i] * mean_pi - fsum(cols[i]) / total_w for i in range(n)]
        loss_f = float(loss) if abs(loss) <= FLOAT_MAX else math.copysign(math.inf, loss)
        logq_f = np.array([_clipped(mp, v) for v in logq])
        return Reference(loss_f, np.array([float(v) for v in grad]), logq_f, resp)
