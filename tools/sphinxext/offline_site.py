"""Local Sphinx extension: keep the built site self-contained, accessible and error-free.

- Jupyter Book 1 always loads sphinx-thebe, which adds its configuration script twice
  (``const THEBE_JS_URL`` declared twice is a console error) and points at a CDN. This book
  does not use thebe (the live route is ``make lab``), so its assets are dropped from every page.
- The theme's icon font (Font Awesome, 156 kB for its solid face alone) is loaded by every page
  for a few dozen icons; it is cut down to the glyphs the site can show (:func:`subset_icons`).
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


# Private-use code points (where icon fonts keep their glyphs) written as CSS escapes or
# literally, and the rules that map an icon class to one.
_ESCAPE = re.compile(r"\\([0-9a-fA-F]{4,6})")
_PRIVATE = re.compile("[\ue000-\uf8ff]")
_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_ICON_SELECTOR = re.compile(r"^\.(fa-[a-z0-9-]+):(?:before|after)$")
_ICON_CLASS = re.compile(r"\bfa-[a-z0-9-]+")


def icon_code_points(css: list[str], pages: list[str]) -> set[int]:
    r"""The icon-font code points a site can show.

    ``css`` are the site's style sheets and ``pages`` its HTML and JavaScript. A rule whose
    selectors are all ``.fa-<name>:before`` maps an icon class to a code point, used only if
    a page or script names the class; any other rule's code points (the theme's icon
    variables, ``content`` of its own pseudo-elements) are used as they are.

    >>> css = ['.fa-sun:before{content:"\\f185"}.fa-moon:before{content:"\\f186"}',
    ...        ':root{--pst-icon-bell:"\uf0f3"}']
    >>> sorted(hex(c) for c in icon_code_points(css, ['<i class="fa-solid fa-sun"></i>']))
    ['0xf0f3', '0xf185']
    """
    names: dict[str, set[int]] = {}
    used: set[int] = set()
    for sheet in css:
        for sel, body in _RULE.findall(sheet):
            cps = {int(h, 16) for h in _ESCAPE.findall(body)}
            cps |= {ord(ch) for ch in _PRIVATE.findall(body)}
            if not cps:
                continue
            selectors = [s.strip() for s in sel.split(",")]
            icons = [_ICON_SELECTOR.match(s) for s in selectors]
            if all(icons):
                for m in icons:
                    names.setdefault(m.group(1), set()).update(cps)
            else:
                used |= cps
    for text in pages:
        for name in set(_ICON_CLASS.findall(text)):
            used |= names.get(name, set())
    return used


def subset_icons(app: Sphinx, exc: Exception | None) -> None:
    """Keep only the glyphs of :func:`icon_code_points` in the theme's icon fonts."""
    if exc is not None or app.builder.format != "html":
        return
    from fontTools import subset

    out = Path(app.outdir)
    static = out / "_static"
    css = [p.read_text(encoding="utf-8", errors="replace") for p in static.rglob("*.css")]
    pages = [
        p.read_text(encoding="utf-8", errors="replace")
        for pattern in ("*.html", "*.js")
        for p in out.rglob(pattern)
        if "lite" not in p.relative_to(out).parts[:1]
    ]
    keep = icon_code_points(css, pages)
    for font in sorted(static.rglob("fa-*.woff2")):
        options = subset.Options()
        options.flavor = "woff2"
        options.layout_features = ["*"]
        f = subset.load_font(str(font), options)
        cmap = f.getBestCmap() or {}
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=[c for c in keep if c in cmap])
        subsetter.subset(f)
        subset.save_font(f, str(font), options)


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
    app.connect("build-finished", subset_icons)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
