"""The claims of the chapters "The loss", "Deriving the gradient" and the appendix "Checking it
numerically" ("EM and convexity" has its own file, tests/test_responsibility_chapter.py).

They read the numbers those pages quote from the build (``glued``, see
``tests/chapter_harness.py``): each chapter was executed once, by the strict build, and these
tests check that what it glued says what its prose says. Where a test computes anything
itself, it takes its inputs from the chapter's glue too, never from hand-copied constants.
"""

from __future__ import annotations

import numpy as np
import pytest
from chapter_harness import glued

import kdeloss
from kdeloss.book import checks

A, B = -1.0, 1.0


def _inputs(entry: dict) -> dict:
    """A glued dict of inputs with its lists as arrays."""
    return {k: np.array(v) if isinstance(v, list) else v for k, v in entry.items()}


# --- The loss ----------------------------------------------------------------------------


def test_loss_chapter_claims():
    g = glued("loss")
    for name, mass in g["loss_kernel_masses"].items():
        assert mass == pytest.approx(1.0, abs=1e-4), name
    assert g["loss_L"] > g["loss_log_width"]  # loss-ex-bound
    assert abs(g["loss_grad_sum"]) < 1e-15  # loss-ex-sum
    inp = _inputs(g["loss_inputs"])
    L = kdeloss.loss(inp["z"], inp["x"], inp["a"], inp["b"], bandwidth=inp["h"], bins=256)
    assert L == pytest.approx(g["loss_L"], rel=1e-14)
    by_bins = g["loss_by_bins"]
    assert abs(by_bins[1024] - by_bins[256]) < 1e-5 * by_bins[1024]  # "five digits"


# --- Deriving the gradient ----------------------------------------------------------------


def test_derivation_sympy_steps():
    g = glued("derivation")
    assert g["sym_weights_zero"] is True
    assert g["sym_three_zero"] is True
    assert g["sym_matches"] == {2: True, 3: True, 4: True, 5: True}
    assert g["sym_indexed_zero"] is True


def test_derivation_picture():
    g = glued("derivation")
    s = np.array([g[f"pic_s{k}"] for k in (1, 2, 3)])
    r = np.array([g[f"pic_r{k}"] for k in (1, 2, 3)])
    grad = np.array([g[f"pic_g{k}"] for k in (1, 2, 3)])
    np.testing.assert_allclose(grad, s - r, atol=1e-15)
    assert r.sum() == pytest.approx(1.0, abs=1e-15)
    assert s[1] < r[1] and grad[1] < 0  # point 2: small weight, large share
    assert s[0] == s.max() and r[0] < s[0] and grad[0] > 0  # point 1: the reverse


def test_thm_bin_grad_bounds_and_sum():
    rng = np.random.default_rng(0)
    for _ in range(50):
        z = rng.normal(size=5)
        x = rng.uniform(-3, 3, size=5)
        g = kdeloss.bin_grad(z, x, rng.uniform(-1, 1), bandwidth=0.7)
        s = kdeloss.softmax(z)
        assert abs(g.sum()) < 1e-15
        assert np.all(g < s) and np.all(g > s - 1)


def test_derivation_ex_bounds_needs_its_hypotheses():
    """S_i - 1 < dL/dz_i < S_i needs K > 0 on [a, b] and N >= 2; without them it is attained."""
    inp = _inputs(glued("derivation")["loss_grad_inputs"])
    z, x, a, b = inp["z"], inp["x"], inp["a"], inp["b"]
    g = checks.reference_gradient(z, x, a, b, kernel="laplace", bandwidth=inp["bandwidth"])
    s = kdeloss.softmax(z)
    assert np.all((s - 1 < g) & (g < s))
    # N = 1: the gradient is 0 = S_1 - 1.
    assert kdeloss.loss_and_grad(z[:1], x[:1], a, b, bins=64)[1][0] == 0.0
    # A box kernel: point 1 alone covers the target, point 2 none of it.
    _, g_box = kdeloss.loss_and_grad(z[:2], np.array([0.0, 10.0]), a, b, kernel="box",
                                     bandwidth=4.0, bins=64)
    np.testing.assert_allclose(g_box, kdeloss.softmax(z[:2]) - [1.0, 0.0], atol=1e-15)


@pytest.mark.parametrize("kernel", ["laplace", "gaussian"])
def test_thm_loss_grad_on_the_integral(kernel):
    g = glued("derivation")
    if kernel == "laplace":  # the chapter's own check
        assert g["thm_loss_grad_err_value"] < 1e-8
        errs = [g["binned_grad_err"][m] for m in [16, 64, 256, 1024]]
    else:  # the same check with the other kernel, on the chapter's problem
        inp = _inputs(g["loss_grad_inputs"])
        z, x, a, b = inp["z"], inp["x"], inp["a"], inp["b"]
        opts = {"kernel": kernel, "bandwidth": inp["bandwidth"]}
        rhs = checks.reference_gradient(z, x, a, b, **opts)

        def L(v):
            return checks.reference_loss(v, x, a, b, **opts)

        lhs = np.array([checks.central_difference(L, z, k, 1e-4) for k in range(z.size)])
        assert np.abs(lhs - rhs).max() < 1e-8
        errs = [
            np.abs(kdeloss.loss_and_grad(z, x, a, b, bins=m, **opts)[1] - rhs).max()
            for m in [16, 64, 256, 1024]
        ]
    ratios = np.array(errs[:-1]) / np.array(errs[1:])
    assert np.all((ratios > 12) & (ratios < 20))  # about 16: second order


def test_responsibility_is_a_posterior():
    g = glued("derivation")
    assert g["post_bayes_err"] < 1e-13  # Bayes' rule with densities
    assert g["post_softmax_err"] < 1e-13  # softmax of the shifted logits
    grad = np.array(g["post_weights"]) - np.array(g["post_mean_resp"])
    assert abs(grad.sum()) < 1e-15
    # "the two inner points ... descent raises their logits; the two outer ... lowers theirs"
    assert grad[0] > 0 and grad[1] < 0 and grad[2] < 0 and grad[3] > 0
    x = g["post_inputs"]["x"]
    assert x == sorted(x)


# --- Checking it numerically (appendix) ---------------------------------------------------

NC = "numerical-checks"


def test_three_independent_gradients_over_random_cases():
    g = glued(NC)
    assert g["n_cases"] == 200
    assert g["worst_fd_value"] < 1e-8
    assert g["worst_complex_step_value"] < 1e-13
    assert g["worst_lambdify_bins_value"] < 1e-13
    assert g["worst_lambdify_loss_value"] < 1e-13


def test_fd_step_sweep_is_a_v():
    g = glued(NC)
    best, pred = g["sweep_best_err_value"], g["sweep_estar_value"]
    assert best < 1e-10
    assert 1e-7 < g["sweep_best_step_value"] < 1e-3
    # The right arm has slope 2; the left arm grows again by orders of magnitude.
    assert g["sweep_right_slope"] == pytest.approx(2.0, abs=0.02)
    assert g["sweep_smallest_step_err"] > 1e5 * best
    # The model of the theorem is an envelope of the measured errors (round-off scatters
    # below it), its minimum is the size of the best error, and far from s* the errors are
    # much larger.
    assert g["sweep_envelope"] <= 1.05
    assert pred / 10 < best <= pred
    assert g["sweep_first_step_err"] > 1e4 * pred
    assert g["sweep_smallest_step_err"] > 1e4 * pred
    assert g["eps_value"] == 2.0**-52


def test_complex_step_fails_through_abs_only_and_positions_are_rejected():
    g = glued(NC)
    assert g["cs_modulus"] == 0.0  # np.abs: the modulus, imaginary part lost
    assert g["cs_continued_err"] < 1e-15  # d sign(Re d): the analytic continuation
    assert g["cs_gauss_err"] < 1e-15
    inp = _inputs(g["sweep_inputs"])
    with pytest.raises(ValueError, match="x: expected real numbers"):
        kdeloss.loss(inp["z"], inp["x"] + 1e-30j, inp["a"], inp["b"])


def test_binning_gaussian_is_clean_second_order():
    g = glued(NC)
    assert g["gauss_fit"] == pytest.approx(2.0, abs=0.01)
    assert abs(g["gauss_dbl_min"] - 2.0) < 0.02 and abs(g["gauss_dbl_max"] - 2.0) < 0.02
    assert g["gauss_cons_min"] > 1.95 and g["gauss_cons_max"] < 2.1
    assert g["gauss_scaled_spread"] < 0.01


def test_binning_gaussian_with_equal_end_slopes_is_fourth_order():
    """cor-binning-smooth, case 2: f'(a) = f'(b) makes the error O(M^-4)."""
    g = glued(NC)
    assert g["bal_slope_gap"] < 1e-12
    assert g["bal_orders"][-1] == pytest.approx(4.0, abs=0.01)
    assert g["gen_orders"][-1] == pytest.approx(2.0, abs=0.01)
    assert g["bal_scaled_last"] == pytest.approx(g["bal_limit"], rel=1e-3)
    assert g["gen_scaled_last"] == pytest.approx(g["gen_limit"], rel=1e-3)
    assert abs(g["bal_limit"]) > 1e-3  # the fourth-order constant is not zero here


def test_end_slopes_and_balance_reject_what_they_cannot_do():
    inp = _inputs(glued(NC)["binning_inputs"])
    z, x, a, b, h = inp["z"], inp["inside"], inp["a"], inp["b"], inp["h"]
    with pytest.raises(ValueError, match=r"^kernel: "):  # Laplace: kinks inside the target
        checks.end_slopes(z, x, a, b, kernel="laplace", bandwidth=h)
    with pytest.raises(ValueError, match=r"^bracket: "):  # no sign change over the bracket
        checks.balance_end_slopes(z, x, a, b, bandwidth=h, bracket=(-6.0, -3.0))
    zb = checks.balance_end_slopes(z, x, a, b, bandwidth=h)
    assert np.array_equal(zb[:-1], z[:-1]) and zb[-1] != z[-1]
    e = checks.end_slopes(zb, x, a, b, bandwidth=h)
    assert abs(e.d1_b - e.d1_a) < 1e-12


def test_binning_laplace_inside_is_erratic():
    g = glued(NC)
    assert g["lap_fit"] == pytest.approx(2.0, abs=0.1)  # bounded by C / M^2 ...
    assert g["lap_cons_min"] < -100 and g["lap_cons_max"] > 100  # ... no order from neighbours
    assert g["lap_dbl_spread"] > 1.0
    assert g["lap_scaled_min"] < 0 < g["lap_scaled_max"]  # the error even changes sign


def test_binning_laplace_one_side_is_exact_and_the_model_matches():
    g = glued(NC)
    assert g["bin_max_2_value"] <= 1e-12
    assert g["model_gap_value"] < 1e-6


def test_naive_nan_far_away_while_kdeloss_is_exact():
    far = glued(NC)["far_results"]
    assert set(far) == {2.0, 100.0, 700.0, 750.0, 1e4, 1e6}
    for D, res in far.items():
        assert res["naive_finite"] == (D <= 700.0), D
        assert res["loss_rel_err"] <= 1e-15, D
        assert res["grad_err"] < 2e-15, D
