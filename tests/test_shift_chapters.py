"""The shift and circle chapters as the build executed them; drive their live demos' traits.

The chapters glue every number they print; these tests check that the glued claims are the
theorems' (rounding-level deviations where the theorem says "unchanged", clear changes where
it says "fails"), that no cell writes to stderr, and that each chapter has its live demo,
whose every trait the rendition follows.
"""

from __future__ import annotations

import math

import pytest
from chapter_harness import (
    built_notebook,
    demo_from_output,
    drive,
    glued,
    live_outputs,
    stderr_outputs,
)


def _one_live_demo(nb) -> None:
    (data,) = live_outputs(nb)
    report = drive(demo_from_output(data))
    assert report and all(ok for _, ok in report), report


def test_laplace_shift_chapter_runs_and_its_widget_redraws() -> None:
    nb = built_notebook("laplace-shift")
    _one_live_demo(nb)
    assert stderr_outputs(nb) == []
    g = glued("laplace-shift")
    for key in [
        "chk_bin_grad",
        "chk_bin_loss",
        "chk_interval_grad",
        "chk_interval_loss",
        "chk_binned_grad",
        "chk_after_arrival",
        "flat_max",
        "flat_bin_max",
        "prefix_err",
        "one_side_err",
        "one_side_r_spread",
    ]:
        assert g[key] < 1e-12, (key, g[key])
    # fig-shift-change's inset: the 16-bin gradient holds half a bin longer, then moves
    assert g["arr_binned"] == pytest.approx(g["arr_int"] + 0.8 / 32)
    assert g["zoom_binned_held"] < 1e-14 and g["zoom_binned_after"] > 1e-6
    assert g["entry_err"] < 1e-3
    assert g["gauss_small"] > 1e-3 and g["vm_small"] > 1e-3
    assert g["gauss_far_gain"] > 0 > g["gauss_near_gain"]
    assert g["arr_int"] == pytest.approx(0.7) and g["arr_bin"] == pytest.approx(1.1)


def test_circle_chapter_runs_and_its_claims_hold() -> None:
    nb = built_notebook("circle")
    _one_live_demo(nb)
    assert stderr_outputs(nb) == []
    g = glued("circle")
    for key in [
        "surv_gradient",
        "surv_wrap",
        "surv_one_hot",
        "surv_scale_grad",
        "surv_scale_loss",
        "sh_bin_grad",
        "sh_bin_loss",
        "sh_arc_grad",
        "circ_flat",
    ]:
        assert g[key] < 1e-12, (key, g[key])
    assert g["sh_antipodal_min"] > 1e-8 and g["sh_vonmises_min"] > 1e-8
    assert g["circ_margin_bad"] < 0
    assert g["circ_arrival"] == pytest.approx(0.5)
    assert g["surv_normaliser_ok"] is True and g["sh_sympy_grad"] is True
    # prop-circle-shift-fails (a): nothing at depth 0, at most e^2 / (4 h (b - a)) inside
    assert g["depth_change_0"] < 1e-14
    for i in (1, 2, 3):
        assert 0 < g[f"depth_change_{i}"] <= g[f"depth_bound_{i}"]
    assert g["depth_change_2"] / g["depth_change_1"] == pytest.approx(100.0, rel=0.05)
    # fig-circle-shift as its text describes it: the point on the antipodal arc moves the
    # gradient by about 1e-3 (within the bound), flat once its antipode has left the target
    assert g["circ_bad_depth"] == pytest.approx(2.9 - math.pi + 0.5)
    assert 1e-4 < g["circ_bad_plateau"] < g["circ_bad_bound"]
    assert g["circ_bad_exit_spread"] < 1e-12
    assert g["circ_vm_first"] > 1e-4
