"""The chapter "The loss at work": its numbers, read from the build, and its time budget."""

from __future__ import annotations

from chapter_harness import built_notebook, execution_seconds, glued, stderr_outputs

CHAPTER = "at-work"


def test_the_chapter_ran_cleanly_within_its_budget():
    assert stderr_outputs(built_notebook(CHAPTER)) == []
    assert execution_seconds(CHAPTER) < 60.0


def test_the_ranking_the_text_states():
    g = glued(CHAPTER)
    # "the book's model has the best held-out log-likelihood", HL-Gauss the worst, and the
    # ceiling is the true process.
    lls = [g[f"ll_{k}"] for k in ("kde", "histogram", "classify", "hlgauss")]
    assert g["ll_oracle"] > lls[0] > max(lls[1:])
    assert g["ll_hlgauss"] == min(lls)
    assert abs(g["ll_histogram"] - g["ll_classify"]) < 0.05


def test_the_far_start_is_stuck_and_obeys_the_bound():
    g = glued(CHAPTER)
    assert abs(g["far_kde_end"] - g["far_kde_start"]) < 1.0
    assert g["far_hl_end"] < g["far_kde_end"]
    assert g["far_grad_max"] <= g["far_bound"] < 1e-15
    assert g["far_delta"] >= 35.0


def test_the_background_costs_here():
    g = glued(CHAPTER)
    assert g["ll_bg"] < g["ll_kde"]
    assert abs(g["bg_far_loss"] - g["bg_far_start"]) < 1e-2
