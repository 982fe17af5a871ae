"""Execute book/dynamics.md headlessly (one kernel, once): every widget control redraws, the
player is small and offline, nothing is written to stderr, and the numbers the prose quotes
(glued) say what the prose says about them."""

from __future__ import annotations

from pathlib import Path

import pytest
from widget_harness import assert_every_control_redrew, run_chapter_widgets

CHAPTER = Path(__file__).resolve().parents[1] / "book" / "dynamics.md"


@pytest.fixture(scope="module")
def executed() -> dict:
    return run_chapter_widgets(CHAPTER, ["remedy"])


def glued(nb) -> dict[str, float]:
    """Every number the chapter glues (``myst_nb.glue``), by name."""
    out = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            meta = o.get("metadata", {}).get("scrapbook")
            if meta is not None:
                out[meta["name"]] = float(o["data"][meta["mime_prefix"] + "text/plain"])
    return out


@pytest.mark.slow
def test_every_widget_control_redraws(executed: dict) -> None:
    report = {k: v for k, v in executed.items() if k != "_notebook"}
    assert_every_control_redrew(report)
    assert set(report["remedy"]) == {"distance", "background", "near_point"}


@pytest.mark.slow
def test_outputs_widget_player_and_no_stderr(executed: dict) -> None:
    nb = executed["_notebook"]
    players, widget_cells = [], 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.outputs:
            assert out.get("name") != "stderr", f"stderr: {out.get('text')}"
            assert out.get("output_type") != "error"
            html = out.get("data", {}).get("text/html", "")
            if "anim-buttons" in html:
                players.append(html)
        if "remove-output" in cell.metadata.get("tags", []):
            widget_cells += 1
            data = [o["data"] for o in cell.outputs if "data" in o]
            assert any("application/vnd.jupyter.widget-view+json" in d for d in data)
    assert widget_cells == 1
    assert len(players) == 1
    assert len(players[0].encode()) < 1_000_000
    assert "http://" not in players[0] and "https://" not in players[0]


@pytest.mark.slow
def test_quoted_numbers(executed: dict) -> None:
    g = glued(executed["_notebook"])
    h = g["dyn_h"]
    assert g["dyn_idea_gap"] < 1e-13
    assert g["dyn_idea_bg_far"] == 0.0
    assert g["dyn_fp_gap_near"] < 1e-5
    for key in ("near_and_far", "far", "both_sides"):
        assert 1e-5 < g[f"dyn_fp_gap_{key}"] < 5e-3  # GD only approaches the boundary
    assert g["dyn_shift_gd_gap"] < 1e-13 and g["dyn_shift_em_gap"] < 1e-13
    assert g["dyn_shift_offset"] == pytest.approx(49 / h)
    assert g["dyn_shift_offset_err"] < 1e-10
    assert 1 - 1e-9 < g["dyn_ratio_min"] <= g["dyn_ratio_max"] <= 1.0
    assert g["dyn_cls_zgap"] == 0.0
    assert g["dyn_bg_identity"] < 1e-14
    assert 0.8 < g["dyn_bg_ratio_min"] < g["dyn_bg_ratio_max"] < 1.0
    assert 0.0 < g["dyn_bg_opt_shift"] < 0.1
    assert g["dyn_w1_slope"] == pytest.approx(g["dyn_w1_pred"], rel=2e-3)
    assert g["dyn_l2_change"] < 1e-12
