"""Execute a chapter with nbclient and find its live demos (``kdeloss.book.demos.LiveDemo``).

:func:`execute_chapter` runs a MyST chapter (cwd: its folder, as in the book build), with
optional extra cells at the end. :func:`live_outputs` returns each cell output that is a live
demo: the widget view for Jupyter beside the kernel-free ``text/html`` rendition the site
shows. :data:`DRIVE` is a cell that, in the chapter's kernel, sets every synced trait of
every live demo in the namespace to its own value changed a little and checks the state and
the rendition follow; it prints one JSON report line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

__all__ = ["DRIVE", "MARKER", "drive_report", "execute_chapter", "live_outputs"]

MARKER = "LIVE-DEMO-REPORT "
WIDGET = "application/vnd.jupyter.widget-view+json"

DRIVE = f"""
import json as _json
from kdeloss.book.demos import LiveDemo as _LiveDemo
_report = {{}}
for _name, _w in list(globals().items()):
    if isinstance(_w, _LiveDemo) and not _name.startswith("_"):
        _changed = []
        for _k, _v in _w.demo_state().items():
            if isinstance(_v, bool):
                _new = not _v
            elif isinstance(_v, int):
                _new = _v + 1
            elif isinstance(_v, float):
                _new = _v + 0.01
            else:
                continue
            setattr(_w, _k, _new)
            _ok = _w.demo_state()[_k] == _new and _json.dumps(_new) in _w.html()
            setattr(_w, _k, _v)
            _changed.append([_k, bool(_ok)])
        _report[_name] = _changed
print({MARKER!r} + _json.dumps(_report))
"""


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


def live_outputs(nb: nbformat.NotebookNode) -> list[dict]:
    """The data of every output that carries a live demo (widget view and html rendition)."""
    return [
        out["data"]
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if WIDGET in out.get("data", {}) and "mountStatic" in out["data"].get("text/html", "")
    ]


def drive_report(nb: nbformat.NotebookNode) -> dict:
    """The report :data:`DRIVE` printed: ``{variable: [[trait, followed], ...]}``."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text", "")
            if out.get("name") == "stdout" and MARKER in text:
                return json.loads(text.split(MARKER, 1)[1])
    raise AssertionError("the drive cell printed no report")
