"""The live demos: the anywidget traits in Python, and the kernel-free pages in chromium.

Each demo's ``text/html`` rendition is written to a page of its own and opened in Debian's
chromium; :func:`live_demos.drive_demo` moves every control to several values and checks
``grad_bin``, ``grad`` and ``loss`` of each ``data-state`` against kdeloss to 1e-12, and times
each redraw (median at most 16 ms). At 390 px wide nothing scrolls sideways. The measured
numbers go to ``_build/demo-timings.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT
from live_demos import DEMOS, TOL, drive_demo, standalone_page

from kdeloss.book.demos import LiveDemo

TIMINGS = ROOT / "_build" / "demo-timings.json"
SHOTS = ROOT / "_build" / "demo-screenshots"


@pytest.mark.parametrize("name", sorted(DEMOS))
def test_widget_traits_and_html_rendition(name: str) -> None:
    cls, _ = DEMOS[name]
    w = cls()
    assert isinstance(w, LiveDemo)
    data, _meta = w._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    html = data["text/html"]
    assert f'"{name}"' in w._esm
    # no URL but the SVG namespace (a name, never fetched)
    bare = html.replace("http://www.w3.org/2000/svg", "")
    assert "http://" not in bare and "https://" not in bare
    # nothing in the embedded JSON can end the script element early
    body = html.split('<script type="module">', 1)[1].rsplit("</script>", 1)[0]
    assert "</" not in body
    state = w.demo_state()
    assert json.loads(json.dumps(state)) == state
    for k, v in state.items():
        setattr(w, k, v)  # every synced trait takes its own value back


@pytest.fixture(scope="module")
def timings():
    results: dict[str, dict] = {}
    yield results
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    TIMINGS.write_text(json.dumps(results, indent=1), encoding="utf-8")


def _open(chromium, width: int, url: str):
    page = chromium.new_page(viewport={"width": width, "height": 900}, has_touch=True)
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
    return page, errors, requests


@pytest.mark.browser
@pytest.mark.parametrize("name", sorted(DEMOS))
def test_demo_parity_and_speed(name: str, chromium, timings, tmp_path: Path) -> None:
    cls, _ = DEMOS[name]
    page_path = standalone_page(cls(), tmp_path / f"{name}.html")
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, label in [(1000, "desktop"), (390, "phone")]:
        page, errors, requests = _open(chromium, width, page_path.as_uri())
        root = page.locator(f'[data-kdeloss-demo="{name}"]')
        root.wait_for()
        page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (
            f"{name}: scrolls sideways at {width} px"
        )
        small = page.evaluate(
            """(r) => [...r.querySelectorAll('text, label, output, p')]
                .map(e => parseFloat(getComputedStyle(e).fontSize)).filter(s => s < 12)""",
            root.element_handle(),
        )
        assert not small, f"{name}: text under 12 px: {small}"
        assert root.locator("[aria-live]").count() == 1
        if label == "desktop":
            report = drive_demo(page, name)
            timings[name] = {k: report[k] for k in ("median_ms", "worst", "checked")}
            assert report["checked"] >= 10
            for k, v in report["worst"].items():
                assert v <= TOL, f"{name}: {k} differs from kdeloss by {v:.3g}"
            assert report["median_ms"] <= 16.0, f"{name}: median redraw {report['median_ms']} ms"
            assert root.locator("[aria-live]").inner_text().strip()
        else:  # a tap works on a phone
            root.locator('input[type="range"]').first.tap()
        assert not errors, errors
        assert all(u.startswith(("file:", "blob:", "data:")) for u in requests), requests
        page.close()
