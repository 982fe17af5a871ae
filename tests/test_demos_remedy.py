"""The remedy demo (kdeloss.book.demos.remedy): what the frame computes (the live demo, RemedyDemo,
is checked in the browser by test_demos_live.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import kdeloss
from kdeloss.book.demos import (
    RemedyFrame,
    remedy_frame,
)

# --- the frame -------------------------------------------------------------------------------


def test_frame_is_pure_and_frozen() -> None:
    f, g = remedy_frame(distance=1.3, background=0.1), remedy_frame(distance=1.3, background=0.1)
    assert isinstance(f, RemedyFrame)
    np.testing.assert_array_equal(f.damped_weights, g.damped_weights)
    with pytest.raises(ValueError, match="read-only"):
        f.plain_weights[0, 0] = 1.0
    with pytest.raises(AttributeError):
        f.distance = 2.0  # type: ignore[misc]


def test_frame_is_the_library_training() -> None:
    f = remedy_frame(distance=0.7, background=0.2, steps=25, lr=1.5, bandwidth=0.3, bins=16)
    x = np.array([-0.7, -1.1, -1.6])
    np.testing.assert_array_equal(f.x, x)
    kw = {"steps": 25, "lr": 1.5, "bandwidth": 0.3, "bins": 16}
    plain = kdeloss.gradient_descent(np.zeros(3), x, 0.0, 1.0, **kw)
    damped = kdeloss.gradient_descent(np.zeros(3), x, 0.0, 1.0, background=0.2, **kw)
    np.testing.assert_array_equal(f.plain_weights, plain.weights)
    np.testing.assert_array_equal(f.damped_weights, damped.weights)
    pi = kdeloss.model_probability(np.zeros(3), x, f.t, bandwidth=0.3, background=0.2)
    np.testing.assert_array_equal(f.pi_start, pi)
    assert f.mean_pi_start == pytest.approx(pi.mean())
    assert f.moved_plain == pytest.approx(np.abs(plain.weights[-1] - plain.weights[0]).max())


def test_plain_run_ignores_the_distance_and_the_background_freezes() -> None:
    """thm-same-responsibilities and thm-background-far, as the demo shows them."""
    frames = [remedy_frame(distance=d) for d in np.linspace(0.0, 3.0, 7)]
    for f in frames[1:]:
        assert np.abs(f.plain_weights - frames[0].plain_weights).max() < 1e-14
    moved = [f.moved_damped for f in frames]
    assert all(a > b for a, b in itertools.pairwise(moved))
    assert moved[-1] < 1e-3 * frames[-1].moved_plain
    mean_pi = [f.mean_pi_start for f in frames]
    assert all(a > b for a, b in itertools.pairwise(mean_pi))


def test_no_background_is_the_plain_loss() -> None:
    f = remedy_frame(distance=2.0, background=0.0)
    np.testing.assert_array_equal(f.plain_weights, f.damped_weights)
    np.testing.assert_array_equal(f.pi_start, 1.0)


def test_near_point_keeps_the_far_cluster_falling() -> None:
    f = remedy_frame(distance=3.0, background=0.05, near_point=True)
    assert f.x.size == 4 and f.x[-1] == 0.5
    assert f.mean_pi_start > 0.7
    assert f.moved_damped > 0.9 * f.moved_plain
    assert f.damped_weights[-1, 3] > 0.95


def test_frame_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"^distance: must be >= 0"):
        remedy_frame(distance=-0.1)
    with pytest.raises(ValueError, match=r"^distance: expected a finite number"):
        remedy_frame(distance=np.inf)
    with pytest.raises(ValueError, match=r"^background: must be in \[0, 1\)"):
        remedy_frame(background=1.0)
    with pytest.raises(ValueError, match=r"^steps:"):
        remedy_frame(steps=-1)
