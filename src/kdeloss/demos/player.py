"""Kernel-free players and live widgets: the two faces of every demo in the book.

A demo is a function ``draw(fig, value)`` that draws one picture on a matplotlib
:class:`~matplotlib.figure.Figure`. The same callable feeds

- :func:`animation_html` / :func:`player`: a ``FuncAnimation`` rendered with ``to_jshtml``,
  a self-contained HTML player that steps through ``values`` in the browser with no kernel
  (for the static site). Every remote reference is stripped and the Font Awesome icons the
  player's buttons use are replaced by plain text glyphs, so it loads nothing from the web.
- :class:`DemoWidget`: the live ``ipywidgets`` demo for Jupyter. Each change of a control
  re-renders the picture into an :class:`ipywidgets.Output`; the widget exposes its
  ``controls`` (name -> widget) and a ``redraws`` counter so a headless test can set every
  control and check that the picture was redrawn.

Both render inside :func:`demo_style` and at the same size, so the player shows exactly the
pictures the widget would.

Examples
--------
>>> def draw(fig, value):
...     ax = fig.add_subplot()
...     ax.plot([0, 1], [0, value])
>>> html = animation_html(draw, [0.0, 0.5, 1.0])
>>> assert_offline(html)
>>> html.count("data:image/png;base64")
3
"""

from __future__ import annotations

import base64
import contextlib
import io
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import matplotlib as mpl
from IPython.display import HTML
from matplotlib.animation import FuncAnimation
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure, FigureBase
from PIL import Image

__all__ = [
    "DEMO_RC",
    "DPI",
    "FIGSIZE",
    "DemoWidget",
    "animation_html",
    "assert_offline",
    "demo_axes",
    "demo_figure",
    "demo_style",
    "player",
    "render_png",
    "strip_remote",
]

#: Default figure size (inches) of a demo picture: players and widgets alike.
FIGSIZE: tuple[float, float] = (5.0, 3.5)
#: Default resolution (dots per inch) of a demo picture.
DPI: int = 80

#: Matplotlib settings every demo picture is drawn with (small figures, white background).
DEMO_RC: dict[str, Any] = {
    "font.size": 8.0,
    "axes.titlesize": 8.5,
    "axes.labelsize": 8.0,
    "legend.fontsize": 7.0,
    "xtick.labelsize": 7.0,
    "ytick.labelsize": 7.0,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.dpi": "figure",
    "savefig.bbox": None,
    "animation.frame_format": "png",
}

# Plain-text stand-ins for the Font Awesome icons of matplotlib's jshtml template.
_ICONS: dict[str, str] = {
    "fa fa-minus": "&minus;",
    "fa fa-fast-backward": "|&#9664;&#9664;",
    "fa fa-step-backward": "|&#9664;",
    "fa fa-play fa-flip-horizontal": "&#9664;",
    "fa fa-pause": "||",
    "fa fa-play": "&#9654;",
    "fa fa-step-forward": "&#9654;|",
    "fa fa-fast-forward": "&#9654;&#9654;|",
    "fa fa-plus": "+",
}
_ICON_RE = re.compile(r'<i class="(fa [^"]*)"></i>')
_REMOTE_TAG_RE = re.compile(
    r"<link\b[^>]*\bhref=[\"']?(?:https?:)?//[^>]*>"
    r"|<script\b[^>]*\bsrc=[\"']?(?:https?:)?//[^>]*>\s*</script>",
    re.IGNORECASE,
)
# to_jshtml embeds each frame as a JavaScript string, base64 broken by backslash-newlines.
_FRAME_RE = re.compile(r"(data:image/png;base64,)([A-Za-z0-9+/=\\\n]+)")
_URL_RE = re.compile(r"https?://[^\s\"'<>)]*", re.IGNORECASE)


@contextlib.contextmanager
def demo_style() -> Iterator[None]:
    """Context in which demo pictures are drawn: :data:`DEMO_RC` on top of the current rc.

    Examples
    --------
    >>> with demo_style():
    ...     mpl.rcParams["font.size"]
    8.0
    """
    with mpl.rc_context(DEMO_RC):
        yield


def demo_figure(figsize: tuple[float, float] = FIGSIZE, dpi: float = DPI) -> Figure:
    """A white matplotlib figure with an Agg canvas, independent of ``pyplot``.

    Not registered with ``pyplot``, so it is never shown twice in a notebook and needs no
    ``plt.close``.

    Examples
    --------
    >>> fig = demo_figure()
    >>> fig.get_size_inches().tolist(), float(fig.dpi)
    ([5.0, 3.5], 80.0)
    """
    with demo_style():
        fig = Figure(figsize=figsize, dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def demo_axes(
    target: FigureBase | Axes | Sequence[Axes], n: int = 1, **subplots: Any
) -> list[Axes]:
    """The ``n`` axes a ``draw_<demo>`` function draws on.

    Parameters
    ----------
    target : Figure, SubFigure, Axes or sequence of Axes
        A figure (or subfigure) is cleared and given ``n`` new subplots (``subplots`` is passed to
        :meth:`~matplotlib.figure.Figure.subplots`, e.g. ``nrows``, ``ncols``,
        ``gridspec_kw``; by default one row). Axes are used as they are.
    n : int
        How many axes the demo needs.

    Returns
    -------
    list of Axes

    Raises
    ------
    ValueError
        If ``target`` holds a different number of axes than ``n``.

    Examples
    --------
    >>> fig = demo_figure()
    >>> len(demo_axes(fig, 2, nrows=2))
    2
    >>> demo_axes(fig.axes[0], 2)
    Traceback (most recent call last):
    ...
    ValueError: axes: this demo draws on 2 axes, got 1
    """
    if isinstance(target, FigureBase):
        target.clear()
        if isinstance(target, Figure):
            target.set_layout_engine("constrained")
        subplots.setdefault("squeeze", False)
        if "nrows" not in subplots and "ncols" not in subplots:
            subplots["ncols"] = n
        with demo_style():
            grid = target.subplots(**subplots)
        axes = list(grid.ravel())
    elif isinstance(target, Axes):
        axes = [target]
    else:
        axes = list(target)
    if len(axes) != n:
        raise ValueError(f"axes: this demo draws on {n} axes, got {len(axes)}")
    return axes


def render_png(
    draw: Callable[[Figure, Any], None],
    value: Any,
    *,
    figsize: tuple[float, float] = FIGSIZE,
    dpi: float = DPI,
) -> bytes:
    """Draw ``draw(fig, value)`` on a fresh demo figure and return it as PNG bytes.

    This is what :class:`DemoWidget` shows; :func:`animation_html` renders its frames the
    same way.

    Examples
    --------
    >>> png = render_png(lambda fig, v: fig.add_subplot().plot([0, v]), 1.0)
    >>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """
    fig = demo_figure(figsize, dpi)
    with demo_style():
        draw(fig, value)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def strip_remote(html: str) -> str:
    """Remove remote ``<link>``/``<script src>`` tags and replace Font Awesome icons by text.

    Matplotlib's ``to_jshtml`` links a Font Awesome stylesheet from a CDN for its button
    icons; without it the buttons would be blank, so each icon becomes a text glyph
    (the buttons keep their ``title`` and ``aria-label``).

    Examples
    --------
    >>> strip_remote('<link rel="stylesheet" href="https://cdn.example/x.css">'
    ...              '<button><i class="fa fa-play"></i></button>')
    '<button>&#9654;</button>'
    """
    html = _REMOTE_TAG_RE.sub("", html)
    return _ICON_RE.sub(lambda m: _ICONS.get(m.group(1), "&#8226;"), html)


def assert_offline(html: str) -> None:
    """Raise :class:`ValueError` if ``html`` still refers to anything over ``http(s)``.

    Examples
    --------
    >>> assert_offline("<p>no links</p>")
    >>> assert_offline('<img src="https://example.org/a.png">')
    Traceback (most recent call last):
    ...
    ValueError: html: remote reference(s) left: https://example.org/a.png
    """
    found = _URL_RE.findall(html)
    if found:
        raise ValueError(f"html: remote reference(s) left: {', '.join(sorted(set(found)))}")


def animation_html(
    draw: Callable[[Figure, float], None],
    values: Sequence[float],
    *,
    figsize: tuple[float, float] = FIGSIZE,
    dpi: float = DPI,
    interval: int = 200,
    alt: str | None = None,
    colors: int | None = 256,
) -> str:
    """A self-contained HTML player: one frame ``draw(fig, v)`` per ``v`` in ``values``.

    Builds a :class:`~matplotlib.animation.FuncAnimation` that clears the figure and calls
    ``draw(fig, v)`` for each value, renders it with ``to_jshtml`` (frames embedded as PNG),
    strips every remote reference (:func:`strip_remote`) and checks none is left
    (:func:`assert_offline`). The figure is closed afterwards.

    Parameters
    ----------
    draw : callable ``(Figure, value) -> None``
        Draws one picture on an empty figure; the same callable the widget uses.
    values : sequence
        The swept parameter, one frame each (about 30 keeps a 5 x 3.5 in, 80 dpi player
        under 1 MB).
    figsize, dpi
        Figure size in inches and resolution.
    interval : int
        Milliseconds between frames when playing.
    alt : str, optional
        Alternative text for the player's image.
    colors : int or None
        Re-encode each frame as a palette PNG with at most this many colours (2 to 256;
        median cut, no dithering), which makes the player about three times smaller and
        looks the same for line art; ``None`` keeps matplotlib's RGBA frames.

    Returns
    -------
    str
        HTML with inline JavaScript; no ``http://`` or ``https://`` left.

    Raises
    ------
    ValueError
        If ``values`` is empty.

    Examples
    --------
    >>> html = animation_html(lambda fig, v: fig.add_subplot().set_title(f"{v}"), [1, 2],
    ...                       alt="two titles")
    >>> 'alt="two titles"' in html, "https" in html
    (True, False)
    """
    values = list(values)
    if not values:
        raise ValueError("values: expected at least one value to animate")
    fig = demo_figure(figsize, dpi)

    def frame(i: int) -> list:
        fig.clear()
        draw(fig, values[i])
        return []

    with demo_style():
        anim = FuncAnimation(
            fig,
            frame,
            frames=len(values),
            init_func=lambda: [],
            interval=interval,
            repeat=True,
            cache_frame_data=False,
        )
        html = anim.to_jshtml(default_mode="once")
    fig.clear()
    if colors is not None:
        html = _FRAME_RE.sub(lambda m: m.group(1) + _palette_png(m.group(2), colors), html)
    html = strip_remote(html)
    if alt is None:
        alt = "An animated demo; the buttons below play it or step through its frames."
    escaped = (alt.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")).replace(
        ">", "&gt;"
    )
    html = html.replace('<img id="_anim_img', f'<img alt="{escaped}" id="_anim_img', 1)
    # the frame slider needs an accessible name (axe: "form elements must have labels")
    html = html.replace(
        'type="range" class="anim-slider"', 'type="range" aria-label="Frame" class="anim-slider"'
    )
    assert_offline(html)
    return html


def _palette_png(b64: str, colors: int) -> str:
    """Re-encode a base64 PNG as a palette PNG of at most ``colors`` colours."""
    if not 2 <= colors <= 256:
        raise ValueError(f"colors: expected 2 to 256 colours or None, got {colors!r}")
    raw = base64.b64decode(b64.replace("\\\n", ""))
    with Image.open(io.BytesIO(raw)) as im:
        pal = im.convert("RGB").quantize(
            colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    buf = io.BytesIO()
    pal.save(buf, format="png", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def player(draw: Callable[[Figure, float], None], values: Sequence[float], **kw: Any) -> HTML:
    """:func:`animation_html` wrapped for display in a notebook (an ``IPython`` HTML object).

    Examples
    --------
    >>> p = player(lambda fig, v: fig.add_subplot().plot([0, v]), [0.0, 1.0])
    >>> "anim-buttons" in p.data
    True
    """
    return HTML(animation_html(draw, values, **kw))


def _png_output(png: bytes, alt: str) -> dict[str, Any]:
    return {
        "output_type": "display_data",
        "data": {
            "image/png": base64.b64encode(png).decode("ascii"),
            "text/plain": f"<{alt}>",
        },
        "metadata": {},
    }


class DemoWidget(widgets.VBox):
    """A live demo: controls above a picture that is redrawn whenever a control changes.

    Parameters
    ----------
    controls : mapping of str to ipywidgets value widgets
        The controls, by parameter name; their ``value`` is passed to ``draw``.
    draw : callable ``(Figure, dict) -> None``
        Draws one picture from the current ``{name: value}`` of all controls.
    figsize, dpi
        As in :func:`animation_html` (the same defaults, so the pictures match the player).
    alt : str
        Text shown in place of the picture where images are not rendered.

    Attributes
    ----------
    controls : dict of str to Widget
        The controls, by name (a test sets each one and checks :attr:`redraws`).
    redraws : int
        How many times the picture has been drawn (1 after construction).
    output : ipywidgets.Output
        Holds the current picture as a PNG ``display_data`` output.

    Examples
    --------
    >>> import ipywidgets as widgets
    >>> slider = widgets.FloatSlider(value=1.0, min=0.0, max=2.0)
    >>> w = DemoWidget({"v": slider}, lambda fig, p: fig.add_subplot().plot([0, p["v"]]))
    >>> w.redraws, w.params
    (1, {'v': 1.0})
    >>> slider.value = 2.0
    >>> w.redraws
    2
    """

    def __init__(
        self,
        controls: Mapping[str, widgets.ValueWidget],
        draw: Callable[[Figure, dict[str, Any]], None],
        *,
        figsize: tuple[float, float] = FIGSIZE,
        dpi: float = DPI,
        alt: str = "demo figure",
    ) -> None:
        self.controls: dict[str, widgets.ValueWidget] = dict(controls)
        self.redraws = 0
        self._draw = draw
        self._figsize = figsize
        self._dpi = dpi
        self._alt = alt
        self.output = widgets.Output(layout=widgets.Layout(min_height=f"{figsize[1] * dpi}px"))
        box = widgets.VBox(list(self.controls.values()))
        super().__init__([box, self.output])
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.redraw()

    @property
    def params(self) -> dict[str, Any]:
        """The current value of every control, by name."""
        return {name: c.value for name, c in self.controls.items()}

    def _on_change(self, _change: Mapping[str, Any]) -> None:
        self.redraw()

    def redraw(self) -> None:
        """Draw the picture for the current control values into :attr:`output`."""
        png = render_png(self._draw, self.params, figsize=self._figsize, dpi=self._dpi)
        self.output.outputs = (_png_output(png, self._alt),)
        self.redraws += 1
