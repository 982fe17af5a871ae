"""The chapter "Any target density": the numbers it shows, read from the build.

The chapter runs once per ``make test`` (in the strict build); these tests read its glued
values and check the claims the text makes about them.
"""

from __future__ import annotations

from chapter_harness import built_notebook, glued, stderr_outputs

from kdeloss.fast import EXACT_TOL, FFT_TOL

CHAPTER = "any-target"


def test_the_chapter_ran_cleanly():
    assert stderr_outputs(built_notebook(CHAPTER)) == []


def test_every_method_meets_its_bound_against_the_reference():
    g = glued(CHAPTER)
    assert g["check_exact"] <= EXACT_TOL
    assert 0.0 < g["check_fft"] <= FFT_TOL
    assert "FAIL" not in g["check_table"]


def test_what_survives():
    g = glued(CHAPTER)
    assert g["scale_grad"] <= EXACT_TOL
    assert g["shift_grad"] <= EXACT_TOL
    assert g["leak_grad"] > 1e-3  # the counterexample really changes the gradient
    assert g["em_grad"] <= 1e-8 and g["em_gap"] >= -1e-12
    assert g["hist_grad"] <= 1e-15 and g["hist_loss"] <= 1e-13


def test_the_picture_pushes_toward_the_label():
    g = glued(CHAPTER)
    assert g["pic_hl_min"] < 0 and g["pic_kde_min"] < 0
