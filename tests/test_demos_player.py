"""The demo conventions: offline jshtml players and live widgets with controls and redraws."""

from __future__ import annotations

import io

import ipywidgets as widgets
import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image
from widget_harness import player_frames

from kdeloss.demos import (
    DEMO_RC,
    DemoWidget,
    animation_html,
    assert_offline,
    demo_axes,
    demo_figure,
    player,
    render_png,
    strip_remote,
)


def line_draw(calls: list):
    def draw(fig: Figure, value: float) -> None:
        calls.append(value)
        ax = fig.add_subplot()
        ax.plot([0.0, 1.0], [0.0, value], color="#0072B2", lw=3)
        ax.set_ylim(-1.0, 1.0)

    return draw


def test_one_frame_per_value_and_no_remote_reference() -> None:
    calls: list = []
    values = [-1.0, -0.5, 0.0, 0.5, 1.0]
    html = animation_html(line_draw(calls), values)
    frames = player_frames(html)
    assert len(frames) == len(values)
    # Each value was drawn (FuncAnimation may draw the first frame more than once).
    assert set(values) <= set(calls)
    assert "http://" not in html and "https://" not in html
    assert "<link" not in html and "font-awesome" not in html
    assert 'class="fa' not in html  # icons replaced by text glyphs
    assert_offline(html)
    # The frames differ: the player moves.
    assert all(not np.array_equal(f, frames[0]) for f in frames[1:])


def test_frames_have_the_requested_size_and_white_background() -> None:
    html = animation_html(line_draw([]), [0.0, 1.0], figsize=(4.0, 2.5), dpi=40)
    for f in player_frames(html):
        assert f.shape == (100, 160, 3)
        assert tuple(f[0, 0]) == (255, 255, 255)


def test_player_frames_are_the_widget_pictures() -> None:
    """The same draw callable gives the same picture in the player and in the widget."""
    draw = line_draw([])
    html = animation_html(draw, [0.25, 0.75], colors=None)
    played = player_frames(html)
    for value, frame in zip([0.25, 0.75], played, strict=True):
        with Image.open(io.BytesIO(render_png(draw, value))) as im:
            shown = np.asarray(im.convert("RGB"))
        assert shown.shape == frame.shape
        assert np.abs(shown.astype(int) - frame.astype(int)).max() <= 2


def test_palette_frames_look_the_same() -> None:
    draw = line_draw([])
    exact = player_frames(animation_html(draw, [0.3], colors=None))[0].astype(int)
    small = player_frames(animation_html(draw, [0.3], colors=256))[0].astype(int)
    assert np.abs(exact - small).mean() < 1.0


def test_player_returns_displayable_html() -> None:
    p = player(line_draw([]), [0.0, 1.0], alt="a line")
    assert 'alt="a line"' in p.data
    assert "anim-buttons" in p.data and 'title="Next frame"' in p.data


def test_animation_html_rejects_no_values_and_bad_colours() -> None:
    with pytest.raises(ValueError, match="values"):
        animation_html(line_draw([]), [])
    with pytest.raises(ValueError, match="colors"):
        animation_html(line_draw([]), [0.0], colors=1)


def test_strip_and_assert_offline() -> None:
    html = (
        '<link rel="stylesheet" href="https://cdn.example/fa.css">'
        '<script src="http://cdn.example/x.js"></script>'
        '<button title="Play"><i class="fa fa-play"></i></button>'
    )
    with pytest.raises(ValueError, match="remote reference"):
        assert_offline(html)
    clean = strip_remote(html)
    assert_offline(clean)
    assert clean == '<button title="Play">&#9654;</button>'


def test_demo_figure_and_axes() -> None:
    fig = demo_figure((3.0, 2.0), 100)
    assert fig.get_facecolor()[:3] == (1.0, 1.0, 1.0)
    assert len(demo_axes(fig, 3, nrows=3)) == 3
    axes = fig.axes
    assert demo_axes(axes, 3) == axes
    with pytest.raises(ValueError, match="3 axes"):
        demo_axes(axes[:2], 3)
    assert DEMO_RC["savefig.facecolor"] == "white"


def test_demo_widget_redraws_on_every_control() -> None:
    seen: list[dict] = []

    def draw(fig: Figure, params: dict) -> None:
        seen.append(dict(params))
        fig.add_subplot().plot([0, params["a"]], [0, params["b"]])

    controls = {
        "a": widgets.FloatSlider(value=0.0, min=0.0, max=1.0),
        "b": widgets.IntSlider(value=1, min=0, max=3),
        "k": widgets.Dropdown(options=["x", "y"], value="x"),
    }
    w = DemoWidget(controls, draw, figsize=(2.0, 1.5), dpi=40)
    assert w.redraws == 1 and w.controls == controls
    first = w.output.outputs[0]["data"]["image/png"]
    controls["a"].value = 1.0
    controls["b"].value = 3
    controls["k"].value = "y"
    assert w.redraws == 4
    assert seen[-1] == {"a": 1.0, "b": 3, "k": "y"}
    assert len(w.output.outputs) == 1
    assert w.output.outputs[0]["data"]["image/png"] != first
    assert isinstance(w, widgets.Widget)


def test_player_is_accessible_by_default() -> None:
    """Every player has alt text and a labelled frame slider, even when no alt is given."""
    html = animation_html(line_draw([]), [0.0, 1.0])
    assert 'alt="An animated demo' in html
    assert 'type="range" aria-label="Frame"' in html
