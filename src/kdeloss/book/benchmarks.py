"""The committed benchmark results: find them, and look up a time, a ratio or a peak.

``benchmarks/bench.py`` (``make bench``) writes ``benchmarks/results/bench.json``; the
chapter "Computing it fast" quotes its numbers, and the benchmark's own tables and the
tests read it too. All of them look numbers up with these functions.

The results are a dict with the lists ``"times"`` (rows ``who``, ``kernel``, ``n``,
``seconds``: the best time of one method at ``N = M = n``), ``"pairs"`` (rows ``ours``,
``peer``, ``kernel``, ``n``, ``ratio``: ``t_ours / t_peer``, the two measured side by side)
and ``"memory"`` (rows ``who``, ``n`` and the peaks ``rss_peak`` and, for the NumPy-based
methods, ``tracemalloc_peak``, in bytes), besides ``"machine"``, ``"problem"``,
``"skipped"`` and ``"errors"``.

Examples
--------
>>> results = {
...     "times": [{"who": "sorted", "kernel": "laplace", "n": 100, "seconds": 2e-4}],
...     "pairs": [{"ours": "direct", "peer": "fft", "kernel": "laplace", "n": 100,
...                "ratio": 0.25}],
...     "memory": [{"who": "direct", "n": 100, "rss_peak": 2**20}],
... }
>>> seconds(results, "sorted", "laplace", 100)
0.0002
>>> ratio(results, "fft", "direct", "laplace", 100)  # read the other way round
4.0
>>> peak(results, "direct", 100) / 2**20
1.0
>>> peak(results, "direct", 100, "tracemalloc_peak") is None
True
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["RESULTS_FILE", "find_results", "load", "peak", "ratio", "seconds"]

#: Where ``make bench`` writes its results, relative to the repository's root.
RESULTS_FILE = Path("benchmarks") / "results" / "bench.json"


def load(path: str | Path) -> dict[str, Any]:
    """The results of a benchmark run, read from its ``bench.json``.

    Parameters
    ----------
    path
        The ``bench.json`` file.

    Returns
    -------
    dict
        The results, as ``benchmarks/bench.py`` wrote them.
    """
    return json.loads(Path(path).read_text())


def find_results(start: str | Path | None = None) -> dict[str, Any] | None:
    """The committed results, found in ``start`` (default: the working directory) or above.

    Parameters
    ----------
    start
        The folder to start from; its parents are searched too.

    Returns
    -------
    dict or None
        The results, or None where :data:`RESULTS_FILE` is not at hand (e.g. in a browser).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     find_results(folder) is None
    True
    """
    here = Path.cwd() if start is None else Path(start).resolve()
    for folder in [here, *here.parents]:
        path = folder / RESULTS_FILE
        if path.is_file():
            return load(path)
    return None


def seconds(results: dict[str, Any], who: str, kernel: str, n: int) -> float | None:
    """Best time of one method at ``N = M = n``, or None if it was not measured.

    Parameters
    ----------
    results
        The results of a run (:func:`load`).
    who
        The method or peer, e.g. ``"sorted"`` or ``"jax"``.
    kernel
        ``"laplace"`` or ``"gaussian"``.
    n
        The size ``N = M``.

    Returns
    -------
    float or None
        Seconds per evaluation.
    """
    for row in results["times"]:
        if (row["who"], row["kernel"], row["n"]) == (who, kernel, n):
            return row["seconds"]
    return None


def ratio(results: dict[str, Any], ours: str, peer: str, kernel: str, n: int) -> float | None:
    """``t_ours / t_peer`` from the pair measured side by side, or None if not measured.

    A pair recorded the other way round (``peer / ours``) is read as its reciprocal.

    Parameters
    ----------
    results
        The results of a run (:func:`load`).
    ours, peer
        The two methods or peers.
    kernel
        ``"laplace"`` or ``"gaussian"``.
    n
        The size ``N = M``.

    Returns
    -------
    float or None
        The time ratio (below 1: ``ours`` is faster).
    """
    for row in results["pairs"]:
        if (row["ours"], row["peer"], row["kernel"], row["n"]) == (ours, peer, kernel, n):
            return row["ratio"]
    for row in results["pairs"]:
        if (row["ours"], row["peer"], row["kernel"], row["n"]) == (peer, ours, kernel, n):
            return 1 / row["ratio"]
    return None


def peak(results: dict[str, Any], who: str, n: int, key: str = "rss_peak") -> int | None:
    """Peak memory growth of one call at ``N = M = n``, in bytes, or None if not measured.

    Parameters
    ----------
    results
        The results of a run (:func:`load`).
    who
        The method or peer.
    n
        The size ``N = M``.
    key
        ``"rss_peak"`` (the resident set) or ``"tracemalloc_peak"`` (NumPy-based methods).

    Returns
    -------
    int or None
        Bytes.
    """
    for row in results["memory"]:
        if (row["who"], row["n"]) == (who, n) and row.get(key) is not None:
            return row[key]
    return None
