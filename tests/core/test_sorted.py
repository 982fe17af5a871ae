"""``method="sorted"`` (and ``"fft"`` for Laplace): exact in every regime.

Compared with ``method="direct"`` and with a 60-digit mpmath reference, using the project's
error measure: loss error ``|L - L_ref| / max(1, mean |log q_ref|)``, gradient error
``max |g - g_ref|`` (absolute), both at most ``1e-12``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _examples import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from kdeloss import bin_centers, fast, get_kernel, log_softmax, loss_and_grad
from kdeloss.testing import grad_error, loss_error, reference

EXACT = 1e-12


def errors(
    z: np.ndarray, x: np.ndarray, a: float, b: float, m: int, h: float, eps: float = 0.0
) -> tuple[float, float]:
    """The loss error and the gradient error of ``sorted_laplace``, in the project's
    measure, against the exact reference (:func:`kdeloss.testing.reference`)."""
    lref, gref, logq = reference(z, x, a, b, bins=m, bandwidth=h, background=eps)
    t = bin_centers(a, b, m)
    log_u = -math.log(b - a)
    loss, grad = fast.sorted_laplace(np.asarray(z, float), np.asarray(x, float), t, h, eps, log_u)
    return loss_error(loss, lref, logq), grad_error(grad, gref)


def assert_exact(z, x, a, b, m, h, eps=0.0) -> None:
    err_l, err_g = errors(np.asarray(z, float), np.asarray(x, float), a, b, m, h, eps)
    assert err_l <= EXACT, err_l
    assert err_g <= EXACT, err_g


# --- the two known failures of the old prefix sums ----------------------------------------


@pytest.mark.parametrize("h", [1e-12, 1e-16, 1e-307])
def test_tiny_bandwidths_match_direct(h):
    """300 random points in [-1, 1]: once 1e-6 (1e-12), 0.05 (1e-16), -inf (1e-307)."""
    rng = np.random.default_rng(5)
    z, x = rng.normal(size=300), rng.uniform(-1.0, 1.0, size=300)
    opts = {"bandwidth": h, "bins": 256}
    ref = loss_and_grad(z, x, -1.0, 1.0, method="direct", **opts)
    for method in ("sorted", "fft", "auto"):
        loss, grad = loss_and_grad(z, x, -1.0, 1.0, method=method, **opts)
        assert np.isfinite(grad).all()
        assert abs(loss - ref[0]) <= EXACT * max(1.0, abs(ref[0]))
        assert np.abs(grad - ref[1]).max() <= EXACT


@pytest.mark.parametrize("h", [1e-12, 1e-16, 1e-307, 1e-300, 1e-100])
def test_tiny_bandwidths_match_the_reference(h):
    rng = np.random.default_rng(6)
    assert_exact(rng.normal(size=8), rng.uniform(-1.0, 1.0, size=8), -1.0, 1.0, 24, h)


# --- regimes ------------------------------------------------------------------------------


REGIMES = {
    "far left": lambda r: -1e6 - r.uniform(0.0, 1.0, 6),
    "far right": lambda r: 1e15 * 0.3 + r.uniform(0.0, 1.0, 6),
    "far both": lambda r: np.array([-3e5, 3e5 + 1.0, -3e5 - 0.5, 3e5 + 1.7, -7.0, 9.0]),
    "far both and inside": lambda r: np.array([-1e6, 1e6 + 1.0, 0.3, 0.71, 2.0, -0.5]),
    "bin centres and ends": lambda r: np.concatenate(
        [bin_centers(0.0, 1.0, 16)[[0, 3, 3, 15]], [0.0, 1.0]]
    ),
    "near-equal": lambda r: 0.37 + np.arange(6) * 5e-17,
    "just outside": lambda r: np.array([-1e-17, 1.0 + 2e-16, -0.01, 1.01, 0.5, -3.0]),
}


@pytest.mark.parametrize("regime", sorted(REGIMES))
@pytest.mark.parametrize("h", [0.3, 0.01, 1e-9])
@pytest.mark.parametrize("eps", [0.0, 0.05])
def test_regimes_match_the_reference(regime, h, eps):
    rng = np.random.default_rng(7)
    x = REGIMES[regime](rng)
    assert_exact(rng.normal(size=x.size), x, 0.0, 1.0, 16, h, eps)


@pytest.mark.parametrize("x", [[0.2], [-5.0], [7.0], [0.0], [1.0]])
@pytest.mark.parametrize("bins", [1, 2, 5])
def test_one_point(x, bins):
    assert_exact([0.3], x, 0.0, 1.0, bins, 0.2)


@pytest.mark.parametrize("x", [[0.1, 0.9, 0.5], [-3.0, 4.0, 0.5], [-1e9, -2e9, 1e9]])
@pytest.mark.parametrize("eps", [0.0, 0.5])
def test_one_bin(x, eps):
    assert_exact([0.1, -0.4, 2.0], x, 0.0, 1.0, 1, 0.05, eps)


@pytest.mark.parametrize(
    "z",
    [
        [1e300, -1e300, 0.0, 5.0],
        [-1e300, -1e300, -1e300 + 1e285, -1e300],
        [1e-300, -1e-300, 0.0, 1e-310],
        [700.0, -700.0, 1400.0, 0.0],
    ],
)
@pytest.mark.parametrize("eps", [0.0, 1e-12, 0.99])
def test_huge_and_tiny_logits(z, eps):
    assert_exact(z, [0.1, 0.45, 0.8, 3.0], 0.0, 1.0, 20, 0.07, eps)


def test_bins_far_from_every_point_take_the_log_path_and_stay_exact():
    """Bins 10^4 bandwidths from the mass: the linear path declines, the log path is exact."""
    z, x = np.array([0.0, 1.0, -2.0]), np.array([0.0, 0.001, 0.0005])
    t = bin_centers(0.0, 100.0, 30)
    kp, ends = fast._intervals(x, t)
    assert fast._linear_path(np.log(np.full(3, 1 / 3)), x, t, 0.01, kp, ends, 0.0, 0.0) is None
    assert_exact(z, x, 0.0, 100.0, 30, 0.01)
    assert_exact(z, x, 0.0, 100.0, 30, 0.01, 0.1)


def test_huge_bandwidth():
    rng = np.random.default_rng(8)
    assert_exact(rng.normal(size=5), rng.uniform(-1.0, 2.0, size=5), 0.0, 1.0, 9, 1e300)


def test_a_loss_near_the_largest_float_is_finite():
    """log q near -1.5e308 at every bin: the mean of the logs must not overflow."""
    z, x = np.array([0.0, 0.5]), np.array([0.0, -1.0])
    assert_exact(z, x, 10.0, 17.0, 4, 1e-307)
    loss, _ = loss_and_grad(z, x, 10.0, 17.0, bandwidth=1e-307, bins=4, method="sorted")
    assert 1e308 < loss < 1.8e308


def test_a_bin_beyond_every_float_exponent_raises():
    with pytest.raises(ValueError, match=r"^bandwidth: bin 0 .* more than ~1e308 bandwidths"):
        loss_and_grad([0.0, 1.0], [200.0, 300.0], 0.0, 1.0, bandwidth=1e-307, method="sorted")
    # with a background the loss is finite and the model's gradient vanishes
    loss, grad = loss_and_grad(
        [0.0, 1.0], [200.0, 300.0], 0.0, 1.0, bandwidth=1e-307, method="sorted", background=0.1
    )
    assert loss == pytest.approx(-math.log(0.1)) and np.all(grad == 0.0)


# --- the linear path ----------------------------------------------------------------------


@pytest.mark.parametrize("kernel_h", [0.1, 0.001])
def test_linear_path_matches_direct_at_4000(kernel_h):
    """The benchmark's problem (h = 0.1: thousands of bins per bandwidth)."""
    r = np.random.default_rng(0)
    z, x = r.normal(size=4000), r.normal(size=4000)
    t = bin_centers(-1.0, 1.0, 4000)
    kp, ends = fast._intervals(x, t)
    assert fast._linear_path(log_softmax(z), x, t, kernel_h, kp, ends, 0.0, 0.0) is not None
    ref = fast.direct(z, x, t, get_kernel("laplace", kernel_h))
    loss, grad = fast.sorted_laplace(z, x, t, kernel_h)
    assert abs(loss - ref[0]) <= EXACT * max(1.0, abs(ref[0]))
    assert np.abs(grad - ref[1]).max() <= EXACT


def test_blocked_recursion_does_not_accumulate_rounding():
    """y_n = v_n + a y_{n-1} with a = 1 - 2e-6 over 3e5 steps: exact to a few 1e-15.

    One long recursion drifts by about n u (here ~1e-11) because a is rounded once and used
    n times; the blocked one does not.
    """
    n, log_a = 300_000, -2e-6
    got = fast._decay_scan(np.ones((1, n)), log_a)[0]
    k = np.arange(1, n + 1)
    exact = -np.expm1(k * log_a) / -np.expm1(log_a)  # sum_{i < k} a^i
    assert np.abs(got / exact - 1.0).max() < 5e-15


def test_intervals_are_exact_at_the_bins():
    t = bin_centers(-1.0, 1.0, 7)
    x = np.concatenate([t, np.nextafter(t, -np.inf), [-5.0, 5.0, -1.0, 1.0]])
    kp, ends = fast._intervals(x, t)
    assert np.array_equal(kp, np.searchsorted(t, x, side="right"))
    assert np.all((ends[:, 0] <= x) & (x < ends[:, 1]))


def test_fft_is_the_exact_method_for_laplace():
    r = np.random.default_rng(3)
    z, x = r.normal(size=500), r.normal(size=500)
    t = bin_centers(-1.0, 1.0, 400)
    got = fast.fft(z, x, t, get_kernel("laplace", 0.1))
    exact = fast.sorted_laplace(z, x, t, 0.1)
    assert got[0] == exact[0] and np.array_equal(got[1], exact[1])


# --- property test ------------------------------------------------------------------------


def log_uniform(draw, lo: int, hi: float, scale: float = 1.0) -> float:
    """``scale 10^e`` with ``e`` spread over ``[lo, hi]`` (an integer part and a fraction)."""
    e = draw(st.integers(lo, max(lo, math.floor(hi)))) + draw(st.floats(0.0, 1.0))
    return 10.0 ** (min(e, hi) + math.log10(scale))


@st.composite
def adversarial(draw) -> tuple[np.ndarray, np.ndarray, float, float, int, float, float]:
    n = draw(st.integers(1, 8))
    m = draw(st.integers(1, 32))
    h = log_uniform(draw, -300, 300.0)
    # positions below 1e305, distances below 1e300 bandwidths (log q stays a float)
    room = min(300.0, 305.0 - math.log10(h))
    width = log_uniform(draw, -2, min(draw(st.sampled_from([3.0, 12.0, 320.0])), room), h)
    centre = 0.0
    if draw(st.booleans()):
        centre = draw(st.sampled_from([-1.0, 1.0])) * log_uniform(draw, 0, min(15.0, room), h)
    a, b = centre - 0.5 * width, centre + 0.5 * width
    if not (a < b and math.isfinite(b - a)):
        a, b = -0.5 * width, 0.5 * width
    t = bin_centers(a, b, m)
    x = np.empty(n)
    for j in range(n):
        kind = draw(st.sampled_from(["inside", "near", "centre", "end", "far", "close"]))
        if kind == "inside":
            x[j] = a + (b - a) * draw(st.floats(0.0, 1.0))
        elif kind == "near" and j > 0:
            x[j] = x[j - 1]
            for _ in range(draw(st.integers(0, 3))):
                x[j] = np.nextafter(x[j], draw(st.sampled_from([-np.inf, np.inf])))
        elif kind == "centre" or kind == "near":
            x[j] = t[draw(st.integers(0, m - 1))]
        elif kind == "end":
            x[j] = draw(st.sampled_from([a, b]))
        else:
            away = log_uniform(draw, -1, min(15.0 if kind == "far" else 1.7, room), h)
            x[j] = a - away if draw(st.booleans()) else b + away
    logit_kind = draw(st.sampled_from(["normal", "huge", "tiny", "equal"]))
    if logit_kind == "huge":
        z = np.array([draw(st.sampled_from([-1.0, 1.0])) * log_uniform(draw, 0, 300.0) for _ in x])
    else:
        z = np.array([draw(st.floats(-3.0, 3.0)) for _ in x])
        z = {"normal": z, "tiny": z * 1e-300, "equal": np.zeros(n)}[logit_kind]
    eps = draw(st.sampled_from([0.0, 0.0, 0.0, 1e-9, 0.3, 0.999]))
    return z, x, a, b, m, h, eps


@settings(max_examples=examples(300), deadline=None, derandomize=True)
@given(adversarial())
def test_sorted_is_exact_on_adversarial_draws(case):
    z, x, a, b, m, h, eps = case
    assert_exact(z, x, a, b, m, h, eps)


def test_linear_path_puts_back_the_rounding_of_the_bin_centres():
    """Bins at 1000 with spacing h / 3: their rounding (1e-13) is 1e-10 bandwidths."""
    r = np.random.default_rng(4)
    z, x = r.normal(size=2000), 1000.0 + r.uniform(-0.2, 1.2, size=2000)
    t = bin_centers(1000.0, 1001.0, 3000)
    h = 1e-3
    skew = np.cumsum(np.diff(t) - (t[-1] - t[0]) / (t.size - 1)) / h
    assert np.abs(skew).max() > fast._NEGLIGIBLE_SKEW  # the correction runs
    kp, ends = fast._intervals(x, t)
    assert fast._linear_path(log_softmax(z), x, t, h, kp, ends, 0.0, 0.0) is not None
    for eps in (0.0, 0.2):
        ref = fast.direct(z, x, t, get_kernel("laplace", h), eps, 0.0)
        loss, grad = fast.sorted_laplace(z, x, t, h, eps, 0.0)
        assert abs(loss - ref[0]) <= EXACT * max(1.0, abs(ref[0]))
        assert np.abs(grad - ref[1]).max() <= EXACT


@pytest.mark.parametrize("eps", [0.0, 0.01])
def test_log_path_matches_direct_with_many_bins(eps):
    """Points in [0, 1], bins over [0, 60] with h = 0.05: most bins are 1000 bandwidths out."""
    r = np.random.default_rng(9)
    z, x = r.normal(size=700), r.uniform(0.0, 1.0, size=700)
    t = bin_centers(0.0, 60.0, 5000)
    kp, ends = fast._intervals(x, t)
    assert fast._linear_path(log_softmax(z), x, t, 0.05, kp, ends, 0.0, 0.0) is None
    ref = fast.direct(z, x, t, get_kernel("laplace", 0.05), eps, -math.log(60.0))
    loss, grad = fast.sorted_laplace(z, x, t, 0.05, eps, -math.log(60.0))
    assert abs(loss - ref[0]) <= EXACT * max(1.0, abs(ref[0]))
    assert np.abs(grad - ref[1]).max() <= EXACT
