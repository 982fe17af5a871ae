"""The kernels: normalisation, definitions, and the accurate row split."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from kdeloss import KERNELS, GeneralizedNormal, ScaledKernel, get_kernel, wrap_angle


@pytest.mark.parametrize("name", sorted(KERNELS))
@pytest.mark.parametrize("h", [0.3, 1.0, 2.5])
def test_normalised(name, h) -> None:
    k = get_kernel(name, h)
    lo, hi = (-np.pi, np.pi) if k.circular else (-np.inf, np.inf)
    if name.endswith("box"):
        lo, hi = -h / 2, h / 2
    total, _ = integrate.quad(lambda d: k.pdf(np.array([d]))[0], lo, hi, points=None, limit=200)
    assert total == pytest.approx(1.0, rel=1e-9)


def test_definitions_match_scipy() -> None:
    d = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(
        get_kernel("laplace", 0.7).logpdf(d), stats.laplace(0, 0.7).logpdf(d)
    )
    np.testing.assert_allclose(get_kernel("gaussian", 0.7).logpdf(d), stats.norm(0, 0.7).logpdf(d))
    np.testing.assert_allclose(
        get_kernel("vonmises", 0.7).logpdf(d), stats.vonmises(1 / 0.49).logpdf(d), rtol=1e-12
    )


def test_box_is_zero_one() -> None:
    k = get_kernel("box", 0.5)
    np.testing.assert_array_equal(k.pdf(np.array([-0.3, -0.25, 0.0, 0.25, 0.3])), [0, 2, 2, 2, 0])


def test_wrap_angle_range() -> None:
    d = np.linspace(-20, 20, 1001)
    w = wrap_angle(d)
    assert np.all(w > -np.pi) and np.all(w <= np.pi)
    np.testing.assert_allclose(np.cos(w), np.cos(d), atol=1e-12)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_log_rows_reassemble_logpdf(name) -> None:
    rng = np.random.default_rng(7)
    k = get_kernel(name, 0.8)
    x = rng.uniform(-2, 2, size=9)
    t = np.linspace(-1, 1, 7)
    if name.endswith("box"):
        x = np.concatenate([x, t])  # every row covered
    offset, rest = k.log_rows(t, x)
    full = k.logpdf(t[:, None] - x[None, :])
    np.testing.assert_allclose(offset[:, None] + rest, full, atol=1e-13)
    assert np.all(rest <= 0.0)
    np.testing.assert_array_equal(rest.max(axis=1), 0.0)


def test_vonmises_huge_kappa_does_not_overflow() -> None:
    k = get_kernel("vonmises", 1e-4)  # kappa = 1e8
    v = k.logpdf(np.array([0.0, 1e-4, np.pi]))
    assert np.all(np.isfinite(v))
    # near 0 it is the Gaussian of scale h
    assert v[1] - v[0] == pytest.approx(-0.5, rel=1e-6)


# --- what the methods and studies ask of a kernel ------------------------------------------

D = np.array([-7.5, -1.3, -0.2, 0.0, 0.1, 0.45, 2.0, 30.0])


@pytest.mark.parametrize("name", ["laplace", "gaussian", "box", "vonmises"])
@pytest.mark.parametrize("h", [0.3, 1.7])
def test_mp_logpdf_is_logpdf(name, h) -> None:
    import mpmath as mp

    kern = get_kernel(name, h)
    want = kern.logpdf(D)
    with mp.workdps(40):
        got = np.array([float(kern.mp_logpdf(mp.mpf(float(d)))) for d in D])
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-14)
    scaled = ScaledKernel(name, -3.0, h)
    with mp.workdps(40):
        got = np.array([float(scaled.mp_logpdf(mp.mpf(float(d)))) for d in D])
    np.testing.assert_allclose(got, want - 3.0, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_row_form_and_log_norm_give_logpdf(name) -> None:
    kern = get_kernel(name, 0.6)
    form = {
        "abs": lambda d: -np.abs(d) / kern.bandwidth,
        "square": lambda d: -0.5 * (d / kern.bandwidth) ** 2,
        "cosine": lambda d: kern.kappa * (np.cos(d) - 1.0),
        None: None,
    }[kern.row_form]
    if form is None:
        with pytest.raises(NotImplementedError):
            kern.log_norm()
        return
    np.testing.assert_allclose(form(D) + kern.log_norm(), kern.logpdf(D), rtol=1e-14)


def test_exact_fast_paths_and_capabilities() -> None:
    paths = {name: get_kernel(name).exact_fast_path for name in KERNELS}
    assert paths == {
        "laplace": "sorted",
        "gaussian": None,
        "box": "box_runs",
        "vonmises": None,
        "wrapped_laplace": None,
        "wrapped_box": None,
    }
    # a scaled kernel is not the kernel: it takes the generic paths
    assert ScaledKernel("laplace", 1.0).exact_fast_path is None
    assert ScaledKernel("laplace", 1.0).row_form is None
    shift = {name for name in KERNELS if get_kernel(name).shift_theorem}
    assert shift == {"laplace", "wrapped_laplace"}
    one_hot = {name for name in KERNELS if get_kernel(name).one_hot}
    assert one_hot == {"box", "wrapped_box"}
    assert GeneralizedNormal(1.0, np.inf).one_hot and not GeneralizedNormal(1.0, 2.0).one_hot


def test_kink_slope_jump_is_the_jump_of_dlogpdf() -> None:
    kern = get_kernel("laplace", 0.4)
    tiny = 1e-9
    jump = kern.dlogpdf(np.array([tiny]))[0] - kern.dlogpdf(np.array([-tiny]))[0]
    assert kern.kink_slope_jump() == jump == -2.0 / 0.4
    with pytest.raises(NotImplementedError):
        get_kernel("gaussian").kink_slope_jump()


class _UserKernel:
    def __init__(self, bandwidth) -> None:
        self.bandwidth = bandwidth

    def logpdf(self, d):
        return -np.abs(d)


@pytest.mark.parametrize(
    ("kernel", "scale"),
    [
        (get_kernel("gaussian", 0.5), 0.5),
        (ScaledKernel("box", 2.0, 3.0), 3.0),
        (get_kernel(_UserKernel(2.5)), 2.5),
        (ScaledKernel(_UserKernel(2.5), 1.0), 2.5),
        (get_kernel(_UserKernel(None)), np.nan),
        (get_kernel(_UserKernel("wide")), np.nan),
        (get_kernel(_UserKernel(-1.0)), np.nan),
    ],
)
def test_length_scale(kernel, scale) -> None:
    np.testing.assert_equal(kernel.length_scale, scale)
    assert not get_kernel(_UserKernel(1.0)).exact_logpdf
