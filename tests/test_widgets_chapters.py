"""Execute the one-hot and scale chapters; each shows one live demo whose rendition follows
every trait (the shift, circle and dynamics chapters are checked by their own tests)."""

from __future__ import annotations

from pathlib import Path

import pytest
from chapter_harness import DRIVE, drive_report, execute_chapter, live_outputs

BOOK = Path(__file__).resolve().parents[1] / "book"

#: chapter file -> the variable holding its live demo
CHAPTERS: dict[str, str] = {"one-hot.md": "onehot_demo", "scale.md": "scale_demo"}


@pytest.mark.slow
@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_chapter_has_one_live_demo_that_follows_its_traits(chapter: str) -> None:
    nb = execute_chapter(BOOK / chapter, [DRIVE])
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.get("name") != "stderr", f"{chapter} wrote to stderr: {out.get('text')}"
    (data,) = live_outputs(nb)
    html = data["text/html"]
    assert "https://" not in html and "http://" not in html.replace(
        "http://www.w3.org/2000/svg", ""
    )
    report = drive_report(nb)
    assert list(report) == [CHAPTERS[chapter]]
    assert report[CHAPTERS[chapter]] and all(ok for _, ok in report[CHAPTERS[chapter]]), report
