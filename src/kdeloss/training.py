"""Training the logits: gradient descent on ``z`` and EM on the weights ``S``.

Both minimise the same binned loss :func:`kdeloss.loss_and_grad` over the weights; they
differ in the route. Gradient descent steps ``z <- z - lr * dL/dz`` with
``dL/dz_i = S_i - mean_m r_i(t_m)``. EM replaces the weights by the mean responsibilities,
``S_i <- mean_m r_i(t_m)`` (with a background: the mean posterior of component ``i``,
renormalised over the components), whose fixed points are exactly the zeros of the gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validate import as_background, as_bins, as_interval, as_points, as_scalar, as_target
from .kernels import LogPdf, get_kernel
from .logspace import log_width
from .loss import (
    TargetLike,
    _reindexed,
    bin_centers,
    density_terms,
    log_softmax,
    loss_and_grad,
)

__all__ = ["Trajectory", "em", "gradient_descent"]

#: Logits below this stand for a weight that EM drove to (numerically) zero.
Z_FLOOR = float(np.log(np.finfo(float).tiny))


@dataclass(frozen=True)
class Trajectory:
    """The iterates of a training run; row ``k`` is iteration ``k`` (row 0 the start).

    Attributes
    ----------
    z : ndarray, shape (steps + 1, N)
        Logits.
    weights : ndarray, shape (steps + 1, N)
        ``softmax(z)``.
    loss : ndarray, shape (steps + 1,)
        ``L_M`` at each iterate.
    grad : ndarray, shape (steps + 1, N)
        ``dL_M/dz`` at each iterate.
    method : str
        ``"gd"`` or ``"em"``.
    """

    z: np.ndarray
    weights: np.ndarray
    loss: np.ndarray
    grad: np.ndarray
    method: str

    @property
    def steps(self) -> int:
        """Number of updates made."""
        return self.loss.size - 1


def _steps(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"steps: expected an integer >= 0, got {value!r}")
    return int(value)


def gradient_descent(
    z0: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    steps: int = 100,
    lr: float = 1.0,
    kernel: str | LogPdf = "laplace",
    bandwidth: float = 1.0,
    bins: int = 256,
    background: float = 0.0,
    target: TargetLike = None,
) -> Trajectory:
    """Plain gradient descent on the logits, ``z <- z - lr * dL_M/dz``.

    Parameters
    ----------
    z0 : array_like, shape (N,)
        Starting logits.
    x, a, b, kernel, bandwidth, bins, background, target
        As in :func:`kdeloss.loss_and_grad`.
    steps : int
        Number of updates (>= 0).
    lr : float
        Step size (> 0).

    Returns
    -------
    Trajectory

    Examples
    --------
    >>> run = gradient_descent([0.0, 0.0], [0.2, 5.0], 0.0, 1.0, steps=50)
    >>> bool(run.loss[-1] < run.loss[0]), bool(run.weights[-1, 0] > 0.5)
    (True, True)
    """
    z, x = as_points(z0, x)
    rate = as_scalar("lr", lr)
    if not rate > 0:
        raise ValueError(f"lr: must be > 0, got {rate}")
    n = _steps(steps)
    zs, losses, grads = [z], [], []
    for k in range(n + 1):
        value, g = loss_and_grad(
            zs[k],
            x,
            a,
            b,
            kernel=kernel,
            bandwidth=bandwidth,
            bins=bins,
            background=background,
            target=target,
        )
        losses.append(value)
        grads.append(g)
        if k < n:
            zs.append(zs[k] - rate * g)
    zarr = np.array(zs)
    w = np.exp(zarr - np.logaddexp.reduce(zarr, axis=1, keepdims=True))
    return Trajectory(zarr, w, np.array(losses), np.array(grads), "gd")


def em(
    z0: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    steps: int = 100,
    kernel: str | LogPdf = "laplace",
    bandwidth: float = 1.0,
    bins: int = 256,
    background: float = 0.0,
    target: TargetLike = None,
) -> Trajectory:
    """EM for the mixture weights: ``S_i <- mean_m r_i(t_m)``, computed in log space.

    With a background weight ``eps`` the E-step's posterior of component ``i`` is
    ``pi(t) r_i(t)``, and the M-step renormalises over the components:
    ``S_i <- mean_m pi r_i / mean_m pi``. A weight that underflows is kept at the logit
    ``Z_FLOOR`` (about -708) so that the loss stays defined. With a ``target`` (as in
    :func:`kdeloss.loss_and_grad`) every mean over the bins is the target's weighted mean,
    ``S_i <- sum_m wbar_m r_i(t_m)``: the fixed point ``S = E_p[r]``.

    Returns
    -------
    Trajectory
        ``z`` holds ``log S``.

    Examples
    --------
    >>> run = em([0.0, 0.0], [0.2, 5.0], 0.0, 1.0, steps=50)
    >>> bool(np.all(np.diff(run.loss) <= 1e-15))      # EM never increases the loss
    True
    """
    z, x = as_points(z0, x)
    aa, bb = as_interval(a, b)
    eps = as_background(background)
    log_u = -log_width(aa, bb)
    kern = get_kernel(kernel, bandwidth)
    t = bin_centers(aa, bb, as_bins(bins))
    w = as_target(target, t)
    live = np.arange(t.size) if w is None else np.flatnonzero(w > 0.0)
    n = _steps(steps)
    zs = [log_softmax(z)]
    for _ in range(n):
        try:
            _, r, pi = density_terms(zs[-1], x, t[live], kern, "bins", eps, log_u)
        except ValueError as err:
            raise _reindexed(err, live) from None
        post = (pi[:, None] * r).mean(axis=0) if w is None else (w[live] * pi) @ r
        with np.errstate(divide="ignore"):
            znew = np.log(post) - np.log(post.sum())
        zs.append(np.maximum(znew, Z_FLOOR))
    zarr = np.array(zs)
    losses, grads = zip(
        *(
            loss_and_grad(zk, x, aa, bb, kernel=kern, bins=bins, background=background, target=w)
            for zk in zarr
        ),
        strict=True,
    )
    w = np.exp(zarr - np.logaddexp.reduce(zarr, axis=1, keepdims=True))
    return Trajectory(zarr, w, np.array(losses), np.array(grads), "em")
