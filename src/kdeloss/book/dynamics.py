r"""What the gradient does to training: set-ups, runs and measurements for the book.

Gradient descent on the logits follows ``z <- z - lr * (S - mean_m r(t_m))``, so how fast a
weight moves is set by the weights and the responsibilities alone, never by how large the
density is. This module holds the training set-ups of the chapter on dynamics, runs them
with :func:`kdeloss.gradient_descent` and :func:`kdeloss.em`, and measures:

- :func:`max_weight_gap` and :func:`loss_offset`: two runs with the same responsibilities
  (for instance a cluster moved from distance 1 to 50 with the Laplace kernel) have the same
  weights at every iteration, and losses that differ by a constant;
- :func:`push_ratio`: ``(dL/dz_i) / S_i``, which is exactly 1 for a wrong class of softmax
  classification and is close to 1 for a far cluster beside a near one;
- :func:`bin_labels` and :func:`softmax_ce_descent`: with box kernels each bin is a labelled
  example, and descent on the loss is descent on softmax cross-entropy.

The figures of the chapter are drawn by the ``plot_*`` functions, on a matplotlib figure
passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..kernels import get_kernel
from ..loss import bin_centers, bin_grad, loss, loss_and_grad, model_probability, softmax
from ..testing import complex_step
from ..training import Trajectory, em, gradient_descent
from .plots import OKABE_ITO

__all__ = [
    "CLASSIFICATION",
    "COLOURS",
    "SETUPS",
    "Setup",
    "background_theorem_gap",
    "bin_labels",
    "cluster",
    "em_steps_to_floor",
    "gradient_at_start",
    "loss_offset",
    "max_weight_gap",
    "model_probability_on_bins",
    "plot_alternatives",
    "plot_idea",
    "plot_model_probability",
    "plot_setups",
    "push_ratio",
    "softmax_ce_descent",
]

#: Okabe-Ito colours, one per point of a set-up (then black).
COLOURS: tuple[str, ...] = tuple(
    OKABE_ITO[name]
    for name in (
        "blue",
        "orange",
        "bluish_green",
        "vermillion",
        "reddish_purple",
        "sky_blue",
        "black",
    )
)

# Excess losses L - L* below this are round-off: they are not drawn (log axis floor).
EXCESS_FLOOR = 1e-15
# The y-range of plot_alternatives: gradient sizes on a cluster, from vanishing to large.
GRADIENT_RANGE = (1e-8, 30)


@dataclass(frozen=True)
class Setup:
    """A training problem: points, starting logits, target, kernel and binning.

    Attributes
    ----------
    name : str
        Short name, used as a title.
    x : tuple of float
        Point positions.
    z0 : tuple of float
        Starting logits (same length as ``x``).
    a, b : float
        The target interval.
    kernel : str
        Kernel name (see :func:`kdeloss.get_kernel`).
    bandwidth : float
        Kernel scale ``h``.
    bins : int
        Midpoint bins ``M``.
    far : tuple of int
        Indices of the points that form the far cluster (empty if none).
    """

    name: str
    x: tuple[float, ...]
    z0: tuple[float, ...]
    a: float = 0.0
    b: float = 1.0
    kernel: str = "laplace"
    bandwidth: float = 0.2
    bins: int = 64
    far: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if len(self.x) != len(self.z0):
            raise ValueError(f"z0: expected {len(self.x)} logits, got {len(self.z0)}")
        if any(not 0 <= i < len(self.x) for i in self.far):
            raise ValueError(f"far: indices must be in [0, {len(self.x)}), got {self.far}")

    def moved(self, delta: float) -> Setup:
        """The same set-up with the far cluster (every point if none) moved left by ``delta``.

        Examples
        --------
        >>> SETUPS["far"].moved(1.0).x == tuple(v - 1.0 for v in SETUPS["far"].x)
        True
        """
        idx = set(self.far) if self.far else set(range(len(self.x)))
        x = tuple(v - delta if i in idx else v for i, v in enumerate(self.x))
        return replace(self, x=x)

    def train(
        self, method: str = "gd", *, steps: int = 300, lr: float = 2.0, background: float = 0.0
    ) -> Trajectory:
        """Run :func:`kdeloss.gradient_descent` (``"gd"``) or :func:`kdeloss.em` (``"em"``).

        Examples
        --------
        >>> run = SETUPS["near"].train("em", steps=5)
        >>> run.weights.shape
        (6, 4)
        """
        common = {
            "steps": steps,
            "kernel": self.kernel,
            "bandwidth": self.bandwidth,
            "bins": self.bins,
            "background": background,
        }
        x, z0 = np.array(self.x), np.array(self.z0)
        if method == "gd":
            return gradient_descent(z0, x, self.a, self.b, lr=lr, **common)
        if method == "em":
            return em(z0, x, self.a, self.b, **common)
        raise ValueError(f"method: expected 'gd' or 'em', got {method!r}")


def cluster(distance: float, offsets: tuple[float, ...] = (0.0, 0.4, 0.9)) -> tuple[float, ...]:
    """Positions of a cluster left of 0 whose nearest point is ``distance`` away from 0.

    Examples
    --------
    >>> cluster(5.0)
    (-5.0, -5.4, -5.9)
    """
    return tuple(-distance - c for c in offsets)


#: The four set-ups of the chapter (Laplace kernel, h = 0.2, target [0, 1], 64 bins).
SETUPS: dict[str, Setup] = {
    "near": Setup("all points near", (0.1, 0.35, 0.6, 0.9), (0.0,) * 4),
    "near and far": Setup(
        "one cluster near, one far", (0.2, 0.5, 0.8, *cluster(5.0)), (0.0,) * 6, far=(3, 4, 5)
    ),
    "far": Setup("every point far", cluster(5.0), (0.0,) * 3, far=(0, 1, 2)),
    "both sides": Setup("points on both sides", (-0.9, -0.3, 1.2, 1.5), (0.0,) * 4),
}

#: Box kernels of width 0.2 that cover the target, each bin by exactly one point; the point
#: at 3 covers no bin, so it is a class that never occurs.
CLASSIFICATION = Setup(
    "box kernels: one point per bin",
    (-0.05, 0.15, 0.35, 0.55, 0.75, 0.95, 3.0),
    (0.0, 0.5, -0.5, 1.0, 0.0, -1.0, 0.0),
    kernel="box",
    bandwidth=0.2,
    bins=20,
)


def max_weight_gap(run: Trajectory, other: Trajectory) -> float:
    """``max_k max_i |S_i^(k) - S'_i^(k)|`` between two runs of the same length.

    Examples
    --------
    >>> run = SETUPS["far"].train(steps=10)
    >>> max_weight_gap(run, run)
    0.0
    """
    if run.weights.shape != other.weights.shape:
        raise ValueError(
            f"runs: expected the same shape, got {run.weights.shape} and {other.weights.shape}"
        )
    return float(np.abs(run.weights - other.weights).max())


def loss_offset(run: Trajectory, other: Trajectory) -> tuple[float, float]:
    """Smallest and largest ``L'^(k) - L^(k)`` over the iterations.

    Examples
    --------
    >>> s = SETUPS["far"]
    >>> lo, hi = loss_offset(s.train(steps=10), s.moved(2.0).train(steps=10))
    >>> bool(abs(lo - 2.0 / s.bandwidth) < 1e-12 and abs(hi - lo) < 1e-12)
    True
    """
    diff = other.loss - run.loss
    return float(diff.min()), float(diff.max())


def push_ratio(run: Trajectory, indices: tuple[int, ...] | list[int]) -> np.ndarray:
    """``(dL/dz_i) / S_i`` at every iterate, for the points ``indices``.

    It is ``1 - mean_m r_i(t_m) / S_i``. For a class that is never the label, softmax
    classification gives exactly 1: the logit falls at a rate equal to its weight.

    Returns
    -------
    ndarray, shape (steps + 1, len(indices))

    Examples
    --------
    >>> s = SETUPS["near and far"]
    >>> ratio = push_ratio(s.train(steps=50), s.far)
    >>> bool(np.all(np.abs(ratio - 1) < 1e-9))
    True
    """
    idx = list(indices)
    return run.grad[:, idx] / run.weights[:, idx]


def bin_labels(setup: Setup) -> np.ndarray:
    """The label of each bin: the one point whose box covers the bin centre.

    Raises
    ------
    ValueError
        If the kernel is not a box (:attr:`kdeloss.Kernel.one_hot`) or a bin is covered by
        no point or by several.

    Examples
    --------
    >>> bin_labels(CLASSIFICATION)
    array([0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5])
    """
    kern = get_kernel(setup.kernel, setup.bandwidth)
    if not kern.one_hot:
        raise ValueError(f"kernel: labels need the box kernel, got {setup.kernel!r}")
    t = bin_centers(setup.a, setup.b, setup.bins)
    covered = np.isfinite(kern.logpdf(t[:, None] - np.array(setup.x)[None, :]))
    count = covered.sum(axis=1)
    if np.any(count != 1):
        m = int(np.flatnonzero(count != 1)[0])
        raise ValueError(
            f"setup: bin {m} at t = {t[m]:.6g} is covered by {count[m]} points, not exactly one"
        )
    return covered.argmax(axis=1)


def softmax_ce_descent(
    z0: np.ndarray, labels: np.ndarray, *, steps: int = 100, lr: float = 1.0
) -> Trajectory:
    r"""Gradient descent on softmax cross-entropy, written out by hand.

    The loss over the examples with labels ``y_m`` is
    ``C(z) = -(1/M) sum_m log softmax(z)_{y_m}`` and its gradient is ``S - (1/M) sum_m e_{y_m}``
    (weight minus the frequency of each label). Nothing from the kernel code is used.

    Parameters
    ----------
    z0 : array_like, shape (N,)
        Starting logits, one per class.
    labels : array_like of int, shape (M,)
        The label of each example, in ``0..N-1``.
    steps, lr
        As in :func:`kdeloss.gradient_descent`.

    Returns
    -------
    Trajectory
        ``method`` is ``"softmax-ce"``.

    Examples
    --------
    >>> run = softmax_ce_descent(np.zeros(2), np.array([0, 0, 0, 1]), steps=2000, lr=1.0)
    >>> np.round(run.weights[-1], 4)
    array([0.75, 0.25])
    """
    z = np.asarray(z0, dtype=float)
    y = np.asarray(labels)
    freq = np.bincount(y, minlength=z.size) / y.size
    zs, losses, grads = [], [], []
    for k in range(steps + 1):
        s = softmax(z)
        logs = z - (z.max() + np.log(np.exp(z - z.max()).sum()))
        losses.append(float(-logs[y].mean()))
        g = s - freq
        grads.append(g)
        zs.append(z)
        if k < steps:
            z = z - lr * g
    zarr = np.array(zs)
    w = np.array([softmax(zk) for zk in zarr])
    return Trajectory(zarr, w, np.array(losses), np.array(grads), "softmax-ce")


def background_theorem_gap(
    z: np.ndarray,
    x: np.ndarray,
    a: float,
    b: float,
    *,
    background: float,
    kernel: str = "laplace",
    bandwidth: float = 1.0,
    bins: int = 16,
) -> float:
    r"""How far the background theorem is from the true derivative, for one problem.

    The true derivative of ``L_{M, eps}`` is taken by complex-step differentiation of
    :func:`kdeloss.loss` (step ``1e-30``, no cancellation). The theorem's right side is
    assembled from plain pieces: ``mean_m pi(t_m) (S_i - r_i(t_m))`` with ``pi`` from
    :func:`kdeloss.model_probability` and ``S - r`` from :func:`kdeloss.bin_grad` *without*
    a background. Returns the largest absolute difference over the components.

    Examples
    --------
    >>> gap = background_theorem_gap([0.2, -0.4], [-1.0, 2.0], 0.0, 1.0, background=0.3)
    >>> bool(gap < 1e-15)
    True
    """
    zz = np.asarray(z, dtype=float)
    xx = np.asarray(x, dtype=float)
    opts = {"kernel": kernel, "bandwidth": bandwidth}
    true = complex_step(lambda v: loss(v, xx, a, b, bins=bins, background=background, **opts), zz)
    t = bin_centers(a, b, bins)
    pi = model_probability(
        zz, xx, t, background=background, background_density=1.0 / (b - a), **opts
    )
    theorem = (np.asarray(pi)[:, None] * bin_grad(zz, xx, t, **opts)).mean(axis=0)
    return float(np.abs(true - theorem).max())


def _style(ax: Axes) -> None:
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)


def plot_idea(
    fig: Figure,
    *,
    near: float = 1.0,
    far: float = 50.0,
    background: float = 0.05,
    steps: int = 150,
    lr: float = 2.0,
) -> dict[str, Trajectory]:
    """The idea in one picture: a cluster near the target and the same cluster far away.

    Draws the weight of the cluster's nearest point over the iterations, for the plain loss
    and with a background, at both distances. Returns the four runs by label.
    """
    base = replace(SETUPS["far"], x=cluster(0.0))
    runs = {}
    ax = fig.subplots()
    styles = [
        ("plain", near, 0.0, COLOURS[0], "-", 3.5),
        ("plain", far, 0.0, COLOURS[5], ":", 2.0),
        ("background", near, background, COLOURS[3], "--", 2.0),
        ("background", far, background, COLOURS[1], "-.", 2.0),
    ]
    for kind, d, eps, colour, ls, lw in styles:
        run = base.moved(d).train(steps=steps, lr=lr, background=eps)
        label = f"{kind}, distance {d:g}"
        if eps:
            label = f"background eps = {eps:g}, distance {d:g}"
        runs[label] = run
        ax.plot(run.weights[:, 0], color=colour, linestyle=ls, linewidth=lw, label=label)
    ax.set_xlabel("iteration $k$")
    ax.set_ylabel("weight $S_1$ of the nearest point")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="center right")
    _style(ax)
    return runs


def plot_setups(
    fig: Figure, runs: dict[str, tuple[Trajectory, Trajectory]], best: dict[str, float]
) -> None:
    """Three rows per set-up: where the points are, ``S(k)`` (GD solid, EM dashed), excess loss.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        An empty figure.
    runs : dict
        ``{key of SETUPS: (gradient-descent run, EM run)}``.
    best : dict
        ``{key: L*}``, the smallest loss, for the excess loss ``L - L*`` (log scale).
    """
    keys = list(runs)
    axes = fig.subplots(3, len(keys), gridspec_kw={"height_ratios": [0.55, 2, 1.6]})
    for col, key in enumerate(keys):
        setup = SETUPS[key]
        gd, emr = runs[key]
        ax0, ax1, ax2 = axes[:, col]
        ax0.axvspan(setup.a, setup.b, color=OKABE_ITO["orange"], alpha=0.3, lw=0)
        ax0.text(0.5 * (setup.a + setup.b), 0.55, "target", ha="center", fontsize=8)
        for i, xi in enumerate(setup.x):
            ax0.plot(xi, 0, "o", color=COLOURS[i], mec="black", ms=7, clip_on=False)
        lo = min(setup.a, *setup.x) - 0.3
        hi = max(setup.b, *setup.x) + 0.3
        ax0.set_xlim(lo, hi)
        ax0.set_ylim(-0.5, 1)
        ax0.set_yticks([])
        ax0.set_xlabel("position $t$", labelpad=1)
        ax0.set_title(setup.name)
        for i in range(len(setup.x)):
            ax1.plot(gd.weights[:, i], color=COLOURS[i], lw=2)
            ax1.plot(emr.weights[:, i], color=COLOURS[i], lw=1.5, ls="--")
        ax1.set_ylim(-0.02, 1.02)
        ax1.set_xlabel("iteration $k$")
        for run, ls, label in [(gd, "-", "gradient descent"), (emr, "--", "EM")]:
            gap = run.loss - best[key]
            gap = np.where(gap > EXCESS_FLOOR, gap, np.nan)
            ax2.semilogy(gap, color="black", ls=ls, lw=1.5, label=label)
        ax2.set_xlabel("iteration $k$")
        ax2.set_ylim(EXCESS_FLOOR, 10)
        for ax in (ax1, ax2):
            _style(ax)
        if col == 0:
            ax1.set_ylabel("weights $S_j(k)$")
            ax2.set_ylabel(r"$L_M - L_M^\star$")
            ax2.legend(loc="lower left", fontsize=8)


def plot_alternatives(
    fig: Figure,
    distances: np.ndarray,
    curves: dict[str, dict[str, np.ndarray]],
    titles: dict[str, str],
) -> None:
    """Gradient size on a cluster against its distance, one panel per set-up, log scales.

    ``curves[panel][loss name]`` holds the gradient norms; zeros are not drawn.
    """
    styles = {
        "cross-entropy": (COLOURS[0], "-", "o"),
        "cross-entropy + background": (COLOURS[3], "--", "s"),
        "squared L2": (COLOURS[2], "-", "^"),
        "MMD": (COLOURS[4], ":", "v"),
        "Wasserstein-1": (COLOURS[1], "-", "D"),
        "truncated reverse KL": (COLOURS[6], "-.", "x"),
    }
    axes = fig.subplots(1, len(curves), sharey=True)
    for ax, (panel, by_loss) in zip(np.atleast_1d(axes), curves.items(), strict=True):
        for name, values in by_loss.items():
            colour, ls, marker = styles[name]
            shown = np.where(values > 0, values, np.nan)
            ax.loglog(distances, shown, color=colour, ls=ls, marker=marker, ms=4, label=name)
        ax.set_ylim(*GRADIENT_RANGE)
        ax.set_xlabel("distance $d$ of the cluster from the target")
        ax.set_title(titles[panel])
        _style(ax)
    np.atleast_1d(axes)[0].set_ylabel(r"gradient on the cluster, $\|\partial L / \partial z_C\|$")
    handles, labels = np.atleast_1d(axes)[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=9, frameon=False)


def em_steps_to_floor(run: Trajectory, best: float, floor: float = EXCESS_FLOOR) -> int:
    """The first iteration at which the excess loss ``L_M - L_M^*`` of ``run`` is below ``floor``.

    ``floor`` defaults to the floor of :func:`plot_setups` (``1e-15``), so this is the
    iteration where that figure's curve leaves the plot.

    Raises
    ------
    ValueError
        If the run never gets there.

    Examples
    --------
    >>> s = SETUPS["far"]
    >>> run = s.train("em", steps=100)
    >>> em_steps_to_floor(run, float(run.loss.min()))
    17
    """
    below = np.flatnonzero(run.loss - best <= floor)
    if below.size == 0:
        raise ValueError(f"run: the excess loss never falls below {floor:g}")
    return int(below[0])


def plot_model_probability(
    ax: Axes,
    *,
    distances: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0),
    background: float = 0.05,
    num: int = 401,
) -> dict[str, np.ndarray]:
    r"""``pi(t)`` on the target at the start (equal weights), log scale: the background's factor.

    One curve per distance ``D`` of the three-point cluster of ``SETUPS["far"]`` (alone), and
    one for the set-up ``"near and far"`` (cluster at distance 5 beside a near cluster).
    ``pi(t) = (1 - eps) q(t) / ((1 - eps) q(t) + eps u)`` is computed on ``num`` points of
    ``[a, b]`` by :func:`kdeloss.model_probability`.

    Returns
    -------
    dict
        ``{label: pi}`` for the curves drawn, plus ``"t"``: the positions.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> curves = plot_model_probability(ax, distances=(0.0, 2.0))
    >>> [f"{v.max():.2g}" for k, v in curves.items() if k != "t"]
    ['0.95', '0.00082', '0.92']
    >>> plt.close(fig)
    """
    base = SETUPS["far"]
    t = np.linspace(base.a, base.b, num)
    u = 1.0 / (base.b - base.a)
    out: dict[str, np.ndarray] = {"t": t}
    setups = [(f"cluster alone, $D = {d:g}$", base.moved(d - 5.0)) for d in distances]
    setups.append(("cluster at $D = 5$ beside a near cluster", SETUPS["near and far"]))
    styles = ["-", "--", "-.", ":"]
    for k, (label, s) in enumerate(setups):
        pi = np.asarray(
            model_probability(
                np.array(s.z0), np.array(s.x), t, kernel=s.kernel, bandwidth=s.bandwidth,
                background=background, background_density=u,
            )
        )
        out[label] = pi
        last = k == len(setups) - 1
        ax.semilogy(
            t, pi, color=COLOURS[6] if last else COLOURS[k % 6],
            ls="-" if last else styles[k % 4], lw=3.0 if last else 2.0, label=label,
        )
    ax.set_xlabel("position $t$ on the target")
    ax.set_ylabel(r"$\pi(t)$, the model's share of $q_\varepsilon(t)$")
    ax.set_xlim(base.a, base.b)
    ax.set_ylim(1e-6, 1.5)
    ax.legend(loc="lower left", fontsize=9)
    _style(ax)
    return out


def model_probability_on_bins(setup: Setup, z: np.ndarray, background: float) -> np.ndarray:
    """``pi(t_m)`` on the set-up's bins for logits ``z`` (see :func:`kdeloss.model_probability`).

    Examples
    --------
    >>> s = SETUPS["far"]
    >>> float(model_probability_on_bins(s, np.zeros(3), 0.05).max()) < 1e-9
    True
    """
    t = bin_centers(setup.a, setup.b, setup.bins)
    return np.asarray(
        model_probability(
            z,
            np.array(setup.x),
            t,
            kernel=setup.kernel,
            bandwidth=setup.bandwidth,
            background=background,
            background_density=1.0 / (setup.b - setup.a),
        )
    )


def gradient_at_start(setup: Setup, background: float = 0.0) -> np.ndarray:
    """``dL_M/dz`` at the starting logits.

    Examples
    --------
    >>> g = gradient_at_start(SETUPS["near"])
    >>> bool(abs(g.sum()) < 1e-15)
    True
    """
    _, g = loss_and_grad(
        np.array(setup.z0),
        np.array(setup.x),
        setup.a,
        setup.b,
        kernel=setup.kernel,
        bandwidth=setup.bandwidth,
        bins=setup.bins,
        background=background,
    )
    return g
