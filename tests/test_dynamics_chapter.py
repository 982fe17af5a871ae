"""book/dynamics.md as the strict build executed it: its live demo follows every trait,
nothing was written to stderr, and the numbers the prose quotes (glued) say what the prose
says about them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from chapter_harness import (
    built_notebook,
    demo_from_output,
    drive,
    glued,
    live_outputs,
    stderr_outputs,
)

CHAPTER = "dynamics"


def test_live_demo_follows_every_trait() -> None:
    (data,) = live_outputs(built_notebook(CHAPTER))
    report = drive(demo_from_output(data))
    assert {k for k, _ in report} >= {"d", "eps", "near", "lr"}
    assert all(ok for _, ok in report), report


def test_no_stderr_and_no_error() -> None:
    nb = built_notebook(CHAPTER)
    assert stderr_outputs(nb) == []
    assert all(o.get("output_type") != "error" for c in nb.cells for o in c.get("outputs", []))


def test_quoted_numbers() -> None:
    g = glued(CHAPTER)
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
    assert 0.0 < g["dyn_pi_far_max"] < 1e-3  # "below ... on the whole target" at D = 2
    assert g["dyn_em_floor_boundary"] < 100 < g["dyn_em_floor_steps"]


def test_setups_alt_text_quotes_the_computed_step_count() -> None:
    """Fig. fig-dynamics-setups: its alt text says how long EM takes to reach 1e-15, and that
    number (rounded to tens) is the one the chapter computed and glued."""
    g = glued(CHAPTER)
    text = (Path(__file__).resolve().parents[1] / "book" / f"{CHAPTER}.md").read_text()
    block = text[text.index("name: fig-dynamics-setups") :]
    alt = block[block.index("alt:") : block.index("---")]
    first, rest = re.findall(r"within (?:about )?(\d+)", " ".join(alt.split()))
    assert int(first) == round(g["dyn_em_floor_steps"], -1)
    assert g["dyn_em_floor_boundary"] <= int(rest)
