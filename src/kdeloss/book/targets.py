"""Targets other than the uniform one, and the losses they connect the book to.

The chapter "Any target density" uses these: bin weights for the smoothed labels of
classification-style losses (HL-Gauss, two-hot, label smoothing), plain categorical
cross-entropy, the box kernels that turn the book's loss into a histogram loss, the table of
related losses, and the figure that shows which side of the loss carries the kernel.

Everything numerical here is in log space or exact; the loss itself is
:func:`kdeloss.loss_and_grad` with its ``target`` argument.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy.special import log_ndtr, log_softmax, logsumexp

from .._validate import as_bins, as_interval, as_scalar
from ..logspace import softmax
from ..loss import bin_centers, log_density, loss_and_grad
from .plots import OKABE_ITO

__all__ = [
    "RELATED_LOSSES",
    "RelatedLoss",
    "SideBySide",
    "box_tiling",
    "categorical_cross_entropy",
    "draw_side_by_side",
    "gaussian_bin_target",
    "related_losses_rows",
    "side_by_side",
    "smoothed_label_target",
    "two_hot_target",
]


def _log_normal_mass(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``log(Phi(hi) - Phi(lo))`` for standardised ``lo < hi``, accurate in both tails."""
    upper = lo > 0.0  # both ends in the upper tail: difference of upper-tail masses
    big = np.where(upper, log_ndtr(-lo), log_ndtr(hi))
    small = np.where(upper, log_ndtr(-hi), log_ndtr(lo))
    with np.errstate(divide="ignore"):
        return big + np.log1p(-np.exp(small - big))


def gaussian_bin_target(y: float, a: float, b: float, bins: int, sigma: float) -> np.ndarray:
    r"""The HL-Gauss target: the mass of :math:`\mathcal N(y, \sigma^2)` in each bin of ``[a, b]``.

    The masses are renormalised over ``[a, b]`` (the label's distribution conditioned on the
    support), computed in log space, so ``y`` may lie far outside the interval.

    Parameters
    ----------
    y : float or array_like
        The label, or labels (one row of weights each).
    a, b : float
        The support, cut into ``bins`` equal bins.
    bins : int
        Number of bins ``M``.
    sigma : float
        Smoothing scale, ``> 0`` (HL-Gauss takes about 0.75 bin widths).

    Returns
    -------
    ndarray, shape (bins,) or y's shape + (bins,)
        Nonnegative weights that sum to 1 (in each row).

    Examples
    --------
    >>> w = gaussian_bin_target(0.5, 0.0, 1.0, 4, 0.25)
    >>> w.round(3), bool(abs(w.sum() - 1) < 1e-15)
    (array([0.142, 0.358, 0.358, 0.142]), True)
    >>> gaussian_bin_target(40.0, 0.0, 1.0, 4, 0.25)[-1]   # far label: last bin takes it all
    np.float64(1.0)
    >>> gaussian_bin_target([0.5, 40.0], 0.0, 1.0, 4, 0.25).shape
    (2, 4)
    """
    aa, bb = as_interval(a, b)
    m = as_bins(bins)
    s = as_scalar("sigma", sigma)
    if not s > 0.0 or not np.isfinite(s):
        raise ValueError(f"sigma: must be finite and > 0, got {sigma!r}")
    yy = np.asarray(y, dtype=float)
    if not np.isfinite(yy).all():
        raise ValueError(f"y: must be finite, got {y!r}")
    edges = np.linspace(aa, bb, m + 1)
    std = (edges - yy[..., None]) / s
    log_mass = _log_normal_mass(std[..., :-1], std[..., 1:])
    return np.exp(log_mass - logsumexp(log_mass, axis=-1, keepdims=True))


def two_hot_target(y: float, a: float, b: float, bins: int) -> np.ndarray:
    """The two-hot target: ``y`` split between the two nearest bin centres, linearly.

    A label beyond the first or last centre goes wholly to that centre.

    Examples
    --------
    >>> two_hot_target(0.3, 0.0, 1.0, 4)   # centres 0.125, 0.375, 0.625, 0.875
    array([0.3, 0.7, 0. , 0. ])
    """
    t = bin_centers(a, b, as_bins(bins))
    yy = float(np.clip(as_scalar("y", y), t[0], t[-1]))
    w = np.zeros(t.size)
    if t.size == 1:
        w[0] = 1.0
        return w
    j = min(int(np.searchsorted(t, yy, side="right")) - 1, t.size - 2)
    frac = (yy - t[j]) / (t[j + 1] - t[j])
    w[j], w[j + 1] = 1.0 - frac, frac
    return w


def smoothed_label_target(y: float, a: float, b: float, bins: int, alpha: float) -> np.ndarray:
    """Label smoothing: ``1 - alpha`` on the bin that holds ``y``, ``alpha`` spread evenly.

    Examples
    --------
    >>> smoothed_label_target(0.3, 0.0, 1.0, 4, 0.2)
    array([0.05, 0.85, 0.05, 0.05])
    """
    aa, bb = as_interval(a, b)
    m = as_bins(bins)
    al = as_scalar("alpha", alpha)
    if not 0.0 <= al <= 1.0:
        raise ValueError(f"alpha: must be in [0, 1], got {alpha!r}")
    k = int(np.clip(np.floor((as_scalar("y", y) - aa) / (bb - aa) * m), 0, m - 1))
    w = np.full(m, al / m)
    w[k] += 1.0 - al
    return w


def categorical_cross_entropy(z: np.ndarray, target: np.ndarray) -> tuple[Any, np.ndarray]:
    r"""``-sum_m p_m log softmax(z)_m`` and its gradient ``softmax(z) - p`` (``p`` normalised).

    ``z`` and ``target`` may also be ``(B, G)`` arrays: one loss per row (an array) and the
    ``(B, G)`` gradient, each row's weights normalised on their own.

    Examples
    --------
    >>> L, g = categorical_cross_entropy([0.0, 0.0], [1.0, 0.0])
    >>> round(L, 6), g
    (0.693147, array([-0.5,  0.5]))
    >>> L, g = categorical_cross_entropy(np.zeros((2, 2)), [[1.0, 0.0], [1.0, 1.0]])
    >>> L.round(6), g
    (array([0.693147, 0.693147]), array([[-0.5,  0.5],
           [ 0. ,  0. ]]))
    """
    zz = np.asarray(z, dtype=float)
    p = np.asarray(target, dtype=float)
    if p.shape != zz.shape or (p < 0).any() or not (p.sum(axis=-1) > 0).all():
        raise ValueError("target: must be nonnegative weights, one per logit, not all zero")
    p = p / p.sum(axis=-1, keepdims=True)
    logs = log_softmax(zz, axis=-1)
    losses = -np.where(p > 0, p * np.where(p > 0, logs, 0.0), 0.0).sum(axis=-1)
    grad = np.exp(logs) - p
    return (float(losses) if zz.ndim == 1 else losses), grad


def box_tiling(a: float, b: float, cells: int) -> tuple[np.ndarray, float]:
    """Centres and bandwidth of box kernels that tile ``[a, b]`` in ``cells`` equal cells.

    With these, the model density is ``S_j / w`` on cell ``j`` (``w`` the cell width): a
    categorical model over the cells, and the book's loss becomes a categorical
    cross-entropy (the histogram loss).

    Examples
    --------
    >>> box_tiling(0.0, 1.0, 4)
    (array([0.125, 0.375, 0.625, 0.875]), 0.25)
    """
    aa, bb = as_interval(a, b)
    n = as_bins(cells)
    return bin_centers(aa, bb, n), (bb - aa) / n


class RelatedLoss(NamedTuple):
    """One row of the table of related losses."""

    name: str
    cite: str
    kernel_side: str
    model: str
    target: str
    gradient: str
    far: str


#: Losses related to the book's, by which side carries the kernel. ``gradient`` is the
#: gradient with respect to the logits; ``far`` says what happens when the model's mass sits
#: far from the label.
RELATED_LOSSES: tuple[RelatedLoss, ...] = (
    RelatedLoss(
        "softmax classification", "bishop2006", "neither", "categorical",
        "one-hot $e_y$", "$S - e_y$", "full speed, whatever the model believes",
    ),
    RelatedLoss(
        "label smoothing", "szegedy2016", "target (flat)", "categorical",
        r"$(1-\alpha) e_y + \alpha / M$", "$S - p$", "full speed, whatever the model believes",
    ),
    RelatedLoss(
        "two-hot", "schrittwieser2020", "target (triangle, one bin wide)",
        "categorical", "two neighbouring bins", "$S - p$",
        "full speed, whatever the model believes",
    ),
    RelatedLoss(
        "histogram loss, HL-Gauss", "imani2018,farebrother2024", "target (Gaussian)",
        "categorical", r"bin masses of $\mathcal N(y, \sigma^2)$", "$S - p$",
        "full speed, whatever the model believes",
    ),
    RelatedLoss(
        "mixture density network (weights)", "bishop1994", "model", "mixture",
        "a point $y$", "$S - r(y)$",
        "full speed (scale invariance), unless far components explain $y$ far better",
    ),
    RelatedLoss(
        "interval likelihood", "tobin1958", "model", "mixture",
        "an interval $[a, b]$", r"$S_i - S_i \mu_i / \sum_j S_j \mu_j$",
        "full speed (the masses enter as ratios), unless far components explain the "
        "interval far better",
    ),
    RelatedLoss(
        "this book", "xor2022talk", "model", "mixture", "any density $p$",
        r"$S - \mathbb E_p[r]$",
        "full speed (scale invariance), unless far components explain the target far better",
    ),
)


def related_losses_rows() -> list[list[str]]:
    """:data:`RELATED_LOSSES` as table rows (loss and citation, kernel side and model, target,
    gradient, far mass), citations as MyST ``{cite:p}`` roles."""
    return [
        [
            f"{r.name} {{cite:p}}`{r.cite}`",
            f"{r.kernel_side}; model: {r.model}",
            r.target,
            r.gradient,
            r.far,
        ]
        for r in RELATED_LOSSES
    ]


class SideBySide(NamedTuple):
    """The two losses of the chapter's picture, on the same label and the same grid."""

    t: np.ndarray
    """Fine grid over the plotted range."""
    cells: np.ndarray
    """Cell centres of the categorical model (the box tiling) and of the KDE model."""
    width: float
    """Cell width."""
    hl_target: np.ndarray
    """HL-Gauss target weights per cell (kernel on the target)."""
    hl_model: np.ndarray
    """The categorical model's probabilities per cell."""
    hl_grad: np.ndarray
    """``S - p`` of the histogram loss."""
    kde_target: tuple[float, float]
    """The crisp target interval ``[a, b]`` (kernel on the model)."""
    kde_q: np.ndarray
    """The KDE model's density on :attr:`t`."""
    kde_grad: np.ndarray
    """``S - E_p[r]`` of the book's loss (``p`` uniform on the interval)."""


def side_by_side(
    z: Sequence[float] | np.ndarray,
    lo: float,
    hi: float,
    label: tuple[float, float],
    *,
    sigma_cells: float = 0.75,
    bandwidth: float | None = None,
    bins: int = 256,
) -> SideBySide:
    """The same logits ``z`` over equal cells of ``[lo, hi]``, trained two ways on one label.

    Left: HL-Gauss, a categorical model over the cells against the Gaussian-smoothed label
    (centre of ``label``, ``sigma_cells`` cell widths). Right: the book's loss, a Laplace
    KDE on the cell centres (bandwidth one cell by default) against the uniform target on
    the interval ``label``.

    Examples
    --------
    >>> s = side_by_side(np.zeros(8), 0.0, 8.0, (2.0, 3.0))
    >>> bool(abs(s.hl_grad.sum()) < 1e-15 and abs(s.kde_grad.sum()) < 1e-15)
    True
    """
    zz = np.asarray(z, dtype=float)
    cells, width = box_tiling(lo, hi, zz.size)
    a, b = as_interval(*label)
    hl_target = gaussian_bin_target(0.5 * (a + b), lo, hi, zz.size, sigma_cells * width)
    _, hl_grad = categorical_cross_entropy(zz, hl_target)
    h = width if bandwidth is None else float(bandwidth)
    t = np.linspace(lo, hi, 801)
    kde_q = np.exp(log_density(zz, cells, t, kernel="laplace", bandwidth=h))
    _, kde_grad = loss_and_grad(zz, cells, a, b, kernel="laplace", bandwidth=h, bins=bins)
    return SideBySide(
        t, cells, width, hl_target, softmax(zz), hl_grad, (a, b), kde_q, kde_grad
    )


def draw_side_by_side(fig: Figure, s: SideBySide) -> list[Axes]:
    """Draw :func:`side_by_side`: targets and models on top, gradients below.

    Returns the four axes (top left, top right, bottom left, bottom right).

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> axes = draw_side_by_side(Figure(), side_by_side(np.zeros(8), 0.0, 8.0, (2.0, 3.0)))
    >>> [ax.get_xlabel() for ax in axes[2:]]
    ['position $t$', 'position $t$']
    """
    axes = fig.subplots(2, 2, sharex=True, height_ratios=(1.4, 1.0))
    (hl_top, kde_top), (hl_bot, kde_bot) = axes
    w = s.width
    hl_top.bar(s.cells, s.hl_target / w, width=0.9 * w, color=OKABE_ITO["orange"],
               alpha=0.55, label="target $p$ (smoothed label)")
    hl_top.step(s.cells, s.hl_model / w, where="mid", color=OKABE_ITO["blue"], lw=1.8,
                label="model (categorical)")
    hl_top.set_title("kernel on the target: HL-Gauss")
    a, b = s.kde_target
    kde_top.fill_between([a, b], 0.0, 1.0 / (b - a), color=OKABE_ITO["orange"], alpha=0.55,
                         label="target $p$ (uniform on $[a, b]$)")
    kde_top.plot(s.t, s.kde_q, color=OKABE_ITO["blue"], lw=1.8, label="model $q$ (Laplace KDE)")
    kde_top.set_title("kernel on the model: this book")
    for ax in (hl_top, kde_top):
        ax.set_ylabel("density")
        ax.legend(loc="upper right", frameon=False)
    for ax, g, lab in ((hl_bot, s.hl_grad, "$S - p$"),
                       (kde_bot, s.kde_grad, r"$S - \mathbb{E}_p[r]$")):
        ax.bar(s.cells, g, width=0.9 * w, color=OKABE_ITO["bluish_green"], label=lab)
        ax.axhline(0.0, color=OKABE_ITO["black"], lw=0.8)
        ax.set_ylabel(r"$\partial L / \partial z_i$")
        ax.set_xlabel("position $t$")
        ax.legend(loc="lower right", frameon=False)
    return [hl_top, kde_top, hl_bot, kde_bot]
