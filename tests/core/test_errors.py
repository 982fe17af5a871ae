"""Bad input raises ValueError whose message starts with the argument's name."""

from __future__ import annotations

import numpy as np
import pytest

from kdeloss import bin_grad, get_kernel, log_density, loss_and_grad, responsibilities

Z = np.array([0.0, 1.0])
X = np.array([0.0, 0.5])


def call(**kw):
    args = {"z": Z, "x": X, "a": 0.0, "b": 1.0} | kw
    return loss_and_grad(args.pop("z"), args.pop("x"), args.pop("a"), args.pop("b"), **args)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"z": [0.0, 1.0, 2.0]}, r"^z and x: expected arrays of equal length"),
        ({"z": [], "x": []}, r"^z: expected at least one element"),
        ({"x": []}, r"^x: expected at least one element"),
        ({"z": [[0.0, 1.0]]}, r"^z: expected a 1-D array"),
        ({"x": np.zeros((2, 1))}, r"^x: expected a 1-D array"),
        ({"z": 3.0}, r"^z: expected a 1-D array"),
        ({"z": [0.0, np.nan]}, r"^z: every element must be finite"),
        ({"x": [np.inf, 0.0]}, r"^x: every element must be finite"),
        ({"z": [0.0, -np.inf]}, r"^z: every element must be finite"),
        ({"z": ["a", "b"]}, r"^z: expected a 1-D array of real numbers"),
        ({"z": [1j, 0.0]}, r"^z: expected real numbers"),
        ({"a": 1.0, "b": 1.0}, r"^a and b: the target interval needs a < b"),
        ({"a": 2.0, "b": 1.0}, r"^a and b: the target interval needs a < b"),
        ({"a": np.nan}, r"^a: expected a finite number"),
        ({"b": np.inf}, r"^b: expected a finite number"),
        ({"a": "0"}, r"^a: expected a real number"),
        ({"bandwidth": 0.0}, r"^bandwidth: must be > 0"),
        ({"bandwidth": -1.0}, r"^bandwidth: must be > 0"),
        ({"bandwidth": np.nan}, r"^bandwidth: expected a finite number"),
        ({"bins": 0}, r"^bins: expected an integer >= 1"),
        ({"bins": -3}, r"^bins: expected an integer >= 1"),
        ({"bins": 2.5}, r"^bins: expected an integer >= 1"),
        ({"bins": True}, r"^bins: expected an integer >= 1"),
        ({"kernel": "cauchy"}, r"^kernel: unknown kernel name 'cauchy'"),
        ({"kernel": 42}, r"^kernel: expected a kernel name or an object"),
    ],
)
def test_bad_input_names_the_argument(kwargs, pattern) -> None:
    with pytest.raises(ValueError, match=pattern):
        call(**kwargs)


@pytest.mark.parametrize("fn", [bin_grad, responsibilities, log_density])
@pytest.mark.parametrize(
    ("t", "pattern"),
    [
        (np.nan, r"^t: expected a finite number"),
        ([0.0, np.inf], r"^t: every element must be finite"),
        ([], r"^t: expected at least one element"),
        (np.zeros((2, 2)), r"^t: expected a 1-D array"),
    ],
)
def test_bad_bins_at(fn, t, pattern) -> None:
    with pytest.raises(ValueError, match=pattern):
        fn(Z, X, t)


def test_uncovered_bin_is_named() -> None:
    """A box kernel that reaches no point leaves q = 0 at that bin: an error, not -inf."""
    with pytest.raises(ValueError, match=r"^bins: bin 3 at t = 0\.875 is covered by no kernel"):
        loss_and_grad([0.0, 0.0], [0.0, 0.4], 0.0, 1.0, kernel="box", bandwidth=0.5, bins=4)
    with pytest.raises(ValueError, match=r"^t: bin 1 at t = 5 is covered by no kernel"):
        bin_grad([0.0], [0.0], [0.1, 5.0], kernel="box", bandwidth=1.0)


def test_custom_kernel_returning_nan_is_rejected() -> None:
    class Broken:
        def logpdf(self, d):
            return np.full_like(d, np.nan)

    with pytest.raises(ValueError, match=r"^kernel: logpdf returned NaN"):
        loss_and_grad(Z, X, 0.0, 1.0, kernel=Broken())


def test_get_kernel_checks_bandwidth() -> None:
    with pytest.raises(ValueError, match=r"^bandwidth: must be > 0"):
        get_kernel("laplace", -0.1)
