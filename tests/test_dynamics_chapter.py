"""Execute book/dynamics.md headlessly (one kernel, once): its live demo follows every trait,
nothing is written to stderr, and the numbers the prose quotes (glued) say what the prose
says about them."""

from __future__ import annotations

from pathlib import Path

import pytest
from chapter_harness import DRIVE, drive_report, execute_chapter, live_outputs

CHAPTER = Path(__file__).resolve().parents[1] / "book" / "dynamics.md"


@pytest.fixture(scope="module")
def executed():
    return execute_chapter(CHAPTER, [DRIVE])


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
def test_live_demo_follows_every_trait(executed) -> None:
    assert len(live_outputs(executed)) == 1
    report = drive_report(executed)
    assert list(report) == ["remedy"]
    assert {k for k, _ in report["remedy"]} >= {"d", "eps", "near", "lr"}
    assert all(ok for _, ok in report["remedy"]), report


@pytest.mark.slow
def test_no_stderr_and_no_error(executed) -> None:
    for cell in executed.cells:
        for out in cell.get("outputs", []):
            assert out.get("name") != "stderr", f"stderr: {out.get('text')}"
            assert out.get("output_type") != "error"


@pytest.mark.slow
def test_quoted_numbers(executed) -> None:
    g = glued(executed)
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
