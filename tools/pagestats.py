"""What a reader sees of each chapter before unfolding anything: words and code share.

    python tools/pagestats.py [SITE_DIR] [PAGE ...]

SITE_DIR defaults to ``_build/html``; PAGE names (``book/loss``) default to every page in
``_toc.yml``. For each page it prints the prose words shown unfolded and the share of code
characters among all characters shown unfolded.

What counts as folded: sphinx-design dropdowns (``<details>``), admonitions with the
``dropdown`` class (sphinx-togglebutton), and cells tagged ``hide-input``, ``hide-output``,
``hide-cell``, ``remove-input`` (myst-nb wraps or drops them). Everything else inside the
article is unfolded. *Words* are whitespace-separated tokens of the unfolded text outside code
(``<pre>``) and outside mathematics (MathJax source), so a displayed equation is not counted as
prose. *Code characters* are the non-space characters of unfolded code cell inputs and code
blocks; the share is taken over all unfolded non-space characters (prose, mathematics, code and
outputs).

The limits the book keeps (issue 15) are :data:`MAX_WORDS` and :data:`MAX_CODE_SHARE` per
numbered chapter; ``tests/test_book_shape.py`` checks them on the built site.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from bs4 import BeautifulSoup, Tag

ROOT = Path(__file__).resolve().parents[1]

#: At most this many prose words unfolded on a numbered chapter.
MAX_WORDS = 3500
#: At most this share of the unfolded characters is code.
MAX_CODE_SHARE = 0.15

_FOLDED_CELL_TAGS = ("tag_hide-input", "tag_hide-output", "tag_hide-cell", "tag_remove-input")


@dataclass(frozen=True)
class PageStats:
    """Counts for one page: prose ``words``, ``code`` and ``total`` non-space characters."""

    page: str
    words: int
    code: int
    total: int

    @property
    def code_share(self) -> float:
        """Code characters over all unfolded characters (0 for an empty page)."""
        return self.code / self.total if self.total else 0.0


def _nonspace(text: str) -> int:
    return len(re.sub(r"\s+", "", text))


def _is_folded(el: Tag) -> bool:
    classes = el.get("class") or []
    if el.name == "details":
        return True
    if "dropdown" in classes and "admonition" in classes:
        return True
    return False


def unfolded_article(html: str) -> Tag:
    """The page's article with every folded element removed."""
    soup = BeautifulSoup(html, "html.parser")
    article = soup.find("article", class_="bd-article")
    if article is None:
        raise ValueError("html: no <article class='bd-article'> in the page")
    for el in list(article.find_all(True)):
        if el.decomposed:
            continue
        if _is_folded(el):
            el.decompose()
            continue
        classes = el.get("class") or []
        if "cell" in classes and any(tag in classes for tag in _FOLDED_CELL_TAGS):
            if "tag_hide-output" in classes:
                for out in el.find_all(class_="cell_output"):
                    out.decompose()
            else:
                for inp in el.find_all(class_="cell_input"):
                    inp.decompose()
            if "tag_hide-cell" in classes:
                el.decompose()
    # Header links and the like are not content.
    for el in article.find_all(class_="headerlink"):
        el.decompose()
    return article


def page_stats(html: str, page: str = "") -> PageStats:
    """Words and code characters a reader sees on ``html`` without unfolding anything."""
    article = unfolded_article(html)
    total = _nonspace(article.get_text(" "))
    code = 0
    for pre in article.find_all("pre"):
        if pre.find_parent(class_="cell_output") is None:
            code += _nonspace(pre.get_text())
    for el in article.find_all(["pre", "script", "style"]):
        el.decompose()
    for el in article.find_all(class_=["math", "MathJax"]):
        el.decompose()
    words = len(article.get_text(" ").split())
    return PageStats(page, words, code, total)


def toc_pages(root: Path = ROOT) -> list[tuple[str, bool]]:
    """``(page, numbered)`` for every file in ``_toc.yml``, in reading order."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    pages = [(toc["root"], False)]
    for part in toc.get("parts", []):
        for ch in part.get("chapters", []):
            pages.append((ch["file"], bool(part.get("numbered", False))))
    return pages


def main(argv: list[str]) -> int:
    site = Path(argv[0]) if argv else ROOT / "_build" / "html"
    wanted = argv[1:]
    pages = [(p, n) for p, n in toc_pages() if not wanted or p in wanted]
    bad = 0
    print(f"{'page':28} {'numbered':>8} {'words':>6} {'code':>6}")
    for page, numbered in pages:
        path = site / f"{page}.html"
        if not path.exists():
            print(f"{page:28} (not built)")
            continue
        s = page_stats(path.read_text(encoding="utf-8"), page)
        over = numbered and (s.words > MAX_WORDS or s.code_share > MAX_CODE_SHARE)
        bad += over
        flag = "  OVER" if over else ""
        print(f"{page:28} {numbered!s:>8} {s.words:6d} {s.code_share:6.1%}{flag}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
