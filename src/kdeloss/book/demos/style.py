"""How the chapters' static demo figures are drawn: the style, a figure, and its axes.

The live demos draw themselves in the browser (:mod:`kdeloss.book.demos.live`); the chapters'
static figures (one picture per setting, drawn at build time by ``draw_onehot``,
``draw_scale`` and ``draw_shift``) use these helpers.

Examples
--------
>>> fig = demo_figure()
>>> len(demo_axes(fig, 2))
2
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure, FigureBase

__all__ = ["DEMO_RC", "DPI", "FIGSIZE", "demo_axes", "demo_figure", "demo_style"]

#: Default figure size (inches) of a demo picture.
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
}


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
