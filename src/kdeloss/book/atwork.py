"""The loss at work: regression from interval labels, three ways.

The chapter "The loss at work" trains three models on the same data and compares them:

- ``"kde"``: the book's model, a Laplace mixture on fixed centres whose logits are a linear
  function of input features, trained with the book's loss against the uniform density on
  each reported interval (:func:`kdeloss.loss_and_grad_batch`);
- ``"histogram"``: a categorical model over fine cells against the uniform density on each
  reported interval, cut into the cells: the book's loss with box kernels
  (the proposition "Box kernels make it a histogram loss" of the chapter "Any target
  density");
- ``"classify"``: softmax classification over the reporting brackets;
- ``"hlgauss"``: HL-Gauss, a categorical model over fine cells trained against a Gaussian
  around the bracket's midpoint (:func:`kdeloss.book.targets.gaussian_bin_target`).

The data come from a stated process (:func:`make_data`): a value ``y`` that depends on an
input ``u`` in ``[0, 1]`` through a two-branch mixture, reported only as the five-unit bracket
that holds it (an age reported as "35-39", say), with everything from 60 up reported as
"60+" (top-coded, as surveys often do). The true values are kept for evaluation only.

Every model is a linear map from the same features to its logits, trained by full-batch Adam
from the same seed. Everything is NumPy; a fit takes a second or two.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy.special import log_softmax, logsumexp, softmax
from scipy.stats import norm

from ..batch import loss_and_grad_batch
from ..kernels import get_kernel
from ..loss import bin_centers
from .plots import OKABE_ITO
from .targets import categorical_cross_entropy, gaussian_bin_target

__all__ = [
    "BRACKETS",
    "KINDS",
    "NAMES",
    "STYLES",
    "Data",
    "FarStart",
    "Fit",
    "Metrics",
    "Model",
    "Study",
    "draw_densities",
    "draw_far_starts",
    "evaluate",
    "far_init",
    "far_start_bound",
    "features",
    "make_data",
    "make_model",
    "predictive_density",
    "run_study",
    "train",
    "true_log_density",
]

#: The reporting brackets' edges: five units wide up to 60, then "60+" up to 100.
BRACKETS: np.ndarray = np.r_[np.arange(0.0, 65.0, 5.0), 100.0]
#: The range of the value.
LO, HI = 0.0, 100.0


@dataclass(frozen=True)
class Data:
    """Inputs ``u``, true values ``y`` and the reported brackets ``[a, b]``."""

    u: np.ndarray
    y: np.ndarray
    a: np.ndarray
    b: np.ndarray
    bracket: np.ndarray
    """Index of the reported bracket in :data:`BRACKETS`."""


def make_data(n: int, seed: int, *, corrupt: float = 0.0) -> Data:
    """``n`` samples of the chapter's process.

    ``u ~ U[0, 1]``; with probability 0.7 ``y ~ N(20 + 50 u, 4^2)``, else
    ``y ~ N(70 - 30 u, 6^2)``; ``y`` is clipped to ``[0, 100)`` and reported as its bracket.
    A fraction ``corrupt`` of the reports is replaced by a bracket drawn uniformly (the true
    ``y`` is kept).

    Examples
    --------
    >>> d = make_data(5, 0)
    >>> bool(((d.a <= d.y) & (d.y < d.b)).all())
    True
    """
    rng = np.random.default_rng(seed)
    u = rng.uniform(0.0, 1.0, n)
    upper = rng.uniform(size=n) < 0.3
    y = np.where(upper, rng.normal(70.0 - 30.0 * u, 6.0), rng.normal(20.0 + 50.0 * u, 4.0))
    y = np.clip(y, LO, np.nextafter(HI, LO))
    k = np.searchsorted(BRACKETS, y, side="right") - 1
    if corrupt > 0.0:
        flip = rng.uniform(size=n) < corrupt
        k = np.where(flip, rng.integers(0, BRACKETS.size - 1, n), k)
    return Data(u, y, BRACKETS[k], BRACKETS[k + 1], k)


def features(u: np.ndarray, count: int = 12) -> np.ndarray:
    """Gaussian bumps in ``u`` (``count`` of them, evenly spaced on ``[0, 1]``) and a constant.

    Examples
    --------
    >>> features(np.array([0.0, 1.0]), 4).shape
    (2, 5)
    """
    centres = np.linspace(0.0, 1.0, count)
    width = 1.0 / (count - 1)
    phi = np.exp(-0.5 * ((np.asarray(u)[:, None] - centres) / width) ** 2)
    return np.hstack([phi, np.ones((phi.shape[0], 1))])


@dataclass(frozen=True)
class Model:
    """A model: its kind, its output cells or centres, and how to score and train it."""

    kind: str
    """``"kde"``, ``"classify"`` or ``"hlgauss"``."""
    edges: np.ndarray
    """Cell edges (categorical models) or the range split at the centres' midpoints (kde)."""
    centres: np.ndarray
    """Kernel centres (kde) or cell centres."""
    bandwidth: float = 0.0
    """Laplace bandwidth (kde only)."""
    background: float = 0.0
    """Background weight (kde only)."""
    bins: int = 8
    """Bins per reported interval (kde only)."""

    @property
    def size(self) -> int:
        """Number of logits."""
        return self.centres.size

    def objective(self, data: Data) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
        """``f(Z) -> (mean loss, dL/dZ)`` of the model's training loss on ``data``."""
        if self.kind == "kde":

            def kde(Z: np.ndarray) -> tuple[float, np.ndarray]:
                return loss_and_grad_batch(
                    Z, self.centres, data.a, data.b, kernel="laplace",
                    bandwidth=self.bandwidth, bins=self.bins, background=self.background,
                )

            return kde
        if self.kind == "classify":
            P = np.zeros((data.y.size, self.size))
            P[np.arange(data.y.size), data.bracket] = 1.0
        elif self.kind == "histogram":
            lo, hi = self.edges[:-1], self.edges[1:]
            overlap = np.clip(
                np.minimum(hi, data.b[:, None]) - np.maximum(lo, data.a[:, None]), 0.0, None
            )
            P = overlap / (data.b - data.a)[:, None]
        else:
            width = self.edges[1] - self.edges[0]
            P = gaussian_bin_target(0.5 * (data.a + data.b), LO, HI, self.size, 0.75 * width)

        def categorical(Z: np.ndarray) -> tuple[float, np.ndarray]:
            losses, G = categorical_cross_entropy(Z, P)
            return float(losses.mean()), G / Z.shape[0]

        return categorical

    def log_density(self, Z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``log`` of each row's predictive density at its own ``y`` (``-inf`` outside the
        cells of a categorical model; the mixture's tails reach everywhere)."""
        logS = log_softmax(Z, axis=1)
        if self.kind == "kde":
            kern = get_kernel("laplace", self.bandwidth)
            return logsumexp(logS + kern.logpdf(y[:, None] - self.centres[None, :]), axis=1)
        k = np.clip(np.searchsorted(self.edges, y, side="right") - 1, 0, self.size - 1)
        inside = (y >= self.edges[0]) & (y <= self.edges[-1])
        logp = logS[np.arange(y.size), k] - np.log(np.diff(self.edges)[k])
        return np.where(inside, logp, -np.inf)

    def cdf(self, Z: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Each row's predictive CDF on the grid ``t``, shape ``(rows, t.size)``."""
        S = softmax(Z, axis=1)
        if self.kind == "kde":
            kern = get_kernel("laplace", self.bandwidth)
            return S @ kern.cdf(t[None, :] - self.centres[:, None])
        lo, hi = self.edges[:-1, None], self.edges[1:, None]
        frac = np.clip((t[None, :] - lo) / (hi - lo), 0.0, 1.0)
        return S @ frac


def make_model(kind: str, *, cells: int = 40, background: float = 0.0, bins: int = 8) -> Model:
    """One of the chapter's three models over ``[0, 100]``.

    ``"kde"`` has ``cells`` Laplace kernels at the centres of ``cells`` equal cells, bandwidth
    one cell; ``"hlgauss"`` and ``"histogram"`` the same cells as categories;
    ``"classify"`` the brackets.

    Examples
    --------
    >>> make_model("classify").size, make_model("kde").size
    (13, 40)
    """
    if kind == "classify":
        return Model(kind, BRACKETS, 0.5 * (BRACKETS[:-1] + BRACKETS[1:]))
    edges = np.linspace(LO, HI, cells + 1)
    centres = 0.5 * (edges[:-1] + edges[1:])
    if kind in ("hlgauss", "histogram"):
        return Model(kind, edges, centres)
    if kind == "kde":
        width = edges[1] - edges[0]
        return Model(kind, edges, centres, width, background, bins)
    raise ValueError(
        f"kind: expected 'kde', 'histogram', 'classify' or 'hlgauss', got {kind!r}"
    )


@dataclass
class Fit:
    """A trained model: its weights and the training loss after each step."""

    model: Model
    W: np.ndarray
    losses: list[float] = field(default_factory=list)

    def logits(self, u: np.ndarray) -> np.ndarray:
        """The logits for inputs ``u``."""
        return features(u) @ self.W


def far_init(model: Model, margin: float, lo: float = 0.0, hi: float = 5.0) -> np.ndarray:
    """Weights whose logits favour the cells inside ``[lo, hi]`` by ``margin`` nats, everywhere.

    The constant feature carries it: logit ``0`` for cells whose centre lies in ``[lo, hi]``,
    ``-margin`` for every other cell, for every input. The default ``[0, 5]`` is far below
    most of the data.

    Examples
    --------
    >>> W = far_init(make_model("classify"), 30.0)
    >>> (W[-1] == 0).sum(), W[:-1].any()
    (np.int64(1), np.False_)
    """
    W = np.zeros((features(np.zeros(1)).shape[1], model.size))
    W[-1] = np.where((model.centres >= lo) & (model.centres <= hi), 0.0, -margin)
    return W


def train(
    model: Model,
    data: Data,
    *,
    steps: int = 300,
    lr: float = 0.05,
    W0: np.ndarray | None = None,
) -> Fit:
    """Full-batch Adam on the model's loss, from ``W0`` (zeros by default)."""
    phi = features(data.u)
    W = np.zeros((phi.shape[1], model.size)) if W0 is None else np.array(W0, dtype=float)
    m, v = np.zeros_like(W), np.zeros_like(W)
    beta1, beta2, tiny = 0.9, 0.999, 1e-8
    fit = Fit(model, W)
    objective = model.objective(data)
    for k in range(1, steps + 1):
        loss, G = objective(phi @ W)
        fit.losses.append(loss)
        grad = phi.T @ G
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad * grad
        W = W - lr * (m / (1 - beta1**k)) / (np.sqrt(v / (1 - beta2**k)) + tiny)
    fit.W = W
    return fit


class FarStart(NamedTuple):
    """The gradient at a far start against its bound (the chapter's ``prop-far-start``)."""

    grad_max: float
    """Largest ``|dL/dz_i|`` of one sample over the components outside the favoured cells."""
    bound: float
    """``max(S_i, e^{-Lambda})``, the bound on it."""
    margin: float
    """``Lambda``: the fewest nats by which the favoured components' ``S_j K_j`` beat any
    other component's, over every bin of every sample."""


def far_start_bound(model: Model, data: Data, margin: float) -> FarStart:
    """The kde model at :func:`far_init` with ``margin``: its largest gradient outside the
    favoured cells, and the bound ``max(S_i, e^{-Lambda})`` with ``Lambda`` measured.

    Examples
    --------
    >>> f = far_start_bound(make_model("kde"), make_data(30, 0), 80.0)
    >>> bool(f.grad_max <= f.bound < 1e-15), f.margin > 35
    (True, True)
    """
    W0 = far_init(model, margin)
    Z = features(data.u) @ W0
    _, G = model.objective(data)(Z)
    favoured = Z[0] == Z[0].max()  # logit 0 there, -margin elsewhere, for every input
    grad_max = float(np.abs(G[:, ~favoured]).max() * Z.shape[0])  # one sample's gradient
    pairs = zip(data.a, data.b, strict=True)
    t = np.concatenate([bin_centers(a, b, model.bins) for a, b in pairs])
    logk = get_kernel("laplace", model.bandwidth).logpdf(t[:, None] - model.centres[None, :])
    log_s = log_softmax(Z[0])  # the same logits for every input
    best = logsumexp(log_s[favoured] + logk[:, favoured], axis=1)
    lam = float(np.min(best[:, None] - (log_s[~favoured] + logk[:, ~favoured])))
    return FarStart(grad_max, float(max(np.exp(log_s[~favoured]).max(), np.exp(-lam))), lam)


@dataclass(frozen=True)
class Metrics:
    """Held-out scores of a fit."""

    log_lik: float
    """Mean log predictive density of the true values (higher is better)."""
    coverage: float
    """Fraction of true values inside the central 80% predictive interval (0.8 is right)."""
    width: float
    """Mean width of that interval."""


def evaluate(fit: Fit, test: Data, grid: int = 2001) -> Metrics:
    """Held-out log-likelihood of the true values and the central 80% interval's coverage."""
    Z = fit.logits(test.u)
    log_lik = float(np.mean(fit.model.log_density(Z, test.y)))
    t = np.linspace(LO, HI, grid)
    C = fit.model.cdf(Z, t)
    lo = t[np.argmax(C >= 0.1, axis=1)]
    hi = t[np.argmax(C >= 0.9, axis=1)]
    inside = (lo <= test.y) & (test.y <= hi)
    return Metrics(log_lik, float(inside.mean()), float(np.mean(hi - lo)))


def true_log_density(u: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``log`` of the process's density of ``y`` given ``u`` (before clipping), at ``t``.

    ``u`` and ``t`` broadcast against each other.

    Examples
    --------
    >>> float(np.exp(true_log_density(np.array(0.5), np.array(45.0)))) > 0.05
    True
    """
    u, t = np.asarray(u, dtype=float), np.asarray(t, dtype=float)
    lower = np.log(0.7) + norm.logpdf(t, 20.0 + 50.0 * u, 4.0)
    upper = np.log(0.3) + norm.logpdf(t, 70.0 - 30.0 * u, 6.0)
    return np.logaddexp(lower, upper)


#: The chapter's models, in the order of its tables.
KINDS: tuple[str, ...] = ("kde", "histogram", "classify", "hlgauss")
#: Their names in tables and legends.
NAMES: dict[str, str] = {
    "kde": "this book (Laplace KDE)",
    "histogram": "histogram loss (box kernels)",
    "classify": "classification over brackets",
    "hlgauss": "HL-Gauss (bracket midpoint)",
}


@dataclass
class Study:
    """Everything the chapter shows: fits, held-out scores, training curves."""

    train: Data
    test: Data
    fits: dict[str, Fit]
    metrics: dict[str, Metrics]
    oracle_log_lik: float
    """Mean log density of the test values under the true process (the best possible)."""
    far: dict[tuple[str, float], Fit]
    """Fits from :func:`far_init` with each margin."""
    background: dict[float, tuple[Fit, Metrics]]
    """The kde model trained with each background weight."""
    background_far: dict[float, Fit]
    """The kde model with a background, from the far start with the largest margin."""


def run_study(
    *,
    n_train: int = 500,
    n_test: int = 2000,
    steps: int = 200,
    margins: tuple[float, ...] = (20.0, 80.0),
    backgrounds: tuple[float, ...] = (0.05,),
    seed: int = 1,
) -> Study:
    """Train every model of :data:`KINDS` on one data set and score it on another.

    Examples
    --------
    >>> s = run_study(n_train=60, n_test=50, steps=5, margins=(20.0,), backgrounds=())
    >>> sorted(s.metrics) == sorted(KINDS) and s.oracle_log_lik > -10
    True
    """
    train_d, test_d = make_data(n_train, seed), make_data(n_test, seed + 1)
    fits = {k: train(make_model(k), train_d, steps=steps) for k in KINDS}
    metrics = {k: evaluate(f, test_d) for k, f in fits.items()}
    oracle = float(np.mean(true_log_density(test_d.u, test_d.y)))
    far = {
        (k, mg): train(make_model(k), train_d, steps=steps, W0=far_init(make_model(k), mg))
        for k in KINDS
        for mg in margins
    }
    bg = {}
    bg_far = {}
    for eps in backgrounds:
        model = make_model("kde", background=eps)
        fit = train(model, train_d, steps=steps)
        bg[eps] = (fit, evaluate(fit, test_d))
        bg_far[eps] = train(model, train_d, steps=steps, W0=far_init(model, max(margins)))
    return Study(train_d, test_d, fits, metrics, oracle, far, bg, bg_far)


#: Colour and line style of each model in the figures (Okabe-Ito; styles differ too).
STYLES: dict[str, dict[str, object]] = {
    "kde": {"color": OKABE_ITO["blue"], "ls": "-", "lw": 2.0},
    "histogram": {"color": OKABE_ITO["bluish_green"], "ls": "--", "lw": 1.6},
    "classify": {"color": OKABE_ITO["reddish_purple"], "ls": ":", "lw": 1.8},
    "hlgauss": {"color": OKABE_ITO["vermillion"], "ls": "-.", "lw": 1.6},
}


def predictive_density(fit: Fit, u: float, t: np.ndarray) -> np.ndarray:
    """The fitted model's density of ``y`` at ``t`` for one input ``u``.

    Examples
    --------
    >>> fit = train(make_model("kde"), make_data(40, 0), steps=3)
    >>> t = np.linspace(-100.0, 200.0, 6001)   # the mixture's tails reach past [0, 100]
    >>> bool(abs(predictive_density(fit, 0.5, t).sum() * 0.05 - 1.0) < 1e-3)
    True
    """
    Z = fit.logits(np.array([u]))
    rows = np.repeat(Z, t.size, axis=0)
    return np.exp(fit.model.log_density(rows, np.asarray(t, dtype=float)))


def draw_densities(
    fig: Figure, study: Study, us: tuple[float, ...] = (0.1, 0.5, 0.9)
) -> list[Axes]:
    """One panel per input ``u``: the true density of ``y`` and each fit's prediction."""
    axes = fig.subplots(1, len(us), sharey=True)
    t = np.linspace(LO, HI, 1001)
    for ax, u in zip(axes, us, strict=True):
        ax.fill_between(t, np.exp(true_log_density(u, t)), color=OKABE_ITO["orange"], alpha=0.35,
                        lw=0, label="true density")
        for k in KINDS:
            ax.plot(t, predictive_density(study.fits[k], u, t), label=NAMES[k], **STYLES[k])
        ax.axvspan(BRACKETS[-2], HI, color=OKABE_ITO["black"], alpha=0.06, lw=0)
        ax.set_title(f"input $u = {u:g}$")
        ax.set_xlabel("value $y$")
    axes[0].set_ylabel("density")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=2,
               frameon=False)
    return list(axes)


def draw_far_starts(fig: Figure, study: Study) -> list[Axes]:
    """Training loss above each model's own final loss (from zeros), per far-start margin."""
    margins = sorted({mg for _, mg in study.far})
    axes = fig.subplots(1, len(margins), sharey=True)
    for ax, mg in zip(np.atleast_1d(axes), margins, strict=True):
        for k in KINDS:
            excess = np.array(study.far[(k, mg)].losses) - study.fits[k].losses[-1]
            ax.plot(np.maximum(excess, 1e-3), label=NAMES[k], **STYLES[k])
        if mg == max(margins):
            for eps, fit in study.background_far.items():
                base = study.background[eps][0].losses[-1]
                ax.plot(np.maximum(np.array(fit.losses) - base, 1e-3), color=OKABE_ITO["black"],
                        ls="-", lw=1.0, label=f"this book, background $\\varepsilon = {eps:g}$")
        ax.set_yscale("log")
        ax.set_title(f"start {mg:g} nats away from the data")
        ax.set_xlabel("Adam step")
    np.atleast_1d(axes)[0].set_ylabel("training loss above its final value")
    np.atleast_1d(axes)[-1].legend(loc="lower left", frameon=False)
    return list(np.atleast_1d(axes))
