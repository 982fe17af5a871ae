"""The chapter "EM and convexity" (book/responsibility.md) as the build executed it.

Every number its prose quotes is glued; these tests check that the glued values say what the
theorems say: thm-em-fixed-point and thm-em-monotone at the end of a long EM run, EM versus
gradient descent, thm-convexity on random chords, and thm-slow-boundary (the limit
1/(2 eta C) of k S_2(k), EM's factor gamma_2 and its floor 2^-1022), and the remark's
n / ((n + m) eta C_i) for more points.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from chapter_harness import built_notebook, glued, stderr_outputs

from kdeloss.training import Z_FLOOR


@pytest.fixture(scope="module")
def g() -> dict:
    nb = built_notebook("responsibility")
    assert stderr_outputs(nb) == []
    return glued("responsibility")


def test_em_fixed_point_and_monotone(g) -> None:
    assert g["em_star_grad_value"] < 1e-13
    assert g["em_star_gamma_value"] < 1e-12
    assert g["em_star_smin"] > 0.1  # an interior optimum
    assert g["em_monotone"] is True


def test_em_versus_gradient_descent(g) -> None:
    assert g["em_gap_em"] < 1e-14
    assert g["em_gap_gd_5"] < 1e-14
    assert 1e-10 < g["em_gap_gd_1"] < 1e-5
    assert g["em_gap_gd_20"] > 1e-2  # too large a step does not converge


def test_convexity(g) -> None:
    assert g["n_gaps"] == 300 and g["gap_negative"] == 0
    assert g["gap_min_value"] > -1e-14
    assert g["n_trial"] == 204 and g["trial_margin_value"] >= -1e-14


def test_slow_boundary(g) -> None:
    gamma2, c = g["gamma2_corner"], g["zw_C"]
    assert 0 < gamma2 < 1 and c == pytest.approx(1 - gamma2) and c > 0  # part 2 needs C > 0
    for k, lr in enumerate([0.5, 2.0]):
        assert g[f"zw_pred_{k}"] == pytest.approx(1 / (2 * lr * c))
        assert g[f"zw_ks_{k}"] == pytest.approx(g[f"zw_pred_{k}"], rel=0.01)
    assert g["zw_em_ratio"] == pytest.approx(gamma2, rel=1e-4)  # part 3


def test_em_floor_is_the_smallest_normal_double(g) -> None:
    tiny = np.finfo(float).tiny
    assert tiny == 2.0**-1022
    assert g["zw_em_floor_value"] == pytest.approx(tiny, rel=1e-12)
    assert g["zw_em_before_floor"] > tiny
    assert g["zw_em_floor_logit"] == Z_FLOOR == pytest.approx(math.log(2.0**-1022))
    # geometric at the rate gamma_2: the floor is reached after about log(tiny)/log(gamma_2)
    assert abs(g["zw_em_floor_step"] - math.log(tiny) / math.log(g["gamma2_corner"])) < 3


def test_more_points(g) -> None:
    for i in (2, 3):
        assert g[f"zw4_ks_{i}"] == pytest.approx(g[f"zw4_pred_{i}"], rel=2e-3)


def test_the_picture(g) -> None:
    """fig-simplex-loss: the minimum puts zero weight (EM's floor) on the third point."""
    assert g["simplex_best3"] == pytest.approx(np.finfo(float).tiny, rel=1e-12)
