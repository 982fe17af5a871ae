"""The remedy demo (kdeloss.demos.remedy): what the frame computes, what is drawn, the live
widget and the kernel-free player."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from widget_harness import player_frames, widget_picture

import kdeloss
from kdeloss.book.plots import OKABE_ITO
from kdeloss.demos import (
    RemedyFrame,
    assert_offline,
    demo_figure,
    draw_remedy,
    remedy_distance_sweep,
    remedy_frame,
    remedy_player,
    remedy_widget,
)
from kdeloss.demos.remedy import POINT_COLOURS, REMEDY_FIGSIZE

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
    frames = [remedy_frame(distance=d) for d in remedy_distance_sweep(7)]
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


# --- drawing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("near_point", [False, True])
def test_draw_shows_the_frame(near_point: bool) -> None:
    f = remedy_frame(distance=1.0, background=0.1, near_point=near_point)
    top, bottom = draw_remedy(demo_figure(REMEDY_FIGSIZE), f)
    n = f.x.size
    assert len(bottom.lines) == 2 * n
    for j in range(n):
        np.testing.assert_array_equal(bottom.lines[j].get_ydata(), f.plain_weights[:, j])
        np.testing.assert_array_equal(bottom.lines[n + j].get_ydata(), f.damped_weights[:, j])
        assert bottom.lines[j].get_color() == POINT_COLOURS[j]
        assert bottom.lines[n + j].get_linestyle() == "--"
    np.testing.assert_array_equal(top.lines[0].get_ydata(), f.pi_start)
    assert top.get_legend() is not None and bottom.get_legend() is not None
    for ax in (top, bottom):
        assert ax.get_xlabel() and ax.get_ylabel()
    assert f"{f.distance:.2f}" in top.get_title()
    palette = {v.upper() for v in OKABE_ITO.values()}
    assert {c.upper() for c in POINT_COLOURS} <= palette


def test_draw_on_given_axes() -> None:
    fig = demo_figure(REMEDY_FIGSIZE)
    axes = fig.subplots(2)
    assert draw_remedy(list(axes), remedy_frame()) == list(axes)


# --- widget and player -------------------------------------------------------------------------


def test_widget_every_control_redraws() -> None:
    w = remedy_widget(distance=0.5, background=0.05)
    assert set(w.controls) == {"distance", "background", "near_point"}
    for name, value in {"distance": 2.5, "background": 0.3, "near_point": True}.items():
        before, png = w.redraws, w.output.outputs[0]["data"]["image/png"]
        w.controls[name].value = value
        assert w.redraws == before + 1
        assert w.output.outputs[0]["data"]["image/png"] != png
    assert w.params == {"distance": 2.5, "background": 0.3, "near_point": True}


def test_widget_keeps_fixed_parameters() -> None:
    w = remedy_widget(steps=10)
    assert "steps" not in w.controls
    assert w.redraws == 1


def test_player_is_small_offline_and_moves() -> None:
    html = remedy_player().data
    assert_offline(html)
    assert len(html.encode()) < 1_000_000
    frames = player_frames(html)
    assert len(frames) == 30
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 1.0


def test_player_shows_the_widget_pictures() -> None:
    w = remedy_widget(distance=1.5, background=0.05)
    shown = widget_picture(w).astype(int)
    played = player_frames(remedy_player(distances=[1.5], background=0.05).data)[0].astype(int)
    assert played.shape == shown.shape
    assert np.abs(played - shown).mean() < 1.0
