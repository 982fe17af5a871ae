"""Training dynamics (book/dynamics.md): the theorems, checked against kdeloss directly.

thm-same-responsibilities, thm-far-wrong-class, the box-kernel/softmax-classification
identity, thm-background (by complex step) and thm-background-far (the bound), plus the
set-ups, measurements and plotting helpers of :mod:`kdeloss.book.dynamics`.
"""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pytest
import sympy as sp
from scipy.special import logsumexp

import kdeloss
from kdeloss import symbolic as ks
from kdeloss.book import dynamics as dyn

RNG = np.random.default_rng(2022)


# --- thm-same-responsibilities ----------------------------------------------------------------


@pytest.mark.parametrize("delta", [0.5, 7.0, 49.0, 500.0])
@pytest.mark.parametrize("method", ["gd", "em"])
def test_laplace_cluster_trains_the_same_at_any_distance(delta: float, method: str) -> None:
    base = dyn.SETUPS["far"].moved(-4.0)  # nearest point at distance 1
    moved = base.moved(delta)
    run, other = base.train(method, steps=120), moved.train(method, steps=120)
    assert dyn.max_weight_gap(run, other) < 1e-13
    lo, hi = dyn.loss_offset(run, other)
    h = base.bandwidth
    assert lo == pytest.approx(delta / h, rel=1e-13, abs=1e-11)
    assert hi == pytest.approx(delta / h, rel=1e-13, abs=1e-11)


def test_kernel_factor_leaves_iterates_unchanged() -> None:
    """The theorem with c_m = c for every bin: a Laplace kernel times 1e-200 or 1e200,
    with points on both sides of the target (no shift property needed)."""

    class Scaled:
        def __init__(self, c: float) -> None:
            self.c = c

        def logpdf(self, d: np.ndarray) -> np.ndarray:
            return -np.abs(d) / 0.3 + np.log(self.c)

    x = np.array([-0.7, 0.2, 0.55, 1.4])
    z0 = RNG.normal(size=4)
    runs = [
        kdeloss.gradient_descent(z0, x, 0.0, 1.0, steps=80, lr=1.5, kernel=Scaled(c), bins=32)
        for c in (1.0, 1e-200, 1e200)
    ]
    for other in runs[1:]:
        np.testing.assert_allclose(other.z, runs[0].z, atol=1e-13)
    assert runs[1].loss[0] - runs[0].loss[0] == pytest.approx(200 * np.log(10), rel=1e-13)


def test_gaussian_cluster_is_not_shift_invariant() -> None:
    """Negative control: the Gaussian kernel's log is not linear in the distance."""
    base = dyn.Setup("g", dyn.cluster(1.0), (0.0,) * 3, kernel="gaussian", bandwidth=0.5)
    run, other = base.train(steps=30), base.moved(3.0).train(steps=30)
    assert dyn.max_weight_gap(run, other) > 1e-2


def test_same_responsibilities_symbolic() -> None:
    z, K = ks.make_symbols(3)
    c = sp.Symbol("c", positive=True)
    sub = ks.scaled(K, c)
    for g in ks.gradient(z, K):
        assert sp.simplify(g.subs(sub, simultaneous=True) - g) == 0
    diff = ks.bin_loss(z, K).subs(sub, simultaneous=True) - ks.bin_loss(z, K)
    assert sp.simplify(sp.expand_log(diff, force=True) + sp.log(c)) == 0


# --- thm-far-wrong-class ------------------------------------------------------------------------


def test_far_cluster_falls_like_a_wrong_class() -> None:
    s = dyn.SETUPS["near and far"]
    run = s.train(steps=200)
    ratio = dyn.push_ratio(run, s.far)
    # rho_i = max_m K(t_m - x_i) / q(t_m), evaluated at every iterate
    t = kdeloss.bin_centers(s.a, s.b, s.bins)
    kern = kdeloss.get_kernel(s.kernel, s.bandwidth)
    x = np.array(s.x)
    for k in (0, 50, 200):
        logq = kdeloss.log_density(run.z[k], x, t, kernel=kern)
        rho = np.exp(kern.logpdf(t[:, None] - x[None, list(s.far)]) - logq[:, None]).max(axis=0)
        assert np.all(ratio[k] <= 1.0 + 1e-15)
        assert np.all(ratio[k] >= 1.0 - rho - 1e-15)
    assert ratio.min() > 1 - 1e-9


def test_box_point_covering_no_bin_has_ratio_exactly_one() -> None:
    run = dyn.CLASSIFICATION.train(steps=20)
    np.testing.assert_allclose(dyn.push_ratio(run, [6])[:, 0], 1.0, rtol=1e-15)


def test_far_wrong_class_symbolic() -> None:
    z, K = ks.make_symbols(3)
    s = ks.softmax_weights(z)
    assert sp.simplify(ks.gradient(z, K)[0].subs(K[0], 0) - s[0]) == 0


# --- the one-hot limit is softmax classification ------------------------------------------------


def test_box_descent_is_softmax_cross_entropy_descent() -> None:
    cls = dyn.CLASSIFICATION
    labels = dyn.bin_labels(cls)
    by_kernel = cls.train(steps=150, lr=2.0)
    by_hand = dyn.softmax_ce_descent(np.array(cls.z0), labels, steps=150, lr=2.0)
    np.testing.assert_allclose(by_kernel.z, by_hand.z, atol=1e-14)
    lo, hi = dyn.loss_offset(by_hand, by_kernel)
    assert lo == pytest.approx(np.log(cls.bandwidth), abs=1e-14)
    assert hi == pytest.approx(np.log(cls.bandwidth), abs=1e-14)
    assert by_hand.method == "softmax-ce"


def test_softmax_ce_descent_is_cross_entropy() -> None:
    """Its loss and gradient, against logsumexp and complex-step differentiation."""
    labels = np.array([0, 2, 2, 1, 2])
    z0 = RNG.normal(size=3)
    run = dyn.softmax_ce_descent(z0, labels, steps=3, lr=0.5)

    def ce(z: np.ndarray) -> complex:
        return np.mean([logsumexp(z) - z[y] for y in labels])

    assert run.loss[0] == pytest.approx(float(ce(z0)), rel=1e-14)
    cs = [ce(z0 + 1e-30j * e).imag / 1e-30 for e in np.eye(3)]
    np.testing.assert_allclose(run.grad[0], cs, atol=1e-15)
    np.testing.assert_allclose(run.z[1], z0 - 0.5 * run.grad[0], atol=1e-15)
    long = dyn.softmax_ce_descent(z0, labels, steps=3000, lr=2.0)
    np.testing.assert_allclose(long.weights[-1], [0.2, 0.2, 0.6], atol=1e-6)


def test_bin_labels_rejects_what_is_not_one_hot() -> None:
    with pytest.raises(ValueError, match="box kernel"):
        dyn.bin_labels(dyn.SETUPS["near"])
    gap = dyn.Setup("gap", (0.1, 0.9), (0.0, 0.0), kernel="box", bandwidth=0.2, bins=10)
    with pytest.raises(ValueError, match="covered by 0 points"):
        dyn.bin_labels(gap)
    overlap = dyn.Setup("two", (0.5, 0.55), (0.0, 0.0), kernel="box", bandwidth=2.0, bins=4)
    with pytest.raises(ValueError, match="covered by 2 points"):
        dyn.bin_labels(overlap)


# --- thm-background and thm-background-far -------------------------------------------------------


@pytest.mark.parametrize("kernel", ["laplace", "gaussian", "vonmises"])
def test_background_theorem_against_complex_step(kernel: str) -> None:
    for _ in range(40):
        n = int(RNG.integers(1, 7))
        z, x = RNG.normal(size=n), RNG.uniform(-4, 5, size=n)
        eps = float(RNG.uniform(0, 0.99))
        assert dyn.background_theorem_gap(z, x, 0.0, 1.0, background=eps, kernel=kernel) < 1e-14


@pytest.mark.parametrize("eps", [0.01, 0.05, 0.5])
def test_background_gradient_bound(eps: float) -> None:
    h = dyn.SETUPS["far"].bandwidth
    for d in [0.0, 0.3, 1.0, 2.5, 6.0, 20.0]:
        s = dyn.SETUPS["far"].moved(d - 5.0)
        for z in (np.zeros(3), RNG.normal(size=3)):
            s = dyn.Setup(s.name, s.x, tuple(z), far=s.far)
            g = dyn.gradient_at_start(s, background=eps)
            pi = dyn.model_probability_on_bins(s, z, eps)
            assert np.abs(g).sum() <= 2 * pi.mean() + 1e-15
            assert np.abs(g).sum() <= 2 * (1 - eps) / eps * np.exp(-d / h) / (2 * h)
            plain = dyn.gradient_at_start(s)
            assert np.abs(plain).sum() > 0.1


def test_background_bound_symbolic() -> None:
    eps, u, q = sp.symbols("epsilon u q", positive=True)
    pi = (1 - eps) * q / ((1 - eps) * q + eps * u)
    claimed = (1 - eps) ** 2 * q**2 / (eps * u * ((1 - eps) * q + eps * u))
    assert sp.simplify((1 - eps) * q / (eps * u) - pi - claimed) == 0


def test_background_does_not_slow_em_for_a_lone_laplace_cluster() -> None:
    """Exercise dynamics-ex-em-background."""
    s = dyn.SETUPS["far"]
    plain, damped = s.train("em", steps=20), s.train("em", steps=20, background=0.05)
    assert dyn.max_weight_gap(plain, damped) < 1e-14
    gd = s.train("gd", steps=20, background=0.05)
    assert np.abs(gd.weights[-1] - gd.weights[0]).max() < 1e-8


def test_em_closed_form_for_a_lone_laplace_cluster() -> None:
    """Exercise dynamics-ex-em-far: S^(k) proportional to S^(0) exp(k x / h)."""
    s = dyn.SETUPS["far"]
    run = s.train("em", steps=6)
    x, h = np.array(s.x), s.bandwidth
    for k in range(7):
        expected = kdeloss.softmax(np.array(s.z0) + k * x / h)
        np.testing.assert_allclose(run.weights[k], expected, atol=1e-14)


def test_background_keeps_a_far_cluster_beside_a_near_one_falling() -> None:
    s = dyn.SETUPS["near and far"]
    ratio = dyn.push_ratio(s.train(steps=100, background=0.05), s.far)
    assert 0.8 < ratio.min() and ratio.max() < 1.0


# --- set-ups and fixed points ----------------------------------------------------------------


def test_gd_and_em_reach_the_same_interior_fixed_point() -> None:
    s = dyn.SETUPS["near"]
    gd, em = s.train("gd", steps=300), s.train("em", steps=300)
    assert np.abs(gd.weights[-1] - em.weights[-1]).max() < 1e-5
    assert em.weights[-1].min() > 0.1
    assert abs(gd.loss[-1] - em.loss[-1]) < 1e-10


@pytest.mark.parametrize("key", ["near and far", "far", "both sides"])
def test_boundary_optima_em_zeroes_and_gd_approaches(key: str) -> None:
    s = dyn.SETUPS[key]
    gd, em = s.train("gd", steps=300), s.train("em", steps=300)
    zero = em.weights[-1] < 1e-12
    assert zero.any()
    assert np.all(gd.weights[-1][zero] < 5e-3)
    assert gd.loss[-1] - em.loss[-1] < 5e-3
    assert np.all(np.diff(gd.weights[100:, zero], axis=0) < 0)  # still falling


def test_setup_validation_and_helpers() -> None:
    with pytest.raises(ValueError, match="z0"):
        dyn.Setup("bad", (0.0, 1.0), (0.0,))
    with pytest.raises(ValueError, match="far"):
        dyn.Setup("bad", (0.0,), (0.0,), far=(1,))
    with pytest.raises(ValueError, match="method"):
        dyn.SETUPS["near"].train("newton")
    near = dyn.SETUPS["near and far"]
    moved = near.moved(2.0)
    assert moved.x[:3] == near.x[:3]
    assert moved.x[3:] == tuple(v - 2.0 for v in near.x[3:])
    assert dyn.cluster(1.0, (0.0, 0.5)) == (-1.0, -1.5)
    a, b = dyn.SETUPS["far"].train(steps=3), dyn.SETUPS["near"].train(steps=3)
    with pytest.raises(ValueError, match="same shape"):
        dyn.max_weight_gap(a, b)


# --- figures ---------------------------------------------------------------------------------


def test_plots_draw_what_was_computed() -> None:
    fig = plt.figure()
    runs = dyn.plot_idea(fig, steps=20)
    ax = fig.axes[0]
    assert len(ax.lines) == 4
    first = next(iter(runs.values()))
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), first.weights[:, 0])
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_legend() is not None
    plt.close(fig)

    keys = ["near", "far"]
    runs2 = {k: (dyn.SETUPS[k].train(steps=10), dyn.SETUPS[k].train("em", steps=10)) for k in keys}
    fig = plt.figure()
    dyn.plot_setups(fig, runs2, {k: runs2[k][1].loss[-1] - 1e-3 for k in keys})
    assert len(fig.axes) == 6
    weights_ax = fig.axes[2]  # row 1, column 0 (row-major order)
    assert len(weights_ax.lines) == 2 * len(dyn.SETUPS["near"].x)
    plt.close(fig)

    fig = plt.figure()
    d = np.array([1.0, 2.0])
    curves = {"p": {"cross-entropy": np.array([0.3, 0.3]), "MMD": np.array([0.1, 0.0])}}
    dyn.plot_alternatives(fig, d, curves, {"p": "panel"})
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert np.isnan(ax.lines[1].get_ydata()[1])  # zeros are not drawn
    for line in ax.lines:
        assert line.get_color().upper() in dyn.COLOURS
    plt.close(fig)


def test_model_probability_figure_draws_pi() -> None:
    """The still figure of the remedy: pi(t) of kdeloss.model_probability, falling with D."""
    fig, ax = plt.subplots()
    curves = dyn.plot_model_probability(ax, distances=(0.0, 1.0, 2.0), background=0.05)
    t = curves.pop("t")
    assert len(ax.lines) == len(curves) == 4
    for line, (label, pi) in zip(ax.lines, curves.items(), strict=True):
        np.testing.assert_array_equal(line.get_ydata(), pi)
        assert line.get_label() == label
        assert line.get_color().upper() in dyn.COLOURS
        assert np.all((pi > 0) & (pi < 1))
    alone = list(curves.values())[:3]
    for near, far in itertools.pairwise(alone):
        assert np.all(far < near)  # moving the cluster away lowers pi at every t
    assert alone[-1].max() < 1e-3
    beside = curves["cluster at $D = 5$ beside a near cluster"]
    assert beside.min() > 0.75
    s = dyn.SETUPS["far"].moved(-4.0)  # distance 1
    expected = kdeloss.model_probability(
        np.zeros(3), np.array(s.x), t, bandwidth=s.bandwidth, background=0.05
    )
    np.testing.assert_allclose(alone[1], expected, rtol=1e-14)
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_yscale() == "log"
    plt.close(fig)


def test_em_steps_to_floor() -> None:
    """Fig. fig-dynamics-setups: EM's excess loss leaves the plot (1e-15) after these steps."""
    counts = {}
    for key, s in dyn.SETUPS.items():
        em = s.train("em", steps=300)
        best = min(s.train("em", steps=3000).loss[-1], em.loss.min())
        counts[key] = dyn.em_steps_to_floor(em, best)
    assert counts["near"] == max(counts.values())
    assert 150 <= counts["near"] <= 190  # "about 170" in the figure's alt text
    assert max(counts[k] for k in ("near and far", "far", "both sides")) < 100
    with pytest.raises(ValueError, match=r"^run:"):
        dyn.em_steps_to_floor(dyn.SETUPS["near"].train("em", steps=3), -1.0)
