"""Helpers for the live-demo tests: the demos, their standalone pages, and the parity check.

``DEMOS`` maps each demo's ``data-kdeloss-demo`` name to its widget class and chapter.
:func:`check_state` recomputes what a ``data-state`` shows with kdeloss and returns the worst
difference (gradients absolute; the loss relative to ``max(1, |L|)``, the shared measure).
:func:`drive_demo` moves every control of a mounted demo in chromium to several values and
checks each redraw.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import numpy as np

import kdeloss
from kdeloss.book.demos import (
    AtWorkDemo,
    CircleDemo,
    OneHotDemo,
    RemedyDemo,
    ScaleDemo,
    ShiftDemo,
    kernel_from_state,
)

#: demo name -> (widget class, chapter page without suffix)
DEMOS: dict[str, tuple[type, str]] = {
    "one-hot": (OneHotDemo, "book/one-hot"),
    "scale": (ScaleDemo, "book/scale"),
    "laplace-shift": (ShiftDemo, "book/laplace-shift"),
    "dynamics": (RemedyDemo, "book/dynamics"),
    "circle": (CircleDemo, "book/circle"),
    "at-work": (AtWorkDemo, "book/at-work"),
}

#: every compared number must agree with kdeloss to this
TOL = 1e-12


def standalone_page(demo: Any, path: Path) -> Path:
    """Write a page that holds only the demo's kernel-free rendition."""
    path.write_text(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>demo</title></head><body>{demo.html()}</body></html>",
        encoding="utf-8",
    )
    return path


def check_state(st: dict[str, Any]) -> dict[str, float]:
    """Worst differences between a ``data-state`` and kdeloss (keys: what was compared)."""
    kern = kernel_from_state(st["kernel"])
    z = np.asarray(st["z"], dtype=float)
    x = np.asarray(st["x"], dtype=float)
    eps = float(st.get("background", 0.0) or 0.0)
    out: dict[str, float] = {}
    if "grad_bin" in st:
        u = 1.0 / (st["b"] - st["a"]) if "a" in st else 1.0
        ref = kdeloss.bin_grad(z, x, st["t"], kernel=kern, background=eps, background_density=u)
        out["grad_bin"] = float(np.max(np.abs(np.asarray(st["grad_bin"]) - ref)))
    if "grad" in st:
        L, g = kdeloss.loss_and_grad(
            z, x, st["a"], st["b"], kernel=kern, bins=int(st["bins"]), background=eps,
            method="direct",
        )
        out["grad"] = float(np.max(np.abs(np.asarray(st["grad"]) - g)))
        if "loss" in st:
            out["loss"] = abs(st["loss"] - L) / max(1.0, abs(L))
    if "descent" in st:  # the dynamics demo: final weights of its two gradient descents
        d = st["descent"]
        for key, e in [("plain", 0.0), ("background", eps)]:
            run = kdeloss.gradient_descent(
                z, x, st["a"], st["b"], steps=int(d["steps"]), lr=d["lr"], kernel=kern,
                bins=int(st["bins"]), background=e,
            )
            out[f"descent_{key}"] = float(np.max(np.abs(np.asarray(d[key]) - run.weights[-1])))
    if "predictive" in st:  # the at-work demo: the trained models at one input
        out.update(_check_predictive(st, kern, x, z))
    return out


def _check_predictive(st: dict[str, Any], kern: Any, x: np.ndarray, z: np.ndarray) -> dict:
    """The at-work demo's logits and densities against kdeloss.book.atwork's."""
    from kdeloss.book import atwork as aw

    grid = np.asarray(st["grid"], dtype=float)
    phi = aw.features(np.array([st["u"]]), len(st["W"]["kde"]) - 1)[0]
    out = {"logits": 0.0, "density": 0.0}
    for kind, got in st["predictive"].items():
        zk = phi @ np.asarray(st["W"][kind], dtype=float)
        out["logits"] = max(out["logits"], float(np.abs(np.asarray(got["z"]) - zk).max()))
        if kind == "kde":
            ref = np.exp(kdeloss.log_density(zk, x, grid, kernel=kern))
        else:
            edges = np.asarray(got["edges"], dtype=float)
            model = aw.Model(kind, edges, 0.5 * (edges[:-1] + edges[1:]))
            ref = np.exp(model.log_density(np.repeat(zk[None, :], grid.size, axis=0), grid))
        err = np.abs(np.asarray(got["density"]) - ref) / np.maximum(ref, 1e-300)
        out["density"] = max(out["density"], float(np.max(np.where(ref > 0, err, 0.0))))
    truth = np.exp(aw.true_log_density(st["u"], grid))
    out["truth"] = float(np.max(np.abs(np.asarray(st["truth"]) - truth) / truth))
    out["kde_logits"] = float(np.abs(z - phi @ np.asarray(st["W"]["kde"])).max())
    return out


def _values(lo: float, hi: float, step: float, k: int, rng: np.random.Generator) -> list[float]:
    vals = [lo, hi, 0.5 * (lo + hi), *rng.uniform(lo, hi, size=k)]
    return [round(round((v - lo) / step) * step + lo, 10) for v in vals]


def drive_demo(page: Any, name: str, rounds: int = 3, seed: int = 0) -> dict[str, Any]:
    """Move every control of demo ``name`` on ``page``; check every redraw against kdeloss.

    Returns the redraw times (ms, measured in the page around the synchronous ``input``
    handler), the worst difference per compared quantity, and how many states were checked.
    """
    rng = np.random.default_rng(seed)
    root = page.locator(f'[data-kdeloss-demo="{name}"]').first
    root.wait_for()
    assert root.get_attribute("data-state"), f"{name}: no data-state after mounting"
    ranges = root.locator('input[type="range"]')
    boxes = root.locator('input[type="checkbox"]')
    times: list[float] = []
    worst: dict[str, float] = {}
    checked = 0

    def check() -> None:
        nonlocal checked
        st = json.loads(root.get_attribute("data-state"))
        for k, v in check_state(st).items():
            assert math.isfinite(v), f"{name}: {k} is not finite in {st}"
            worst[k] = max(worst.get(k, 0.0), v)
        checked += 1

    timed_set = """([el, v]) => {
        const t0 = performance.now();
        el.value = String(v);
        el.dispatchEvent(new Event('input', {bubbles: true}));
        return performance.now() - t0;
    }"""
    timed_click = """(el) => { const t0 = performance.now(); el.click();
        return performance.now() - t0; }"""
    for r in range(rounds):
        for i in range(ranges.count()):
            el = ranges.nth(i)
            assert el.get_attribute("id") and root.locator(
                f'label[for="{el.get_attribute("id")}"]'
            ).count() == 1, f"{name}: range {i} has no label"
            lo, hi = float(el.get_attribute("min")), float(el.get_attribute("max"))
            step = float(el.get_attribute("step"))
            for v in _values(lo, hi, step, 2 if r else 3, rng):
                times.append(page.evaluate(timed_set, [el.element_handle(), v]))
                check()
        for i in range(boxes.count()):
            el = boxes.nth(i)
            times.append(page.evaluate(timed_click, el.element_handle()))
            check()
    return {"times": times, "median_ms": statistics.median(times), "worst": worst,
            "checked": checked}
