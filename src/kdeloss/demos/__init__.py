"""Demos: pure functions from parameters to the data to draw, and functions that draw it.

Each demo module has the same shape:

- ``<demo>_frame(...)``: a pure function from the demo's parameters to a frozen dataclass of
  everything that is drawn (tested without matplotlib);
- ``draw_<demo>(axes, frame)``: draws a frame on matplotlib axes;
- ``<demo>_widget(...)``: the live ``ipywidgets`` demo for Jupyter;
- ``<demo>_player(...)``: a kernel-free HTML player sweeping the main parameter, for the
  static site (:mod:`kdeloss.demos.player`).
"""

from .circle import *  # noqa: F403
from .live import *  # noqa: F403
from .onehot import *  # noqa: F403
from .player import *  # noqa: F403
from .remedy import *  # noqa: F403
from .scale import *  # noqa: F403
from .shift import *  # noqa: F403
