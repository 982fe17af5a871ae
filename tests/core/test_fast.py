"""``loss_and_grad(method=...)``: every method agrees with the direct one within its error,
the exact methods stay exact far from the target, and memory stays bounded."""

from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest

from kdeloss import bin_centers, fast, get_kernel, loss_and_grad
from kdeloss.loss import _dense_loss_and_grad
from kdeloss.testing import reference_at

RNG_SEED = 20220205


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(RNG_SEED)


def rel_err(got: tuple[float, np.ndarray], ref: tuple[float, np.ndarray]) -> tuple[float, float]:
    """Relative error of the loss, and of the gradient in the max norm."""
    (l1, g1), (l0, g0) = got, ref
    scale = float(np.abs(g0).max()) or 1.0  # a far cluster with a background: g = 0
    return abs(l1 - l0) / abs(l0), float(np.abs(g1 - g0).max()) / scale


def random_case(rng: np.random.Generator, n: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Logits and positions around the target [0, 1]: inside, outside, tied, or far."""
    z = rng.normal(size=n) * 2.0
    if kind == "spread":
        x = rng.uniform(-2.0, 3.0, size=n)
    elif kind == "ties":  # on bin centres, on the ends, at a and b, and repeated
        t = bin_centers(0.0, 1.0, 300)
        x = np.concatenate([t[rng.integers(0, 300, n // 2)], [t[0], t[-1], 0.0, 1.0]])
        x = np.concatenate([x, x[: n - x.size]])[:n]
        x[-5:] = x[0]
    elif kind == "far-left":
        x = -1e6 * 0.3 - rng.uniform(0.0, 1.0, size=n)
    elif kind == "far-both":
        x = np.where(rng.random(n) < 0.5, -1.0, 1.0) * (3e5 + rng.uniform(0.0, 1.0, size=n))
        x[0] = -3e5  # the two clusters are at nearly the same distance
        x[1] = 1.0 + 3e5
    elif kind == "far-and-inside":
        x = np.where(rng.random(n) < 0.5, rng.uniform(0.0, 1.0, size=n), 3e5 + rng.random(n))
    else:
        raise ValueError(kind)
    return z, x


KINDS = ["spread", "ties", "far-left", "far-both", "far-and-inside"]


# --- choosing a method --------------------------------------------------------------------


def test_auto_picks_sorted_for_large_laplace_and_direct_otherwise():
    lap, gau = get_kernel("laplace"), get_kernel("gaussian")
    assert fast.choose_method("auto", lap, 1000, 1000) == "sorted"
    assert fast.choose_method("auto", lap, 10, 10) == "direct"
    assert fast.choose_method("auto", gau, 10**5, 10**5) == "direct"
    assert fast.choose_method("auto", get_kernel("vonmises"), 10**5, 10**5) == "direct"
    for m in ("direct", "fft"):
        assert fast.choose_method(m, gau, 10, 10) == m


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"method": "fastest"}, r"^method: unknown method 'fastest'; expected one of 'auto'"),
        ({"method": None}, r"^method: unknown method None"),
        ({"method": "sorted", "kernel": "gaussian"}, r'^method: "sorted" needs the Laplace'),
        ({"method": "sorted", "kernel": "box"}, r'^method: "sorted" needs the Laplace'),
        ({"method": "fft", "kernel": "vonmises"}, r'^method: "fft" needs a kernel on the line'),
    ],
)
def test_bad_method_names_the_argument(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        loss_and_grad([0.0, 1.0], [0.0, 0.5], 0.0, 1.0, **kwargs)


def test_fft_needs_a_length_scale_for_a_custom_kernel():
    class Cauchy:
        def logpdf(self, d):
            return -np.log(np.pi * (1.0 + d * d))

    with pytest.raises(ValueError, match=r'^method: "fft" needs the kernel\'s length scale'):
        loss_and_grad([0.0, 1.0], [0.0, 0.5], 0.0, 1.0, kernel=Cauchy(), method="fft")
    scaled = Cauchy()
    scaled.bandwidth = 1.0
    z, x = np.array([0.0, 1.0, -0.5]), np.array([0.0, 0.5, 3.0])
    got = loss_and_grad(z, x, 0.0, 1.0, kernel=scaled, bins=64, method="fft")
    ref = loss_and_grad(z, x, 0.0, 1.0, kernel=scaled, bins=64, method="direct")
    assert max(rel_err(got, ref)) < 1e-6


def test_small_direct_is_the_dense_reference_bit_for_bit(rng):
    z, x = rng.normal(size=40), rng.normal(size=40)
    for kernel in ["laplace", "gaussian", "vonmises", "box"]:
        t = bin_centers(-1.0, 1.0, 64)
        kern = get_kernel(kernel, 0.4)
        dense = _dense_loss_and_grad(z, x, t, kern, 0.0, 0.0)
        for method in ["direct", "auto"]:
            got = loss_and_grad(
                z, x, -1.0, 1.0, kernel=kernel, bandwidth=0.4, bins=64, method=method
            )
            assert got[0] == dense[0] and np.array_equal(got[1], dense[1])


# --- direct -------------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", ["laplace", "gaussian", "vonmises", "box"])
@pytest.mark.parametrize("eps", [0.0, 0.05])
def test_blocked_direct_matches_the_dense_table(rng, kernel, eps):
    z, x = rng.normal(size=700) * 2, rng.uniform(-2.0, 3.0, size=700)
    t = bin_centers(0.0, 1.0, 500)
    kern = get_kernel(kernel, 0.3)
    ref = _dense_loss_and_grad(z, x, t, kern, eps, 0.0)
    for chunk, workers in [(fast.CHUNK_BYTES, None), (50_000, 1), (50_000, 3), (8, 2)]:
        got = fast.direct(z, x, t, kern, eps, 0.0, chunk_bytes=chunk, workers=workers)
        err_l, err_g = rel_err(got, ref)
        assert err_l < 1e-14 and err_g < 1e-13, (chunk, workers)


@pytest.mark.parametrize("kernel", ["laplace", "gaussian"])
@pytest.mark.parametrize("side", [1.0, -1.0])
@pytest.mark.parametrize("h", [1.0, 0.37])
def test_blocked_direct_is_exact_far_away(rng, kernel, side, h):
    """The fast blocks hand points 10^6 bandwidths away to log_rows: exact to 1e-12."""
    z = rng.normal(size=7)
    x = 0.5 + side * (1e6 * h + rng.uniform(0.0, 3.0 * h, size=7))
    t = bin_centers(0.0, 1.0, 8)
    lref, gref, _, _ = reference_at(z, x, t, kernel=kernel, bandwidth=h)
    for chunk in (8, fast.CHUNK_BYTES):
        L, g = fast.direct(z, x, t, get_kernel(kernel, h), chunk_bytes=chunk)
        assert L == pytest.approx(lref, rel=1e-12)
        assert np.abs(g - gref).max() <= 1e-12 * np.abs(gref).max()


@pytest.mark.parametrize("kernel", ["laplace", "gaussian", "vonmises"])
def test_blocked_direct_matches_the_high_precision_reference(rng, kernel):
    z = rng.normal(size=9)
    x = rng.uniform(-1.5, 2.5, size=9)
    h = 0.4 if kernel == "vonmises" else 0.7
    t = bin_centers(0.0, 1.0, 16)
    lref, gref, _, _ = reference_at(z, x, t, kernel=kernel, bandwidth=h)
    L, g = fast.direct(z, x, t, get_kernel(kernel, h), chunk_bytes=8 * 9 * 3)
    assert L == pytest.approx(lref, rel=1e-13)
    np.testing.assert_allclose(g, gref, rtol=1e-11, atol=1e-15)


def test_blocked_direct_reports_the_first_uncovered_bin():
    z, x = np.zeros(3), np.array([0.1, 0.15, 0.9])
    t = bin_centers(0.0, 1.0, 40)
    kern = get_kernel("box", 0.1)
    with pytest.raises(ValueError) as dense:
        _dense_loss_and_grad(z, x, t, kern, 0.0, 0.0)
    for workers in (1, 2, 3):
        with pytest.raises(ValueError) as blocked:
            fast.direct(z, x, t, kern, chunk_bytes=8 * 3 * 2, workers=workers)
        assert str(blocked.value) == str(dense.value)
    assert str(dense.value).startswith("bins: bin 0 at t = 0.0125 is covered by no kernel")


# --- threads ------------------------------------------------------------------------------


@pytest.fixture
def fresh_threads():
    fast._reset_threads()
    yield
    fast._reset_threads()


def test_threads_change_nothing_but_the_order_of_one_sum(rng, monkeypatch, fresh_threads):
    z, x = rng.normal(size=800), rng.normal(size=800)
    t = bin_centers(-1.0, 1.0, 600)
    kern = get_kernel("gaussian", 0.2)
    threaded = fast.direct(z, x, t, kern, workers=2, chunk_bytes=100_000)
    assert fast._POOL is not None  # the pool really ran it

    # no threads at all: the same work, serially, bit for bit
    fast._reset_threads()
    started = []

    def refuse(self):
        started.append(self)
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    serial = fast.direct(z, x, t, kern, workers=2, chunk_bytes=100_000)
    assert started and not fast._THREADS_OK
    assert serial[0] == threaded[0] and np.array_equal(serial[1], threaded[1])
    monkeypatch.undo()

    # KDELOSS_THREADS=1: one worker, no pool
    fast._reset_threads()
    monkeypatch.setenv("KDELOSS_THREADS", "1")
    assert fast.worker_count() == 1
    one = fast.direct(z, x, t, kern, chunk_bytes=100_000)
    assert fast._POOL is None
    assert max(rel_err(one, threaded)) < 1e-15


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_bad_thread_count_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("KDELOSS_THREADS", value)
    with pytest.raises(ValueError, match=r"^KDELOSS_THREADS: expected a positive integer"):
        fast.worker_count()


# --- sorted -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("h", [0.05, 0.7])
@pytest.mark.parametrize("eps", [0.0, 0.02])
def test_sorted_agrees_with_direct(rng, kind, h, eps):
    z, x = random_case(rng, 400, kind)
    t = bin_centers(0.0, 1.0, 300)
    kern = get_kernel("laplace", h)
    ref = fast.direct(z, x, t, kern, eps, 0.0)
    got = fast.sorted_laplace(z, x, t, h, eps, 0.0)
    err_l, err_g = rel_err(got, ref)
    assert err_l < 1e-10 and err_g < 1e-10
    assert abs(got[1].sum()) < 1e-12


@pytest.mark.parametrize("kind", KINDS)
def test_sorted_matches_the_high_precision_reference(rng, kind):
    z, x = random_case(rng, 10, kind)
    t = bin_centers(0.0, 1.0, 12)
    lref, gref, _, _ = reference_at(z, x, t, kernel="laplace", bandwidth=0.3)
    L, g = fast.sorted_laplace(z, x, t, 0.3)
    assert L == pytest.approx(lref, rel=1e-12)
    assert np.abs(g - gref).max() <= 1e-12 * np.abs(gref).max()


def test_sorted_handles_one_point_and_one_bin():
    for x in ([0.2], [-5.0], [7.0]):
        for bins in (1, 2):
            ref = loss_and_grad([0.3], x, 0.0, 1.0, bins=bins, method="direct")
            got = loss_and_grad([0.3], x, 0.0, 1.0, bins=bins, method="sorted")
            assert got[0] == pytest.approx(ref[0], rel=1e-15) and abs(got[1][0]) <= 1e-15


def test_sorted_error_does_not_grow_with_the_width_of_the_target(rng):
    """No exponent of the target's width in bandwidths, W, enters (it used to: 1e-16 W)."""
    for width, h in [(100.0, 0.01), (1e4, 0.001)]:  # W = 5e3 and 5e6
        z, x = rng.normal(size=200), rng.uniform(0.0, width, size=200)
        t = bin_centers(0.0, width, 150)
        ref = _dense_loss_and_grad(z, x, t, get_kernel("laplace", h), 0.0, 0.0)
        err = max(rel_err(fast.sorted_laplace(z, x, t, h), ref))
        assert err < 1e-13


# --- fft ----------------------------------------------------------------------------------


def bench_case(n: int, kernel: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, object]:
    """The benchmark's problem: standard normal points and logits, [-1, 1], h = 0.1."""
    r = np.random.default_rng(0)
    z, x = r.normal(size=n), r.normal(size=n)
    return z, x, bin_centers(-1.0, 1.0, n), get_kernel(kernel, 0.1)


@pytest.mark.parametrize("kernel", ["laplace", "gaussian"])
@pytest.mark.parametrize("n", [100, 1000, 4000])
def test_fft_default_grid_meets_1e_6_on_the_benchmark_cases(kernel, n):
    z, x, t, kern = bench_case(n, kernel)
    err = rel_err(fast.fft(z, x, t, kern), fast.direct(z, x, t, kern))
    assert max(err) < 1e-6


@pytest.mark.parametrize("kernel", ["gaussian"])  # Laplace "fft" is exact: test_sorted.py
def test_fft_error_is_second_order_in_the_grid_step(kernel):
    z, x, t, kern = bench_case(1000, kernel)
    ref = fast.direct(z, x, t, kern)
    steps = [1 / 32, 1 / 64, 1 / 128, 1 / 256, 1 / 512]
    # tol=inf: the grid's own result, never refined nor replaced by the exact one
    errs = [rel_err(fast.fft(z, x, t, kern, step=s, tol=np.inf), ref)[1] for s in steps]
    slope = np.polyfit(np.log(steps), np.log(errs), 1)[0]
    assert np.all(np.diff(errs) < 0)
    assert 1.7 < slope < 2.5  # halving the step divides the error by about 4


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_fft_gradient_is_the_gradient_of_its_own_loss(rng, eps):
    """Reading back is the transpose of spreading: compare with central differences."""
    z, x = rng.normal(size=30), rng.normal(size=30)
    t = bin_centers(-1.0, 1.0, 50)
    kern = get_kernel("gaussian", 0.3)
    coarse = {"step": 1 / 16, "tol": np.inf}  # a coarse grid on purpose, kept
    _, g = fast.fft(z, x, t, kern, eps, np.log(0.5), **coarse)
    d = 1e-6
    for k in range(0, 30, 7):
        e = np.zeros(30)
        e[k] = d
        up = fast.fft(z + e, x, t, kern, eps, np.log(0.5), **coarse)[0]
        down = fast.fft(z - e, x, t, kern, eps, np.log(0.5), **coarse)[0]
        assert (up - down) / (2 * d) == pytest.approx(g[k], abs=1e-9)


def test_fft_laplace_merges_far_points_exactly(rng):
    z, x = random_case(rng, 300, "far-both")
    t = bin_centers(0.0, 1.0, 200)
    kern = get_kernel("laplace", 0.5)
    assert max(rel_err(fast.fft(z, x, t, kern), fast.direct(z, x, t, kern))) < 1e-6


def test_fft_falls_back_when_it_cannot_keep_its_error(rng, monkeypatch):
    z = rng.normal(size=50)
    t = bin_centers(0.0, 1.0, 100)
    kern = get_kernel("gaussian", 0.1)
    # every point far away: the bins' density is far below the grid's largest value
    x = 40.0 + rng.random(50)
    got = fast.fft(z, x, t, kern)
    ref = fast.direct(z, x, t, kern)
    assert got[0] == ref[0] and np.array_equal(got[1], ref[1])
    # a grid that would be too large
    monkeypatch.setattr(fast, "FFT_MAX_NODES", 1000)
    x = rng.normal(size=50)
    got = fast.fft(z, x, t, kern)
    ref = fast.direct(z, x, t, kern)
    assert got[0] == ref[0] and np.array_equal(got[1], ref[1])
    lap = fast.fft(z, x, t, get_kernel("laplace", 0.0001))
    exact = fast.sorted_laplace(z, x, t, 0.0001)
    assert lap[0] == exact[0] and np.array_equal(lap[1], exact[1])


def test_fft_with_a_box_kernel_is_exact(rng):
    z, x = rng.normal(size=200), rng.uniform(-0.5, 1.5, size=200)
    t = bin_centers(0.0, 1.0, 100)
    kern = get_kernel("box", 0.5)
    assert max(rel_err(fast.fft(z, x, t, kern), fast.direct(z, x, t, kern))) < 1e-13


@pytest.mark.parametrize("kernel", ["laplace", "gaussian"])
def test_every_method_through_loss_and_grad(rng, kernel):
    z, x = rng.normal(size=500), rng.uniform(-1.0, 2.0, size=500)
    opts = {"kernel": kernel, "bandwidth": 0.2, "bins": 400, "background": 0.01}
    ref = loss_and_grad(z, x, 0.0, 1.0, method="direct", **opts)
    methods = ["auto", "sorted", "fft"] if kernel == "laplace" else ["auto", "fft"]
    for method in methods:
        err = rel_err(loss_and_grad(z, x, 0.0, 1.0, method=method, **opts), ref)
        assert max(err) < (1e-6 if method == "fft" else 1e-12), method


# --- memory -------------------------------------------------------------------------------


def peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_direct_memory_is_bounded_at_20000():
    """N = M = 20,000: the table would be 3.2 GB; the blocked method stays under 100 MB."""
    z, x, t, kern = bench_case(20_000, "gaussian")
    peak = peak_bytes(lambda: fast.direct(z, x, t, kern))
    assert peak < 100 * 2**20


def test_direct_memory_grows_like_n_not_n_times_m():
    sizes = (2_000, 8_000)
    peaks = []
    for n in sizes:
        z, x, t, kern = bench_case(n, "laplace")
        peaks.append(peak_bytes(lambda z=z, x=x, t=t, kern=kern: fast.direct(z, x, t, kern)))
    # N M grew 16-fold (a whole table would be 512 MB at 8000); 8 MiB of slack for what other
    # threads of a test process allocate meanwhile (tracemalloc sees the whole process)
    assert peaks[1] < 2.0 * peaks[0] + 8 * 2**20


@pytest.mark.parametrize("method", ["sorted", "fft"])
def test_fast_methods_memory_is_linear(method):
    z, x, t, kern = bench_case(200_000, "laplace")
    run = {
        "sorted": lambda: fast.sorted_laplace(z, x, t, 0.1),
        "fft": lambda: fast.fft(z, x, t, kern),
    }[method]
    assert peak_bytes(run) < 200 * 8 * 200_000  # a few hundred vectors of N at most
