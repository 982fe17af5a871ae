"""Browser checks of the built site, the way a reader sees it.

Debian's chromium, driven by playwright (never a downloaded browser), loads every page of
``_build/html`` from a server on 127.0.0.1 and asserts: no request leaves that server, no
console errors, math is typeset, every image has alt text, every page weighs at most 800 kB
gzipped, internal links and their anchors resolve, axe finds nothing serious or critical, and
search finds a term from a chapter. Every live demo is on its chapter's page: moving each of
its controls redraws it with kdeloss's numbers (to 1e-12) within 16 ms (median), and at
390 px wide the page does not scroll sideways. Screenshots go to ``_build/screenshots/``,
the page weights to ``_build/page-weights.json`` and the demos' redraw times and parity to
``_build/demo-timings-site.json``.

Without chromium the tests skip with a message, except under CI (``CI=true``), where a
missing browser is a failure.
"""

from __future__ import annotations

import functools
import gzip
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlparse

import pytest
from conftest import SITE, require_browser
from live_demos import DEMOS, TOL, drive_demo

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "_build" / "screenshots"
# Page weight: every byte a page loads, as a static host serving gzip would send it
# (text compressed, images as they are). The raw sizes are reported too.
MAX_PAGE_BYTES = 800_000
WEIGHTS = ROOT / "_build" / "page-weights.json"
SKIP_PAGES = {"genindex.html", "search.html"}  # generated; checked separately
# The JupyterLite app (tests/test_lite.py): it is the in-browser runtime, which a reader launches
# on purpose and which loads Pyodide from its CDN, so the offline rule does not apply to it.
LITE_DIR = "lite"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _pages() -> list[str]:
    if not SITE.is_dir():
        return []
    return sorted(
        str(p.relative_to(SITE))
        for p in SITE.rglob("*.html")
        if not p.relative_to(SITE).parts[0].startswith("_")
        and p.relative_to(SITE).parts[0] != LITE_DIR
        and p.name not in SKIP_PAGES
    )


@pytest.fixture(scope="module")
def screenshots() -> Path:
    if SHOTS.exists():
        shutil.rmtree(SHOTS)
    SHOTS.mkdir(parents=True)
    WEIGHTS.unlink(missing_ok=True)
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
def _parse(path: Path) -> _Links:
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


def _open(browser, url: str, origin: str):
    """Open ``url`` recording foreign requests, console errors and transferred bytes."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    record = {"foreign": [], "errors": [], "bytes": 0, "gzip_bytes": 0}

    def on_request(req) -> None:
        if not (req.url.startswith(origin) or req.url.startswith(("data:", "blob:"))):
            record["foreign"].append(req.url)

    def on_response(resp) -> None:
        if resp.status >= 400:
            record["errors"].append(f"HTTP {resp.status}: {resp.url}")
        try:
            body = resp.body()
        except Exception:  # redirects and aborted requests have no body
            return
        record["bytes"] += len(body)
        record["gzip_bytes"] += min(len(body), len(gzip.compress(body, compresslevel=6)))

    page.on("request", on_request)
    page.on("response", on_response)
    page.on(
        "console",
        lambda m: record["errors"].append(m.text) if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: record["errors"].append(str(e)))
    page.goto(url, wait_until="networkidle")
    _wait_for_math(page)
    return context, page, record


@pytest.mark.parametrize("rel", _pages() or ["(site not built)"])
def test_page(rel, site_url, browser, screenshots) -> None:
    if rel == "(site not built)":
        require_browser()
    from axe_playwright_python.sync_playwright import Axe

    context, page, record = _open(browser, site_url + rel, site_url)
    try:
        shot = screenshots / (rel.replace("/", "__").removesuffix(".html") + ".png")
        page.screenshot(path=str(shot), full_page=True)

        assert record["foreign"] == [], f"{rel} requested other hosts: {record['foreign']}"
        assert record["errors"] == [], f"{rel} logged console errors: {record['errors']}"

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

        results = Axe().run(page)
        bad = [
            v for v in results.response["violations"] if v.get("impact") in {"serious", "critical"}
        ]
        assert bad == [], f"{rel}: axe violations: " + json.dumps(
            [{"id": v["id"], "impact": v["impact"], "nodes": len(v["nodes"])} for v in bad]
        )

        weights = json.loads(WEIGHTS.read_text()) if WEIGHTS.exists() else {}
        weights[rel] = {"raw": record["bytes"], "gzip": record["gzip_bytes"]}
        WEIGHTS.write_text(json.dumps(weights, indent=1, sort_keys=True))
        assert record["gzip_bytes"] <= MAX_PAGE_BYTES, (
            f"{rel} weighs {record['gzip_bytes']} bytes gzipped ({record['bytes']} raw)"
        )
    finally:
        context.close()


DEMO_TIMINGS = ROOT / "_build" / "demo-timings-site.json"


@pytest.mark.parametrize("name", sorted(DEMOS))
def test_live_demo_on_its_page(name, site_url, browser, screenshots) -> None:
    """Drive every control; numbers against kdeloss, redraw time, and the phone layout."""
    rel = DEMOS[name][1] + ".html"
    context, page, record = _open(browser, site_url + rel, site_url)
    try:
        root = page.locator(f'[data-kdeloss-demo="{name}"]')
        root.scroll_into_view_if_needed()
        root.screenshot(path=str(screenshots / f"demo-{name}-desktop.png"))
        report = drive_demo(page, name)
        for k, v in report["worst"].items():
            assert v <= TOL, f"{name}: {k} differs from kdeloss by {v:.3g}"
        assert report["median_ms"] <= 16.0, f"{name}: median redraw {report['median_ms']} ms"
        assert root.locator("[aria-live]").inner_text().strip()
        assert record["foreign"] == [] and record["errors"] == [], record
        timings = json.loads(DEMO_TIMINGS.read_text()) if DEMO_TIMINGS.exists() else {}
        timings[name] = {k: report[k] for k in ("median_ms", "worst", "checked")}
        DEMO_TIMINGS.write_text(json.dumps(timings, indent=1, sort_keys=True))
    finally:
        context.close()
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True,
        has_touch=True,
    )
    try:
        page = phone.new_page()
        page.goto(site_url + rel, wait_until="networkidle")
        root = page.locator(f'[data-kdeloss-demo="{name}"]')
        root.scroll_into_view_if_needed()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{rel}: scrolls sideways at 390 px ({width} px)"
        box = root.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        before = root.get_attribute("data-state")
        slider = root.locator('input[type="range"]').first
        slider.evaluate("e => e.scrollIntoView({block: 'center'})")
        sb = slider.bounding_box()
        page.touchscreen.tap(sb["x"] + sb["width"] * 0.9, sb["y"] + sb["height"] / 2)
        assert root.get_attribute("data-state") != before, f"{name}: a tap moved nothing"
        root.screenshot(path=str(screenshots / f"demo-{name}-phone.png"))
    finally:
        phone.close()


def test_internal_links_resolve() -> None:
    require_browser()
    broken = []
    for rel in _pages():
        path = SITE / rel
        for href in _parse(path).hrefs:
            target, frag = urldefrag(href)
            target = target.split("?", 1)[0]  # a query (?path= of a lite link) names no file
            if urlparse(href).scheme in {"http", "https", "mailto"}:
                continue
            dest = path if not target else Path(unquote(urljoin(str(path), target)))
            if dest.is_dir():
                dest = dest / "index.html"
            if not dest.exists():
                broken.append(f"{rel} -> {href}")
            elif frag and dest.suffix == ".html" and unquote(frag) not in _parse(dest).ids:
                broken.append(f"{rel} -> {href} (no anchor)")
    assert broken == []


@pytest.mark.parametrize("term", ["responsibility", "softmax"])
def test_search_finds_a_chapter_term(term, site_url, browser) -> None:
    context, page, record = _open(browser, f"{site_url}search.html?q={term}", site_url)
    try:
        page.wait_for_selector("#search-results ul.search li", timeout=20_000)
        hits = page.query_selector_all("#search-results ul.search li")
        assert len(hits) >= 1
        assert record["foreign"] == []
        assert record["errors"] == []
    finally:
        context.close()


def test_site_root_has_a_favicon() -> None:
    """Browsers ask for /favicon.ico whatever the page says; a 404 there is a console error."""
    require_browser()
    assert (SITE / "favicon.ico").stat().st_size > 0


def test_site_has_every_chapter() -> None:
    require_browser()
    toc = (ROOT / "_toc.yml").read_text()
    files = re.findall(r"file:\s*(\S+)", toc)
    for f in files:
        assert (SITE / f"{f}.html").exists(), f"{f} is in _toc.yml but not in the site"
