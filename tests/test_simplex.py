"""kdeloss.book.simplex: the loss over the weight vectors of three points, on the simplex."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pytest

import kdeloss
from kdeloss.book.simplex import (
    CORNERS,
    loss_on_weights,
    plot_simplex_loss,
    simplex_grid,
    simplex_xy,
)

X3 = np.array([0.2, 0.7, -0.6])
OPTS = {"kernel": "laplace", "bandwidth": 0.3, "bins": 256}


def test_grid_and_coordinates() -> None:
    g = simplex_grid(10)
    assert g.shape == (66, 3)
    np.testing.assert_allclose(g.sum(axis=1), 1.0)
    np.testing.assert_allclose(simplex_xy(np.eye(3)), CORNERS)
    with pytest.raises(ValueError, match=r"^n"):
        simplex_grid(0)
    with pytest.raises(ValueError, match=r"^weights"):
        simplex_xy(np.ones((2, 2)))


def test_loss_on_weights_matches_kdeloss_and_handles_zeros() -> None:
    rng = np.random.default_rng(3)
    w = rng.dirichlet(np.ones(3), size=20)
    got = loss_on_weights(w, X3, 0.0, 1.0, **OPTS)
    want = [kdeloss.loss(np.log(row), X3, 0.0, 1.0, **OPTS) for row in w]
    np.testing.assert_allclose(got, want, rtol=1e-13)
    edge = np.array([[0.4, 0.6, 0.0]])
    near = np.log(np.array([0.4, 0.6, 1e-300]))
    assert loss_on_weights(edge, X3, 0.0, 1.0, **OPTS)[0] == pytest.approx(
        kdeloss.loss(near, X3, 0.0, 1.0, **OPTS), rel=1e-14
    )
    with pytest.raises(ValueError, match=r"^weights"):
        loss_on_weights(np.array([[0.5, 0.6, 0.0]]), X3, 0.0, 1.0, **OPTS)
    with pytest.raises(ValueError, match=r"^weights"):
        loss_on_weights(np.array([[0.5, 0.5]]), X3, 0.0, 1.0, **OPTS)


def test_convex_on_the_grid_and_minimum_on_the_edge() -> None:
    """thm-convexity on the picture's problem: the grid minimum sits on the edge S_3 = 0."""
    g = simplex_grid(40)
    vals = loss_on_weights(g, X3, 0.0, 1.0, **OPTS)
    assert g[np.argmin(vals), 2] == 0.0
    best = kdeloss.em(np.zeros(3), X3, 0.0, 1.0, steps=2000, **OPTS)
    assert best.weights[-1, 2] == pytest.approx(np.finfo(float).tiny, rel=1e-12)  # EM floor
    assert vals.min() >= best.loss[-1] - 1e-14


def test_plot() -> None:
    fig, ax = plt.subplots()
    run = SimpleNamespace(weights=np.array([[0.5, 0.1, 0.4], [0.4, 0.5, 0.1]]))
    out = plot_simplex_loss(ax, X3, 0.0, 1.0, [run, run], ["a", "b"], n=12, **OPTS)
    assert len(out["paths"]) == 2
    np.testing.assert_allclose(out["paths"][0].get_xydata(), simplex_xy(run.weights))
    with pytest.raises(ValueError, match=r"^x"):
        plot_simplex_loss(ax, X3[:2], 0.0, 1.0, [], [], **OPTS)
    with pytest.raises(ValueError, match=r"^labels"):
        plot_simplex_loss(ax, X3, 0.0, 1.0, [run], [], **OPTS)
    plt.close(fig)
