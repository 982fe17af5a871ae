"""Every method, every regime: each method against the exact reference on adversarial draws.

For each method ("direct", "sorted", "fft", "auto") and kernel, hypothesis draws problems
with N <= 8 points and M <= 32 bins across the regimes of issue 12: logits up to +-1e300 (all
equal, with a huge spread, shifted by a huge constant), bandwidths from 1e-300 to 1e300,
points from 0 to 1e15 bandwidths away on either or both sides, clusters of near-equal points
(1e-11 relative), heavy points beyond any FFT grid, points exactly on bin centres and on
``a`` and ``b``, targets far from 0 and huge ([1e308, 1.7e308]), backgrounds in [0, 0.9].

The contract checked for every draw: the call either

* returns a finite loss and gradient within the method's documented bound of
  :func:`kdeloss.testing.reference` (exact methods 1e-12 on both measures of
  :func:`kdeloss.testing.loss_error` and :func:`kdeloss.testing.grad_error`; "fft" its own
  bound, :data:`FFT_BOUND`), or
* raises a ``ValueError`` whose message starts with the name of one of the caller's
  arguments;

never NaN or inf, never another exception type, never a warning. Where the reference raises
(a bin no box covers, an interval whose bin centres are not finite) or says the loss is not a
float (``|L| > 1.7e308``), the library must raise a ``ValueError``. On *benign* draws
(ordinary logits, bandwidths and positions) it must answer.

The worst errors per method and kernel are collected in :data:`WORST`; with
``KDELOSS_REGIMES_REPORT=1`` they are written to ``_build/test_regimes.json`` (with the
inputs of the worst draws) and printed at the end of the module, for the closing note:

    KDELOSS_REGIMES_REPORT=1 .venv/bin/python -m pytest -q -s tests/core/test_regimes.py

Draws are shared between the methods of one kernel (hypothesis derandomizes by test), so the
reference is computed once per draw and cached. On failure hypothesis shrinks, which takes
minutes while many draws fail; ``KDELOSS_REGIMES_EXAMPLES=30`` gives a quick look.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from _examples import examples
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import kdeloss
import kdeloss.fast
from kdeloss.testing import grad_error, loss_error, reference

ROOT = Path(__file__).resolve().parents[2]

REGIMES = settings(
    # KDELOSS_REGIMES_EXAMPLES lowers it for a quick look while fixing; 300 is the contract
    max_examples=examples(int(os.environ.get("KDELOSS_REGIMES_EXAMPLES", "300"))),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: The bound of the exact methods on both error measures.
EXACT_BOUND = 1e-12


def _fft_bound() -> float:
    """The fft method's documented bound: a module constant if kdeloss.fast has one."""
    for name in ("FFT_BOUND", "FFT_ERROR", "FFT_ERROR_BOUND", "FFT_TOL", "FFT_RTOL"):
        value = getattr(kdeloss.fast, name, None)
        if isinstance(value, float) and 0.0 < value < 1e-3:
            return value
    return 1e-6


FFT_BOUND = _fft_bound()
BOUNDS = {"direct": EXACT_BOUND, "sorted": EXACT_BOUND, "auto": EXACT_BOUND, "fft": FFT_BOUND}

COMBOS = [
    *[("direct", k) for k in ("laplace", "gaussian", "box", "vonmises")],
    ("sorted", "laplace"),
    *[("fft", k) for k in ("laplace", "gaussian", "box")],
    *[("auto", k) for k in ("laplace", "gaussian", "box", "vonmises")],
]

ARGUMENTS = ("z", "x", "a", "b", "kernel", "bandwidth", "bins", "background", "method")
# "x: ...", "a and b: ...", "z and x: ...", "x[3]: ...", "bandwidth, x: ..."
MESSAGE = re.compile(rf"^(?:{'|'.join(ARGUMENTS)})(?:\[\d+\])?(?::|,| and | or | /)")

#: Worst errors per "method/kernel", filled as the tests run.
WORST: dict[str, dict[str, object]] = {}

BIG = 1.7976931348623157e308


# --------------------------------------------------------------------------------------------
# draws


def _finite(v: float) -> float:
    """Clip to the finite floats (the draws compose products that may overflow)."""
    if math.isnan(v):
        return 0.0
    return max(-BIG, min(BIG, v))


def _pow10(e: float) -> float:
    return _finite(10.0**e) if e < 308.25 else BIG


@st.composite
def targets(draw: st.DrawFn) -> tuple[float, float, str]:
    kind = draw(st.sampled_from(["unit", "unit", "unit", "shifted", "far", "huge", "narrow"]))
    if kind == "unit":
        a = draw(st.floats(-3.0, 3.0))
        return a, a + draw(st.floats(0.01, 10.0)), kind
    if kind == "shifted":
        a = draw(st.sampled_from([1.0, -1.0])) * _pow10(draw(st.floats(0.0, 15.0)))
        return a, a + _pow10(draw(st.floats(-3.0, 3.0))), kind
    if kind == "far":
        a, b = draw(
            st.sampled_from(
                [(1e6, 1e6 + 1.0), (-1e6 - 1.0, -1e6), (1e15, 1e15 + 8.0), (1e300, 2e300)]
            )
        )
        return a, b, kind
    if kind == "huge":
        a, b = draw(
            st.sampled_from([(1e308, 1.7e308), (-1.7e308, -1e308), (-1e308, 1e308), (0.0, BIG)])
        )
        return a, b, kind
    # narrow: a few ulps wide, or so narrow that 1 / (b - a) overflows
    a, b = draw(
        st.sampled_from(
            [
                (1.0, float(np.nextafter(np.nextafter(1.0, 2.0), 2.0))),
                (0.0, 5e-324),
                (0.0, 1e-310),
                (-1e-300, 1e-300),
                (1e6, 1e6 + 2.0**-32),
            ]
        )
    )
    return a, b, kind


def _bandwidth(draw: st.DrawFn, width: float) -> tuple[float, bool]:
    kind = draw(st.sampled_from(["relative", "relative", "absolute", "special"]))
    if kind == "relative":
        e = draw(st.floats(-3.0, 3.0))
        h = _finite(width * 10.0**e) if math.isfinite(width) else 1e300
        return max(h, 1e-300), abs(e) <= 1.5
    if kind == "absolute":
        return _pow10(draw(st.floats(-300.0, 300.0))), False
    return draw(st.sampled_from([1e-12, 1e-16, 1e-155, 1e-300, 1e-307, 1e155, 1e300])), False


def _logits(draw: st.DrawFn, n: int) -> tuple[np.ndarray, bool]:
    kind = draw(st.sampled_from(["small", "small", "equal_huge", "spread", "shifted", "dominant"]))
    small = st.floats(-10.0, 10.0)
    sign = st.sampled_from([1.0, -1.0])
    if kind == "small":
        return np.array(draw(st.lists(small, min_size=n, max_size=n))), True
    if kind == "equal_huge":
        c = draw(sign) * _pow10(draw(st.floats(0.0, 300.0)))
        return np.full(n, c), False
    if kind == "spread":
        mags = st.floats(-1.0, 300.0).map(_pow10)
        return np.array([draw(sign) * draw(mags) for _ in range(n)]), False
    if kind == "shifted":
        c = draw(sign) * _pow10(draw(st.floats(3.0, 300.0)))
        return np.array([c + draw(small) for _ in range(n)]), False
    z = np.array(draw(st.lists(small, min_size=n, max_size=n)))
    z[draw(st.integers(0, n - 1))] = draw(sign) * _pow10(draw(st.floats(0.0, 300.0)))
    return z, False


def _positions(
    draw: st.DrawFn, n: int, a: float, b: float, t: np.ndarray | None, h: float, kernel: str
) -> tuple[np.ndarray, bool]:
    """Positions, and whether they are all within 30 bandwidths of the target."""
    kinds = ["inside", "centre", "end", "near", "near", "far", "beyond_grid"]
    x = np.empty(n)
    benign = True
    mid = _finite(0.5 * a + 0.5 * b)
    for j in range(n):
        kind = draw(st.sampled_from(kinds))
        if kind == "inside":
            u = draw(st.floats(0.0, 1.0))
            v = _finite((1.0 - u) * a + u * b)
        elif kind == "centre" and t is not None:
            v = float(t[draw(st.integers(0, t.size - 1))])
        elif kind in ("end", "centre"):
            v = draw(st.sampled_from([a, b]))
        elif kind == "near":
            v = _finite(draw(st.sampled_from([a, b, mid])) + h * draw(st.floats(-30.0, 30.0)))
        else:
            benign = False
            lo, hi = (0.0, 15.0) if kind == "far" else (math.log10(11.0), 4.0)
            dist = _finite(h * 10.0 ** draw(st.floats(lo, hi)))
            if draw(st.booleans()):
                v = _finite(a - dist)
            else:
                v = _finite(b + dist)
        x[j] = v
    # clusters of near-equal points: copies of point 0, 1e-11 relative (or a few ulps) apart
    if n > 1 and draw(st.booleans()):
        benign = False
        k = draw(st.integers(1, n - 1))
        for j in range(1, k + 1):
            rel = draw(st.sampled_from([1e-11, -1e-11, 5e-11, 2.2e-16, 0.0]))
            x[j] = _finite(x[0] * (1.0 + j * rel)) if x[0] != 0.0 else j * rel * h
    # one side or both: mirror everything beyond the target to one side sometimes
    if draw(st.booleans()):
        side = draw(st.sampled_from(["left", "right"]))
        for j in range(n):
            if side == "left" and x[j] > b:
                x[j] = _finite(a - (x[j] - b))
            elif side == "right" and x[j] < a:
                x[j] = _finite(b + (a - x[j]))
    if kernel == "vonmises":
        benign = benign and bool(np.all(np.abs(x) <= 10.0))
    return x, benign


@st.composite
def problems(draw: st.DrawFn, kernel: str) -> dict[str, object]:
    """One adversarial problem, as keyword arguments of loss_and_grad, plus a benign flag."""
    n = draw(st.integers(1, 8))
    m = draw(st.integers(1, 32))
    a, b, tkind = draw(targets())
    width = b - a
    h, h_benign = _bandwidth(draw, width)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = kdeloss.bin_centers(a, b, m)
        if not np.all(np.isfinite(t)):
            t = None
    except ValueError:
        t = None
    z, z_benign = _logits(draw, n)
    with np.errstate(over="ignore", invalid="ignore"):  # sums clipped by _finite
        x, x_benign = _positions(draw, n, a, b, t, h, kernel)
    # a heavy point beyond any fft grid: the largest logit, 11 to 1e4 bandwidths out
    if n > 1 and draw(st.booleans()):
        j = int(np.argmax(z))
        off = h * 10.0 ** draw(st.floats(math.log10(11.0), 4.0))
        x[j] = _finite(b + off) if draw(st.booleans()) else _finite(a - off)
        if z_benign:
            z[j] = draw(st.floats(10.0, 100.0))
        x_benign = False
    background = draw(st.one_of(st.just(0.0), st.floats(0.0, 0.9)))
    benign = (
        tkind == "unit"
        and h_benign
        and z_benign
        and x_benign
        and (kernel != "vonmises" or h <= 3.0)
    )
    return {
        "z": z,
        "x": x,
        "a": a,
        "b": b,
        "bandwidth": h,
        "bins": m,
        "background": background,
        "benign": benign,
    }


# --------------------------------------------------------------------------------------------
# the contract


def _record(key: str, field: str, value: float, case: dict[str, object]) -> None:
    entry = WORST.setdefault(
        key,
        {"loss_error": 0.0, "grad_error": 0.0, "answered": 0, "refused": 0, "must_refuse": 0},
    )
    if field in ("answered", "refused", "must_refuse"):
        entry[field] = int(entry[field]) + 1  # type: ignore[call-overload]
        return
    if value > float(entry[field]):  # type: ignore[arg-type]
        entry[field] = value
        entry[f"{field}_case"] = {
            k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in case.items()
        }


@functools.lru_cache(maxsize=4096)
def _cached_reference(
    kernel: str, z: tuple, x: tuple, a: float, b: float, h: float, bins: int, background: float
) -> tuple[float, np.ndarray, np.ndarray] | None:
    """The reference, or None where it raises; the same draws recur across methods."""
    try:
        return reference(
            np.array(z),
            np.array(x),
            a,
            b,
            kernel=kernel,
            bandwidth=h,
            bins=bins,
            background=background,
        )
    except ValueError:
        return None


def box_boundary_is_ambiguous(case: dict[str, object]) -> bool:
    """Whether rounding ``t - x`` to a float flips a box kernel's support at some bin.

    The box kernel is discontinuous at ``|d| = h/2``; the reference decides coverage from the
    exact difference, a float computation from the rounded one. Draws where the two disagree
    (a point within an ulp of a box edge) are left out rather than failed.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = kdeloss.bin_centers(case["a"], case["b"], case["bins"])
    except ValueError:
        return False
    if not np.all(np.isfinite(t)):
        return False
    half = Fraction(float(case["bandwidth"])) / 2  # type: ignore[arg-type]
    with np.errstate(all="ignore"):
        for tm in t:
            for xj in np.asarray(case["x"]):
                rounded = abs(float(tm) - float(xj)) <= 0.5 * float(case["bandwidth"])  # type: ignore[arg-type]
                exact = abs(Fraction(float(tm)) - Fraction(float(xj))) <= half
                if rounded != exact:
                    return True
    return False


def check_contract(method: str, kernel: str, case: dict[str, object]) -> None:
    """The contract of the module docstring for one draw."""
    if kernel == "box":
        assume(not box_boundary_is_ambiguous(case))
    args = {k: v for k, v in case.items() if k != "benign"}
    key = f"{method}/{kernel}"
    ref = _cached_reference(
        kernel,
        tuple(np.asarray(args["z"]).tolist()),
        tuple(np.asarray(args["x"]).tolist()),
        *(args[k] for k in ("a", "b", "bandwidth", "bins", "background")),
    )
    ref_ok = ref is not None and math.isfinite(ref[0])
    if ref is not None:
        L_ref, g_ref, logq_ref = ref
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            L, g = kdeloss.loss_and_grad(kernel=kernel, method=method, **args)  # type: ignore[arg-type]
        except ValueError as err:
            msg = str(err)
            assert MESSAGE.match(msg), f"the ValueError does not name an argument: {msg!r}"
            if ref_ok:
                _record(key, "refused", 0.0, case)
                assert not case["benign"], f"refused a benign problem: {msg!r}"
            else:
                _record(key, "must_refuse", 0.0, case)
            return
    assert ref_ok, (
        f"answered L = {L!r} where it must raise a ValueError (the reference raises or "
        "says the loss is not a float)"
    )
    _record(key, "answered", 0.0, case)
    assert isinstance(L, float) and math.isfinite(L), f"loss {L!r}"
    g = np.asarray(g)
    assert g.shape == (len(case["z"]),), g.shape  # type: ignore[arg-type]
    assert np.all(np.isfinite(g)), f"gradient {g!r}"
    le = loss_error(L, L_ref, logq_ref)
    ge = grad_error(g, g_ref)
    _record(key, "loss_error", le, case)
    _record(key, "grad_error", ge, case)
    bound = BOUNDS[method]
    assert le <= bound, f"loss error {le:.3g} > {bound:g}: L = {L!r}, reference {L_ref!r}"
    assert ge <= bound, f"gradient error {ge:.3g} > {bound:g}: g = {g!r}, reference {g_ref!r}"


@pytest.mark.parametrize(("method", "kernel"), COMBOS, ids=[f"{m}-{k}" for m, k in COMBOS])
def test_method_meets_its_bound_or_refuses(method: str, kernel: str) -> None:
    @REGIMES
    @given(problems(kernel))
    def run(case: dict[str, object]) -> None:
        check_contract(method, kernel, case)

    run()


# A few targeted larger cases (N * M above the threshold where "auto" picks "sorted" and the
# direct method uses row blocks and threads).
LARGE = [
    ("sorted", "laplace", 1e-12, 300, 240),
    ("auto", "laplace", 1e-5, 300, 240),
    ("fft", "gaussian", 0.05, 100, 200),
]


@pytest.mark.parametrize(("method", "kernel", "h", "n", "m"), LARGE)
def test_larger_problems(method: str, kernel: str, h: float, n: int, m: int) -> None:
    rng = np.random.default_rng(12)
    case: dict[str, object] = {
        "z": rng.normal(size=n),
        "x": rng.uniform(-1.0, 1.0, size=n),
        "a": -1.0,
        "b": 1.0,
        "bandwidth": h,
        "bins": m,
        "background": 0.0,
        "benign": h >= 1e-3,
    }
    check_contract(method, kernel, case)


@pytest.fixture(autouse=True, scope="module")
def _report():
    """Write and print the worst errors when KDELOSS_REGIMES_REPORT is set."""
    yield
    if not os.environ.get("KDELOSS_REGIMES_REPORT"):
        return
    out = ROOT / "_build" / "test_regimes.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"bounds": BOUNDS, "worst": WORST}, indent=1, default=str))
    print(f"\nworst errors per method and kernel (written to {out}):")
    for key, entry in sorted(WORST.items()):
        print(
            f"  {key:18s} loss {float(entry['loss_error']):.2e}  "  # type: ignore[arg-type]
            f"grad {float(entry['grad_error']):.2e}  "  # type: ignore[arg-type]
            f"answered {entry['answered']}  refused {entry['refused']}  "
            f"must-refuse {entry['must_refuse']}"
        )
