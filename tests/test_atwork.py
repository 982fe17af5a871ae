"""kdeloss.book.atwork: the data, the four models' losses and scores, the far start."""

from __future__ import annotations

import numpy as np
import pytest

import kdeloss
import kdeloss.testing
from kdeloss.book import atwork as aw


def test_reports_hold_the_true_values():
    d = aw.make_data(500, 3)
    assert ((d.a <= d.y) & (d.y < d.b)).all()
    assert set(np.unique(d.b - d.a)) <= {5.0, 40.0}
    c = aw.make_data(500, 3, corrupt=1.0)
    assert ((c.a > c.y) | (c.y >= c.b)).mean() > 0.5


@pytest.mark.parametrize("kind", aw.KINDS)
def test_objective_gradient_by_central_differences(kind):
    model = aw.make_model(kind, cells=10)
    data = aw.make_data(7, 4)
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(7, model.size))
    f = model.objective(data)
    _, G = f(Z)
    num = kdeloss.testing.central_difference(lambda v: f(v.reshape(Z.shape))[0], Z.ravel(),
                                             1e-6)
    assert np.abs(G.ravel() - num).max() < 1e-8


def test_kde_objective_is_the_mean_of_the_unbatched_loss():
    model = aw.make_model("kde", cells=12, background=0.05)
    data = aw.make_data(5, 5)
    Z = np.random.default_rng(1).normal(size=(5, model.size))
    L, G = model.objective(data)(Z)
    parts = [kdeloss.loss_and_grad(Z[i], model.centres, data.a[i], data.b[i],
                                   bandwidth=model.bandwidth, bins=model.bins,
                                   background=0.05) for i in range(5)]
    assert abs(L - np.mean([p[0] for p in parts])) < 1e-12
    assert np.abs(G - np.array([p[1] for p in parts]) / 5).max() < 1e-15


@pytest.mark.parametrize("kind", aw.KINDS)
def test_predictions_are_densities(kind):
    fit = aw.train(aw.make_model(kind), aw.make_data(50, 6), steps=5)
    # The Laplace mixture's tails reach past [0, 100]: integrate over a wider range.
    t = np.linspace(-100.0, 200.0, 60001)
    dens = aw.predictive_density(fit, 0.3, t)
    assert abs(np.trapezoid(dens, t) - 1.0) < 1e-3
    C = fit.model.cdf(fit.logits(np.array([0.3, 0.7])), t)
    assert (np.diff(C, axis=1) >= -1e-15).all() and np.allclose(C[:, -1], 1.0)


def test_a_confident_far_start_gives_the_kde_model_no_gradient_near_the_data():
    data = aw.make_data(80, 7)
    for kind, tiny in (("kde", True), ("classify", False)):
        model = aw.make_model(kind)
        W0 = aw.far_init(model, 80.0)
        _, G = model.objective(data)(aw.features(data.u) @ W0)
        near = model.centres > 5.0
        largest = np.abs(G[:, near]).max() * data.y.size  # one sample's gradient
        assert (largest < 1e-15) == tiny, (kind, largest)


def test_training_improves_on_the_start_and_scores_are_sane():
    data, test = aw.make_data(200, 8), aw.make_data(300, 9)
    for kind in aw.KINDS:
        fit = aw.train(aw.make_model(kind), data, steps=60)
        assert fit.losses[-1] < fit.losses[0]
        m = aw.evaluate(fit, test)
        assert -6.0 < m.log_lik < float(np.mean(aw.true_log_density(test.u, test.y)))
        assert 0.5 < m.coverage <= 1.0


def test_bad_kind_names_the_argument():
    with pytest.raises(ValueError, match=r"^kind"):
        aw.make_model("mse")
