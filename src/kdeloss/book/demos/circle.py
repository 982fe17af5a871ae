"""The circle demo: move points around the circle and see when the gradient holds still.

Points on the circle (angles), the wrapped Laplace kernel (:class:`kdeloss.WrappedLaplace`)
and a target arc ``[-w, w]``. Every point moves toward the arc's centre along its shorter arc
by ``delta``. The whole-arc gradient holds still while the arc is shorter than a half-turn, no
point lies on the arc or on its antipodal arc ``[pi - w, pi + w]``, and no point has reached a
bin (:func:`kdeloss.book.circle.arc_margins`); the demo shows when each condition breaks.

Examples
--------
>>> w = CircleDemo()
>>> w.theta, w.w, len(w.x0)
(2.4, 0.5, 5)
"""

from __future__ import annotations

import traitlets

from ..circle import CIRCLE_DEFAULTS
from .live import LiveDemo

__all__ = ["CircleDemo"]


class CircleDemo(LiveDemo):
    """The live circle demo (an anywidget).

    Parameters
    ----------
    **traits
        Initial ``delta`` (0 to 1.5), ``theta`` (the last point's angle), ``w`` (the arc is
        ``[-w, w]``, 0.1 to 2), ``h`` (0.2 to 1.5), ``bins`` (2 to 128); fixed ``x0`` (the
        last entry is replaced by ``theta``) and ``z`` (default: the chapter's
        ``CIRCLE_DEFAULTS``).

    Examples
    --------
    >>> CircleDemo(theta=2.9).demo_state()["theta"]
    2.9
    """

    _module = "circle"
    delta = traitlets.Float(0.0).tag(sync=True)
    theta = traitlets.Float(float(CIRCLE_DEFAULTS["x"][-1])).tag(sync=True)  # type: ignore[index]
    w = traitlets.Float(0.5).tag(sync=True)
    h = traitlets.Float(float(CIRCLE_DEFAULTS["bandwidth"])).tag(sync=True)  # type: ignore[arg-type]
    bins = traitlets.Int(64).tag(sync=True)
    x0 = traitlets.List(traitlets.Float(), list(CIRCLE_DEFAULTS["x"])).tag(sync=True)  # type: ignore[call-overload]
    z = traitlets.List(traitlets.Float(), list(CIRCLE_DEFAULTS["z"])).tag(sync=True)  # type: ignore[call-overload]
