"""Browser checks of the built site, the way a reader sees it: the shared part.

Debian's chromium, driven by playwright (never a downloaded browser), loads every page of
``_build/html`` from a server on 127.0.0.1 and asserts: no request leaves that server, no
console errors, math is typeset, every image has alt text, every page weighs at most 800 kB
gzipped, internal links and their anchors resolve, axe finds nothing serious or critical, and
search finds a term from a chapter. Every live demo is on its chapter's page: moving each of
its controls redraws it with kdeloss's numbers (to 1e-12) within 16 ms (median), and at
390 px wide the page does not scroll sideways. Screenshots go to ``_build/screenshots/``,
the page weights to ``_build/page-weights.json`` and the demos' redraw times and parity to
``_build/demo-timings-site.json``.

The checks are split over three test files of similar duration, so that ``make test``
(``pytest -n auto --dist loadfile``, one file per worker) runs them side by side:
``test_site_chapters.py`` (the numbered chapters' pages), ``test_site_reference.py`` (every
other page, the links, search and the favicon) and ``test_site_demos.py`` (the live demos
on their pages). This module holds what they share; the files may run in different
processes at once, so the JSON records are updated under a file lock and no file deletes
what another one writes.

Without chromium the tests skip with a message, except under CI (``CI=true``), where a
missing browser is a failure.
"""

from __future__ import annotations

import fcntl
import functools
import gzip
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import yaml
from conftest import SITE, require_browser
from live_demos import DEMOS

__all__ = [
    "DEMO_TIMINGS",
    "SHOTS",
    "SITE",
    "WEIGHTS",
    "axe_violations",
    "chapter_pages",
    "check_page",
    "open_page",
    "other_pages",
    "pages",
    "parse",
    "record",
    "screenshot_dir",
]

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "_build" / "screenshots"
# Page weight: every byte a page loads, as a static host serving gzip would send it
# (text compressed, images as they are). The raw sizes are reported too.
MAX_PAGE_BYTES = 800_000
WEIGHTS = ROOT / "_build" / "page-weights.json"
DEMO_TIMINGS = ROOT / "_build" / "demo-timings-site.json"
SKIP_PAGES = {"genindex.html", "search.html"}  # generated; checked separately
# The JupyterLite app (tests/test_lite.py): it is the in-browser runtime, which a reader launches
# on purpose and which loads Pyodide from its CDN, so the offline rule does not apply to it.
LITE_DIR = "lite"
# A full-page screenshot of a very tall page (the API appendix is about 150,000 px) costs
# chromium tens of seconds and shows nothing a reader could take in; such pages are shot to
# this height only. Screenshots are for people to look at: no assertion reads them.
MAX_SHOT_HEIGHT = 30_000
# Pages with more elements than this get axe's color-contrast rule on one element of each
# kind (see axe_violations); every other rule always sees the whole page.
AXE_SAMPLE_ABOVE = 20_000


def pages() -> list[str]:
    """Every page of the built site that a reader opens, relative to the site's root."""
    if not SITE.is_dir():
        return []
    return sorted(
        str(p.relative_to(SITE))
        for p in SITE.rglob("*.html")
        if not p.relative_to(SITE).parts[0].startswith("_")
        and p.relative_to(SITE).parts[0] != LITE_DIR
        and p.name not in SKIP_PAGES
    )


def _chapter_docs() -> set[str]:
    """The pages in a ``numbered`` part of ``_toc.yml``: the book's chapters."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    out: set[str] = set()

    def walk(entries: list[dict[str, Any]], numbered: bool) -> None:
        for entry in entries:
            inner = numbered or bool(entry.get("numbered", False))
            if "file" in entry and inner:
                out.add(entry["file"])
            for key in ("parts", "chapters", "sections"):
                walk(entry.get(key, []), inner)

    walk([{k: v for k, v in toc.items() if k in ("parts", "chapters")}], False)
    return out


def chapter_pages() -> list[str]:
    """The built pages of the numbered chapters."""
    chapters = _chapter_docs()
    return [rel for rel in pages() if rel.removesuffix(".html") in chapters]


def other_pages() -> list[str]:
    """Every other built page: the root, the appendices, the back matter."""
    chapters = set(chapter_pages())
    return [rel for rel in pages() if rel not in chapters]


def record(path: Path, key: str, value: Any, keep: set[str]) -> None:
    """Set ``key`` in the JSON object at ``path`` and drop the keys not in ``keep``.

    Test files running in other processes update the same file, so the read and the write
    happen under an exclusive lock on a lock file next to it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(path.read_text()) if path.exists() else {}
        data = {k: v for k, v in data.items() if k in keep}
        data[key] = value
        path.write_text(json.dumps(data, indent=1, sort_keys=True))


def shot_name(rel: str) -> str:
    return rel.replace("/", "__").removesuffix(".html") + ".png"


def screenshot_dir() -> Path:
    """``_build/screenshots``, without the screenshots of pages and demos that are gone.

    Only stale files are removed: the current names are overwritten by the tests that take
    them, possibly in another process at this moment.
    """
    SHOTS.mkdir(parents=True, exist_ok=True)
    current = {shot_name(rel) for rel in pages()}
    current |= {f"demo-{n}-{view}.png" for n in DEMOS for view in ("desktop", "phone")}
    for old in SHOTS.iterdir():
        if old.name not in current:
            old.unlink()
    return SHOTS


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        d = dict(attrs)
        if d.get("id"):
            self.ids.add(d["id"] or "")
        if tag == "a" and d.get("name"):
            self.ids.add(d["name"] or "")
        if tag == "a" and d.get("href"):
            self.hrefs.append(d["href"] or "")


@functools.cache
def parse(path: Path) -> _Links:
    """The links (``hrefs``) and anchors (``ids``) of a built page."""
    p = _Links()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def _wait_for_math(page) -> None:
    page.wait_for_function(
        "() => !window.MathJax || (window.MathJax.startup && window.MathJax.startup.promise)",
        timeout=20_000,
    )
    page.evaluate(
        "() => window.MathJax && window.MathJax.startup ? window.MathJax.startup.promise : null"
    )


def open_page(browser, url: str, origin: str):
    """Open ``url`` recording foreign requests, console errors and transferred bytes."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    rec = {"foreign": [], "errors": [], "bytes": 0, "gzip_bytes": 0}

    def on_request(req) -> None:
        if not (req.url.startswith(origin) or req.url.startswith(("data:", "blob:"))):
            rec["foreign"].append(req.url)

    def on_response(resp) -> None:
        if resp.status >= 400:
            rec["errors"].append(f"HTTP {resp.status}: {resp.url}")
        try:
            body = resp.body()
        except Exception:  # redirects and aborted requests have no body
            return
        rec["bytes"] += len(body)
        rec["gzip_bytes"] += min(len(body), len(gzip.compress(body, compresslevel=6)))

    page.on("request", on_request)
    page.on("response", on_response)
    page.on(
        "console",
        lambda m: rec["errors"].append(m.text) if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: rec["errors"].append(str(e)))
    page.goto(url, wait_until="networkidle")
    _wait_for_math(page)
    return context, page, rec


# One element of each kind for the color-contrast rule. What that rule decides for a text
# element is a function of what is read here: the element's tag and classes, its text colour
# (and SVG fill), size, weight, shadow and visibility, and the colours, images, opacities and
# blend modes of the element and its ancestors down to the first opaque background (nothing
# behind that shows through). Elements with the same key get the same verdict, so checking
# one of them checks them all.
_MARK_CONTRAST_SAMPLES = """() => {
  const layers = (el) => {
    const out = [];
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const s = getComputedStyle(e);
      const bg = s.backgroundColor, img = s.backgroundImage;
      if (bg !== "rgba(0, 0, 0, 0)" || img !== "none" || s.opacity !== "1"
          || s.mixBlendMode !== "normal" || s.filter !== "none") {
        out.push([bg, img, s.opacity, s.mixBlendMode, s.filter]);
        if (/^rgb\\(/.test(bg) && img === "none") break;
      }
    }
    return out;
  };
  const seen = new Set();
  for (const el of document.body.querySelectorAll("*")) {
    const own = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const s = getComputedStyle(el);
    const key = JSON.stringify([el.tagName, el.className.baseVal ?? el.className, s.color,
      s.fill, s.fontSize, s.fontWeight, s.textShadow, s.visibility, s.position, layers(el)]);
    if (!seen.has(key)) { seen.add(key); el.setAttribute("data-contrast-sample", ""); }
  }
  return seen.size;
}"""

# Keep the samples, their contents and their ancestors; remove every other element.
_KEEP_ONLY_SAMPLES = """() => {
  const keep = new Set();
  for (const s of document.querySelectorAll("[data-contrast-sample]")) {
    for (let e = s; e && e !== document.body; e = e.parentElement) keep.add(e);
    s.querySelectorAll("*").forEach(d => keep.add(d));
  }
  const drop = Array.from(document.body.querySelectorAll("*")).filter(
    e => !keep.has(e) && (e.parentElement === document.body || keep.has(e.parentElement)));
  drop.forEach(e => e.remove());
  return drop.length;
}"""


def axe_violations(page) -> list[dict[str, Any]]:
    """axe's serious and critical violations on an open page (which it may alter).

    On a page of more than :data:`AXE_SAMPLE_ABOVE` elements (the API appendix, generated by
    autodoc: about 36,000 elements, where one run of every rule took about a minute, most of
    it in color-contrast) the rules run in two passes: every rule but color-contrast on the
    whole page, then color-contrast on one element of each kind (same tag, classes, colours,
    font and backgrounds; a few dozen kinds) with the rest of the page removed. The verdict
    of color-contrast is the same for every element of a kind, so this checks what one run
    would, at a fraction of the cost. The page is left altered: check it last.
    """
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    if page.evaluate("document.querySelectorAll('*').length") <= AXE_SAMPLE_ABOVE:
        found = axe.run(page).response["violations"]
    else:
        options = {"resultTypes": ["violations"], "rules": {"color-contrast": {"enabled": False}}}
        found = axe.run(page, options=options).response["violations"]
        assert page.evaluate(_MARK_CONTRAST_SAMPLES) > 0
        page.evaluate(_KEEP_ONLY_SAMPLES)
        options = {"resultTypes": ["violations"], "runOnly": ["color-contrast"]}
        found += axe.run(page, options=options).response["violations"]
    return [v for v in found if v.get("impact") in {"serious", "critical"}]


def check_page(rel: str, site_url: str, browser, screenshots: Path) -> None:
    """Every check of one page (see the module's docstring)."""
    if rel == "(site not built)":
        require_browser()
    context, page, rec = open_page(browser, site_url + rel, site_url)
    try:
        shot = screenshots / shot_name(rel)
        height = page.evaluate("document.documentElement.scrollHeight")
        if height <= MAX_SHOT_HEIGHT:
            page.screenshot(path=str(shot), full_page=True)
        else:
            box = {"x": 0, "y": 0, "width": 1280, "height": MAX_SHOT_HEIGHT}
            page.screenshot(path=str(shot), full_page=True, clip=box)

        assert rec["foreign"] == [], f"{rel} requested other hosts: {rec['foreign']}"
        assert rec["errors"] == [], f"{rel} logged console errors: {rec['errors']}"

        # the prose and outputs a reader sees, without code (which may spell LaTeX on purpose)
        text = page.evaluate(
            """() => {
                const a = document.querySelector("article");
                if (!a) return "";
                const c = a.cloneNode(true);
                c.querySelectorAll(".cell_input, div.highlight, pre, code, mjx-container,"
                                   + " .MathJax, script").forEach(e => e.remove());
                return c.innerText;
            }"""
        )
        for raw in ("$$", "\\(", "\\frac", "\\begin{"):
            assert raw not in text, f"{rel}: untypeset math ({raw!r}) in the visible text"

        no_alt = page.eval_on_selector_all(
            "img", "els => els.filter(e => !(e.getAttribute('alt') || '').trim()).map(e => e.src)"
        )
        assert no_alt == [], f"{rel}: images without alt text: {[s[:80] for s in no_alt]}"

        # every live demo mounted and wrote its state
        demos = page.eval_on_selector_all(
            "[data-kdeloss-demo]",
            "els => els.map(e => [e.dataset.kdelossDemo, Boolean(e.dataset.state)])",
        )
        expected = [n for n, (_, page_) in DEMOS.items() if f"{page_}.html" == rel]
        assert sorted(n for n, _ in demos) == sorted(expected), f"{rel}: demos {demos}"
        assert all(ok for _, ok in demos), f"{rel}: a demo has no data-state"

        bad = axe_violations(page)  # last: it may alter the page
        assert bad == [], f"{rel}: axe violations: " + json.dumps(
            [{"id": v["id"], "impact": v["impact"], "nodes": len(v["nodes"])} for v in bad]
        )

        weight = {"raw": rec["bytes"], "gzip": rec["gzip_bytes"]}
        record(WEIGHTS, rel, weight, keep=set(pages()))
        assert rec["gzip_bytes"] <= MAX_PAGE_BYTES, (
            f"{rel} weighs {rec['gzip_bytes']} bytes gzipped ({rec['bytes']} raw)"
        )
    finally:
        context.close()

