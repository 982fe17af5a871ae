"""Argument checks shared by the public functions.

Validation happens once, at the public boundary; the inner functions assume clean input.
Every error is a :class:`ValueError` whose message starts with the name of the argument.
"""

from __future__ import annotations

import numbers

import numpy as np


def as_vector(name: str, value: object, *, allow_complex: bool = False) -> np.ndarray:
    """Return ``value`` as a finite, non-empty, 1-D float (or complex) array.

    Raises
    ------
    ValueError
        If the array is not 1-D, is empty, or holds NaN or inf. The message names ``name``.
    """
    arr = np.asarray(value)
    if arr.dtype == object or arr.dtype.kind not in "biufc":
        raise ValueError(f"{name}: expected a 1-D array of real numbers, got dtype {arr.dtype}")
    if arr.dtype.kind == "c" and not allow_complex:
        raise ValueError(f"{name}: expected real numbers, got a complex array")
    arr = arr.astype(complex if arr.dtype.kind == "c" else float)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got an array of shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: expected at least one element, got an empty array")
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValueError(f"{name}: every element must be finite, but {name}[{bad}] = {arr[bad]}")
    return arr


def as_points(
    z: object, x: object, *, allow_complex: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Validate logits ``z`` and positions ``x``: finite 1-D arrays of one length N >= 1."""
    zz = as_vector("z", z, allow_complex=allow_complex)
    xx = as_vector("x", x)
    if zz.shape != xx.shape:
        raise ValueError(
            f"z and x: expected arrays of equal length, got len(z) = {zz.size} "
            f"and len(x) = {xx.size}"
        )
    return zz, xx


def as_scalar(name: str, value: object) -> float:
    """Return ``value`` as a finite Python float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real | np.ndarray):
        raise ValueError(f"{name}: expected a real number, got {value!r}")
    arr = np.asarray(value)
    if arr.ndim != 0 or arr.dtype.kind not in "iuf":
        raise ValueError(f"{name}: expected a real number, got {value!r}")
    out = float(arr)
    if not np.isfinite(out):
        raise ValueError(f"{name}: expected a finite number, got {out}")
    return out


def as_interval(a: object, b: object) -> tuple[float, float]:
    """Validate the target interval ``[a, b]``: finite, with ``a < b``."""
    aa = as_scalar("a", a)
    bb = as_scalar("b", b)
    if not aa < bb:
        raise ValueError(f"a and b: the target interval needs a < b, got a = {aa}, b = {bb}")
    return aa, bb


def as_background(value: object) -> float:
    """Validate a background weight: a number in ``[0, 1)``."""
    eps = as_scalar("background", value)
    if not 0.0 <= eps < 1.0:
        raise ValueError(f"background: must be in [0, 1), got {eps}")
    return eps


def as_bandwidth(value: object) -> float:
    """Validate a kernel bandwidth: a finite number > 0."""
    h = as_scalar("bandwidth", value)
    if not h > 0:
        raise ValueError(f"bandwidth: must be > 0, got {h}")
    return h


#: The largest number of bins accepted. The midpoint rule's error falls as ``M**-2``: at this
#: many bins it is about ``1e-14`` of the target's width squared over the kernel's, far
#: below what more bins could add, while ``M`` floats of bin centres already take 80 MB.
MAX_BINS = 10**7


def as_bins(value: object) -> int:
    """Validate the number of bins: an integer from 1 to :data:`MAX_BINS`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral | np.integer):
        raise ValueError(f"bins: expected an integer >= 1, got {value!r}")
    m = int(value)
    if m < 1:
        raise ValueError(f"bins: expected an integer >= 1, got {m}")
    if m > MAX_BINS:
        raise ValueError(
            f"bins: at most {MAX_BINS:,} bins are supported (the midpoint rule is then "
            f"exact to float precision for any smooth kernel), got {m:,}"
        )
    return m


def as_tol(value: object) -> float | None:
    """Validate a requested accuracy: ``None`` (exact) or a number in ``(0, 1)``."""
    if value is None:
        return None
    tol = as_scalar("tol", value)
    if not 0.0 < tol < 1.0:
        raise ValueError(f"tol: expected None (exact) or a number in (0, 1), got {tol}")
    return tol


def as_bins_at(value: object) -> tuple[np.ndarray, bool]:
    """Validate evaluation points ``t``: a finite scalar or a non-empty finite 1-D array.

    Returns the points as a 1-D array and whether the input was a scalar.
    """
    arr = np.asarray(value)
    if arr.ndim == 0:
        return np.atleast_1d(as_scalar("t", value)), True
    return as_vector("t", arr), False


def _target_values(value: object, t: np.ndarray) -> tuple[np.ndarray, str]:
    """The raw target values at the bin centres ``t``, and what to call them in errors."""
    if callable(value):
        try:
            got = value(t.copy())
        except Exception as err:  # any failure of the user's function is a bad target
            raise ValueError(
                f"target: the callable raised {type(err).__name__} at the bin centres: {err}"
            ) from err
        return np.asarray(got), "the callable's value"
    return np.asarray(value), "target"


def as_target(value: object, t: np.ndarray) -> np.ndarray | None:
    """Validate a target at the bin centres ``t`` and normalise it: weights summing to 1.

    ``None`` is the uniform target (returned as ``None``); an array of ``t.size`` weights
    ``w_m >= 0``, not all zero; or a callable ``p`` called once on the array ``t`` (a copy)
    that returns such an array. The weights are scaled by their largest before they are
    summed, so weights near the float limit do not overflow.

    Raises
    ------
    ValueError
        Starting with ``"target: "``: a wrong dtype, shape or size, a NaN, inf or negative
        weight, all weights zero, or a callable that raises.

    Examples
    --------
    >>> as_target([1.0, 3.0], np.array([0.25, 0.75]))
    array([0.25, 0.75])
    >>> as_target(lambda t: t, np.array([0.25, 0.75]))
    array([0.25, 0.75])
    >>> as_target([0.0, -1.0], np.array([0.25, 0.75]))
    Traceback (most recent call last):
    ...
    ValueError: target: weights must be >= 0, but target[1] = -1.0
    """
    if value is None:
        return None
    arr, what = _target_values(value, t)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise ValueError(
            f"target: expected real weights, one per bin, but {what} has dtype {arr.dtype}"
        )
    if arr.shape != t.shape:
        raise ValueError(
            f"target: expected {t.size} weights (one per bin, shape {t.shape}), but {what} "
            f"has shape {arr.shape}"
        )
    return _normalised_rows(arr.astype(float)[None, :], what)[0]


def _normalised_rows(w: np.ndarray, what: str) -> np.ndarray:
    """Rows of ``w`` checked (finite, ``>= 0``, each with a positive entry) and scaled to
    sum to 1; ``what`` names the array in the messages."""
    index = (lambda i: f"[{i[1]}]") if w.shape[0] == 1 else (lambda i: f"[{i[0]}, {i[1]}]")
    if not np.all(np.isfinite(w)):
        bad = np.argwhere(~np.isfinite(w))[0]
        raise ValueError(
            f"target: every weight must be finite, but {what}{index(bad)} = {w[tuple(bad)]}"
        )
    if (w < 0).any():
        bad = np.argwhere(w < 0)[0]
        raise ValueError(f"target: weights must be >= 0, but {what}{index(bad)} = {w[tuple(bad)]}")
    top = w.max(axis=1)
    if not (top > 0).all():
        row = int(np.flatnonzero(~(top > 0))[0])
        where = "" if w.shape[0] == 1 else f" in row {row}"
        raise ValueError(
            f"target: the weights{where} are all zero; at least one bin needs a positive weight"
        )
    out = w / top[:, None]
    out /= out.sum(axis=1, keepdims=True)
    return out


def as_batch_target(value: object, t: np.ndarray, batch: int) -> np.ndarray | None:
    """Validate a batch of targets at the shared bin centres ``t``: ``None`` (uniform) or an
    array of shape ``(batch, t.size)`` of weights ``>= 0``, each row with a positive entry;
    the rows are normalised to sum 1. A bad target raises ``ValueError("target: ...")``.

    Examples
    --------
    >>> as_batch_target([[1.0, 1.0], [0.0, 2.0]], np.array([0.25, 0.75]), 2)
    array([[0.5, 0.5],
           [0. , 1. ]])
    """
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise ValueError(f"target: expected real weights, got dtype {arr.dtype}")
    if arr.shape != (batch, t.size):
        raise ValueError(
            f"target: expected weights of shape (B, M) = ({batch}, {t.size}), one row per "
            f"sample and one weight per bin, got shape {arr.shape}"
        )
    return _normalised_rows(arr.astype(float), "target")
