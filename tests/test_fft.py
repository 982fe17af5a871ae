"""``method="fft"``: its documented bound (``fast.FFT_TOL``, in the shared measure) against the
60-digit reference over adversarial draws, the regression tests of the defects found, and
``choose_method``'s ``tol``."""

from __future__ import annotations

import math
import os

import mpmath as mp
import numpy as np
import pytest
from _reference import Uncovered, errors, reference_measured
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kdeloss import ScaledKernel, bin_centers, fast, get_kernel, loss_and_grad
from kdeloss.loss import log_softmax

TOL = fast.FFT_TOL
EXACT = 1e-12


class Logistic:
    """A custom kernel (smooth, exponential tails): the logistic density of scale ``h``."""

    name = "logistic"

    def __init__(self, bandwidth: float) -> None:
        self.bandwidth = bandwidth

    def logpdf(self, d: np.ndarray) -> np.ndarray:
        h = self.bandwidth
        with np.errstate(over="ignore"):
            u = np.abs(np.asarray(d, dtype=float)) / h
        return -u - 2.0 * np.log1p(np.exp(-u)) - math.log(h)


def logistic_mp(d, h):
    u = abs(d) / h
    return -u - 2 * mp.log(1 + mp.exp(-u)) - mp.log(h)


def make_kernel(name: str, h: float):
    """The kernel object and the reference's name for it."""
    if name == "logistic":
        return get_kernel(Logistic(h)), logistic_mp
    return get_kernel(name, h), name


# --- adversarial draws -------------------------------------------------------------------

BANDWIDTHS = st.one_of(
    st.sampled_from([1e-300, 1e-200, 1e-12, 1e-3, 0.1, 1.0, 7.0, 1e12, 1e200, 1e300]),
    st.floats(-300.0, 300.0).map(lambda e: 10.0**e),
)
# where the target starts and how wide it is, in bandwidths
STARTS = st.sampled_from([0.0, 0.37, -3.0, 1e3, -1e6, 1e15])
WIDTHS = st.one_of(
    st.sampled_from([1e-3, 0.5, 1.0, 4.0, 30.0, 1e3]),
    st.floats(-3.0, 4.0).map(lambda e: 10.0**e),
)
LOGIT_SCALES = st.sampled_from([0.0, 1.0, 3.0, 30.0, 700.0, 1e300])


@st.composite
def cases(draw):
    """Logits, positions, bin centres, bandwidth, background: points inside the target, on
    bin centres and interval ends, near-equal, far (up to 1e15 bandwidths), heavy or light."""
    h = draw(BANDWIDTHS)
    m = draw(st.integers(1, 32))
    start, width = draw(STARTS), draw(WIDTHS)
    with np.errstate(over="ignore"):
        a = start * h
        b = a + width * h
    assume(math.isfinite(a) and math.isfinite(b) and b > a and abs(a) < 1e306 > abs(b))
    t = bin_centers(a, b, m)
    assume(np.all(np.diff(t) > 0))
    n = draw(st.integers(1, 8))
    x = np.empty(n)
    for j in range(n):
        kind = draw(st.sampled_from(["inside", "bin", "end", "near", "far", "reach"]))
        if kind == "inside":
            x[j] = a + (b - a) * draw(st.floats(-0.2, 1.2))
        elif kind == "bin":
            x[j] = t[draw(st.integers(0, m - 1))]
        elif kind == "end":
            x[j] = draw(st.sampled_from([a, b]))
        elif kind == "near" and j > 0:
            x[j] = x[draw(st.integers(0, j - 1))] * (1.0 + draw(st.sampled_from([0.0, 1e-15, -3e-12])))
        elif kind == "reach":  # around the grid's edge, FFT_TAIL deep in the kernel
            side = draw(st.sampled_from([a, b]))
            x[j] = side + h * draw(st.sampled_from([-1.0, 1.0])) * draw(st.floats(8.0, 70.0))
        else:
            dist = 10.0 ** draw(st.floats(1.0, 15.0))
            with np.errstate(over="ignore"):
                x[j] = draw(st.sampled_from([a - dist * h, b + dist * h]))
    assume(np.all(np.isfinite(x)) and np.abs(x).max() < 1e306)
    scale = draw(LOGIT_SCALES)
    z = np.array([draw(st.floats(-1.0, 1.0)) for _ in range(n)]) * scale
    if draw(st.booleans()):  # one heavy point
        z[draw(st.integers(0, n - 1))] += draw(st.sampled_from([50.0, 300.0, 1e300]))
    # huge logits are the log-softmax's business (another test); keep those it gets right
    assume(np.all(np.isfinite(z)))
    assume(abs(float(np.logaddexp.reduce(log_softmax(z)))) < 1e-15)
    eps = draw(st.sampled_from([0.0, 0.0, 1e-12, 0.1, 0.9]))
    return z, x, t, h, eps


WORST: dict[str, list[float]] = {}
# cases where fft falls back to "direct" and "direct" itself fails (a RuntimeWarning):
# defects of the direct method (Gaussian.log_rows, _FastRows), not of fft
DIRECT_FAILS: dict[str, int] = {}


@pytest.fixture(scope="module", autouse=True)
def _report_worst():
    yield
    if os.environ.get("KDELOSS_REPORT"):
        for name, (el, eg) in sorted(WORST.items()):
            print(f"\nworst fft errors, {name}: loss {el:.3g}, gradient {eg:.3g}")
        print(f"\nfallbacks where direct itself failed: {DIRECT_FAILS}")


def check_against_reference(name: str, case, bound: float) -> None:
    z, x, t, h, eps = case
    kern, ref_name = make_kernel(name, h)
    log_u = -math.log(float(t[-1] - t[0]) + h) if eps else 0.0
    try:
        ref = reference_measured(z, x, t, ref_name, h, eps, log_u)
    except Uncovered:
        with pytest.raises(ValueError, match=r"^bins: bin \d+ at t = .* is covered by no kernel"):
            fast.fft(z, x, t, kern, eps, log_u)
        return
    try:
        got = fast.fft(z, x, t, kern, eps, log_u)
    except RuntimeWarning:
        # fft fell back to the direct method, which warns here on its own: its defect
        with pytest.raises(RuntimeWarning):
            fast.direct(z, x, t, kern, eps, log_u)
        DIRECT_FAILS[name] = DIRECT_FAILS.get(name, 0) + 1
        return
    err_l, err_g = errors(got, ref)
    worst = WORST.setdefault(name, [0.0, 0.0])
    worst[0], worst[1] = max(worst[0], err_l), max(worst[1], err_g)
    assert err_l <= bound and err_g <= bound, (err_l, err_g)


PROPERTY = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)


@PROPERTY
@given(cases())
def test_fft_gaussian_keeps_its_bound(case):
    check_against_reference("gaussian", case, TOL)


@PROPERTY
@given(cases())
def test_fft_custom_kernel_keeps_its_bound(case):
    check_against_reference("logistic", case, TOL)


@PROPERTY
@given(cases())
def test_fft_box_is_exact(case):
    check_against_reference("box", case, EXACT)
