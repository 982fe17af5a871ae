"""Local Sphinx extension: every notebook chapter also runs in the browser, with JupyterLite.

``make book`` builds the wheels the in-browser kernel needs (``tools/lite/build_wheels.py``)
and names their folder in ``KDELOSS_LITE_WHEELS``. When that variable is set, this extension

- loads ``jupyterlite_sphinx`` and configures it: its ``jupyter lite build`` runs when the
  Sphinx build has finished and writes the JupyterLite site to ``_build/html/lite`` (no source
  maps, no unused shared packages, only the Pyodide kernel, the widget manager and anywidget,
  for the live demos, as extensions; ``tools/lite/jupyter_lite_config.json`` plus the paths
  added here), with the wheels as ``PipliteAddon.piplite_urls``;
- writes each notebook page (a ``.md`` with a ``kernelspec``) as ``<name>.ipynb`` into the lite
  contents, made by jupytext from the ``.md``: the chapter's own cells, unchanged, after one
  first cell that installs ``kdeloss`` (and ``kdeloss-lite``, a stand-in for ``myst_nb.glue``)
  with ``%pip`` from the wheels shipped with the site;
- puts a "Try it in your browser" link under the title of each of those pages. It says that it
  downloads the Python runtime; it is a plain link to ``lite/notebooks/``, so nothing is
  fetched until the reader follows it, and the page itself loads nothing from other hosts
  (the remote web font that ``jupyterlite_sphinx`` adds to every page is dropped);
- checks, when the build has finished, that the lite site is there with every notebook and
  wheel and without source maps, and logs its size.

jupyterlite_sphinx's build is run from ``_build/lite-cache`` rather than the repository, so
doit's task database stays out of the work tree (see ``_run_lite_build``).

Why not ``jupyterlite_sphinx``'s own ``notebooklite`` directive (checked against 0.23.0)? It
does convert a ``.md`` chapter with jupytext and can draw a new-tab button, which would
replace the conversion and the link here (about 40 lines), but it cannot add the first cell
that installs ``kdeloss`` from the shipped wheels (it can only strip tagged cells, so that
cell would have to live, hidden, in every chapter's source), it writes the converted
notebooks into the source tree (``jupyterlite_content_dir``), and it would be one more
directive to keep in every chapter. The build orchestration, the wheels, the offline fixes
and the checks would stay as they are, so this extension keeps doing all of it.

Without ``KDELOSS_LITE_WHEELS`` (a plain ``jupyter-book build``, the tiny books of
``tests/test_build_strict.py``) it does nothing, so those builds stay fast and offline.
Pyodide itself is never part of the site: the kernel loads it from its CDN when launched.
"""

from __future__ import annotations

import json
import os
import posixpath
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jupytext
import nbformat
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

ENV_WHEELS = "KDELOSS_LITE_WHEELS"
ROOT = Path(__file__).resolve().parents[2]
LITE_DIR = ROOT / "tools" / "lite"
STATIC = LITE_DIR / "static"
#: where jupyterlite_sphinx writes the lite site, under the HTML output (its fixed choice)
LITE_OUT = "lite"
#: the JupyterLite app that opens one notebook
APP = "notebooks"
#: the federated JupyterLab extensions the lite site ships (nothing else from sys.prefix)
LAB_EXTENSIONS = (
    "@jupyterlite/pyodide-kernel-extension",
    "@jupyter-widgets/jupyterlab-manager",
    "anywidget",
)
#: the first cell of every lite notebook (the pyodide kernel turns %pip into piplite)
SETUP_TAG = "lite-setup"
PIP_LINE = "%pip install -q kdeloss[book] kdeloss-lite"
SETUP_SOURCE = (
    "# Only in JupyterLite (this notebook runs in your browser, on Pyodide): install kdeloss,\n"
    "# which comes with the book's site, and a stand-in for myst_nb.glue, which the book uses\n"
    "# to put computed numbers into its text. NumPy, SciPy, SymPy and Matplotlib come from\n"
    "# Pyodide. Run this cell first; the cells after it are the chapter's own.\n"
    f"{PIP_LINE}"
)
KERNELSPEC = {"name": "python", "display_name": "Python (Pyodide)", "language": "python"}
#: what the reader is told before pressing the button
RUNTIME_NOTE = (
    "Opens this chapter as a live notebook in JupyterLite, in a new tab, so you can run the "
    "code and drag the widgets without installing anything. It downloads the Python runtime "
    "(Pyodide, with NumPy, SciPy, SymPy and Matplotlib: about 40 MB) from the jsDelivr CDN. "
    "Until you press it, this page loads nothing from other sites."
)


def _enabled() -> bool:
    return bool(os.environ.get(ENV_WHEELS, "").strip())


def _build_dir(app: Sphinx) -> Path:
    """``<OUTDIR>/_build``: the HTML output is its ``html`` folder."""
    return Path(app.outdir).parent


def _wheels() -> Path:
    wheels = Path(os.environ[ENV_WHEELS]).resolve()
    if not list(wheels.glob("kdeloss-*-py3-none-any.whl")):
        raise ExtensionError(
            f"lite: no kdeloss wheel in {ENV_WHEELS}={wheels}; "
            "`make book` builds it with tools/lite/build_wheels.py"
        )
    return wheels


def configure(app: Sphinx, config: Config) -> None:
    """Point jupyterlite_sphinx at tools/lite, the wheels and folders under _build."""
    build = _build_dir(app)
    lite_config = json.loads((LITE_DIR / "jupyter_lite_config.json").read_text())
    lite_config.setdefault("LiteBuildConfig", {}).update(
        cache_dir=str(build / "lite-cache"),
        federated_extensions=[
            str(Path(sys.prefix) / "share" / "jupyter" / "labextensions" / name)
            for name in LAB_EXTENSIONS
        ],
    )
    lite_config.setdefault("PipliteAddon", {})["piplite_urls"] = [str(_wheels())]
    generated = build / "lite-config" / "jupyter_lite_config.json"
    generated.parent.mkdir(parents=True, exist_ok=True)
    generated.write_text(json.dumps(lite_config, indent=2) + "\n")

    config.jupyterlite_dir = str(LITE_DIR)
    config.jupyterlite_config = str(generated)
    # absolute, so it lands under _build (jupyterlite_sphinx empties it at config-inited)
    config.jupyterlite_content_dir = str(build / "lite-contents")
    config.jupyterlite_bind_ipynb_suffix = False
    # the lite build's log goes into the book's build log (silenced, a failure loses it)
    config.jupyterlite_silence = False
    config.html_static_path = [*config.html_static_path, str(STATIC)]


def _is_notebook(path: Path) -> bool:
    if path.suffix == ".ipynb":
        return True
    if path.suffix != ".md":
        return False
    return "kernelspec" in jupytext.read(path).metadata


def lite_notebooks(app: Sphinx) -> dict[str, str]:
    """``{docname: path of its notebook in the lite contents}`` for every notebook page.

    The paths drop the folder that all notebooks share (``book/loss`` becomes ``loss.ipynb``).
    """
    cached = getattr(app, "kdeloss_lite_notebooks", None)
    if cached is not None:
        return cached
    docs = sorted(d for d in app.env.found_docs if _is_notebook(Path(app.env.doc2path(d))))
    common = posixpath.commonpath([posixpath.dirname(d) for d in docs]) if docs else ""
    found = {d: posixpath.relpath(d, common or ".") + ".ipynb" for d in docs}
    app.kdeloss_lite_notebooks = found  # per build (the environment is pickled)
    return found


def lite_notebook(source: Path) -> nbformat.NotebookNode:
    """The notebook JupyterLite opens: the chapter's cells after the one setup cell."""
    notebook = jupytext.read(source)
    setup = nbformat.v4.new_code_cell(SETUP_SOURCE, metadata={"tags": [SETUP_TAG]})
    notebook.cells.insert(0, setup)
    notebook.metadata = nbformat.from_dict(
        {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    )
    return notebook


def write_contents(app: Sphinx, env) -> None:
    contents = Path(app.config.jupyterlite_content_dir)
    for docname, rel in lite_notebooks(app).items():
        target = contents / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        notebook = lite_notebook(Path(env.doc2path(docname)))
        nbformat.validate(notebook)
        nbformat.write(notebook, target)


def launch_url(docname: str, rel: str) -> str:
    """The link from the page ``docname`` to its notebook in the lite site."""
    up = "../" * docname.count("/")
    return f"{up}{LITE_OUT}/{APP}/index.html?path={quote(rel)}"


def add_button(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    if app.builder.format != "html":
        return
    rel = lite_notebooks(app).get(docname)
    section = doctree.next_node(nodes.section)
    if rel is None or section is None:
        return
    title = section[0] if len(section) and isinstance(section[0], nodes.title) else None
    html = (
        '<div class="kdeloss-lite" role="note">\n'
        f'<a class="kdeloss-lite-button" href="{launch_url(docname, rel)}" target="_blank" '
        'rel="noopener">'
        '<i class="fa-solid fa-play" aria-hidden="true"></i> Try it in your browser'
        '<span class="visually-hidden"> (opens in a new tab)</span></a>\n'
        f'<p class="kdeloss-lite-note">{RUNTIME_NOTE}</p>\n'
        "</div>\n"
    )
    raw = nodes.raw("", html, format="html")
    section.insert(section.index(title) + 1 if title is not None else 0, raw)


def page_assets(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """The button's style, on the pages that have the button."""
    if doctree is not None and pagename in lite_notebooks(app):
        app.add_css_file("kdeloss-lite.css")


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


DOIT_DB = ".jupyterlite.doit.db"


def _run_lite_build(build) -> Any:
    """jupyterlite_sphinx's build-finished handler, run from ``_build/lite-cache``.

    It runs ``jupyter lite build`` in ``app.srcdir``, where doit keeps its task database
    (``.jupyterlite.doit.db``): in the repository, and stale if a build is interrupted (a stale
    one makes doit skip tasks whose output is gone). Here the database lives under ``_build``
    and is removed before and after every build; all other paths passed are absolute.
    """

    def lite_build(app: Sphinx, error: Exception | None) -> None:
        cwd = _build_dir(app) / "lite-cache"
        cwd.mkdir(parents=True, exist_ok=True)
        (cwd / DOIT_DB).unlink(missing_ok=True)
        srcdir = app.srcdir
        app.srcdir = type(srcdir)(cwd)
        try:
            build(app, error)
        finally:
            app.srcdir = srcdir
            (cwd / DOIT_DB).unlink(missing_ok=True)

    return lite_build


def _move_lite_build(app: Sphinx) -> None:
    from jupyterlite_sphinx.jupyterlite_sphinx import jupyterlite_build

    moved = 0
    for listener in list(app.events.listeners["build-finished"]):
        if listener.handler is jupyterlite_build:
            app.disconnect(listener.id)
            app.connect("build-finished", _run_lite_build(jupyterlite_build), listener.priority)
            moved += 1
    if moved != 1:
        raise ExtensionError("lite: jupyterlite_sphinx no longer builds at build-finished")


def check_lite(app: Sphinx, error: Exception | None) -> None:
    """After jupyterlite_sphinx's build: everything is there; report the size."""
    if error is not None or app.builder.format != "html":
        return
    lite = Path(app.outdir) / LITE_OUT
    problems = []
    if not (lite / "jupyter-lite.json").is_file() or not (lite / APP / "index.html").is_file():
        problems.append(f"no JupyterLite site in {lite}")
    for rel in lite_notebooks(app).values():
        if not (lite / "files" / rel).is_file():
            problems.append(f"{rel} is missing from the lite contents")
    index = lite / "pypi" / "all.json"
    listed = json.loads(index.read_text()) if index.is_file() else {}
    for name in ("kdeloss", "kdeloss-lite", "ipywidgets", "anywidget", "psygnal"):
        if name not in listed:
            problems.append(f"the wheel {name} is not in {index}")
    maps = sorted(str(p.relative_to(lite)) for p in lite.rglob("*.map"))
    if maps:
        problems.append(f"source maps in the lite site: {maps[:3]}")
    for problem in problems:
        logger.warning("lite: %s", problem)
    if not problems:
        logger.info(
            "lite: %d notebooks, %.1f MB in %s (wheels %.2f MB)",
            len(lite_notebooks(app)),
            _size(lite) / 1e6,
            lite,
            _size(lite / "pypi") / 1e6,
        )


def _drop_remote_css(app: Sphinx) -> None:
    """jupyterlite_sphinx adds a Google web font to every page: keep the site offline."""
    app.registry.css_files = [
        (name, attrs)
        for name, attrs in app.registry.css_files
        if not name.startswith(("http://", "https://", "//"))
    ]


def setup(app: Sphinx) -> dict[str, Any]:
    if _enabled():
        app.setup_extension("jupyterlite_sphinx")
        _drop_remote_css(app)
        _move_lite_build(app)
        # before jupyterlite_sphinx's own config-inited handler (priority 500)
        app.connect("config-inited", configure, priority=400)
        app.connect("env-updated", write_contents)
        app.connect("doctree-resolved", add_button)
        app.connect("html-page-context", page_assets)
        # after jupyterlite_sphinx runs the lite build (priority 500)
        app.connect("build-finished", check_lite, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
