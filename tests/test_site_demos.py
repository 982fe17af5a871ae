"""Browser checks of every live demo on its chapter's page: each control redraws it with
kdeloss's numbers, fast, and the phone layout holds (the shared part: ``site_checks.py``)."""

from __future__ import annotations

import pytest
from live_demos import DEMOS, TOL, drive_demo
from site_checks import DEMO_TIMINGS, open_page, record

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.parametrize("name", sorted(DEMOS))
def test_live_demo_on_its_page(name, site_url, browser, screenshots) -> None:
    """Drive every control; numbers against kdeloss, redraw time, and the phone layout."""
    rel = DEMOS[name][1] + ".html"
    context, page, rec = open_page(browser, site_url + rel, site_url)
    try:
        root = page.locator(f'[data-kdeloss-demo="{name}"]')
        root.scroll_into_view_if_needed()
        root.screenshot(path=str(screenshots / f"demo-{name}-desktop.png"))
        report = drive_demo(page, name)
        for k, v in report["worst"].items():
            assert v <= TOL, f"{name}: {k} differs from kdeloss by {v:.3g}"
        assert report["median_ms"] <= 16.0, f"{name}: median redraw {report['median_ms']} ms"
        assert root.locator("[aria-live]").inner_text().strip()
        assert rec["foreign"] == [] and rec["errors"] == [], rec
        timing = {k: report[k] for k in ("median_ms", "worst", "checked")}
        record(DEMO_TIMINGS, name, timing, keep=set(DEMOS))
    finally:
        context.close()
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True,
        has_touch=True,
    )
    try:
        page = phone.new_page()
        page.goto(site_url + rel, wait_until="networkidle")
        root = page.locator(f'[data-kdeloss-demo="{name}"]')
        root.scroll_into_view_if_needed()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{rel}: scrolls sideways at 390 px ({width} px)"
        box = root.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        before = root.get_attribute("data-state")
        slider = root.locator('input[type="range"]').first
        slider.evaluate("e => e.scrollIntoView({block: 'center'})")
        sb = slider.bounding_box()
        page.touchscreen.tap(sb["x"] + sb["width"] * 0.9, sb["y"] + sb["height"] / 2)
        assert root.get_attribute("data-state") != before, f"{name}: a tap moved nothing"
        root.screenshot(path=str(screenshots / f"demo-{name}-phone.png"))
    finally:
        phone.close()
