"""``method="fft"``: its documented bound (``fast.FFT_TOL``, in the shared measure) against the
mpmath reference (:func:`kdeloss.testing.reference_at`) over adversarial draws, the regression
tests of the defects found, and ``choose_method``'s ``tol``."""

from __future__ import annotations

import math
import os
from unittest import mock

import mpmath as mp
import numpy as np
import pytest
from _examples import examples
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kdeloss import ScaledKernel, bin_centers, fast, get_kernel, loss_and_grad
from kdeloss.testing import errors, reference_at

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

    def mp_logpdf(self, d, h):
        """The same in mpmath, for the reference."""
        u = abs(d) / h
        return -u - 2 * mp.log(1 + mp.exp(-u)) - mp.log(h)


def make_kernel(name: str, h: float):
    """The kernel object."""
    return get_kernel(Logistic(h) if name == "logistic" else name, h)


def measured(z, x, t, kern, eps, log_u):
    """The reference, or None for a bin no kernel covers (the methods must raise there)."""
    try:
        return reference_at(z, x, t, kernel=kern, background=eps, log_u=log_u)
    except ValueError as e:
        if not str(e).startswith("bins: "):
            raise
        return None


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
def cases(draw, far: bool = True):
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
        kinds = ["inside", "bin", "end", "near", "far", "reach"] if far else ["inside", "bin"]
        kind = draw(st.sampled_from(kinds))
        if kind == "inside":
            x[j] = a + (b - a) * draw(st.floats(-0.2, 1.2))
        elif kind == "bin":
            x[j] = t[draw(st.integers(0, m - 1))]
        elif kind == "end":
            x[j] = draw(st.sampled_from([a, b]))
        elif kind == "near" and j > 0:
            x[j] = x[draw(st.integers(0, j - 1))] * (
                1.0 + draw(st.sampled_from([0.0, 1e-15, -3e-12]))
            )
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
    assume(np.all(np.isfinite(z)))
    eps = draw(st.sampled_from([0.0, 0.0, 1e-12, 0.1, 0.9]))
    return z, x, t, h, eps


WORST: dict[str, list[float]] = {}
COUNTS: dict[str, dict[str, int]] = {}


@pytest.fixture(scope="module", autouse=True)
def _report_worst():
    yield
    if os.environ.get("KDELOSS_REPORT"):
        for name, (el, eg) in sorted(WORST.items()):
            print(f"\nworst fft errors, {name}: loss {el:.3g}, gradient {eg:.3g}")
        print(f"\nhow fft answered: {COUNTS}")


def check_against_reference(name: str, case, bound: float) -> None:
    z, x, t, h, eps = case
    kern = make_kernel(name.split("-")[0], h)
    log_u = -math.log(float(t[-1] - t[0]) + h) if eps else 0.0
    ref = measured(z, x, t, kern, eps, log_u)
    if ref is None:
        with pytest.raises(ValueError, match=r"^bins: bin \d+ at t = .* is covered by no kernel"):
            fast.fft(z, x, t, kern, eps, log_u)
        return
    with mock.patch.object(fast, "_fallback", wraps=fast._fallback) as fell_back:
        got = fast.fft(z, x, t, kern, eps, log_u)
    key = "fell back" if fell_back.called else "grid or exact"
    COUNTS.setdefault(name, {}).setdefault(key, 0)
    COUNTS[name][key] += 1
    err_l, err_g = errors(got, ref)
    worst = WORST.setdefault(name, [0.0, 0.0])
    worst[0], worst[1] = max(worst[0], err_l), max(worst[1], err_g)
    assert err_l <= bound and err_g <= bound, (err_l, err_g)


PROPERTY = settings(
    max_examples=examples(300),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)


@PROPERTY
@given(cases())
def test_fft_gaussian_keeps_its_bound(case):
    check_against_reference("gaussian", case, TOL)


@PROPERTY
@given(cases(far=False))
def test_fft_gaussian_near_the_target_keeps_its_bound(case):
    """Points near the target, where the grid answers (not the fallback) most often."""
    check_against_reference("gaussian-near", case, TOL)


@PROPERTY
@given(cases())
def test_fft_custom_kernel_keeps_its_bound(case):
    check_against_reference("logistic", case, TOL)


@PROPERTY
@given(cases())
def test_fft_box_is_exact(case):
    check_against_reference("box", case, EXACT)


# --- regression tests: the defects found ---------------------------------------------------


def against_reference(z, x, a, b, *, kernel="gaussian", bandwidth=1.0, bins=64, background=0.0):
    """fft through loss_and_grad and the reference, in the shared measure."""
    z, x = np.asarray(z, dtype=float), np.asarray(x, dtype=float)
    got = loss_and_grad(
        z,
        x,
        a,
        b,
        kernel=kernel,
        bandwidth=bandwidth,
        bins=bins,
        background=background,
        method="fft",
    )
    t = bin_centers(a, b, bins)
    log_u = -math.log(b - a)
    return errors(got, measured(z, x, t, make_kernel(kernel, bandwidth), background, log_u))


@pytest.mark.parametrize("far", [-11.0, -30.0, 12.5, 1e6, -1e15])
@pytest.mark.parametrize("heavy", [30.0, 100.0, 1e300])
def test_fft_accounts_for_heavy_points_beyond_its_grid(far, heavy):
    # the tester's case is far=-11, heavy=100: fft gave L=100.96, g=[-1, 1]
    err = against_reference([0.0, heavy], [0.5, far], 0.0, 1.0)
    assert max(err) <= TOL


def test_fft_heavy_far_point_example():
    L, g = loss_and_grad(
        [0.0, 100.0], [0.5, -11.0], 0.0, 1.0, kernel="gaussian", bins=64, method="fft"
    )
    assert L == pytest.approx(67.0856, abs=1e-4)
    assert np.abs(g).max() < 1e-12


@pytest.mark.parametrize("h", [1e-200, 1e-300, 1e200])
def test_fft_tiny_and_huge_bandwidths_with_a_background(h):
    # a target a few bandwidths wide: the grid works in any units
    rng = np.random.default_rng(5)
    z, x = rng.normal(size=6), rng.uniform(-1.0, 5.0, size=6) * h
    err = against_reference(z, x, 0.0, 4.0 * h, bandwidth=h, bins=16, background=0.1)
    assert max(err) <= TOL


def test_fft_tiny_bandwidth_on_a_wide_target_is_handed_to_direct():
    """h = 1e-200 on [0, 1]: a grid of 1e203 nodes; fft returns what "direct" returns."""
    rng = np.random.default_rng(0)
    z, x = rng.normal(size=5), rng.uniform(0.0, 1.0, size=5)
    t = bin_centers(0.0, 1.0, 16)
    kern = get_kernel("gaussian", 1e-200)

    class Handed(Exception):
        pass

    def direct(*args, **kwargs):
        raise Handed

    with mock.patch.object(fast, "direct", direct), pytest.raises(Handed):
        fast.fft(z, x, t, kern, 0.1, 0.0)


def test_fft_tiny_bandwidth_on_a_wide_target_gives_the_exact_answer():
    rng = np.random.default_rng(0)
    z, x = rng.normal(size=5), rng.uniform(0.0, 1.0, size=5)
    err = against_reference(z, x, 0.0, 1.0, bandwidth=1e-200, bins=16, background=0.1)
    assert max(err) <= EXACT


def test_fft_box_uncovered_bin_raises_as_direct_does():
    z, x = np.zeros(3), np.array([0.05, 0.1, 0.9])
    t = bin_centers(0.0, 1.0, 10)
    kern = get_kernel("box", 0.2)
    with pytest.raises(ValueError, match=r"^bins: bin \d+ at t = ") as exact:
        fast.direct(z, x, t, kern)
    with pytest.raises(ValueError, match=r"^bins: bin \d+ at t = ") as got:
        fast.fft(z, x, t, kern)
    assert str(got.value) == str(exact.value)
    with pytest.raises(ValueError, match=r"^bins: bin 2 at t = 0\.25 is covered by no kernel"):
        loss_and_grad(z, x, 0.0, 1.0, kernel="box", bandwidth=0.2, bins=10, method="fft")


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("background", [0.0, 0.05])
def test_fft_box_is_exact_on_random_cases(seed, background):
    rng = np.random.default_rng(seed)
    n, bins = int(rng.integers(1, 9)), int(rng.integers(1, 33))
    z = rng.normal(size=n) * 3.0
    t = bin_centers(0.0, 1.0, bins)
    # half on bin centres and on the edges of the boxes around them
    x = np.where(rng.random(n) < 0.5, rng.uniform(-0.3, 1.3, n), t[rng.integers(0, bins, n)])
    x[: n // 3] += rng.choice([-0.25, 0.25], size=n // 3)
    kern = get_kernel("box", 0.5)
    ref = measured(z, x, t, kern, background, 0.0)
    if ref is None:
        with pytest.raises(ValueError, match=r"^bins: bin \d+ at t = "):
            fast.fft(z, x, t, kern, background, 0.0)
        return
    assert max(errors(fast.fft(z, x, t, kern, background, 0.0), ref)) <= EXACT


def test_fft_box_matches_direct_at_scale():
    rng = np.random.default_rng(3)
    z, x = rng.normal(size=3000) * 2.0, rng.normal(size=3000)
    t = bin_centers(-1.0, 1.0, 2000)
    kern = get_kernel("box", 0.05)
    (l1, g1), (l0, g0) = (
        fast.fft(z, x, t, kern, 0.01, math.log(0.5)),
        fast.direct(z, x, t, kern, 0.01, math.log(0.5)),
    )
    assert abs(l1 - l0) <= EXACT * max(1.0, abs(l0)) and np.abs(g1 - g0).max() <= EXACT


def test_fft_box_decides_the_edge_exactly():
    # |t - x| = h/2 + 2^-60: outside, though t - x rounds to h/2
    t = bin_centers(0.0, 1.0, 1)  # 0.5
    x = np.array([0.5 - 0.25 - 2.0**-60, 0.5])
    err = against_reference([5.0, 0.0], x, 0.0, 1.0, kernel="box", bandwidth=0.5, bins=1)
    assert max(err) <= EXACT
    assert t[0] - x[0] == 0.25  # the float difference would have said inside


def random_gaussian_case(rng):
    n, m = int(rng.integers(5, 400)), int(rng.integers(5, 400))
    h = float(10.0 ** rng.uniform(-1.5, 0.5))
    a = float(rng.uniform(-2.0, 1.0))
    b = a + float(rng.uniform(0.2, 3.0))
    spread = float(rng.uniform(0.3, 3.0))
    z = rng.normal(size=n) * float(rng.uniform(0.0, 4.0))
    x = rng.normal(size=n) * spread + 0.5 * (a + b)
    eps = float(rng.choice([0.0, 0.0, 0.01, 0.3]))
    return z, x, bin_centers(a, b, m), get_kernel("gaussian", h), eps, -math.log(b - a)


@pytest.mark.parametrize("seed", range(40))
def test_fft_meets_its_bound_on_benign_random_gaussian_cases(seed):
    """The tester saw gradient errors above 1e-6 in about a fifth of such cases."""
    z, x, t, kern, eps, log_u = random_gaussian_case(np.random.default_rng(1000 + seed))
    (l1, g1), (l0, g0) = (
        fast.fft(z, x, t, kern, eps, log_u),
        fast.direct(z, x, t, kern, eps, log_u),
    )
    scale = max(1.0, abs(l0))  # mean |log q| >= |mean log q|: a stricter measure
    assert abs(l1 - l0) / scale <= TOL
    assert np.abs(g1 - g0).max() <= TOL


def test_fft_refines_its_grid_before_falling_back():
    # bins between two clusters, 2.5-7.5 bandwidths from either: the first bound is too large
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.normal(-0.5, 0.02, 500), rng.normal(1.5, 0.02, 500)])
    z = rng.normal(size=1000)
    t = bin_centers(0.0, 1.0, 2000)
    kern = get_kernel("gaussian", 0.2)
    grid = fast._fft_grid(x, t, kern, 0.2, fast.FFT_STEP)
    first = fast._fft_on_grid(fast._Softmax(z), x, t, kern, grid, 0.0, 0.0)
    assert first is not None and first[2] > TOL
    with mock.patch.object(fast, "_fallback", side_effect=AssertionError("fell back")):
        got = fast.fft(z, x, t, kern)
    exact = fast.direct(z, x, t, kern)
    assert abs(got[0] - exact[0]) <= TOL and np.abs(got[1] - exact[1]).max() <= TOL


def test_fft_docstring_states_the_step_it_uses():
    assert fast.FFT_STEP == 1 / 1024
    assert "step = 1/1024" in fast.fft.__doc__ and "1/256" not in fast.fft.__doc__
    assert fast.FFT_TOL == 1e-6 and "1e-6" in fast.fft.__doc__


@pytest.mark.parametrize(
    "kernel",
    [
        Logistic(0.3),
        ScaledKernel("gaussian", -1e4, bandwidth=0.3),
        ScaledKernel(Logistic(0.3), 50.0),
    ],
    ids=["custom", "scaled-gaussian", "scaled-custom"],
)
def test_fft_custom_and_scaled_kernels(kernel):
    rng = np.random.default_rng(11)
    z, x = rng.normal(size=300), rng.normal(size=300)
    opts = {"kernel": kernel, "bins": 500, "background": 0.01}
    got = loss_and_grad(z, x, -1.0, 1.0, method="fft", **opts)
    exact = loss_and_grad(z, x, -1.0, 1.0, method="direct", **opts)
    assert abs(got[0] - exact[0]) <= TOL * max(1.0, abs(exact[0]))
    assert np.abs(got[1] - exact[1]).max() <= TOL


def test_fft_scaled_box_falls_back_to_direct():
    rng = np.random.default_rng(12)
    z, x = rng.normal(size=40), rng.uniform(-0.2, 1.2, size=40)
    kern = ScaledKernel("box", 2.0, bandwidth=0.4)
    t = bin_centers(0.0, 1.0, 50)
    got, exact = fast.fft(z, x, t, kern), fast.direct(z, x, t, kern)
    assert got[0] == exact[0] and np.array_equal(got[1], exact[1])


def test_fft_refuses_von_mises():
    with pytest.raises(ValueError, match=r'^method: "fft" needs a kernel on the line'):
        loss_and_grad([0.0, 1.0], [0.0, 0.5], 0.0, 1.0, kernel="vonmises", method="fft")


# --- choose_method's tol -----------------------------------------------------------------


def test_auto_is_exact_by_default():
    big = fast.AUTO_FFT_MIN
    assert fast.choose_method("auto", get_kernel("gaussian"), big, 4) == "direct"
    assert fast.choose_method("auto", get_kernel("laplace"), big, 4) == "sorted"
    assert fast.choose_method("auto", get_kernel("laplace"), 10, 10) == "direct"
    assert fast.choose_method("auto", get_kernel("box"), big, 4) == "fft"  # exact for box
    assert fast.choose_method("auto", get_kernel("box"), 10, 10) == "direct"
    assert fast.choose_method("auto", get_kernel("gaussian"), big, 4, tol=1e-12) == "direct"


def test_auto_picks_fft_when_its_bound_is_acceptable_and_it_is_faster():
    gau, big = get_kernel("gaussian"), fast.AUTO_FFT_MIN
    assert fast.choose_method("auto", gau, big, 1, tol=1e-6) == "fft"
    assert fast.choose_method("auto", gau, big, 1, tol=0.1) == "fft"
    assert fast.choose_method("auto", gau, big - 1, 1, tol=0.1) == "direct"  # too small
    assert fast.choose_method("auto", gau, big, 1, tol=1e-7) == "direct"  # below fft's bound
    assert fast.choose_method("auto", get_kernel("vonmises"), big, 1, tol=1.0) == "direct"
    assert fast.choose_method("auto", get_kernel(Logistic(1.0)), big, 1, tol=1e-6) == "fft"

    class NoScale:
        def logpdf(self, d):
            return -0.5 * d * d

    assert fast.choose_method("auto", get_kernel(NoScale()), big, 1, tol=1.0) == "direct"
    assert fast.choose_method("auto", get_kernel("laplace"), big, 1, tol=1e-3) == "sorted"


def test_explicit_methods_ignore_tol():
    gau = get_kernel("gaussian")
    for method in ("direct", "fft"):
        assert fast.choose_method(method, gau, 10, 10, tol=1e-15) == method
        assert fast.choose_method(method, gau, 10**6, 10**6, tol=1.0) == method


@pytest.mark.parametrize("tol", [0.0, -1.0, math.nan, "1e-6", True])
def test_bad_tol_names_the_argument(tol):
    with pytest.raises(ValueError, match=r"^tol: "):
        fast.choose_method("auto", get_kernel("gaussian"), 10, 10, tol=tol)
