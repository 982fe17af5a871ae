"""The chapters as the strict build executed them: read, never executed again.

``make test`` builds the book first, and the build executes every chapter once (myst-nb,
``execute_notebooks: cache``), keeping the outputs in its execution cache
(``_build/.jupyter_cache``) and the glued values in
``_build/jupyter_execute/book/<chapter>.glue.json``. The chapter tests read those, so a
chapter runs once per ``make test``:

- :func:`built_notebook` and :func:`glued` give a chapter's executed cells and glued values
  (the numbers the prose quotes);
- :func:`live_outputs` finds its live demos (the widget view beside the kernel-free
  ``text/html`` rendition the site shows), :func:`demo_from_output` rebuilds the demo from
  that rendition's state, and :func:`drive` moves every synced trait of it in this process
  and checks that its state and its rendition follow;
- :func:`execution_seconds` is the time the build spent executing a chapter (from the
  execution cache).

Without a built book the tests skip with a message saying what to run (``make book``),
except under CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path
from typing import Any

import nbformat
import pytest

__all__ = [
    "EXECUTED",
    "built_notebook",
    "demo_from_output",
    "drive",
    "execution_seconds",
    "glued",
    "live_outputs",
    "stderr_outputs",
]

ROOT = Path(__file__).resolve().parents[1]
EXECUTED = ROOT / "_build" / "jupyter_execute" / "book"
CACHE = ROOT / "_build" / ".jupyter_cache"
WIDGET = "application/vnd.jupyter.widget-view+json"


def _require(path: Path) -> None:
    if path.exists():
        return
    msg = f"the chapter tests read the built book ({path} is missing): run `make book` first"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg)
    pytest.skip(msg)


def built_notebook(chapter: str) -> nbformat.NotebookNode:
    """The executed notebook of ``book/<chapter>.md``: the cells as they are now, with the
    outputs the build's execution cache holds for them (the cache matches cells by their
    code, as the build does, so an outdated cache is an error here too).

    Read from the cache, not from ``_build/jupyter_execute``: myst-nb 1.4 writes the copy
    there without outputs when it takes them from the cache.
    """
    import jupytext
    from jupyter_cache import get_cache

    _require(CACHE)
    source = ROOT / "book" / f"{chapter}.md"
    try:
        _, nb = get_cache(str(CACHE)).merge_match_into_notebook(jupytext.read(source))
    except KeyError:
        msg = f"the execution cache has no run of the current {source}: run `make book`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return nb


def glued(chapter: str) -> dict[str, Any]:
    """The values ``book/<chapter>.md`` glues, as Python values where they are literals
    (numbers, tuples, lists), else as the text the page shows."""
    path = EXECUTED / f"{chapter}.glue.json"
    _require(path)
    out: dict[str, Any] = {}
    for key, value in json.loads(path.read_text()).items():
        text = value.get("data", {}).get("text/plain", "")
        text = re.sub(r"np\.(?:float64|int64|bool_?)\((.*?)\)", r"\1", text)
        try:
            out[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            out[key] = text.strip("'\"")
    return out


def stderr_outputs(nb: nbformat.NotebookNode) -> list[str]:
    """Everything the chapter's cells wrote to stderr (the strict build allows none)."""
    return [
        o.get("text", "")
        for cell in nb.cells
        for o in cell.get("outputs", [])
        if o.get("output_type") == "stream" and o.get("name") == "stderr"
    ]


def live_outputs(nb: nbformat.NotebookNode) -> list[dict]:
    """The data of every output that carries a live demo (widget view and html rendition)."""
    return [
        out["data"]
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if WIDGET in out.get("data", {}) and "mountStatic" in out["data"].get("text/html", "")
    ]


def _script_value(html: str, name: str) -> Any:
    found = re.search(rf"^const {name} = (.*);$", html, flags=re.M)
    assert found, f"the rendition has no `const {name}`"
    return json.loads(found.group(1))


def demo_from_output(data: dict) -> Any:
    """The live demo an output shows, rebuilt from its rendition: the class whose module
    the page embeds, with the state the page mounts."""
    from kdeloss.book import demos
    from kdeloss.book.demos import live

    html = data["text/html"]
    src, state = _script_value(html, "src"), _script_value(html, "state")
    # the demos the package exports, by name: a module imported twice in one test session
    # (doctests) leaves two class objects behind, so subclasses are not looked up
    classes = {
        c
        for c in vars(demos).values()
        if isinstance(c, type) and issubclass(c, live.LiveDemo) and c._module
    }
    (cls,) = [c for c in classes if live.demo_module(c._module) == src]
    demo = cls(**state)
    assert demo.demo_state() == state, "the rebuilt demo does not have the page's state"
    return demo


def drive(demo: Any) -> list[tuple[str, bool]]:
    """Set every synced trait of ``demo`` to its own value changed a little, and report
    whether its state and its ``text/html`` rendition followed; the value is restored."""
    report = []
    for key, value in demo.demo_state().items():
        if isinstance(value, bool):
            new: Any = not value
        elif isinstance(value, int):
            new = value + 1
        elif isinstance(value, float):
            new = value + 0.01
        else:
            continue
        setattr(demo, key, new)
        ok = demo.demo_state()[key] == new and json.dumps(new) in demo.html()
        setattr(demo, key, value)
        report.append((key, bool(ok)))
    return report


def execution_seconds(chapter: str) -> float:
    """How long the build took to execute ``book/<chapter>.md`` (from the execution cache)."""
    _require(CACHE)
    from jupyter_cache import get_cache

    source = (ROOT / "book" / f"{chapter}.md").resolve()
    for record in get_cache(str(CACHE)).list_cache_records():
        if Path(record.uri).resolve() == source:
            return float(record.data["execution_seconds"])
    raise AssertionError(f"the execution cache has no record of {source}")
