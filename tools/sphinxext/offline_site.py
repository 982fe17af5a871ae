"""Local Sphinx extension: keep the built site self-contained, accessible and error-free.

- Jupyter Book 1 always loads sphinx-thebe, which adds its configuration script twice
  (``const THEBE_JS_URL`` declared twice is a console error) and points at a CDN. This book
  does not use thebe (the live route is ``make lab``), so its assets are dropped from every page.
- Docutils marks bibliography entries with the deprecated ARIA role ``doc-biblioentry`` inside a
  ``role="list"``; axe reports that as a critical violation (a list whose children are not list
  items). The entries are list items, so they get ``role="listitem"``.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx

THEBE_MARKERS = ("THEBE_JS_URL", "sphinx-thebe", "thebe@")


def _is_thebe(asset: Any) -> bool:
    text = " ".join(
        str(v) for v in (asset, getattr(asset, "filename", ""), getattr(asset, "attributes", {}))
    )
    return any(m in text for m in THEBE_MARKERS)


def drop_thebe(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [a for a in context[key] if not _is_thebe(a)]


def fix_biblio_roles(
    app: Sphinx, pagename: str, templatename: str, context: dict, doctree
) -> None:
    body = context.get("body")
    if isinstance(body, str) and 'role="doc-biblioentry"' in body:
        context["body"] = body.replace('role="doc-biblioentry"', 'role="listitem"')


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("html-page-context", drop_thebe, priority=900)
    app.connect("html-page-context", fix_biblio_roles, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
