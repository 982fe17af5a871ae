"""The shift demo (kdeloss.book.demos.shift): it holds still exactly as the theorems say."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kdeloss.book.demos import (
    SHIFT_DEFAULTS,
    SHIFT_FIGSIZE,
    demo_figure,
    draw_shift,
    shift_frame,
)

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
