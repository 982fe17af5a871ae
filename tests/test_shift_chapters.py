"""Execute the shift and circle chapters; drive their live demos' traits.

The chapters glue every number they print; these tests check that the glued claims are the
theorems' (rounding-level deviations where the theorem says "unchanged", clear changes where
it says "fails"), that no cell writes to stderr, and that each chapter has its live demo,
whose every trait the rendition follows.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from chapter_harness import DRIVE, drive_report, execute_chapter, live_outputs

BOOK = Path(__file__).resolve().parents[1] / "book"

pytestmark = pytest.mark.slow


def _glued(nb) -> dict[str, float]:
    """``{key: value}`` of every number the notebook glued (``myst_nb.glue``)."""
    out = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            meta = o.get("metadata", {})
            book = meta.get("scrapbook", {})
            key = book.get("name")
            if key is None:
                continue
            text = o.get("data", {}).get(book.get("mime_prefix", "") + "text/plain")
            try:
                out[key] = float(text.replace("np.float64(", "").rstrip(")"))
            except (TypeError, ValueError, AttributeError):
                continue
    return out


def _stderr(nb) -> list[str]:
    return [
        o.get("text", "")
        for cell in nb.cells
        for o in cell.get("outputs", [])
        if o.get("output_type") == "stream" and o.get("name") == "stderr"
    ]


def _one_live_demo(nb, variable: str) -> None:
    assert len(live_outputs(nb)) == 1
    report = drive_report(nb)
    assert list(report) == [variable]
    assert report[variable] and all(ok for _, ok in report[variable]), report


def test_laplace_shift_chapter_runs_and_its_widget_redraws() -> None:
    nb = execute_chapter(BOOK / "laplace-shift.md", [DRIVE])
    _one_live_demo(nb, "demo")
    assert _stderr(nb) == []
    g = _glued(nb)
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
    ]:
        assert g[key] < 1e-12, (key, g[key])
    assert g["entry_err"] < 1e-3
    assert g["gauss_small"] > 1e-3 and g["vm_small"] > 1e-3
    assert g["gauss_far_gain"] > 0 > g["gauss_near_gain"]
    assert g["arr_int"] == pytest.approx(0.7) and g["arr_bin"] == pytest.approx(1.1)


def test_circle_chapter_runs_and_its_claims_hold() -> None:
    nb = execute_chapter(BOOK / "circle.md", [DRIVE])
    _one_live_demo(nb, "circle_demo")
    assert _stderr(nb) == []
    g = _glued(nb)
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
