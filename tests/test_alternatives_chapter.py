"""book/alternatives.md as the strict build executed it: nothing was written to stderr, and the
numbers the prose quotes (glued) say what the prose says about them."""

from __future__ import annotations

import pytest
from chapter_harness import built_notebook, glued, stderr_outputs

CHAPTER = "alternatives"


def test_no_stderr_and_no_error() -> None:
    nb = built_notebook(CHAPTER)
    assert stderr_outputs(nb) == []
    assert all(o.get("output_type") != "error" for c in nb.cells for o in c.get("outputs", []))


def test_quoted_numbers() -> None:
    g = glued(CHAPTER)
    assert g["alt_h"] == 0.2
    assert g["alt_fd_worst"] < 1e-8
    assert g["alt_w1_split_gap"] < 1e-6  # the direct integral's grid
    assert 0.0 < g["alt_w1_theta_max"] <= 1.0  # |theta_i| <= b - a
    assert g["alt_w1_slope"] == pytest.approx(g["alt_w1_pred"], rel=2e-3)
    assert 10.0 < g["alt_d_from"] < 15.0
    assert g["alt_l2_change"] < 1e-12
    assert g["alt_w1_alone_gap"] < 1e-12
    assert g["alt_kl_laplace"] < 1e-13
