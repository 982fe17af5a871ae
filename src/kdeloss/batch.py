r"""The loss and its gradient for a batch of samples over shared kernel centres, vectorised.

A model that predicts logits ``Z[b]`` over fixed centres ``x`` for each input ``b`` trains on
the batch mean of the per-sample losses,

.. math::

    \mathcal{L}(Z) = \frac{1}{B} \sum_b L_b(Z_b), \qquad
    \frac{\partial \mathcal{L}}{\partial Z_{bi}} = \frac{1}{B}
        \Big( S_{bi} \sum_m c_{bm} - \sum_m c_{bm} r_{bi}(t_{bm}) \Big),

with ``L_b = -sum_m wbar_bm log q_b(t_bm)``, ``c_bm = wbar_bm pi_bm`` (``wbar = 1/M`` for a
uniform target, ``pi = 1`` without a background) and each sample's bins ``t_bm`` on its own
``[a_b, b_b]``. :func:`loss_and_grad_batch` computes it for all samples at once with NumPy
matrix products; it gives the numbers of a loop of :func:`kdeloss.loss_and_grad` over the
samples (to ``1e-12`` in the shared error measure), in log space.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy.special import expit

from ._validate import (
    as_background,
    as_batch_target,
    as_bins,
    as_scalar,
    as_vector,
)
from .kernels import Kernel, get_kernel, weighted_log_rows
from .logspace import log_softmax, log_width, logaddexp, mean_of_logs, two_sum
from .loss import KernelLike, loss_and_grad

__all__ = ["loss_and_grad_batch"]

# A bin's scaled density (largest weight 1, largest kernel value 1 on its side) must be at
# least exp(-_DEPTH) for the vectorised sums: the terms that reach it then have exponents
# of at most _DEPTH + 45 in size, each rounded to about that many ulps (< 1e-13).
_DEPTH = 200.0
# On the plain path (kernel values from rounded differences t - x) the sizes of the row's
# own log kernel values count too; the bound on the sum of sizes (as fast.direct's guard).
_GUARD = 512.0
# Terms more than this far (in log) below a row's largest cannot reach the result.
_RELEVANT = 40.0
# A side sum of the Laplace path below this is not used (it could hold subnormal terms).
_TINY = 1e-290
# Values below this are set to 0 before the matrix products: subnormal numbers make floating
# point arithmetic many times slower, and nothing this small reaches the result (a term of a
# bin's sum is relevant only within e^-(_DEPTH + 45) of it).
_FLUSH = 1e-300
# Samples times (bins + points) of one block of samples (memory: a few such arrays).
_SAMPLE_BLOCK = 2**21
# Rows of one matrix product (see _matmul).
_ROWS = 16
# Entries of one (samples x bins x points) block of the plain path.
_BLOCK_ENTRIES = 2**18
# Positions or bandwidths from here on go to the exact per-sample method (as "sorted" does).
_FLOAT_LIMIT = 2.0**1000
# The Laplace path holds two N x N matrices; above this N the general path runs.
_LAPLACE_MAX_N = 2048
# Positions and bins within this many bandwidths of 0: a difference t - x_k is then exact to
# 2**-53 * 64 h, a relative error below 1e-14 in e^{-|t - x_k|/h}, so no two-sum is needed.
_PLAIN_DIFF = 64.0
# The linear-domain Laplace path needs each side's term above this (far above the flush
# level, so a sum's dropped terms are negligible), or below _NEGLIGIBLE times the total.
_LINEAR_MIN = 1e-250
_NEGLIGIBLE = 1e-30


def loss_and_grad_batch(
    Z: np.ndarray,
    x: np.ndarray,
    a: float | np.ndarray,
    b: float | np.ndarray,
    *,
    kernel: KernelLike = "laplace",
    bandwidth: float = 1.0,
    bins: int = 256,
    background: float = 0.0,
    target: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    r"""Mean loss over a batch and its gradient, ``(B, N)``, for logits over shared centres.

    Sample ``b`` has logits ``Z[b]`` over the centres ``x`` and its own target: the uniform
    density on ``[a_b, b_b]`` (``a``, ``b`` scalars shared by all samples, or arrays of shape
    ``(B,)``), or bin weights ``target[b]`` on the bins of ``[a, b]``. Returns
    ``mean_b L_b`` and its gradient ``dL_b/dZ_b / B``, the same numbers as a loop of
    :func:`kdeloss.loss_and_grad` (within ``1e-12`` in the shared error measure).

    How: each sample's weights are scaled so that the largest is 1. For the Laplace kernel
    (``N <= 2048``) the points are sorted once; every sample's sums from the left and from
    the right of each point are one matrix product with the shared matrices
    ``e^{-(x_k - x_j)/h}`` (``j <= k``, and mirrored), a bin's density combines the two
    sums either side of it in log space (its distance to them enters as an exponent only,
    so bins far from every point lose nothing), and the gradient sends the bins' weights
    back the same way: ``O(B N^2 + B M)``. For other kernels the table of
    ``log K(t_m - x_j)`` less its row maximum is formed once (shared bins; with
    :meth:`kdeloss.Kernel.split_rows`, exact for far points) or per block of samples
    (bins per sample; from the differences ``t - x`` for kernels positive everywhere and
    on the line, else with ``split_rows``), and the densities and responsibilities are
    matrix products with it. A bin whose scaled density is below ``e^{-200}`` (weights
    concentrated on points whose kernels hardly reach it), or that fails the plain path's
    accuracy guard, sends its sample to the exact per-sample method
    (:func:`kdeloss.loss_and_grad`, ``method="direct"``); so do all samples whose
    positions are near the float limit.

    Parameters
    ----------
    Z : array_like, shape (B, N)
        Logits, finite; one row per sample.
    x : array_like, shape (N,)
        The centres, shared by all samples.
    a, b : float or array_like of shape (B,)
        The target interval(s), ``a < b``.
    kernel, bandwidth, bins, background
        As in :func:`kdeloss.loss_and_grad`.
    target : array_like, shape (B, M), optional
        Bin weights ``w_bm >= 0`` per sample (each row normalised to sum 1, none all zero);
        default ``None``: uniform on each sample's interval. A bin of weight 0 adds nothing.

    Returns
    -------
    loss : float
        ``mean_b L_b``.
    grad : ndarray, shape (B, N)
        Its gradient; each row sums to zero.

    Raises
    ------
    ValueError
        On bad input, naming the argument (``"Z: ..."``, ``"target: ..."``, ...), and as
        :func:`kdeloss.loss_and_grad` does for a sample (a bin of positive weight that no
        kernel covers: ``"bins: sample b: ..."``).

    Examples
    --------
    Four samples, each with its own interval; the same numbers as a loop:

    >>> import kdeloss
    >>> rng = np.random.default_rng(0)
    >>> x = np.linspace(-2.0, 2.0, 8)
    >>> Z = rng.normal(size=(4, 8))
    >>> lo = np.array([-1.0, 0.0, 0.5, 30.0])            # the last far from every centre
    >>> L, G = loss_and_grad_batch(Z, x, lo, lo + 0.5, bandwidth=0.5, bins=16)
    >>> each = [kdeloss.loss_and_grad(Z[i], x, lo[i], lo[i] + 0.5, bandwidth=0.5, bins=16)
    ...         for i in range(4)]
    >>> bool(abs(L - np.mean([v for v, _ in each])) < 1e-13)
    True
    >>> bool(np.abs(G - np.stack([g for _, g in each]) / 4).max() < 1e-15)
    True

    Targets as weights on shared bins (here a soft label peaked at 0.5), Gaussian kernel:

    >>> t = kdeloss.bin_centers(-1.0, 1.0, 16)
    >>> W = np.exp(-0.5 * ((t[None, :] - np.array([[0.5], [-0.5]])) / 0.2) ** 2)
    >>> L, G = loss_and_grad_batch(Z[:2], x, -1.0, 1.0, kernel="gaussian", bins=16, target=W)
    >>> G.shape, bool(np.abs(G.sum(axis=1)).max() < 1e-16)
    ((2, 8), True)
    """
    zz, xx = _as_batch_points(Z, x)
    n_samples = zz.shape[0]
    lo, hi, shared = _as_batch_interval(a, b, n_samples)
    eps = as_background(background)
    kern = get_kernel(kernel, bandwidth)
    m = as_bins(bins)
    t = _batch_centers(lo, hi, m, shared)
    w = as_batch_target(target, t if shared else t[0], n_samples)
    log_u = -_log_widths(lo, hi)

    losses = np.empty(n_samples)
    grads = np.empty((n_samples, xx.size))
    todo = np.ones(n_samples, dtype=bool)
    big = max(float(np.abs(xx).max()), float(np.abs(t).max()), kern.bandwidth)
    if big < _FLOAT_LIMIT:
        laplace = kern.exact_fast_path == "sorted" and xx.size <= _LAPLACE_MAX_N
        rows = max(1, _SAMPLE_BLOCK // (m + xx.size))
        for i0 in range(0, n_samples, rows):
            sl = slice(i0, min(i0 + rows, n_samples))
            args = (
                zz[sl],
                xx,
                t if shared else t[sl],
                kern.bandwidth if laplace else kern,
                eps,
                log_u[sl],
                None if w is None else w[sl],
                losses[sl],
                grads[sl],
            )
            todo[sl] = ~(_laplace(*args) if laplace else _general(*args))
    for i in np.flatnonzero(todo):
        try:
            losses[i], grads[i] = loss_and_grad(
                zz[i],
                xx,
                float(lo[i]),
                float(hi[i]),
                kernel=kern,
                bins=m,
                background=eps,
                method="direct",
                target=None if w is None else w[i],
            )
        except ValueError as err:
            name, _, rest = str(err).partition(": ")
            raise ValueError(f"{name}: sample {i}: {rest}") from None
    grads /= n_samples
    return float(mean_of_logs(losses)), grads


# --------------------------------------------------------------------------------------------
# arguments


def _as_batch_points(z: object, x: object) -> tuple[np.ndarray, np.ndarray]:
    """``Z`` as a finite ``(B, N)`` float array and ``x`` as a finite ``(N,)`` one."""
    arr = np.asarray(z)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise ValueError(f"Z: expected a 2-D array of real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2 or 0 in arr.shape:
        raise ValueError(f"Z: expected logits of shape (B, N) with B, N >= 1, got {arr.shape}")
    zz = arr.astype(float)
    if not np.all(np.isfinite(zz)):
        bad = tuple(int(v) for v in np.argwhere(~np.isfinite(zz))[0])
        raise ValueError(f"Z: every element must be finite, but Z[{bad[0]}, {bad[1]}] = {zz[bad]}")
    xx = as_vector("x", x)
    if xx.size != zz.shape[1]:
        raise ValueError(
            f"Z and x: expected one column of Z per centre, got Z of shape {zz.shape} and "
            f"len(x) = {xx.size}"
        )
    return zz, xx


def _as_batch_interval(a: object, b: object, n: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """``a`` and ``b`` as arrays of shape ``(n,)``, and whether both were scalars."""
    out = []
    for name, v in (("a", a), ("b", b)):
        arr = np.asarray(v)
        if arr.ndim == 0:
            out.append(np.full(n, as_scalar(name, v)))
            continue
        if arr.dtype == object or arr.dtype.kind not in "biuf":
            raise ValueError(f"{name}: expected real numbers, got dtype {arr.dtype}")
        if arr.shape != (n,):
            raise ValueError(
                f"{name}: expected a number or an array of shape ({n},), got {arr.shape}"
            )
        arr = arr.astype(float)
        if not np.all(np.isfinite(arr)):
            bad = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise ValueError(
                f"{name}: every element must be finite, but {name}[{bad}] = {arr[bad]}"
            )
        out.append(arr)
    lo, hi = out
    if not np.all(lo < hi):
        i = int(np.flatnonzero(~(lo < hi))[0])
        raise ValueError(
            f"a and b: the target interval needs a < b, got a[{i}] = {lo[i]}, b[{i}] = {hi[i]}"
        )
    return lo, hi, np.ndim(a) == 0 and np.ndim(b) == 0


def _log_widths(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``log(b - a)`` per sample (:func:`kdeloss.logspace.log_width` where it overflows)."""
    with np.errstate(over="ignore"):
        width = hi - lo
    out = np.log(np.where(np.isfinite(width) & (width > 0.0), width, 1.0))
    for i in np.flatnonzero(~(np.isfinite(width) & (width > 0.0))):
        out[i] = log_width(float(lo[i]), float(hi[i]))
    return out


def _batch_centers(lo: np.ndarray, hi: np.ndarray, m: int, shared: bool) -> np.ndarray:
    """The bin centres: ``(M,)`` if shared, else ``(B, M)``; each row the same floats as
    :func:`kdeloss.bin_centers` gives for its interval."""
    k = np.arange(m) + 0.5
    if shared:
        lo, hi = lo[:1], hi[:1]
    with np.errstate(over="ignore"):
        width = hi - lo
    t = lo[:, None] + k[None, :] * (width / m)[:, None]
    wide = ~np.isfinite(width)
    if wide.any():
        f = k / m
        t[wide] = (1.0 - f)[None, :] * lo[wide, None] + f[None, :] * hi[wide, None]
    return t[0] if shared else t


# --------------------------------------------------------------------------------------------
# the pieces shared by both paths


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for a tall ``a``, as a stack of products of :data:`_ROWS` rows.

    The same numbers as one product; but each is too small for OpenBLAS to start its
    threads, whose busy waiting after a product slows the NumPy work that follows many times
    over on a machine with few, busy cores (measured: 15 ms against 200 ms per batch).
    """
    rows = a.shape[0]
    full = rows - rows % _ROWS
    out = np.empty((rows, b.shape[1]))
    if full:
        stack = np.ascontiguousarray(a[:full]).reshape(full // _ROWS, _ROWS, a.shape[1])
        out[:full] = np.matmul(stack, b).reshape(full, b.shape[1])
    if full < rows:
        out[full:] = a[full:] @ b
    return out


def _flushed(v: np.ndarray) -> np.ndarray:
    """``v`` with entries below :data:`_FLUSH` set to 0 (in place; returned)."""
    v[v < _FLUSH] = 0.0
    return v


def _weights(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``A = e^{z - max z}`` per row (largest 1) and ``log sum A`` (so ``S = A / sum A``);
    weights below ``1e-300`` of the largest are 0."""
    a = _flushed(np.exp(z - z.max(axis=1, keepdims=True)))
    return a, np.log(a.sum(axis=1))


def _finish(
    log_model: np.ndarray,
    eps: float,
    log_u: np.ndarray,
    w: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-sample losses, ``log q`` and the per-bin coefficients ``c = wbar pi`` from
    ``log q_model`` of shape ``(B, M)``."""
    m = log_model.shape[1]
    if eps == 0.0:
        logq, pi = log_model, None
    else:
        log_fit = math.log1p(-eps) + log_model
        logq = logaddexp(log_fit, np.broadcast_to((math.log(eps) + log_u)[:, None], log_fit.shape))
        pi = np.exp(log_fit - logq)
    if w is None:
        with np.errstate(over="ignore", invalid="ignore"):
            losses = -logq.mean(axis=1)
        if not np.all(np.isfinite(losses)):
            losses = -(logq / m).sum(axis=1)
        c = np.full(logq.shape, 1.0 / m) if pi is None else pi / m
    else:
        live = w > 0.0
        losses = -(np.where(live, w * np.where(live, logq, 0.0), 0.0)).sum(axis=1)
        c = w if pi is None else w * pi
    return losses, logq, c


# --------------------------------------------------------------------------------------------
# Laplace: sums from the left and the right of each point, as matrix products


class _Sides(NamedTuple):
    """Each bin's two neighbouring points and the weighted sums reaching it from each side."""

    t: np.ndarray
    """Bin centres, ``(B, M)`` (broadcast)."""
    xs: np.ndarray
    """Sorted points."""
    kl: np.ndarray
    """Index of the nearest point at or left of each bin (clipped to 0)."""
    kr: np.ndarray
    """Index of the nearest point right of each bin (clipped to N - 1)."""
    has_l: np.ndarray
    """Whether a point lies at or left of the bin."""
    has_r: np.ndarray
    """Whether a point lies right of the bin."""
    sl: np.ndarray
    """``Lhat`` at ``kl``: the left sum, relative to the nearest left point."""
    sr: np.ndarray
    """``Rhat`` at ``kr``: the right sum, relative to the nearest right point."""


def _laplace(
    z: np.ndarray,
    x: np.ndarray,
    t: np.ndarray,
    h: float,
    eps: float,
    log_u: np.ndarray,
    w: np.ndarray | None,
    losses: np.ndarray,
    grads: np.ndarray,
) -> np.ndarray:
    """Fill ``losses`` and ``grads`` of the samples this path answers; return which.

    With the points sorted, ``Lhat_bk = sum_{j <= k} A_bj e^{-(x_k - x_j)/h}`` and
    ``Rhat_bk = sum_{j >= k} A_bj e^{-(x_j - x_k)/h}``; a bin in ``[x_k, x_{k+1})`` has
    ``sum_j A_bj e^{-|t - x_j|/h} = e^{-(t - x_k)/h} Lhat_bk + e^{-(x_{k+1} - t)/h}
    Rhat_b,k+1``, combined in log space (the distances by two-sums, as ``"sorted"`` does).
    """
    n_samples, n = z.shape
    order = np.argsort(x, kind="stable")
    xs, zs = x[order], z[:, order]
    amat, log_norm = _weights(zs)
    with np.errstate(over="ignore", invalid="ignore"):
        diff = (xs[:, None] - xs[None, :]) / h  # >= 0 below the diagonal
    lower = np.tri(n, dtype=bool)
    with np.errstate(under="ignore", over="ignore"):
        tl = _flushed(np.where(lower, np.exp(-np.where(lower, diff, 0.0)), 0.0))  # j <= k
        tr = _flushed(np.where(lower.T, np.exp(np.where(lower.T, diff, 0.0)), 0.0))  # j >= k
    # both sums in one product: [Lhat | Rhat] = A [tl^T | tr^T]
    both = _matmul(amat, np.ascontiguousarray(np.hstack([tl.T, tr.T])))
    lhat, rhat = both[:, :n], both[:, n:]

    tt = np.broadcast_to(t, (n_samples, t.shape[-1]))
    k = np.searchsorted(xs, t, side="right") - 1  # x_k <= t < x_{k+1}; -1 and n-1 at the ends
    k = np.broadcast_to(k, tt.shape)
    rows = np.arange(n_samples)[:, None]
    has_l, has_r = k >= 0, k + 1 <= n - 1
    kl, kr = np.maximum(k, 0), np.minimum(k + 1, n - 1)
    sl = np.where(has_l, lhat[rows, kl], 0.0)
    sr = np.where(has_r, rhat[rows, kr], 0.0)
    sides = _Sides(tt, xs, kl, kr, has_l, has_r, sl, sr)
    linear = None
    if max(float(np.abs(xs).max()), float(np.abs(t).max())) <= _PLAIN_DIFF * h:
        linear = _laplace_linear(sides, h)
    if linear is not None:
        # every bin well scaled: q in the linear domain (see _laplace_linear)
        pl, pr, qhat = linear
        log_model = np.log(qhat) - log_norm[:, None] - math.log(2.0 * h)
        loss, _, c = _finish(log_model, eps, log_u, w)
        inv = c / qhat
        alpha, beta = _flushed(pl * inv), _flushed(pr * inv)
        good = np.ones(n_samples, dtype=bool)
    else:
        loss, c, alpha, beta, good = _laplace_log(sides, h, log_norm, eps, log_u, w)
    flat = rows * n
    # the left and right accumulations side by side, then one product with [tl; tr]
    acc = np.bincount(
        np.concatenate([(2 * flat + kl).ravel(), (2 * flat + n + kr).ravel()]),
        np.concatenate([alpha.ravel(), beta.ravel()]),
        minlength=n_samples * 2 * n,
    )
    rsum = _matmul(acc.reshape(n_samples, 2 * n), np.vstack([tl, tr]))
    rsum *= amat
    s = amat / np.exp(log_norm)[:, None]
    grad = s * c.sum(axis=1, keepdims=True) - rsum
    losses[good] = loss[good]
    out = np.empty_like(grad)
    out[:, order] = grad
    grads[good] = out[good]
    return good


def _laplace_linear(
    sides: _Sides, h: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(p_l, p_r, qhat)`` with ``qhat = p_l Lhat + p_r Rhat`` in the linear domain, or None
    where that would not be exact to rounding.

    Called only for positions and bins within :data:`_PLAIN_DIFF` bandwidths of 0, so the
    differences ``t - x_k`` are exact to a relative ``1e-14`` and ``p = e^{-d/h}`` lies in
    ``[e^{-2 _PLAIN_DIFF}, 1]``; the heaviest weight is 1, so ``qhat >= e^{-128}``. Each
    side's term ``p S`` must be a normal float well above the flush level, or negligible
    beside ``qhat`` (then its error does not matter). Within those ranges this always holds;
    it is checked all the same, and on failure (None) the log-space path answers.
    """
    tt, xs, kl, kr, has_l, has_r, sl, sr = sides
    with np.errstate(under="ignore", over="ignore", invalid="ignore"):
        pl = np.where(has_l, np.exp((xs[kl] - tt) / h), 0.0)
        pr = np.where(has_r, np.exp((tt - xs[kr]) / h), 0.0)
        vl, vr = pl * sl, pr * sr
        qhat = vl + vr
        small = _NEGLIGIBLE * qhat
        fine = (qhat >= _LINEAR_MIN) & ((vl >= _LINEAR_MIN) | (vl <= small))
        fine &= (vr >= _LINEAR_MIN) | (vr <= small)
    return (pl, pr, qhat) if bool(fine.all()) else None


def _laplace_log(
    sides: _Sides,
    h: float,
    log_norm: np.ndarray,
    eps: float,
    log_u: np.ndarray,
    w: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The two sides combined in log space (distances by two-sums, as ``"sorted"`` does):
    per-sample losses, per-bin coefficients, the left and right accumulation weights, and
    which samples are answered."""
    tt, xs, kl, kr, has_l, has_r, sl, sr = sides
    dl, el = two_sum(tt, -xs[kl])
    dr, er = two_sum(xs[kr], -tt)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        log_sl, log_sr = np.log(sl), np.log(sr)
        ql, qr = dl / h, dr / h
        left = np.where(has_l, log_sl - ql, -np.inf)
        right = np.where(has_r, log_sr - qr, -np.inf)
        gap = (log_sl - log_sr) - ((dl - dr) + (el - er)) / h
        gap = np.where(has_l & has_r, gap, np.where(has_l, np.inf, -np.inf))
        top = np.maximum(left, right)
        log_hat = top + np.log1p(np.exp(-np.abs(gap)))
    # accuracy: the side that carries the bin is a sum >= e^{-_DEPTH}; the other is one
    # too, or absent, or (if it could hold underflowed terms) negligible beside it
    deep = math.exp(-_DEPTH)
    acc_l, acc_r = ~has_l | (sl >= deep), ~has_r | (sr >= deep)
    with np.errstate(over="ignore", invalid="ignore"):
        bound_l = -_DEPTH - ql
        bound_r = -_DEPTH - qr
        ok = np.isfinite(log_hat) & np.where(gap > 0.0, acc_l, acc_r)
        ok &= acc_l | (bound_l <= right - _RELEVANT)
        ok &= acc_r | (bound_r <= left - _RELEVANT)
    if w is not None:
        ok |= w == 0.0
    good = ok.all(axis=1)

    log_model = log_hat - log_norm[:, None] - math.log(2.0 * h)
    log_model = np.where(ok, log_model, 0.0)  # bins of samples not answered here, or weight 0
    loss, _, c = _finish(log_model, eps, log_u, w)
    c = np.where(ok, c, 0.0)
    frac_l = expit(np.where(np.isnan(gap), 0.0, gap))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        alpha = np.where(has_l & (sl >= _TINY), c * frac_l / sl, 0.0)
        beta = np.where(has_r & (sr >= _TINY), c * (1.0 - frac_l) / sr, 0.0)
    alpha, beta = _flushed(alpha), _flushed(beta)
    return loss, c, alpha, beta, good


# --------------------------------------------------------------------------------------------
# other kernels: the kernel table less its row maximum, and matrix products


def _exact_rows(kern: Kernel, t: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log K(t_m - x_j)`` as ``lead_m + rel_mj`` (``rel <= 0``, 0 at the row's heaviest),
    each ``rel`` accurate to a rounding of its own size (``split_rows``); ``exp(rel)`` is
    returned, 0 on rows no kernel reaches (``lead = -inf``)."""
    zero = np.zeros(x.size)
    covered, lead, rel = weighted_log_rows(kern, t, x, zero, log_softmax(zero))
    with np.errstate(under="ignore", invalid="ignore"):
        ktab = np.where(covered[:, None], np.exp(np.minimum(rel, 0.0)), 0.0)
    return lead + math.log(x.size), _flushed(ktab)


def _general(
    z: np.ndarray,
    x: np.ndarray,
    t: np.ndarray,
    kern: Kernel,
    eps: float,
    log_u: np.ndarray,
    w: np.ndarray | None,
    losses: np.ndarray,
    grads: np.ndarray,
) -> np.ndarray:
    """Fill ``losses`` and ``grads`` of the samples this path answers; return which."""
    n_samples, n = z.shape
    amat, log_norm = _weights(z)
    if t.ndim == 1:
        kappa, ktab = _exact_rows(kern, t, x)
        qhat = _matmul(amat, np.ascontiguousarray(ktab.T))
        ok = _general_ok(qhat, None, n, w)
        return _general_finish(
            amat, log_norm, qhat, kappa[None, :], ktab, None, ok, eps, log_u, w, losses, grads
        )
    m = t.shape[1]
    rows = max(1, _BLOCK_ENTRIES // (m * n))
    good = np.zeros(n_samples, dtype=bool)
    span = _plain_span(kern, t, x)
    for i0 in range(0, n_samples, rows):
        sl = slice(i0, min(i0 + rows, n_samples))
        tb = t[sl]
        wb = None if w is None else w[sl]
        if span is not None:
            with np.errstate(over="ignore", invalid="ignore", under="ignore"):
                lk = np.asarray(kern.logpdf(tb[:, :, None] - x[None, None, :]), dtype=float)
                kappa = lk.max(axis=2)
                ktab = _flushed(np.exp(lk - kappa[:, :, None]))
            size = np.abs(kappa) + span
            qhat = np.einsum("bmn,bn->bm", ktab, amat[sl])
            redo = ~_general_ok(qhat, size, n, wb)
            if redo.any():  # far bins: their rows again, from differences of positions
                kappa[redo], ktab[redo] = _exact_rows(kern, tb[redo], x)
                size[redo] = 0.0
                qhat[redo] = np.einsum("rn,rn->r", ktab[redo], amat[sl][np.nonzero(redo)[0]])
        else:
            kappa, flat = _exact_rows(kern, tb.ravel(), x)
            kappa, ktab = kappa.reshape(tb.shape), flat.reshape(*tb.shape, n)
            size = None
            qhat = np.einsum("bmn,bn->bm", ktab, amat[sl])
        ok = _general_ok(qhat, size, n, wb)
        good[sl] = _general_finish(
            amat[sl],
            log_norm[sl],
            qhat,
            kappa,
            None,
            ktab,
            ok,
            eps,
            log_u[sl],
            None if w is None else w[sl],
            losses[sl],
            grads[sl],
        )
    return good


def _plain_span(kern: Kernel, t: np.ndarray, x: np.ndarray) -> float | None:
    """Whether the plain table (``log K`` of the rounded ``t - x``) may be used, and the
    size it adds to every exponent's rounding: 0 for a kernel on the line positive
    everywhere (its ``log K`` rounds like its own size); for a circular one positive
    everywhere, the range of ``log K`` over a turn (``2 kappa`` for von Mises), if positions
    are angles within two turns and that range is at most 256; else None (the exact rows)."""
    if not kern.positive:
        return None
    if not kern.circular:
        return 0.0
    if max(float(np.abs(t).max()), float(np.abs(x).max())) > 4.0 * math.pi:
        return None
    with np.errstate(all="ignore"):
        lk = np.asarray(kern.logpdf(np.linspace(-math.pi, math.pi, 721)), dtype=float)
    span = float(lk.max() - lk.min())
    return span if span <= 256.0 else None


def _general_ok(
    qhat: np.ndarray, size: np.ndarray | None, n: int, w: np.ndarray | None
) -> np.ndarray:
    """Bins the vectorised sums answer to ``1e-13``: scaled density above ``e^{-200}`` and,
    on the plain path, the sizes of the exponents that reach it within the guard."""
    deep = math.exp(-_DEPTH)
    ok = qhat >= deep
    if size is not None:
        with np.errstate(divide="ignore"):
            depth = _RELEVANT + math.log(n) - np.log(np.maximum(qhat, deep))
        ok &= 2.0 * (depth + size) <= _GUARD
    if w is not None:
        ok |= w == 0.0
    return ok


def _general_finish(
    amat: np.ndarray,
    log_norm: np.ndarray,
    qhat: np.ndarray,
    kappa: np.ndarray,
    shared: np.ndarray | None,
    ktab: np.ndarray | None,
    ok: np.ndarray,
    eps: float,
    log_u: np.ndarray,
    w: np.ndarray | None,
    losses: np.ndarray,
    grads: np.ndarray,
) -> np.ndarray:
    """Losses and gradients from the scaled densities ``qhat`` (``(B, M)``) and the kernel
    table (``shared`` ``(M, N)``, or ``ktab`` ``(B, M, N)``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_model = np.log(qhat) + kappa - log_norm[:, None]
    log_model = np.where(ok, log_model, 0.0)
    loss, _, c = _finish(log_model, eps, log_u, w)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = _flushed(np.where(ok & (c > 0.0), c / qhat, 0.0))
    back = _matmul(g, shared) if shared is not None else np.einsum("bm,bmn->bn", g, ktab)
    s = amat / np.exp(log_norm)[:, None]
    grad = s * np.where(ok, c, 0.0).sum(axis=1, keepdims=True) - amat * back
    good = ok.all(axis=1)
    losses[good] = loss[good]
    grads[good] = grad[good]
    return good
