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
