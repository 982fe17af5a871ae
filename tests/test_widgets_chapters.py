"""The one-hot, scale and at-work chapters as the build executed them: each shows one live demo,
whose rendition follows every trait and loads nothing from another host (the shift, circle
and dynamics chapters are checked by their own tests)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from chapter_harness import (
    built_notebook,
    demo_from_output,
    drive,
    glued,
    live_outputs,
    stderr_outputs,
)

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


def test_one_hot_chapter_numbers() -> None:
    """The checks the one-hot chapter glues, and its kernel family at p = 1 and p = 2 (the
    Laplace kernel of bandwidth h/2 and the Gaussian of standard deviation h/(2 sqrt 2))."""
    g = glued("one-hot")
    for key in ["err_textbook", "err_complex", "err_set", "err_const", "gennorm_named_err"]:
        assert g[key] < 1e-12, (key, g[key])
    assert g["pic_gap_box"] == 0.0 < g["pic_gap_six"] < g["pic_gap_laplace"]
    assert g["sympy_cases"] == 10


def test_scale_chapter_numbers() -> None:
    """The scale chapter: e^-600 is about 1e-261 (a normal double), the limits of doubles it
    quotes, and the underflow estimate (a bound on D/h) just above the measured slide."""
    g = glued("scale")
    assert g["pic_log10_c_far"] == pytest.approx(-600 / math.log(10))
    assert round(g["pic_log10_c_far"]) == -261
    assert g["log_smallest_normal"] == pytest.approx(math.log(np.finfo(float).tiny))
    assert g["log_smallest_subnormal"] == pytest.approx(math.log(np.nextafter(0.0, 1.0)))
    assert -745 < g["log_smallest_subnormal"] < -744 < -709 < g["log_smallest_normal"] < -708
    assert 0.0 <= g["ex_predicted"] - g["nan_distance"] < 0.5
    assert g["ex_log_tiny"] == pytest.approx(1075 * math.log(2.0))
    for key in ["pic_grad_diff", "check_grad", "slide_grad"]:
        assert g[key] < 1e-11, (key, g[key])
    assert g["check_loss"] < 1e-9
    assert g["pic_loss_far"] - g["pic_loss_near"] == pytest.approx(600.0)
