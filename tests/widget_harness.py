"""Reusable test helpers for demo chapters: execute a chapter, then drive its live widgets.

A demo widget (``kdeloss.demos.DemoWidget`` or anything shaped like it) has

- ``.controls``: a dict ``name -> ipywidgets value widget``;
- ``.redraws``: an int that grows by one each time the picture is redrawn;
- ``.output``: an ``ipywidgets.Output`` holding the picture (optional here).

:func:`run_chapter_widgets` converts a MyST chapter with jupytext, executes it with nbclient
(working directory: the chapter's folder, as in the book build), and then, in the same
kernel, runs one appended cell that sets every control of every named widget to a new value
and records whether the widget redrew. Use it from a test like this::

    from widget_harness import run_chapter_widgets

    def test_my_chapter_widgets():
        report = run_chapter_widgets(BOOK / "my-chapter.md", ["my_widget"])
        assert_every_control_redrew(report)

:func:`player_frames` and :func:`widget_picture` decode what a player and a widget show,
so a test can compare the two.
"""

from __future__ import annotations

import base64
import inspect
import io
import json
import re
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jupytext
import nbformat
import numpy as np
from nbclient import NotebookClient
from PIL import Image

__all__ = [
    "assert_every_control_redrew",
    "execute_chapter",
    "exercise_widgets",
    "player_frames",
    "run_chapter_widgets",
    "widget_picture",
]

MARKER = "WIDGET-HARNESS-REPORT "
_FRAME_RE = re.compile(r'data:image/png;base64,((?:[A-Za-z0-9+/=]|\\\n)+)"')


def player_frames(html: str) -> list[np.ndarray]:
    """Decode every frame embedded in a ``to_jshtml`` player to an RGB array."""
    out = []
    for b64 in _FRAME_RE.findall(html):
        raw = base64.b64decode(b64.replace("\\\n", ""))
        with Image.open(io.BytesIO(raw)) as im:
            out.append(np.asarray(im.convert("RGB")))
    return out


def widget_picture(widget: Any) -> np.ndarray:
    """The picture a ``DemoWidget`` currently shows, as an RGB array."""
    png = base64.b64decode(widget.output.outputs[0]["data"]["image/png"])
    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im.convert("RGB"))


def exercise_widgets(namespace: dict, names: Sequence[str]) -> dict:
    """Set every control of every widget ``namespace[name]`` once; report what happened.

    Runs inside the chapter's kernel (its source is sent there by
    :func:`run_chapter_widgets`), so it imports what it needs itself.

    Returns ``{widget: {control: {"old", "new", "before", "after", "picture_changed"}},
    "_unlisted": [...]}``, where ``before``/``after`` are the widget's ``redraws`` around the
    change and ``_unlisted`` names any other variable that looks like a demo widget.
    """
    import math

    def pictures(w: Any) -> Any:
        out = getattr(w, "output", None)
        try:
            return [o.get("data", {}).get("image/png") for o in out.outputs]
        except AttributeError:
            return None

    def change(c: Any) -> tuple[Any, Any]:
        old = c.value
        if hasattr(c, "options") and hasattr(c, "index"):
            c.index = (c.index + 1) % len(c.options)
        elif isinstance(old, bool):
            c.value = not old
        elif hasattr(c, "base") and hasattr(c, "min") and hasattr(c, "max"):  # log slider
            hi, lo = c.base**c.max, c.base**c.min
            c.value = hi if not math.isclose(old, hi) else lo
        elif isinstance(old, tuple) and hasattr(c, "min"):  # range slider
            c.value = (c.min, c.max) if old != (c.min, c.max) else (c.min, c.min)
        elif hasattr(c, "min") and hasattr(c, "max"):
            c.value = c.max if old != c.max else c.min
        elif isinstance(old, int | float):
            c.value = old + 1
        elif isinstance(old, str):
            c.value = old + "x"
        else:
            raise TypeError(f"do not know how to change a {type(c).__name__}")
        return old, c.value

    def jsonable(v: Any) -> Any:
        return v if isinstance(v, int | float | str | bool | type(None)) else repr(v)

    report: dict = {}
    for name in names:
        w = namespace[name]
        if not (hasattr(w, "controls") and hasattr(w, "redraws")):
            raise TypeError(f"{name} has no .controls/.redraws: not a demo widget")
        if not w.controls:
            raise ValueError(f"{name} has no controls")
        rows = {}
        for cname, c in w.controls.items():
            before, pics = w.redraws, pictures(w)
            old, new = change(c)
            rows[cname] = {
                "old": jsonable(old),
                "new": jsonable(new),
                "before": before,
                "after": w.redraws,
                "picture_changed": None if pics is None else pictures(w) != pics,
            }
        report[name] = rows
    unlisted = []
    for key, value in namespace.items():
        if key.startswith("_") or key in names or isinstance(value, type):
            continue
        try:
            if isinstance(value.controls, dict) and isinstance(value.redraws, int):
                unlisted.append(key)
        except Exception:
            continue
    report["_unlisted"] = sorted(unlisted)
    return report


def execute_chapter(
    chapter: Path, extra_cells: Sequence[str] = (), *, timeout: int = 600
) -> nbformat.NotebookNode:
    """Execute a MyST chapter (plus ``extra_cells`` at the end) with nbclient, cwd its folder.

    Raises nbclient's ``CellExecutionError`` if any cell fails.
    """
    chapter = Path(chapter)
    nb = jupytext.read(chapter)
    for source in extra_cells:
        nb.cells.append(nbformat.v4.new_code_cell(source))
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(chapter.parent)}},
    )
    client.execute()
    return nb


def run_chapter_widgets(chapter: Path, widget_names: Sequence[str], *, timeout: int = 600) -> dict:
    """Execute ``chapter``, then set every control of each named widget in the same kernel.

    Returns the report of :func:`exercise_widgets`, plus ``"_notebook"``: the executed
    notebook (to check its other outputs).
    """
    source = "\n\n".join(
        [
            "from __future__ import annotations",
            textwrap.dedent(inspect.getsource(exercise_widgets)),
            "import json as _harness_json",
            f"print({MARKER!r} + _harness_json.dumps("
            f"exercise_widgets(globals(), {list(widget_names)!r})))",
        ]
    )
    nb = execute_chapter(chapter, [source], timeout=timeout)
    text = "".join(
        o.get("text", "") for o in nb.cells[-1].outputs if o.get("output_type") == "stream"
    )
    line = next(ln for ln in text.splitlines() if ln.startswith(MARKER))
    report = json.loads(line[len(MARKER) :])
    nb.cells.pop()  # the harness cell is not part of the chapter
    report["_notebook"] = nb
    return report


def assert_every_control_redrew(report: dict, *, picture_must_change: bool = True) -> None:
    """Fail unless every control of every widget in ``report`` caused a redraw.

    Also fails if the chapter holds a demo widget that was not listed, and (by default) if a
    control left the picture unchanged.
    """
    assert not report["_unlisted"], f"widgets not exercised: {report['_unlisted']}"
    widgets = {k: v for k, v in report.items() if not k.startswith("_")}
    assert widgets, "no widget was exercised"
    for name, rows in widgets.items():
        for cname, row in rows.items():
            assert row["new"] != row["old"], f"{name}.{cname}: value did not change"
            assert row["after"] > row["before"], f"{name}.{cname}: no redraw ({row})"
            if picture_must_change and row["picture_changed"] is not None:
                assert row["picture_changed"], f"{name}.{cname}: picture did not change"
