"""tools/pagestats.py counts what a reader sees unfolded: checked on small synthetic pages."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

from pagestats import page_stats, toc_pages


def _page(body: str) -> str:
    return f'<html><body><article class="bd-article">{body}</article></body></html>'


def test_prose_words_exclude_code_and_math() -> None:
    html = _page(
        '<p>one two three <span class="math">\\frac{a}{b} x y</span></p>'
        '<div class="cell"><div class="cell_input"><pre>x = 1 + 2</pre></div></div>'
    )
    s = page_stats(html)
    assert s.words == 3
    assert s.code == len("x=1+2")


def test_folded_content_is_not_counted() -> None:
    shown = "<p>alpha beta</p>"
    folded = (
        "<details><summary>Verification</summary><p>many hidden words here</p>"
        "<pre>hidden_code()</pre></details>"
        '<div class="admonition dropdown"><p>more hidden words</p></div>'
        '<div class="cell tag_hide-input"><details class="hide above-input">'
        '<div class="cell_input"><pre>also_hidden()</pre></div></details>'
        '<div class="cell_output"><p>out</p></div></div>'
    )
    s = page_stats(_page(shown + folded))
    assert s.words == 3  # alpha, beta and the visible output "out"
    assert s.code == 0


def test_code_share_counts_outputs_in_the_total_only() -> None:
    html = _page(
        '<div class="cell"><div class="cell_input"><pre>abcd</pre></div>'
        '<div class="cell_output"><pre>123456</pre></div></div>'
    )
    s = page_stats(html)
    assert (s.code, s.total) == (4, 10)
    assert abs(s.code_share - 0.4) < 1e-12


def test_toc_pages_are_in_reading_order() -> None:
    pages = toc_pages()
    assert pages[0] == ("book/intro", False)
    numbered = [p for p, n in pages if n]
    assert numbered[0] == "book/loss" and "book/fast" in numbered
