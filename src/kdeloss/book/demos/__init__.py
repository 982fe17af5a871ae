"""Demos: live widgets that draw themselves in the browser, and the chapters' static pictures.

Each demo is a :class:`~kdeloss.book.demos.live.LiveDemo` (an ``anywidget``): one ES module, in
``kdeloss/book/demos/js``, computes with a port of kdeloss's log-space formulas and draws SVG. It
is the widget's view in Jupyter and JupyterLite, and the cell's ``text/html`` rendition mounts
the same module on the static site, with no kernel. The demos: :class:`OneHotDemo`,
:class:`ScaleDemo`, :class:`ShiftDemo`, :class:`RemedyDemo`, :class:`CircleDemo` and
:class:`AtWorkDemo`.

The pure ``*_frame`` functions compute what a chapter's static figure shows, and the
``draw_*`` functions draw it with matplotlib (:mod:`kdeloss.book.demos.style`).
"""

from .atwork import *  # noqa: F403
from .circle import *  # noqa: F403
from .live import *  # noqa: F403
from .onehot import *  # noqa: F403
from .remedy import *  # noqa: F403
from .scale import *  # noqa: F403
from .shift import *  # noqa: F403
from .style import *  # noqa: F403
