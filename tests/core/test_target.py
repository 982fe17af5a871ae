"""Any target density: bin weights or a callable p(t), in every method and in the batch.

``L = -sum_m wbar_m log q(t_m)`` and ``dL/dz = S - sum_m wbar_m r(t_m)`` (with a background,
``sum_m wbar_m pi_m (S - r(t_m))``), checked against the mpmath reference
(:func:`kdeloss.testing.reference` with ``target=``) in the shared error measure.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _examples import examples
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import kdeloss
from kdeloss import bin_centers, fast, get_kernel, loss, loss_and_grad, loss_and_grad_batch
from kdeloss.logspace import log_width
from kdeloss.testing import complex_step, grad_error, loss_error, reference

EXACT = 1e-12
# every method and the kernels it accepts; "dense" is the whole-table path that "direct"
# takes on small problems, "fast.direct" the row-block path it takes on large ones
METHODS = {
    "direct": ("laplace", "gaussian", "box", "vonmises"),
    "fast.direct": ("laplace", "gaussian", "box", "vonmises"),
    "sorted": ("laplace",),
    "fft": ("laplace", "gaussian", "box"),
    "auto": ("laplace", "gaussian", "box", "vonmises"),
}
CASES = [(m, k) for m, ks in METHODS.items() for k in ks]
A, B = -1.0, 1.5


def _run(method, z, x, kernel, h, m, eps, target, a=A, b=B, tol=None):
    """The library's loss and gradient by ``method``."""
    if method == "fast.direct":
        t = bin_centers(a, b, m)
        w = kdeloss._validate.as_target(target, t)
        return fast.direct(z, x, t, get_kernel(kernel, h), eps, -log_width(a, b), weights=w)
    opts = {"kernel": kernel, "bandwidth": h, "bins": m, "background": eps}
    return loss_and_grad(z, x, a, b, method=method, target=target, tol=tol, **opts)


def _check(method, kernel, z, x, h, m, eps, target, a=A, b=B) -> None:
    """The method against the reference: both raise the same error, or agree within the
    method's bound."""
    opts = {"kernel": kernel, "bandwidth": h, "bins": m, "background": eps}
    try:
        ref = reference(z, x, a, b, target=target, **opts)
    except ValueError as err:
        with pytest.raises(ValueError, match=str(err).split(":")[0]):
            _run(method, z, x, kernel, h, m, eps, target, a, b)
        return
    L, g = _run(method, z, x, kernel, h, m, eps, target, a, b)
    w = target(bin_centers(a, b, m)) if callable(target) else target
    bound = fast.FFT_TOL if (method == "fft" and kernel == "gaussian") else EXACT
    assert loss_error(L, ref[0], ref[2], weights=w) <= bound
    assert grad_error(g, ref[1]) <= bound
    assert abs(float(g.sum())) < 1e-13


points = st.integers(1, 6).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(-3, 3), min_size=n, max_size=n),
        st.lists(st.floats(-4, 4), min_size=n, max_size=n),
    )
)


@settings(max_examples=examples(300), deadline=None, derandomize=True)
@given(
    points,
    st.integers(1, 20).flatmap(
        lambda m: st.lists(
            st.one_of(st.just(0.0), st.floats(1e-3, 5.0)), min_size=m, max_size=m
        )
    ),
    st.sampled_from(CASES),
    st.sampled_from([0.0, 0.0, 0.1, 0.6]),
    st.sampled_from([0.3, 0.8, 2.0]),
)
def test_weights_match_reference(zx, weights, case, eps, h) -> None:
    """Theorem (any target): every method gives ``-sum wbar log q`` and ``S - sum wbar r``
    (times ``pi`` with a background) for an array of bin weights, zeros included."""
    assume(max(weights) > 0)
    z, x = map(np.array, zx)
    method, kernel = case
    _check(method, kernel, z, x, h, len(weights), eps, np.array(weights))


@settings(max_examples=examples(150), deadline=None, derandomize=True)
@given(
    points,
    st.integers(1, 20),
    st.sampled_from(CASES),
    st.sampled_from([0.0, 0.2]),
    st.floats(-1.0, 1.5),
    st.floats(0.1, 2.0),
)
def test_callable_matches_reference(zx, m, case, eps, mu, width) -> None:
    """A callable target ``p(t)`` is evaluated at the bin centres, vectorised."""
    z, x = map(np.array, zx)
    method, kernel = case

    def p(t: np.ndarray) -> np.ndarray:
        return np.exp(-0.5 * ((t - mu) / width) ** 2)

    _check(method, kernel, z, x, 0.7, m, eps, p)


@pytest.mark.parametrize(("method", "kernel"), CASES)
def test_equal_weights_are_the_uniform_target(method, kernel) -> None:
    rng = np.random.default_rng(3)
    z, x = rng.normal(size=7), rng.normal(size=7) * 2
    h = 4.0 if kernel == "box" else 0.5
    for eps in (0.0, 0.3):
        L0, g0 = _run(method, z, x, kernel, h, 33, eps, None)
        L1, g1 = _run(method, z, x, kernel, h, 33, eps, np.full(33, 7.0))
        tol = 1e-9 if (method == "fft" and kernel == "gaussian") else 1e-14
        assert abs(L1 - L0) <= tol * max(1.0, abs(L0))
        assert np.abs(g1 - g0).max() <= tol


@pytest.mark.parametrize("method", ["direct", "fast.direct", "fft", "auto"])
def test_zero_weight_bins_may_be_uncovered(method) -> None:
    """``0 log 0 = 0``: a bin of weight 0 that no box reaches adds nothing; a bin of positive
    weight there raises as before."""
    z, x = np.array([0.2, -0.4, 1.0]), np.array([-0.8, -0.6, 1.2])
    m = 10
    t = bin_centers(A, B, m)
    covered = np.abs(t[:, None] - x[None, :]).min(axis=1) <= 0.25
    assert not covered.all() and covered.any()
    w = np.where(covered, 1.0 + t * t, 0.0)
    _check(method, "box", z, x, 0.5, m, 0.0, w)
    L, g = _run(method, z, x, "box", 0.5, m, 0.0, w)
    assert math.isfinite(L) and np.all(np.isfinite(g))
    # the same loss as the covered bins' own: only they count
    ref = reference(z, x, A, B, kernel="box", bandwidth=0.5, bins=m, target=w)
    assert np.isneginf(ref[2][~covered]).all()
    w_bad = w.copy()
    w_bad[np.flatnonzero(~covered)[0]] = 1.0
    with pytest.raises(ValueError, match=r"^bins: bin"):
        _run(method, z, x, "box", 0.5, m, 0.0, w_bad)


def test_loss_with_target_and_complex_step() -> None:
    rng = np.random.default_rng(5)
    z, x = rng.normal(size=5), rng.uniform(-2, 3, size=5)
    w = rng.random(16)
    w[::3] = 0.0
    for eps in (0.0, 0.25):
        opts = {"bins": 16, "background": eps, "target": w}
        L, g = loss_and_grad(z, x, 0.0, 1.0, **opts)
        assert loss(z, x, 0.0, 1.0, **opts) == pytest.approx(L, rel=1e-15)
        cs = complex_step(lambda v, o=opts: loss(v, x, 0.0, 1.0, **o), z)
        np.testing.assert_allclose(cs, g, rtol=0, atol=1e-15)
    # complex logits: a box bin of weight 0 may be uncovered here too
    zc = z.astype(complex)
    w2 = np.zeros(16)
    w2[8] = 1.0
    value = loss(zc, np.full(5, 0.53), 0.0, 1.0, kernel="box", bandwidth=0.1, bins=16, target=w2)
    assert math.isfinite(value.real)


def test_far_points_any_target() -> None:
    """Scale invariance with a target: points 10^6 bandwidths away, every method exact."""
    z, x = np.array([0.3, -0.2, 0.1]), np.array([1e6, 1e6 + 0.5, 1e6 + 2.0])
    w = np.linspace(0.0, 1.0, 12) ** 2
    for method, kernel in CASES:
        _check(method, kernel, z, x, 1.0, 12, 0.0, w)


BAD_TARGETS = [
    (np.array([1.0, -1.0, 1.0, 1.0]), "weights must be >= 0"),
    (np.array([1.0, np.nan, 1.0, 1.0]), "must be finite"),
    (np.array([1.0, np.inf, 1.0, 1.0]), "must be finite"),
    (np.zeros(4), "all zero"),
    (np.ones(5), "expected 4 weights"),
    (np.ones((4, 1)), "expected 4 weights"),
    (np.ones((1, 4)), "expected 4 weights"),
    (3.0, "expected 4 weights"),
    (np.ones(4) + 0j, "expected real weights"),
    (["a", "b", "c", "d"], "expected real weights"),
    (lambda t: t - 10.0, "weights must be >= 0"),
    (lambda t: np.where(t > 0.5, np.nan, 1.0), "must be finite"),
    (lambda t: 0.0 * t, "all zero"),
    (lambda t: 1.0, "expected 4 weights"),
    (lambda t: np.ones(3), "expected 4 weights"),
    (lambda t: 1.0 / 0.0, "the callable raised ZeroDivisionError"),
    (lambda t, extra: t, "the callable raised TypeError"),
    (lambda t: None, "expected real weights"),
]


@pytest.mark.parametrize(("target", "message"), BAD_TARGETS)
def test_bad_target_raises(target, message) -> None:
    z, x = np.zeros(3), np.array([0.0, 0.5, 1.0])
    for fn in (
        lambda: loss_and_grad(z, x, 0.0, 1.0, bins=4, target=target),
        lambda: loss_and_grad(z, x, 0.0, 1.0, bins=4, target=target, method="sorted"),
        lambda: loss(z, x, 0.0, 1.0, bins=4, target=target),
        lambda: loss(z + 0j, x, 0.0, 1.0, bins=4, target=target),
        lambda: reference(z, x, 0.0, 1.0, bins=4, target=target),
    ):
        with pytest.raises(ValueError, match=r"^target: ") as info:
            fn()
        assert message in str(info.value)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (np.ones((2, 4)), "shape (B, M) = (3, 4)"),
        (np.ones(4), "shape (B, M) = (3, 4)"),
        (np.array([[1.0] * 4, [0.0] * 4, [1.0] * 4]), "in row 1 are all zero"),
        (np.array([[1.0] * 4, [1.0, -2.0, 1.0, 1.0], [1.0] * 4]), "target[1, 1] = -2.0"),
        (np.full((3, 4), np.nan), "must be finite"),
        (np.ones((3, 4), dtype=complex), "expected real weights"),
    ],
)
def test_bad_batch_target_raises(target, message) -> None:
    with pytest.raises(ValueError, match=r"^target: ") as info:
        loss_and_grad_batch(np.zeros((3, 2)), [0.0, 1.0], 0.0, 1.0, bins=4, target=target)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("args", "start"),
    [
        ((np.zeros(3), [0.0, 1.0, 2.0], 0.0, 1.0), "Z: "),
        ((np.full((2, 3), np.nan), [0.0, 1.0, 2.0], 0.0, 1.0), "Z: "),
        ((np.zeros((2, 3)), [0.0, 1.0], 0.0, 1.0), "Z and x: "),
        ((np.zeros((2, 3)), [0.0, 1.0, np.inf], 0.0, 1.0), "x: "),
        ((np.zeros((2, 3)), [0.0, 1.0, 2.0], np.zeros(3), 1.0), "a: "),
        ((np.zeros((2, 3)), [0.0, 1.0, 2.0], 0.0, np.array([1.0, np.nan])), "b: "),
        ((np.zeros((2, 3)), [0.0, 1.0, 2.0], np.array([0.0, 2.0]), 1.0), "a and b: "),
    ],
)
def test_bad_batch_arguments_raise(args, start) -> None:
    with pytest.raises(ValueError, match=f"^{start}"):
        loss_and_grad_batch(*args, bins=4)


def _loop(Z, x, a, b, target=None, **opts):
    """The batch by a loop of loss_and_grad: the mean loss and the gradient of the mean."""
    n = Z.shape[0]
    a, b = np.broadcast_to(a, (n,)), np.broadcast_to(b, (n,))
    out = [
        loss_and_grad(
            Z[i], x, a[i], b[i], method="direct", target=None if target is None else target[i],
            **opts,
        )
        for i in range(n)
    ]
    return float(np.mean([v for v, _ in out])), np.stack([g for _, g in out]) / n


@settings(max_examples=examples(200), deadline=None, derandomize=True)
@given(
    st.integers(1, 5),
    st.integers(1, 7),
    st.integers(1, 12),
    st.sampled_from(["shared", "per-sample", "weights", "per-sample weights"]),
    st.sampled_from(["laplace", "gaussian", "box", "vonmises"]),
    st.sampled_from([0.0, 0.0, 0.2]),
    st.sampled_from([1e-3, 0.3, 1.0, 5.0]),
    st.sampled_from([0.0, 3.0, 1e4]),
    st.integers(0, 2**32 - 1),
)
def test_batch_is_the_loop(n_samples, n, m, mode, kernel, eps, h, far, seed) -> None:
    """The batch gives the loop's numbers (1e-12), in every regime: intervals near and far
    (10^4 away), narrow and wide bandwidths, weights with zeros, the exact fallback."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n) * 2
    Z = rng.normal(size=(n_samples, n)) * rng.choice([1.0, 30.0, 400.0])
    if mode.startswith("per-sample"):
        a = rng.normal(size=n_samples) + far * rng.choice([-1.0, 0.0, 1.0], size=n_samples)
        b = a + rng.uniform(0.05, 3.0, size=n_samples)
    else:
        a, b = -1.0 + far, 1.0 + far
    target = None
    if mode.endswith("weights"):
        target = rng.random((n_samples, m)) * (rng.random((n_samples, m)) < 0.7)
        target[:, rng.integers(m)] += 1.0
    opts = {"kernel": kernel, "bandwidth": h, "bins": m, "background": eps}
    try:
        want = _loop(Z, x, a, b, target, **opts)
    except ValueError as err:
        with pytest.raises(ValueError, match="^" + str(err).split(":")[0] + ": sample"):
            loss_and_grad_batch(Z, x, a, b, target=target, **opts)
        return
    L, G = loss_and_grad_batch(Z, x, a, b, target=target, **opts)
    assert abs(L - want[0]) <= EXACT * max(1.0, abs(want[0]))
    assert np.abs(G - want[1]).max() <= EXACT / n_samples
    assert np.abs(G.sum(axis=1)).max() < 1e-13


@pytest.mark.parametrize("kernel", ["laplace", "gaussian", "box", "vonmises"])
def test_batch_matches_reference(kernel) -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(size=5)
    Z = rng.normal(size=(3, 5)) * 2
    a = np.array([-1.0, 0.2, 40.0])
    b = a + np.array([1.0, 0.5, 2.0])
    h = 2.0 if kernel == "box" else 0.6
    for eps in (0.0, 0.1):
        opts = {"kernel": kernel, "bandwidth": h, "bins": 9, "background": eps}
        if kernel == "box" and eps == 0.0:
            continue  # the far interval is covered by no box
        L, G = loss_and_grad_batch(Z, x, a, b, **opts)
        refs = [reference(Z[i], x, a[i], b[i], **opts) for i in range(3)]
        scale = max(1.0, float(np.mean([np.abs(r[2]).mean() for r in refs])))
        assert abs(L - np.mean([r[0] for r in refs])) <= EXACT * scale
        assert np.abs(G * 3 - np.stack([r[1] for r in refs])).max() <= EXACT
        # and with weights on shared bins
        W = rng.random((3, 9))
        L, G = loss_and_grad_batch(Z, x, -1.0, 1.0, target=W, **opts)
        refs = [reference(Z[i], x, -1.0, 1.0, target=W[i], **opts) for i in range(3)]
        assert abs(L - np.mean([r[0] for r in refs])) <= EXACT * scale
        assert np.abs(G * 3 - np.stack([r[1] for r in refs])).max() <= EXACT


def test_batch_far_points_are_exact() -> None:
    """Scale invariance in the batch: intervals 10^6 bandwidths from every centre, and a
    bin between two centres 10^4 bandwidths apart, against the reference."""
    x = np.array([-5e3, -4e3, 5e3, 5e3 + 1.0])
    Z = np.array([[0.0, 0.5, -0.3, 0.2], [1.0, -1.0, 0.0, 3.0], [0.0, 0.0, 0.0, 0.0]])
    a = np.array([1e6, -1e6, -0.5])
    b = a + 1.0
    L, G = loss_and_grad_batch(Z, x, a, b, bins=8)
    refs = [reference(Z[i], x, a[i], b[i], bins=8) for i in range(3)]
    scale = float(np.mean([np.abs(r[2]).mean() for r in refs]))
    assert abs(L - np.mean([r[0] for r in refs])) <= EXACT * scale
    assert np.abs(G * 3 - np.stack([r[1] for r in refs])).max() <= EXACT
    assert np.abs(G[0]).max() > 1e-3  # far samples still learn


def test_batch_gradient_is_the_gradient_of_the_mean() -> None:
    rng = np.random.default_rng(2)
    Z, x = rng.normal(size=(3, 4)), rng.normal(size=4)
    a = np.array([-0.5, 0.0, 1.0])
    _, G = loss_and_grad_batch(Z, x, a, a + 1.0, bins=8, kernel="gaussian")
    step = 1e-6
    for i, j in [(0, 0), (1, 2), (2, 3)]:
        e = np.zeros_like(Z)
        e[i, j] = step
        up = loss_and_grad_batch(Z + e, x, a, a + 1.0, bins=8, kernel="gaussian")[0]
        down = loss_and_grad_batch(Z - e, x, a, a + 1.0, bins=8, kernel="gaussian")[0]
        assert (up - down) / (2 * step) == pytest.approx(G[i, j], abs=1e-9)


def test_training_with_a_target() -> None:
    """EM's fixed point is ``S = E_p[r]`` (the gradient's zero) and it never raises the
    loss; gradient descent follows ``loss_and_grad`` with the same target."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=6)
    t = bin_centers(-1.0, 1.0, 32)
    w = np.exp(-(((t - 0.4) / 0.2) ** 2))
    run = kdeloss.em(np.zeros(6), x, -1.0, 1.0, bins=32, target=w, steps=400)
    assert np.all(np.diff(run.loss) <= 1e-15)
    assert np.abs(run.grad[-1]).max() < 1e-9
    gd = kdeloss.gradient_descent(np.zeros(6), x, -1.0, 1.0, bins=32, target=w, steps=3)
    L, g = loss_and_grad(gd.z[2], x, -1.0, 1.0, bins=32, target=w)
    assert gd.loss[2] == L and np.array_equal(gd.grad[2], g)
    # a box that leaves bins of weight 0 uncovered: EM runs on the others
    xb = np.array([-0.9, -0.8, 0.85])
    wb = np.where(np.abs(t[:, None] - xb).min(axis=1) <= 0.1, 1.0, 0.0)
    boxed = kdeloss.em(np.zeros(3), xb, -1.0, 1.0, bins=32, kernel="box", bandwidth=0.2,
                       target=wb, steps=5)
    assert np.all(np.isfinite(boxed.loss))
    with pytest.raises(ValueError, match=r"^bins: bin \d+ at t"):
        kdeloss.em(np.zeros(3), xb, -1.0, 1.0, bins=32, kernel="box", bandwidth=0.2,
                    target=wb + 1.0, steps=1)


@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_sorted_log_space_path_with_weights(monkeypatch, eps) -> None:
    """The log-space path of "sorted" (bins far from the mass) with weights, zeros too."""
    calls = []
    real = fast._log_path

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(fast, "_linear_path", lambda *args, **kwargs: None)
    monkeypatch.setattr(fast, "_log_path", spy)
    rng = np.random.default_rng(6)
    for _ in range(5):
        z, x = rng.normal(size=5) * 3, rng.normal(size=5) * 2
        w = rng.random(17) * (rng.random(17) < 0.6)
        w[3] = 1.0
        _check("sorted", "laplace", z, x, 0.4, 17, eps, w)
    assert calls


def test_fft_grid_with_points_off_the_grid_and_weights() -> None:
    """"fft" on its grid, with light points beyond the kernel's reach (left off the grid
    and bounded) and a target of weights: within its bound of the reference."""
    rng = np.random.default_rng(9)
    z = np.concatenate([rng.normal(size=6), [-6.0, -7.0]])
    x = np.concatenate([rng.normal(size=6), [40.0, -45.0]])
    w = np.abs(np.sin(np.arange(24.0))) * (np.arange(24) % 5 != 0)
    for eps in (0.0, 0.1):
        _check("fft", "gaussian", z, x, 0.3, 24, eps, w)


@pytest.mark.parametrize("kernel", ["laplace", "gaussian", "box"])
def test_batch_in_blocks_of_samples(monkeypatch, kernel) -> None:
    """Blocks of samples (for memory) give the same numbers as one block."""
    rng = np.random.default_rng(12)
    x, Z = rng.normal(size=7), rng.normal(size=(23, 7))
    a = rng.normal(size=23)
    opts = {"kernel": kernel, "bandwidth": 3.0 if kernel == "box" else 0.5, "bins": 9}
    whole = loss_and_grad_batch(Z, x, a, a + 1.0, **opts)
    monkeypatch.setattr(kdeloss.batch, "_SAMPLE_BLOCK", 50)
    blocks = loss_and_grad_batch(Z, x, a, a + 1.0, **opts)
    assert blocks[0] == pytest.approx(whole[0], rel=1e-15)
    np.testing.assert_allclose(blocks[1], whole[1], rtol=0, atol=1e-17)
    assert np.abs(blocks[1] - _loop(Z, x, a, a + 1.0, **opts)[1]).max() <= EXACT / 23


def test_symbolic_gradient_of_a_weighted_target() -> None:
    """SymPy: ``d/dz_i [-sum_m w_m log q_m / sum w] = S_i - sum_m w_m r_i(t_m) / sum w`` for
    three points and two bins with symbolic weights and kernel values."""
    import sympy as sp

    from kdeloss import symbolic as ks

    z, k1 = ks.make_symbols(3)
    k2 = sp.symbols("L0:3", positive=True)
    w = sp.symbols("w0:2", positive=True)
    rows = (k1, k2)
    total = w[0] + w[1]
    lw = -sum(wm * sp.log(ks.mixture(z, row)) for wm, row in zip(w, rows, strict=True)) / total
    s = ks.softmax_weights(z)
    for i, zi in enumerate(z):
        resp = [s[i] * row[i] / ks.mixture(z, row) for row in rows]
        closed = s[i] - sum(wm * r for wm, r in zip(w, resp, strict=True)) / total
        assert sp.simplify(sp.diff(lw, zi) - closed) == 0


@pytest.mark.parametrize(
    ("case", "reach", "linear"),
    [
        ("within 64 bandwidths of 0", 2.0, True),  # the benchmark's regime: linear domain
        ("centres 100 bandwidths out", 30.0, False),  # log space, distances by two-sums
    ],
)
def test_batch_laplace_paths_against_the_reference(case, reach, linear, monkeypatch) -> None:
    """The Laplace batch combines the two sides of each bin in the linear domain when every
    position and bin is within 64 bandwidths of 0 (then ``q >= e^-128`` and every side that
    matters is a normal float), else in log space; both against the reference, with some
    weights 600 nats below the others."""
    from kdeloss import batch

    taken = []
    real = batch._laplace_linear

    def spy(*args):
        out = real(*args)
        taken.append(out is not None)
        return out

    monkeypatch.setattr(batch, "_laplace_linear", spy)
    rng = np.random.default_rng(21)
    x = np.linspace(-reach, reach, 9)
    Z = rng.normal(size=(4, 9))
    Z[:, ::2] -= 600.0  # every other centre carries a tiny weight
    a = rng.uniform(-2.5, 1.5, size=4)
    b = a + 0.7
    opts = {"kernel": "laplace", "bandwidth": 0.3, "bins": 11}
    L, G = loss_and_grad_batch(Z, x, a, b, **opts)
    assert taken == ([True] if linear else []), case
    refs = [reference(Z[i], x, a[i], b[i], **opts) for i in range(4)]
    scale = max(1.0, float(np.mean([np.abs(r[2]).mean() for r in refs])))
    assert abs(L - np.mean([r[0] for r in refs])) <= EXACT * scale
    assert np.abs(G * 4 - np.stack([r[1] for r in refs])).max() <= EXACT
