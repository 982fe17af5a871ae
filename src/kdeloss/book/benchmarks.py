"""The fast chapter's helpers, and the committed benchmark results.

``benchmarks/bench.py`` (``make bench``) writes ``benchmarks/results/bench.json``; the
chapter "Computing it fast" and the appendix "Benchmarks" quote its numbers, and the
benchmark's own tables and the tests read it too. All of them look numbers up with
:func:`seconds`, :func:`ratio` and :func:`peak`; :func:`headline` derives every number the
two pages quote.

The chapter's own checks and figures come from here too: :func:`random_problem` and
:func:`sorted_against_direct` (the exact sorted method against the direct sum),
:func:`fft_grid_errors` and :func:`plot_fft_grid` (the FFT method's error against its grid
step), and :func:`plot_prefix_picture` (why the Laplace kernel gives prefix sums).

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
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .. import fast
from ..kernels import get_kernel
from ..logspace import log_softmax
from ..loss import bin_centers, loss_and_grad
from .plots import OKABE_ITO

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "PROBLEM_KINDS",
    "RESULTS_FILE",
    "GridErrors",
    "SortedCheck",
    "fft_grid_errors",
    "find_results",
    "headline",
    "load",
    "peak",
    "plot_fft_grid",
    "plot_prefix_picture",
    "random_problem",
    "ratio",
    "relative_errors",
    "seconds",
    "sorted_against_direct",
]

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


def _need(value: float | None, what: str) -> float:
    if value is None:
        raise ValueError(f"results: this run has no {what}")
    return float(value)


def headline(results: dict[str, Any]) -> dict[str, float]:
    """Every number the fast chapter and the benchmarks appendix quote, from one run.

    Sizes are ``N = M``; ``a / b`` is the time of ``a`` over that of ``b``, measured side by
    side (:func:`ratio`); times are in seconds and memory in MiB.

    Parameters
    ----------
    results
        The results of a run (:func:`load`), with every method and peer of the committed run.

    Returns
    -------
    dict
        ``dj_lap``, ``dj_gau`` (direct / JAX at 4000, Laplace and Gaussian), ``dt_lap``,
        ``dt_gau`` (direct / PyTorch at 4000), ``dj_small``, ``dj_small_lap`` (direct / JAX
        at 100), ``sj``, ``st`` (how many times faster sorted is than JAX and PyTorch at
        10^4), ``sorted_1e6``, ``fft_lap_1e6``, ``fft_gau_1e6``, ``kdepy_lap_1e6``,
        ``kdepy_gau_1e6`` (seconds at 10^6), ``scipy_gau_1e4`` (seconds at 10^4),
        ``fft_kdepy_gau_1e6``, ``sorted_kdepy_lap_1e6`` (our loss and gradient over KDEpy's
        density alone, at 10^6), ``kdepy_lead_until`` (the largest size at which KDEpy's
        density is faster than the fft method for the Gaussian kernel), ``fd_small`` (fft /
        direct, Gaussian, 100), ``df_4000`` (direct / fft, Gaussian, 4000), ``fft_cross``
        (the smallest size from which fft is faster than direct, Gaussian), ``fs_lap_1e6``
        (fft / sorted, Laplace, 10^6), ``fft_err`` (the fft method's largest gradient
        error), ``mem_direct``, ``mem_direct_tm`` (direct's peak at 20,000, resident set and
        tracemalloc), ``mem_jax``, ``mem_torch`` (peaks at 10^4).

    Raises
    ------
    ValueError
        ``results: ...`` if the run lacks a number the pages quote.

    Examples
    --------
    >>> numbers = headline(find_results(Path(__file__).parents[3]))
    >>> numbers["sorted_1e6"] < 1.0 and numbers["fft_kdepy_gau_1e6"] < 1.0
    True
    """

    def r(ours: str, peer: str, kernel: str, n: int) -> float:
        return _need(ratio(results, ours, peer, kernel, n), f"{ours} / {peer} ({kernel}, {n})")

    def s(who: str, kernel: str, n: int) -> float:
        return _need(seconds(results, who, kernel, n), f"time of {who} ({kernel}, {n})")

    def mib(who: str, n: int, key: str = "rss_peak") -> float:
        return _need(peak(results, who, n, key), f"{key} of {who} ({n})") / 2**20

    # The Gaussian kernel's sizes, and the two ratios measured at each (a lookup in the
    # results table by the kernel's name, not a branch on a kernel).
    gauss = "gaussian"
    sizes = sorted({row["n"] for row in results["times"] if row["kernel"] == gauss})

    def measured(ours: str, peer: str) -> dict[int, float]:
        return {
            n: r(ours, peer, gauss, n)
            for n in sizes
            if seconds(results, ours, gauss, n) and seconds(results, peer, gauss, n)
        }

    faster = [n for n, v in measured("fft", "direct").items() if v < 1]
    kdepy_ahead = [n for n, v in measured("fft", "kdepy").items() if v > 1]
    fft_errors = [e["grad"] for e in results["errors"] if e["who"] == "fft"]
    return {
        "dj_lap": r("direct", "jax", "laplace", 4000),
        "dj_gau": r("direct", "jax", "gaussian", 4000),
        "dt_lap": r("direct", "torch", "laplace", 4000),
        "dt_gau": r("direct", "torch", "gaussian", 4000),
        "dj_small": r("direct", "jax", "gaussian", 100),
        "dj_small_lap": r("direct", "jax", "laplace", 100),
        "sj": 1 / r("sorted", "jax", "laplace", 10_000),
        "st": 1 / r("sorted", "torch", "laplace", 10_000),
        "sorted_1e6": s("sorted", "laplace", 10**6),
        "fft_lap_1e6": s("fft", "laplace", 10**6),
        "fft_gau_1e6": s("fft", "gaussian", 10**6),
        "kdepy_lap_1e6": s("kdepy", "laplace", 10**6),
        "kdepy_gau_1e6": s("kdepy", "gaussian", 10**6),
        "scipy_gau_1e4": s("scipy", "gaussian", 10_000),
        "fft_kdepy_gau_1e6": r("fft", "kdepy", "gaussian", 10**6),
        "sorted_kdepy_lap_1e6": r("sorted", "kdepy", "laplace", 10**6),
        "kdepy_lead_until": float(max(kdepy_ahead)) if kdepy_ahead else 0.0,
        "fd_small": r("fft", "direct", "gaussian", 100),
        "df_4000": r("direct", "fft", "gaussian", 4000),
        "fft_cross": _need(min(faster) if faster else None, "size where fft beats direct"),
        "fs_lap_1e6": r("fft", "sorted", "laplace", 10**6),
        "fft_err": _need(max(fft_errors) if fft_errors else None, "error of fft"),
        "mem_direct": mib("direct", 20_000),
        "mem_direct_tm": mib("direct", 20_000, "tracemalloc_peak"),
        "mem_jax": mib("jax", 10_000),
        "mem_torch": mib("torch", 10_000),
    }


#: The kinds of random problem of :func:`random_problem`.
PROBLEM_KINDS: tuple[str, ...] = (
    "spread",
    "ties",
    "far left",
    "far, both sides",
    "far right and inside",
)


def random_problem(
    rng: np.random.Generator, kind: str, n: int = 2000, bins: int = 1000
) -> tuple[np.ndarray, np.ndarray]:
    """Logits and positions of a random problem on the target ``[0, 1]`` with ``bins`` bins.

    Parameters
    ----------
    rng
        The random generator.
    kind
        One of :data:`PROBLEM_KINDS`: ``"spread"`` (points on ``[-2, 3]``), ``"ties"`` (points
        exactly on bin centres and on both ends of the target, some repeated), ``"far left"``
        (``3 x 10^5`` to ``3 x 10^5 + 1`` left of the target), ``"far, both sides"`` (about
        ``10^5`` away on either side) and ``"far right and inside"`` (half inside the target,
        half ``10^5`` to the right).
    n
        The number of points.
    bins
        The number of bins.

    Returns
    -------
    z, x
        Logits (normal, standard deviation 2) and positions, both of shape ``(n,)``.

    Raises
    ------
    ValueError
        ``kind: ...`` for an unknown kind.

    Examples
    --------
    >>> z, x = random_problem(np.random.default_rng(0), "ties", n=20, bins=10)
    >>> z.shape, x.shape
    ((20,), (20,))
    >>> bool(np.isin(x, np.r_[bin_centers(0.0, 1.0, 10), 0.0, 1.0]).all())
    True
    """
    if kind not in PROBLEM_KINDS:
        raise ValueError(f"kind: expected one of {PROBLEM_KINDS}, got {kind!r}")
    t = bin_centers(0.0, 1.0, bins)
    z = 2.0 * rng.normal(size=n)
    if kind == "spread":
        x = rng.uniform(-2.0, 3.0, size=n)
    elif kind == "ties":
        x = np.concatenate([t[rng.integers(0, bins, n - 10)], [t[0], t[-1], 0.0, 1.0] * 2])
        x = np.concatenate([x, x[:2]])
    elif kind == "far left":
        x = -3e5 - rng.uniform(0.0, 1.0, size=n)
    elif kind == "far, both sides":
        x = np.where(rng.random(n) < 0.5, -1.0, 1.0) * (1e5 + rng.random(n))
    else:
        x = np.where(rng.random(n) < 0.5, rng.random(n), 1e5 + rng.random(n))
    return z, x


def relative_errors(
    got: tuple[float, np.ndarray], ref: tuple[float, np.ndarray]
) -> tuple[float, float]:
    """Relative errors ``e`` of a loss and gradient pair against a reference pair.

    Parameters
    ----------
    got, ref
        ``(loss, gradient)`` pairs; the reference loss must not be 0 and its gradient not all 0.

    Returns
    -------
    loss_error, grad_error
        ``|L - L_ref| / |L_ref|`` and ``max |g - g_ref| / max |g_ref|``.

    Examples
    --------
    >>> relative_errors((2.0, np.array([1.0, -3.0])), (4.0, np.array([1.0, -4.0])))
    (0.5, 0.25)
    """
    scale = float(np.abs(ref[1]).max())
    e_loss = abs(float(got[0]) - float(ref[0])) / abs(float(ref[0]))
    return e_loss, float(np.abs(got[1] - ref[1]).max()) / scale


class SortedCheck(NamedTuple):
    """What :func:`sorted_against_direct` found."""

    rows: list[tuple[str, float, float, float]]
    """``(kind, bandwidth, loss error, gradient error)``, one per problem."""
    worst: float
    """The largest relative error of all."""


def sorted_against_direct(
    seed: int = 2022,
    n: int = 2000,
    bins: int = 1000,
    bandwidths: tuple[float, ...] = (0.05, 0.5),
) -> SortedCheck:
    """The sorted Laplace method against the direct sum, on every kind of random problem.

    Parameters
    ----------
    seed
        Seed of the random generator.
    n, bins
        Points and bins per problem (target ``[0, 1]``).
    bandwidths
        The Laplace bandwidths; every kind of :data:`PROBLEM_KINDS` is drawn for each.

    Returns
    -------
    SortedCheck
        The relative errors (:func:`relative_errors`) per problem, and the worst.

    Examples
    --------
    >>> check = sorted_against_direct(n=50, bins=20)
    >>> len(check.rows), check.worst < 1e-12
    (10, True)
    """
    rng = np.random.default_rng(seed)
    rows, worst = [], 0.0
    for kind in PROBLEM_KINDS:
        for h in bandwidths:
            z, x = random_problem(rng, kind, n, bins)
            opts = {"bandwidth": h, "bins": bins}
            ref = loss_and_grad(z, x, 0.0, 1.0, method="direct", **opts)
            got = loss_and_grad(z, x, 0.0, 1.0, method="sorted", **opts)
            e_loss, e_grad = relative_errors(got, ref)
            worst = max(worst, e_loss, e_grad)
            rows.append((kind, h, e_loss, e_grad))
    return SortedCheck(rows, worst)


class GridErrors(NamedTuple):
    """What :func:`fft_grid_errors` measured."""

    steps: np.ndarray
    """Grid steps over the bandwidth, ``Delta / h``."""
    errors: np.ndarray
    """Shape ``(len(steps), 2)``: loss and gradient relative errors at each step."""
    default: float
    """The larger of the two errors at the default step :data:`kdeloss.fast.FFT_STEP`."""


def fft_grid_errors(
    n: int = 1000, bandwidth: float = 0.1, seed: int = 0, steps: np.ndarray | None = None
) -> GridErrors:
    """The FFT method's errors (Gaussian kernel, its bound off) against its grid step.

    The problem is the benchmark's: ``n`` points and logits standard normal, the target
    ``[-1, 1]`` in ``n`` bins. With ``tol=inf`` the method returns its grid's answer at each
    step, never refined or replaced by the exact one.

    Parameters
    ----------
    n
        Points and bins.
    bandwidth
        The Gaussian bandwidth ``h``.
    seed
        Seed of the random generator.
    steps
        Grid steps over ``h``; default ``2^-4, ..., 2^-10``.

    Returns
    -------
    GridErrors
        The steps, the relative errors at each and the error at the default step.

    Examples
    --------
    >>> g = fft_grid_errors(n=200, steps=np.array([1 / 16, 1 / 32]))
    >>> bool(g.errors[1, 1] < g.errors[0, 1] / 3)  # second order: about four times smaller
    True
    """
    steps = 2.0 ** -np.arange(4, 11) if steps is None else np.asarray(steps, dtype=float)
    rng = np.random.default_rng(seed)
    z, x = rng.normal(size=n), rng.normal(size=n)
    t = bin_centers(-1.0, 1.0, n)
    kern = get_kernel("gaussian", bandwidth)
    ref = fast.direct(z, x, t, kern)
    errors = np.array(
        [relative_errors(fast.fft(z, x, t, kern, step=s, tol=np.inf), ref) for s in steps]
    )
    default = max(relative_errors(fast.fft(z, x, t, kern), ref))
    return GridErrors(steps, errors, default)


def plot_fft_grid(ax: Axes, grid: GridErrors) -> None:
    """Draw :func:`fft_grid_errors` on log-log axes, with a slope-2 guide, the default step
    (dotted) and the ``1e-6`` the method keeps (dashed).

    Parameters
    ----------
    ax
        The axes.
    grid
        What :func:`fft_grid_errors` returned.
    """
    colour = OKABE_ITO["blue"]
    ax.loglog(grid.steps, grid.errors[:, 0], marker="o", mfc="white", color=colour, label="loss")
    ax.loglog(grid.steps, grid.errors[:, 1], marker="o", color=colour, label="gradient")
    guide = np.array([grid.steps[0], grid.steps[-1]])
    ax.loglog(guide, 0.3 * guide**2, color="0.6", linewidth=3, alpha=0.5, label="slope 2")
    ax.axvline(fast.FFT_STEP, color="0.3", linestyle=":", linewidth=1)
    ax.axhline(fast.FFT_TOL, color="0.3", linestyle="--", linewidth=1)
    ax.set_xlabel(r"grid step over bandwidth, $\Delta / h$")
    ax.set_ylabel(r"relative error $e$ against direct")
    ax.legend(fontsize=8)


def plot_prefix_picture(top: Axes, bottom: Axes, t_star: float = 0.5) -> None:
    """Why the Laplace kernel gives prefix sums, for five points (``h = 1``).

    Top: ``log S_j - |t - x_j| / h`` against ``t``, orange for the points left of the bin
    ``t_star`` (dashed), blue for those right of it. Bottom: the log of the sum of the left
    terms, of the right terms, and of both (``log 2h q(t)``).

    Parameters
    ----------
    top, bottom
        Two axes sharing the horizontal axis.
    t_star
        The marked bin.
    """
    h = 1.0
    x = np.array([-3.1, -1.8, -0.6, 1.5, 2.7])
    log_s = log_softmax(np.array([0.4, -0.3, 0.6, 0.2, -0.5]))
    t = np.linspace(-4.5, 4.5, 1801)
    left, right = OKABE_ITO["orange"], OKABE_ITO["sky_blue"]
    for lsj, xj in zip(log_s, x, strict=True):
        top.plot(t, lsj - np.abs(t - xj) / h, color=left if xj <= t_star else right, linewidth=1.4)
    top.axvline(t_star, color="0.4", linestyle="--", linewidth=1)
    top.text(t_star + 0.1, -0.8, r"bin $t^\ast$", color="0.3")
    top.set_ylabel(r"$\log S_j - |t - x_j|/h$")
    top.set_ylim(-7.5, 0.0)

    terms = log_s[None, :] - np.abs(t[:, None] - x[None, :]) / h
    is_left = x[None, :] <= t[:, None]
    # log of each partial sum; -inf where a side holds no point (drawn as a gap)
    log_left = np.logaddexp.reduce(np.where(is_left, terms, -np.inf), axis=1)
    log_right = np.logaddexp.reduce(np.where(is_left, -np.inf, terms), axis=1)
    bottom.plot(t, log_left, color=left, label="points left of $t$")
    bottom.plot(t, log_right, color=right, label="points right of $t$")
    bottom.plot(t, np.logaddexp(log_left, log_right), color="black", label=r"all: $\log 2h\,q(t)$")
    bottom.plot(x, np.full(x.size, -7.0), "o", color="0.3", label="points $x_j$")
    bottom.set_ylim(-7.5, 0.5)
    bottom.set_xlabel("bin position $t$")
    bottom.set_ylabel("log of the partial sums")
    bottom.legend(loc="lower center", ncol=2, fontsize=8)
