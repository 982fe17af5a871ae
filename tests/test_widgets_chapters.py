"""The one-hot, scale and at-work chapters as the build executed them: each shows one live demo,
whose rendition follows every trait and loads nothing from another host (the shift, circle
and dynamics chapters are checked by their own tests)."""

from __future__ import annotations

import pytest
from chapter_harness import built_notebook, demo_from_output, drive, live_outputs, stderr_outputs

CHAPTERS = ["one-hot", "scale", "at-work"]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_has_one_live_demo_that_follows_its_traits(chapter: str) -> None:
    nb = built_notebook(chapter)
    assert stderr_outputs(nb) == [], f"{chapter} wrote to stderr"
    (data,) = live_outputs(nb)
    html = data["text/html"]
    assert "https://" not in html and "http://" not in html.replace(
        "http://www.w3.org/2000/svg", ""
    )
    report = drive(demo_from_output(data))
    assert report and all(ok for _, ok in report), report
