"""The book's shape (issue 15): what a reader sees, in the order the table of contents gives.

On the built site (``_build/html``; these tests skip when it is not built), for every numbered
chapter in ``_toc.yml``:

- at most ``MAX_WORDS`` prose words and ``MAX_CODE_SHARE`` code characters shown unfolded
  (counted by ``tools/pagestats.py``, the same numbers ``python tools/pagestats.py`` prints);
- an unfolded "What's next" paragraph whose first link to another page goes to the next page in
  reading order (the last chapter's to the first appendix);
- an unfolded "Prerequisites" line whose links to chapters go only to earlier ones;
- no unfolded link to a later chapter anywhere else (a folded remark may point ahead);
- a link to the note on demos (``demos-note``) if the chapter has a live demo.

And the front page links to the notation and results pages, lists the chapters in reading
order and holds the note on demos (label ``demos-note``) that the chapters link to.

Without a built site only the source checks run: ``book/notation.md`` lists each symbol once,
including every symbol the book's notation fixes, and its glossary defines the terms a reader
meets. A build older than the sources makes these tests compare old pages: rebuild first.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from urllib.parse import urldefrag, urljoin

import pytest
from conftest import ROOT, SITE

sys.path.insert(0, str(ROOT / "tools"))
import pagestats  # tools/pagestats.py: what a reader sees unfolded

PAGES: list[tuple[str, bool]] = pagestats.toc_pages(ROOT)
ORDER = [page for page, _ in PAGES]
CHAPTERS = [page for page, numbered in PAGES if numbered]
ROOT_PAGE = ORDER[0]

_WHATS_NEXT = re.compile(r"^What[’']s next\b")
_PREREQUISITES = re.compile(r"^Prerequisites\b")


def _article(page: str):
    """The page's article with everything folded removed (skip if the site is not built)."""
    if not (SITE / "index.html").exists():
        pytest.skip("the site is not built: run `make book` first")
    path = SITE / f"{page}.html"
    assert path.exists(), f"{path} is missing from the built site: rebuild it"
    return pagestats.unfolded_article(path.read_text(encoding="utf-8"))


def _target(page: str, href: str) -> str | None:
    """The page (``book/x``) an internal link goes to, or None if it stays on ``page``."""
    url, _ = urldefrag(urljoin(f"{page}.html", href))
    if not url or url == f"{page}.html":
        return None
    return url.removesuffix(".html")


def _links(page: str, el) -> list[str]:
    """Pages that the internal links inside ``el`` go to, in order (same-page links skipped)."""
    out = []
    for a in el.find_all("a", href=True):
        if "internal" not in (a.get("class") or []):
            continue
        target = _target(page, a["href"])
        if target is not None:
            out.append(target)
    return out


def _paragraphs(article, pattern: re.Pattern[str]) -> list:
    return [p for p in article.find_all("p") if pattern.match(p.get_text(" ", strip=True))]


@pytest.mark.parametrize("page", CHAPTERS)
def test_chapter_shows_few_words_and_little_code(page):
    stats = pagestats.page_stats(str(_article(page)), page)
    assert stats.words <= pagestats.MAX_WORDS, (
        f"{page} shows {stats.words} words unfolded (at most {pagestats.MAX_WORDS}): "
        "fold checks, tables and long code into Verification dropdowns"
    )
    assert stats.code_share <= pagestats.MAX_CODE_SHARE, (
        f"{page} shows {stats.code_share:.1%} code unfolded "
        f"(at most {pagestats.MAX_CODE_SHARE:.0%}): hide inputs whose output is the point"
    )


@pytest.mark.parametrize("page", CHAPTERS)
def test_whats_next_goes_to_the_next_page(page):
    nxt = ORDER[ORDER.index(page) + 1] if page != ORDER[-1] else None
    assert nxt is not None, f"{page} is the last page in _toc.yml: nothing can come next"
    paras = _paragraphs(_article(page), _WHATS_NEXT)
    assert len(paras) == 1, f'{page}: expected one unfolded "What\'s next" paragraph'
    links = _links(page, paras[0])
    assert links, f'{page}: its "What\'s next" paragraph links to no other page'
    assert links[0] == nxt, (
        f'{page}: "What\'s next" first links to {links[0]}, but the next page in _toc.yml is {nxt}'
    )


@pytest.mark.parametrize("page", CHAPTERS)
def test_prerequisites_name_only_earlier_chapters(page):
    """The line may cite references and point to the appendices, but no chapter ahead."""
    paras = _paragraphs(_article(page), _PREREQUISITES)
    assert len(paras) == 1, f"{page}: expected one unfolded 'Prerequisites' line"
    earlier = set(CHAPTERS[: CHAPTERS.index(page)])
    bad = [t for t in _links(page, paras[0]) if t in CHAPTERS and t not in earlier]
    assert not bad, f"{page}: its prerequisites name chapters that are not earlier: {bad}"


@pytest.mark.parametrize("page", CHAPTERS)
def test_no_unfolded_link_to_a_later_chapter(page):
    """Outside "What's next", the visible text never sends the reader ahead to a chapter.

    Links to the appendices (reference pages) are fine at any point.
    """
    article = _article(page)
    for p in _paragraphs(article, _WHATS_NEXT):
        p.decompose()
    later = set(CHAPTERS[CHAPTERS.index(page) + 1 :])
    ahead = sorted({t for t in _links(page, article) if t in later})
    assert not ahead, f"{page} links ahead to {ahead} outside a folded remark"


@pytest.mark.parametrize("page", CHAPTERS)
def test_a_chapter_with_a_demo_links_the_demos_note(page):
    """The note on how to use the demos lives on the front page; a demo's chapter links to it."""
    article = _article(page)
    if "data-kdeloss-demo" not in (SITE / f"{page}.html").read_text(encoding="utf-8"):
        return  # no live demo on this page
    note = f"{ROOT_PAGE}.html#demos-note"
    hrefs = [urljoin(f"{page}.html", a["href"]) for a in article.find_all("a", href=True)]
    assert note in hrefs, f"{page} has a live demo but no unfolded link to the demos note"


def test_front_page_links_the_reference_pages_and_the_chapters_in_order():
    article = _article(ROOT_PAGE)
    links = _links(ROOT_PAGE, article)
    for ref in ("book/notation", "book/results"):
        assert ref in ORDER, f"{ref} is not in _toc.yml"
        assert ref in links, f"the front page does not link to {ref}"
    section = article.find("section", id="reading-order")
    assert section is not None, "the front page has no 'Reading order' section"
    listed = [t for t in dict.fromkeys(_links(ROOT_PAGE, section)) if t in CHAPTERS]
    assert listed == CHAPTERS, "the front page's reading order differs from _toc.yml"
    assert article.find(id="demos-note") is not None, "the note on demos (demos-note) is missing"


# ---------------------------------------------------------------------------------------------
# book/notation.md (source only)

NOTATION = ROOT / "book" / "notation.md"

# The symbols the second edition fixes book-wide (the notation page may list more).
REQUIRED_SYMBOLS = [
    "t", "t_m", "x_i", "z_i", "S_i", "q(t)", "r_i(t)", r"\ell(t)", "L", "L_M", "a < b", "u",
    "K", "h", r"\kappa", "c", r"\delta", r"\varepsilon", r"\pi(t)", r"\eta", "k", "d", "D",
    "P", "y", "s", "J", r"\xi_j", r"\bar t", "C, C_1, C_2", r"\mu_i", r"\gamma_i", r"\omega",
    "e", r"\Delta", r"\rho_i", "N", "M",
]  # fmt: skip

REQUIRED_TERMS = [
    "responsibility", "covering set", "kink", "antipodal arc", "background", "arrival",
    "weight", "logit", "bin", "bandwidth", "one-hot",
]  # fmt: skip


def _symbol_rows(text: str) -> list[str]:
    """The first cell of every table row whose first cell is mathematics, as written."""
    rows = re.findall(r"^\|\s*\$(.+?)\$\s*\|", text, flags=re.M)
    return [re.sub(r"\s+", " ", r.strip()) for r in rows]


def test_notation_lists_each_symbol_once():
    symbols = _symbol_rows(NOTATION.read_text(encoding="utf-8"))
    assert symbols, "book/notation.md has no symbol table"
    twice = sorted({s for s in symbols if symbols.count(s) > 1})
    assert not twice, f"book/notation.md lists these symbols more than once: {twice}"
    missing = [s for s in REQUIRED_SYMBOLS if s not in symbols]
    assert not missing, f"book/notation.md does not list {missing}"


def test_notation_glossary_defines_the_terms():
    text = NOTATION.read_text(encoding="utf-8")
    block = re.search(r"```\{glossary\}\n(.*?)\n```", text, flags=re.S)
    assert block, "book/notation.md has no {glossary} block"
    terms = re.findall(r"^(\S[^\n]*)\n  \S", block.group(1), flags=re.M)
    assert len(terms) == len(set(terms)), "a glossary term is defined twice"
    missing = [t for t in REQUIRED_TERMS if t not in terms]
    assert not missing, f"the glossary does not define {missing}"


def test_the_book_uses_no_retired_symbol():
    """Symbols the notation retired: machine epsilon is written 2^{-52}; no Kronecker delta;
    the target axis is t (x_i are the points)."""
    retired = {
        r"\epsilon_{\mathrm{mach}}": "write machine epsilon as $2^{-52}$",
        r"\delta_{ij}": "write the Iverson bracket [i = j]",
        r"\delta_{iy}": "write the Iverson bracket [i = y]",
        "q(x)": "a position on the target axis is t: q(t)",
        "r_i(x)": "a position on the target axis is t: r_i(t)",
        r"\ell(x)": "a position on the target axis is t: \\ell(t)",
    }
    found = []
    for path in sorted((ROOT / "book").glob("*.md")):
        text = path.read_text(encoding="utf-8")
        found += [f"{path.name}: {sym} ({fix})" for sym, fix in retired.items() if sym in text]
    assert not found, "retired symbols: " + "; ".join(found)


def test_reading_order_is_known():
    # The checks above need at least one chapter and a page after the last one.
    assert CHAPTERS, "_toc.yml has no numbered chapters"
    assert ORDER[-1] not in CHAPTERS, "the last chapter needs a page after it (an appendix)"
    assert Path(ROOT / f"{ROOT_PAGE}.md").exists()


# ---------------------------------------------------------------------------------------------
# book/results.md (source only)

RESULTS = ROOT / "book" / "results.md"
_STATEMENT = re.compile(
    r"^`{3,}\{prf:(?:theorem|proposition|corollary)\}[^\n]*\n:label: (\S+)", flags=re.M
)


def test_results_page_links_every_theorem():
    """Every theorem, proposition and corollary of the book has its entry on the results page."""
    stated = {}
    for path in sorted((ROOT / "book").glob("*.md")):
        if path != RESULTS:
            for label in _STATEMENT.findall(path.read_text(encoding="utf-8")):
                stated[label] = path.name
    assert stated, "no theorem found in book/*.md"
    live = "\n".join(
        line
        for line in RESULTS.read_text(encoding="utf-8").splitlines()
        if not line.startswith("%")
    )
    linked = set(re.findall(r"\{prf:ref\}`([^`<]+?)`", live))
    missing = sorted(f"{label} ({name})" for label, name in stated.items() if label not in linked)
    assert not missing, f"book/results.md has no entry for {missing}"
