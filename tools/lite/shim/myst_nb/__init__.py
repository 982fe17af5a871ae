"""A stand-in for MyST-NB in the in-browser kernel (JupyterLite), where MyST-NB is not installed.

The chapters call ``myst_nb.glue(name, value, display=...)`` so that the book build can put a
computed value into the text. In a live notebook there is no text to put it into: this
``glue`` shows the value when ``display`` is true, as MyST-NB does, and otherwise does nothing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["glue"]


def glue(name: str, variable: Any, display: bool = True) -> None:
    """Show ``variable`` if ``display`` is true; ``name`` only matters to the book build."""
    if display:
        from IPython.display import display as show

        show(variable)
