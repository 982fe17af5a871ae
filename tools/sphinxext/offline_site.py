"""Local Sphinx extension: keep the built site self-contained, accessible and error-free.

- Jupyter Book 1 always loads sphinx-thebe, which adds its configuration script twice
  (``const THEBE_JS_URL`` declared twice is a console error) and points at a CDN. This book
  does not use thebe (the live route is ``make lab``), so its assets are dropped from every page.
- Docutils marks bibliography entries with the deprecated ARIA role ``doc-biblioentry`` inside a
  ``role="list"``; axe reports that as a critical violation (a list whose children are not list
  items). The entries are list items, so they get ``role="listitem"``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import jupytext
from sphinx.application import Sphinx

STATIC = Path(__file__).parent / "static"
FAVICON_ICO = Path(__file__).resolve().parents[2] / "book" / "images" / "favicon.ico"
THEBE_MARKERS = ("THEBE_JS_URL", "sphinx-thebe", "thebe@")
FONTAWESOME_JS = re.compile(
    r'\s*<script[^>]*src="[^"]*_static/scripts/fontawesome\.js[^"]*"[^>]*>\s*</script>'
)


WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _is_widget_state(asset: Any) -> bool:
    return getattr(asset, "attributes", {}).get("type") == WIDGET_STATE


def _is_thebe(asset: Any) -> bool:
    text = " ".join(
        str(v) for v in (asset, getattr(asset, "filename", ""), getattr(asset, "attributes", {}))
    )
    return any(m in text for m in THEBE_MARKERS)


def drop_unused_assets(
    app: Sphinx, pagename: str, templatename: str, context: dict, doctree
) -> None:
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [a for a in context[key] if not (_is_thebe(a) or _is_widget_state(a))]


def fix_biblio_roles(
    app: Sphinx, pagename: str, templatename: str, context: dict, doctree
) -> None:
    body = context.get("body")
    if isinstance(body, str) and 'role="doc-biblioentry"' in body:
        context["body"] = body.replace('role="doc-biblioentry"', 'role="listitem"')


def offer_notebook(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Write ``_sources/<page>.ipynb`` from a notebook page and let the theme link it."""
    if doctree is None or app.builder.format != "html":
        return
    source = Path(app.env.doc2path(pagename))
    if source.suffix != ".md" or "kernelspec:" not in source.read_text(encoding="utf-8")[:2000]:
        return
    notebook = jupytext.read(source)
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    jupytext.write(notebook, target, fmt="ipynb")
    context["ipynb_source"] = f"{pagename}.ipynb"


def drop_fontawesome_js(app: Sphinx, exc: Exception | None) -> None:
    if exc is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        new = FONTAWESOME_JS.sub("", text)
        if new != text:
            page.write_text(new, encoding="utf-8")


def write_favicon_ico(app: Sphinx, exc: Exception | None) -> None:
    """Copy the book's icon, ``book/images/favicon.ico`` (committed, drawn once from
    ``favicon.svg``), to the site root, where browsers ask for it."""
    if exc is not None or app.builder.format != "html":
        return
    shutil.copyfile(FAVICON_ICO, Path(app.outdir) / "favicon.ico")


def quantize_images(app: Sphinx, exc: Exception | None) -> None:
    """Store each ``_images/*.png`` with a 256-colour palette where that is smaller."""
    if exc is not None or app.builder.format != "html":
        return
    import io

    from PIL import Image

    for png in sorted((Path(app.outdir) / "_images").glob("*.png")):
        raw = png.read_bytes()
        with Image.open(io.BytesIO(raw)) as im:
            if im.mode == "P":
                continue
            pal = im.convert("RGBA").quantize(
                colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
            )
        buf = io.BytesIO()
        pal.save(buf, "PNG", optimize=True)
        if len(buf.getvalue()) < len(raw):
            png.write_bytes(buf.getvalue())


def add_static(app: Sphinx) -> None:
    app.config.html_static_path = [*app.config.html_static_path, str(STATIC)]


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", add_static)
    app.add_css_file("kdeloss.css")
    app.connect("html-page-context", drop_unused_assets, priority=900)
    # before sphinx-book-theme builds its download menu (priority 500)
    app.connect("html-page-context", offer_notebook, priority=400)
    app.connect("html-page-context", fix_biblio_roles, priority=900)
    app.connect("build-finished", drop_fontawesome_js)
    app.connect("build-finished", write_favicon_ico)
    app.connect("build-finished", quantize_images)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
