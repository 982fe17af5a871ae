"""The shift demo (kdeloss.book.demos.shift): it holds still exactly as the theorems say."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kdeloss.book.demos import (
    CHANGE_FLOOR,
    SHIFT_DEFAULTS,
    SHIFT_FIGSIZE,
    demo_figure,
    draw_shift,
    plot_change_curves,
    plot_change_inset,
    shift_frame,
)
from kdeloss.book.shift import gradient_change_curve

D_INT, D_BIN = 0.7, 1.1  # first arrival at [a, b] and at the centre, default configuration


def test_arrivals_of_the_default_configuration() -> None:
    f = shift_frame(0.0)
    assert f.interval_arrival == pytest.approx(D_INT)
    assert f.bin_arrival == pytest.approx(D_BIN)


def test_laplace_gradient_constant_until_first_arrival_then_changes() -> None:
    """The acceptance criterion: constant to 1e-12 until the first arrival, changes after."""
    deltas = np.unique(
        np.concatenate(
            [
                np.linspace(0.0, SHIFT_DEFAULTS["delta_max"], 97),
                [D_INT, D_INT + 1e-3, D_BIN, D_BIN + 1e-3],
            ]
        )
    )
    for d in deltas:
        f = shift_frame(float(d))
        if d <= f.interval_arrival:
            assert f.interval_held
            assert f.interval_change <= 1e-12, d
        else:
            assert not f.interval_held
            assert f.interval_change > 1e-9, d
        if d <= f.bin_arrival:
            assert f.bin_held
            assert f.bin_change <= 1e-12, d
        else:
            assert not f.bin_held
            assert f.bin_change > 1e-9, d


@pytest.mark.parametrize("kernel", ["gaussian", "vonmises"])
def test_other_kernels_move_from_the_start(kernel: str) -> None:
    for d in [0.05, 0.3, D_INT]:
        f = shift_frame(d, kernel=kernel)
        assert f.interval_change > 1e-4
        assert f.bin_change > 1e-4
        assert "not Laplace" in f.message


def test_losses_drop_by_delta_over_h_until_arrival() -> None:
    f0 = shift_frame(0.0)
    h = SHIFT_DEFAULTS["bandwidth"]
    for d in [0.2, D_INT]:
        f = shift_frame(d)
        assert f.interval_loss - f0.interval_loss == pytest.approx(-d / h, abs=1e-12)
        assert f.bin_loss - f0.bin_loss == pytest.approx(-d / h, abs=1e-12)


def test_frame_is_pure_and_frozen() -> None:
    f = shift_frame(0.4)
    g = shift_frame(0.4)
    assert f.interval_change == g.interval_change
    np.testing.assert_array_equal(f.x, g.x)
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.delta = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        f.x[0] = 0.0
    np.testing.assert_allclose(f.x, np.array(SHIFT_DEFAULTS["x"]) + 0.4 * np.sign(-f.x0))


def test_frame_messages_mark_the_arrivals() -> None:
    assert "hold still" in shift_frame(0.3).message
    assert "entered [a, b]" in shift_frame(0.9).message
    assert "passed the centre" in shift_frame(1.3).message


def test_frame_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="delta"):
        shift_frame(-0.1)
    with pytest.raises(ValueError, match="kernel"):
        shift_frame(0.1, kernel="box")
    with pytest.raises(ValueError, match="outside"):
        shift_frame(0.1, x=(0.0, 2.0), z=(0.0, 0.0))


def test_drawn_bars_match_the_frame() -> None:
    f = shift_frame(0.9)
    line, cen, itv, los = draw_shift(demo_figure(SHIFT_FIGSIZE), f)
    np.testing.assert_allclose([p.get_height() for p in cen.containers[0]], f.bin_grad)
    np.testing.assert_allclose([p.get_height() for p in itv.containers[0]], f.interval_grad)
    assert "held" in cen.get_title() and "moving" in itv.get_title()
    assert line.get_xlabel() and los.get_xlabel() and cen.get_ylabel() and itv.get_ylabel()
    assert line.get_legend() is not None
    # the arrival lines are drawn in the loss panel
    xs = {round(float(ln.get_xdata()[0]), 9) for ln in los.lines if len(ln.get_xdata()) == 2}
    assert {D_INT, D_BIN} <= xs


def test_draw_on_given_axes() -> None:
    fig = demo_figure()
    axes = fig.subplots(2, 2).ravel()
    out = draw_shift(list(axes), shift_frame(0.1))
    assert out == list(axes)


def _zoomed_curve():
    p = SHIFT_DEFAULTS
    zoom = np.linspace(0.65, 0.8, 61)
    cur = gradient_change_curve(
        np.array(p["z"]), np.array(p["x"]), p["a"], p["b"], zoom, bandwidth=p["bandwidth"]
    )
    return zoom, cur


def test_binned_corner_is_half_a_bin_after_the_unbinned_one() -> None:
    """Fig. fig-shift-change's inset: the 16-bin gradient leaves rounding level half a bin
    ((b - a) / (2M) = 0.025) after the unbinned one, and both rise far above rounding."""
    zoom, cur = _zoomed_curve()
    assert cur.binned_arrival == pytest.approx(D_INT + 0.8 / 32)
    held_int = zoom <= cur.interval_arrival + 1e-12
    held_bin = zoom <= cur.binned_arrival + 1e-12
    assert cur.interval_change[held_int].max() < 1e-14
    assert cur.binned_change[held_bin].max() < 1e-14
    between = ~held_int & held_bin
    assert between.any() and cur.interval_change[between].min() > 1e-6
    assert cur.binned_change[~held_bin].min() > 1e-5


def test_change_inset_draws_the_curves_on_a_log_scale() -> None:
    zoom, cur = _zoomed_curve()
    fig = demo_figure()
    ax = fig.subplots()
    curves = {"unbinned": cur.interval_change, "binned": cur.binned_change}
    marks = {"[a, b]": cur.interval_arrival, "bin centre": cur.binned_arrival}
    plot_change_curves(ax, zoom, curves, marks)
    ins = plot_change_inset(ax, zoom, curves, marks)
    assert ins.get_yscale() == "log" and ins in ax.child_axes
    assert ins.get_xlabel() and ins.get_title()
    drawn = [ln.get_ydata() for ln in ins.lines if len(ln.get_ydata()) == zoom.size]
    assert len(drawn) == 2
    for ys, ref in zip(drawn, curves.values(), strict=True):
        np.testing.assert_array_equal(ys, np.maximum(ref, CHANGE_FLOOR))
    lo, hi = ins.get_ylim()
    assert lo < CHANGE_FLOOR and hi > cur.interval_change.max()
    assert "g_i" in ax.get_ylabel() and "Delta" not in ax.get_ylabel()


def test_change_inset_rejects_a_bad_floor() -> None:
    fig = demo_figure()
    with pytest.raises(ValueError, match=r"^floor:"):
        plot_change_inset(fig.subplots(), np.array([0.0, 1.0]), {}, floor=0.0)
