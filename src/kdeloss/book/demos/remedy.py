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

from dataclasses import dataclass

import numpy as np
import traitlets

from ..._validate import as_scalar
from ...loss import model_probability
from ...training import gradient_descent
from ..plots import OKABE_ITO
from .live import LiveDemo

__all__ = [
    "RemedyDemo",
    "RemedyFrame",
    "remedy_frame",
]

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


class RemedyDemo(LiveDemo):
    """The live background-remedy demo (an anywidget): distance, background, step size.

    Gradient descent on the logits (from zero) of a cluster at ``-d - CLUSTER`` (and a point
    at 0.5 when ``near`` is set), target ``[0, 1]``, Laplace kernel of bandwidth ``h``, run
    with the plain loss and with the background ``eps``, as :func:`remedy_frame` does. It
    draws ``pi(t)`` on the target at the start and each weight over the iterations.

    Parameters
    ----------
    **traits
        Initial ``d`` (0 to 3), ``eps`` (0 to 0.2), ``lr`` (0.1 to 4), ``near``; fixed
        ``steps``, ``h``, ``bins`` and ``cluster``.

    Examples
    --------
    >>> w = RemedyDemo(d=2.0)
    >>> w.d, w.eps, w.steps
    (2.0, 0.05, 60)
    """

    _module = "remedy"
    d = traitlets.Float(1.0).tag(sync=True)
    eps = traitlets.Float(0.05).tag(sync=True)
    near = traitlets.Bool(False).tag(sync=True)
    lr = traitlets.Float(2.0).tag(sync=True)
    steps = traitlets.Int(60).tag(sync=True)
    h = traitlets.Float(0.2).tag(sync=True)
    bins = traitlets.Int(32).tag(sync=True)
    cluster = traitlets.List(traitlets.Float(), list(CLUSTER)).tag(sync=True)
