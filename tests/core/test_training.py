"""Gradient descent and EM reach the same fixed point, where the gradient vanishes."""

from __future__ import annotations

import numpy as np
import pytest

from kdeloss import em, gradient_descent, loss_and_grad
from kdeloss.training import Z_FLOOR


@pytest.mark.parametrize("x", [[0.1, 0.3, 0.65, 0.9], [0.05, 0.4, 0.5, 0.85]])
def test_em_and_gd_reach_the_same_interior_fixed_point(x) -> None:
    x = np.array(x)
    z0 = np.zeros(4)
    run_em = em(z0, x, 0.0, 1.0, steps=2000, bandwidth=0.2, bins=64)
    run_gd = gradient_descent(z0, x, 0.0, 1.0, steps=2000, lr=4.0, bandwidth=0.2, bins=64)
    assert run_em.weights[-1].min() > 0.05  # an interior optimum
    np.testing.assert_allclose(run_em.weights[-1], run_gd.weights[-1], atol=1e-9)
    assert abs(run_em.loss[-1] - run_gd.loss[-1]) < 1e-12
    # at EM's fixed point the gradient S - E[r] is zero for every point with weight
    assert np.abs(run_em.grad[-1]).max() < 1e-12


def test_boundary_optimum_em_zeroes_a_weight_descent_only_approaches() -> None:
    """With wide kernels the optimum puts zero weight on the outer points."""
    x = np.array([-0.3, 0.2, 0.7, 1.4])
    run_em = em(np.zeros(4), x, 0.0, 1.0, steps=2000, bandwidth=0.5, bins=64)
    run_gd = gradient_descent(np.zeros(4), x, 0.0, 1.0, steps=2000, lr=4.0, bandwidth=0.5, bins=64)
    assert run_em.weights[-1, [0, 3]].max() < 1e-12
    assert 1e-5 < run_gd.weights[-1, [0, 3]].min() < 1e-3  # descent on z is still on its way
    assert run_gd.loss[-1] > run_em.loss[-1]


def test_em_is_monotone_and_descent_decreases() -> None:
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 2, 6)
    run = em(rng.normal(size=6), x, 0.0, 1.0, steps=200, bins=32)
    assert np.all(np.diff(run.loss) <= 1e-13)
    gd = gradient_descent(rng.normal(size=6), x, 0.0, 1.0, steps=200, lr=1.0, bins=32)
    assert gd.loss[-1] < gd.loss[0]
    assert run.z.shape == (201, 6) and run.weights.shape == (201, 6)
    np.testing.assert_allclose(run.weights.sum(axis=1), 1.0, atol=1e-13)
    assert run.steps == 200 and run.method == "em" and gd.method == "gd"


def test_em_with_box_can_drive_a_weight_to_zero() -> None:
    # point 1 covers no bin: EM zeroes it at once, kept at the logit floor
    run = em([0.0, 0.0], [0.5, 5.0], 0.0, 1.0, steps=3, kernel="box", bandwidth=2.0, bins=8)
    assert run.z[-1, 1] == Z_FLOOR
    assert np.isfinite(run.loss).all()


def test_background_slows_a_far_cluster() -> None:
    x = np.array([40.0, 41.0, 42.5])
    plain = gradient_descent([0.0, 0.0, 0.0], x, 0.0, 1.0, steps=20, bins=16)
    damped = gradient_descent([0.0, 0.0, 0.0], x, 0.0, 1.0, steps=20, bins=16, background=0.05)
    moved_plain = np.abs(plain.z[-1] - plain.z[0]).max()
    moved_damped = np.abs(damped.z[-1] - damped.z[0]).max()
    assert moved_plain > 1.0
    assert moved_damped < 1e-12 * moved_plain
    L, _ = loss_and_grad(plain.z[-1], x, 0.0, 1.0, bins=16)
    assert L == pytest.approx(plain.loss[-1])


@pytest.mark.parametrize(
    ("kw", "pattern"),
    [({"steps": -1}, r"^steps:"), ({"steps": 2.5}, r"^steps:"), ({"lr": 0.0}, r"^lr:")],
)
def test_bad_arguments(kw, pattern) -> None:
    with pytest.raises(ValueError, match=pattern):
        gradient_descent([0.0], [0.0], 0.0, 1.0, **kw)
