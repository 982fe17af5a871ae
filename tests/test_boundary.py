"""kdeloss.book.boundary: the 1/k limits of gradient descent toward a zero weight."""

from __future__ import annotations

import numpy as np
import pytest

import kdeloss
from kdeloss.book.boundary import slow_decay_limits
from kdeloss.book.checks import kkt_ratios

OPTS = {"kernel": "laplace", "bandwidth": 0.5, "bins": 256}


def test_two_points_match_the_theorem() -> None:
    """thm-slow-boundary part 2: k S_2(k) -> 1 / (2 eta C), C = 1 - gamma_2 at (1, 0)."""
    x = np.array([0.5, -1.5])
    gamma = kkt_ratios(np.array([0.0, -700.0]), x, 0.0, 1.0, **OPTS)
    lim = slow_decay_limits(np.array([1.0, 0.0]), gamma, 0.5)
    assert np.isnan(lim[0])
    assert lim[1] == pytest.approx(1 / (2 * 0.5 * (1 - gamma[1])))
    run = kdeloss.gradient_descent(np.zeros(2), x, 0.0, 1.0, steps=2000, lr=0.5, **OPTS)
    assert run.steps * run.weights[-1, 1] == pytest.approx(lim[1], rel=0.01)


def test_two_kept_two_useless() -> None:
    """The remark: k S_i(k) -> n / ((n + m) eta C_i) with n = m = 2."""
    x = np.array([0.2, 0.8, -1.5, 2.9])
    em = kdeloss.em(np.zeros(4), x, 0.0, 1.0, steps=3000, **OPTS)
    gamma = kkt_ratios(em.z[-1], x, 0.0, 1.0, **OPTS)
    lim = slow_decay_limits(em.weights[-1], gamma, 1.0)
    np.testing.assert_allclose(lim[2:], 2 / (4 * (1 - gamma[2:])))
    gd = kdeloss.gradient_descent(np.zeros(4), x, 0.0, 1.0, steps=4000, lr=1.0, **OPTS)
    np.testing.assert_allclose(gd.steps * gd.weights[-1, 2:], lim[2:], rtol=2e-3)


def test_no_law_without_a_positive_constant() -> None:
    lim = slow_decay_limits([0.5, 0.5, 0.0], [1.0, 1.0, 1.0], 1.0)  # C = 0
    assert np.all(np.isnan(lim))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"weights": [1.0, 0.0], "gamma": [1.0], "lr": 1.0}, "gamma"),
        ({"weights": [1.0, 0.0], "gamma": [1.0, 0.5], "lr": 0.0}, "lr"),
        ({"weights": [0.0, 0.0], "gamma": [1.0, 0.5], "lr": 1.0}, "weights"),
    ],
)
def test_bad_input(kwargs, match) -> None:
    with pytest.raises(ValueError, match=rf"^{match}"):
        slow_decay_limits(**kwargs)
