"""EM, convexity and the slow approach to a zero weight, as properties of the library.

The chapter "EM and convexity" states these as theorems; its own numbers are read from the
build by tests/test_responsibility_chapter.py. Here the same properties are checked on fixed
small problems against :mod:`kdeloss` and :mod:`kdeloss.book.checks` directly: EM's fixed
point has zero gradient and KKT ratios 1, EM is monotone, a well-chosen step of gradient
descent matches EM, the loss is convex in the weights, stationary points are global minima,
and near a zero optimal weight gradient descent decays like 1/(2 eta C k).
"""

from __future__ import annotations

import numpy as np
import pytest

import kdeloss
from kdeloss.book import checks

A, B = -1.0, 1.0

X4 = np.array([-0.7, -0.1, 0.3, 0.8])
OPTS = {"kernel": "laplace", "bandwidth": 0.3, "bins": 256}


@pytest.fixture(scope="module")
def em_long():
    return kdeloss.em(np.zeros(4), X4, A, B, steps=2000, **OPTS)


def test_em_fixed_point_has_zero_gradient(em_long):
    assert np.abs(em_long.grad[-1]).max() < 1e-13
    gamma = checks.kkt_ratios(em_long.z[-1], X4, A, B, **OPTS)
    np.testing.assert_allclose(gamma, 1.0, atol=1e-12)
    assert em_long.weights[-1].min() > 0.1  # an interior optimum


def test_em_step_is_weights_minus_gradient_and_monotone():
    run = kdeloss.em(np.array([0.5, -0.5, 0.0, 0.3]), X4, A, B, steps=30, **OPTS)
    np.testing.assert_allclose(run.weights[1:], run.weights[:-1] - run.grad[:-1], atol=1e-15)
    assert np.all(np.diff(run.loss) <= 1e-15)


def test_em_versus_gd(em_long):
    L_star = em_long.loss[-1]
    em = kdeloss.em(np.zeros(4), X4, A, B, steps=150, **OPTS)
    gd = {
        lr: kdeloss.gradient_descent(np.zeros(4), X4, A, B, steps=150, lr=lr, **OPTS)
        for lr in [1.0, 5.0, 20.0]
    }
    assert em.loss[-1] - L_star < 1e-14
    assert gd[5.0].loss[-1] - L_star < 1e-14
    assert 1e-10 < gd[1.0].loss[-1] - L_star < 1e-5
    assert gd[20.0].loss[-1] - L_star > 1e-2  # too large a step does not converge


def test_convexity_in_the_weights():
    gaps = checks.convexity_gaps(X4, A, B, samples=300, seed=7, **OPTS)
    assert gaps.min() > -1e-14


def test_stationary_points_are_global_minima(em_long):
    # No weight vector beats the EM fixed point (random weights and the corners).
    rng = np.random.default_rng(11)
    best = em_long.loss[-1]
    trial = np.vstack([rng.dirichlet(np.ones(4), size=200), np.eye(4) * 0.999 + 0.00025])
    values = [kdeloss.loss(np.log(w), X4, A, B, **OPTS) for w in trial]
    assert min(values) >= best - 1e-14


X2 = np.array([0.5, -1.5])
OPTS2 = {"kernel": "laplace", "bandwidth": 0.5, "bins": 256}


def test_zero_weight_optimum_and_slow_descent():
    gamma = checks.kkt_ratios(np.array([0.0, -700.0]), X2, 0.0, 1.0, **OPTS2)
    assert gamma[0] == pytest.approx(1.0) and gamma[1] < 1  # (1, 0) is optimal
    C = 1 - gamma[1]
    for lr in [0.5, 2.0]:
        run = kdeloss.gradient_descent(np.zeros(2), X2, 0.0, 1.0, steps=2000, lr=lr, **OPTS2)
        s2 = run.weights[:, 1]
        k = np.arange(s2.size)
        bound = 1 / (1 / s2[0] + 2 * lr * np.exp(2 * lr) * k)
        assert np.all(s2 >= bound)  # part 1
        assert k[-1] * s2[-1] == pytest.approx(1 / (2 * lr * C), rel=0.01)  # part 2
    em = kdeloss.em(np.zeros(2), X2, 0.0, 1.0, steps=20, **OPTS2)
    ratio = em.weights[1:, 1] / em.weights[:-1, 1]
    assert ratio[5:] == pytest.approx(gamma[1], rel=1e-6)  # part 3: geometric, factor gamma_2
