"""Execute each demo chapter headlessly and set every control of every widget in it.

The reusable part lives in ``widget_harness.py``; a demo chapter adds one line to
``CHAPTERS``: its file and the names of the widget variables it defines.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from widget_harness import assert_every_control_redrew, run_chapter_widgets

BOOK = Path(__file__).resolve().parents[1] / "book"

#: chapter file -> widget variables it defines (every one must have .controls and .redraws)
CHAPTERS: dict[str, list[str]] = {
}


@pytest.mark.slow
@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_every_widget_control_redraws_and_player_is_offline(chapter: str) -> None:
    report = run_chapter_widgets(BOOK / chapter, CHAPTERS[chapter])
    nb = report.pop("_notebook")
    assert_every_control_redrew(report)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.outputs:
            assert out.get("name") != "stderr", f"{chapter} wrote to stderr: {out.get('text')}"
        if "remove-output" in cell.metadata.get("tags", []):
            # The live widget: hidden on the site, but it must be there in Jupyter.
            views = [o for o in cell.outputs if "data" in o]
            assert any("application/vnd.jupyter.widget-view+json" in o["data"] for o in views)
    # The kernel-free player: one visible HTML output under 1 MB, nothing loaded from the web.
    players = [
        out["data"]["text/html"]
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if "anim-buttons" in out.get("data", {}).get("text/html", "")
    ]
    assert len(players) == 1, f"{chapter}: expected one player, found {len(players)}"
    assert len(players[0].encode()) < 1_000_000
    assert "http://" not in players[0] and "https://" not in players[0]
