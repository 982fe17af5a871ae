"""Browser checks of every other page (root, appendices, back matter), of the internal
links, of search and of the favicon (the page checks: ``site_checks.py``)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlparse

import pytest
from conftest import SITE, require_browser
from site_checks import axe_violations, check_page, open_page, other_pages, pages, parse

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.parametrize("rel", other_pages() or ["(site not built)"])
def test_page(rel, site_url, browser, screenshots) -> None:
    check_page(rel, site_url, browser, screenshots)


def test_axe_finds_poor_contrast_on_a_large_page(site_url, browser, monkeypatch) -> None:
    """The sampled color-contrast pass of large pages still finds a poorly contrasted text."""
    import site_checks

    monkeypatch.setattr(site_checks, "AXE_SAMPLE_ABOVE", 0)  # sample on any page
    context, page, _ = open_page(browser, site_url + "book/references.html", site_url)
    try:
        page.evaluate(
            """() => {
                const p = document.createElement("p");
                p.textContent = "pale text";
                p.style.color = "#d8d8d8";
                document.querySelector("article").append(p);
            }"""
        )
        assert "color-contrast" in {v["id"] for v in axe_violations(page)}
    finally:
        context.close()


def test_internal_links_resolve() -> None:
    require_browser()
    broken = []
    for rel in pages():
        path = SITE / rel
        for href in parse(path).hrefs:
            target, frag = urldefrag(href)
            target = target.split("?", 1)[0]  # a query (?path= of a lite link) names no file
            if urlparse(href).scheme in {"http", "https", "mailto"}:
                continue
            dest = path if not target else Path(unquote(urljoin(str(path), target)))
            if dest.is_dir():
                dest = dest / "index.html"
            if not dest.exists():
                broken.append(f"{rel} -> {href}")
            elif frag and dest.suffix == ".html" and unquote(frag) not in parse(dest).ids:
                broken.append(f"{rel} -> {href} (no anchor)")
    assert broken == []


@pytest.mark.parametrize("term", ["responsibility", "softmax"])
def test_search_finds_a_chapter_term(term, site_url, browser) -> None:
    context, page, record = open_page(browser, f"{site_url}search.html?q={term}", site_url)
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
