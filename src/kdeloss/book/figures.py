"""Figures and small tables for the chapters on the gradient, its checks and EM.

Matplotlib is an optional dependency, so ``import kdeloss`` does not import this module;
use ``from kdeloss.book import figures``. Each ``plot_*`` function draws on axes it is given and
returns what it drew, so tests can compare the drawn data with the library's numbers.
Colours are the Okabe-Ito palette (:data:`COLORS`), and curves that must be told apart also
differ in line style or marker.

Presentation helpers: :func:`latex_sci` (a number as ``2.3 \\times 10^{-16}``),
:func:`markdown_table`, and :func:`equation` (a SymPy step as displayed math).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from matplotlib.axes import Axes
from matplotlib.container import BarContainer
from matplotlib.lines import Line2D

from .._validate import as_interval, as_points
from ..kernels import LogPdf, get_kernel
from ..loss import log_density, responsibilities, softmax
from .checks import EPS, BinningStudy, StepSweep
from .plots import OKABE_ITO

__all__ = [
    "COLORS",
    "TARGET_COLOR",
    "BinGradientArtists",
    "equation",
    "latex_sci",
    "markdown_table",
    "plot_bin_gradient",
    "plot_binning_convergence",
    "plot_components",
    "plot_loss_curves",
    "plot_responsibilities",
    "plot_step_sweep",
    "plot_weight_paths",
]

#: Okabe-Ito colours in the order the book uses for points 1, 2, 3, ...
COLORS: tuple[str, ...] = (
    OKABE_ITO["blue"],
    OKABE_ITO["orange"],
    OKABE_ITO["bluish_green"],
    OKABE_ITO["vermillion"],
    OKABE_ITO["reddish_purple"],
    OKABE_ITO["sky_blue"],
    OKABE_ITO["yellow"],
    OKABE_ITO["black"],
)

#: Colour of the shaded target interval (as in :func:`kdeloss.book.plots.plot_density`).
TARGET_COLOR: str = OKABE_ITO["orange"]

# Errors and gaps on log axes are drawn at least at this value (about the float64 round-off
# of a quantity of order one), so that an exact zero stays on the plot.
LOG_FLOOR = 1e-16

_STYLES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def latex_sci(value: float, digits: int = 2) -> str:
    r"""A number in LaTeX scientific notation, ``m \times 10^{e}``, with ``digits`` significant.

    Zero is ``0``; numbers whose exponent is -2 to 3 are written plainly.

    Examples
    --------
    >>> latex_sci(2.3456e-16)
    '2.3 \\times 10^{-16}'
    >>> latex_sci(0.0123, 3), latex_sci(0.0)
    ('0.0123', '0')
    >>> latex_sci(-1e-12, 1)
    '-1 \\times 10^{-12}'
    """
    v = float(value)
    if v == 0.0:
        return "0"
    if not np.isfinite(v):
        return {True: r"\infty", False: r"-\infty"}[v > 0] if np.isinf(v) else r"\mathrm{NaN}"
    mant, exp = f"{v:.{digits - 1}e}".split("e")
    e = int(exp)
    if -2 <= e <= 3:
        return f"{v:.{max(digits - 1 - e, 0)}f}"
    return rf"{mant} \times 10^{{{e}}}"


def markdown_table(
    header: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None
) -> str:
    """A Markdown (pipe) table, the one way the book builds a table in code.

    Parameters
    ----------
    header
        The column titles (Markdown, so ``$...$`` is math).
    rows
        One sequence of cells per row, one cell per column; a cell is written with ``str``.
    align
        One character per column: ``l`` (left), ``c`` (centre), ``r`` (right) or ``-``
        (the renderer's default). Default: all ``l``.

    Returns
    -------
    str
        The table, one line per row, for ``IPython.display.Markdown``.

    Raises
    ------
    ValueError
        If a row or ``align`` does not have one entry per column of the header.

    Examples
    --------
    >>> print(markdown_table(["a", "b"], [[1, "$x$"]], align="lr"))
    | a | b |
    | :--- | ---: |
    | 1 | $x$ |
    >>> print(markdown_table(["a"], [["x"]], align="-"))
    | a |
    | --- |
    | x |
    """
    marks = {"l": ":---", "c": ":---:", "r": "---:", "-": "---"}
    al = align or "l" * len(header)
    if len(al) != len(header) or any(len(r) != len(header) for r in rows):
        raise ValueError("rows and align must have one entry per column of the header")
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(marks[c] for c in al) + " |",
    ]
    lines += ["| " + " | ".join(str(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def equation(lhs: str, expr: Any, relation: str = "=") -> Any:
    """Displayed math ``lhs = expr`` for a notebook, with ``expr`` typeset by SymPy.

    ``expr`` may also be a string of LaTeX. Returns an :class:`IPython.display.Math`, which
    a notebook shows as an equation (MyST-NB renders it as a display-math block).

    Examples
    --------
    >>> import sympy as sp
    >>> equation("y", sp.Symbol("x") ** 2).data
    'y = x^{2}'
    """
    from IPython.display import Math

    if isinstance(expr, str):
        body = expr
    else:
        body = _latex_iverson(expr)
    return Math(f"{lhs} {relation} {body}")


def _latex_iverson(expr: Any) -> str:
    """``sympy.latex`` with the Kronecker delta written as the Iverson bracket ``[i = j]``
    (the book's notation).

    Examples
    --------
    >>> import sympy as sp
    >>> i, j = sp.symbols("i j", integer=True)
    >>> _latex_iverson(2 * sp.KroneckerDelta(i, j))
    '2 [i = j]'
    """
    from sympy.printing.latex import LatexPrinter

    class _Printer(LatexPrinter):
        def _print_KroneckerDelta(self, e: Any, exp: Any = None) -> str:
            tex = f"[{self._print(e.args[0])} = {self._print(e.args[1])}]"
            return f"{tex}^{{{exp}}}" if exp else tex

    return _Printer().doprint(expr)


def _shade_target(ax: Axes, a: float, b: float, label: str | None = "target $[a, b]$") -> None:
    ax.axvspan(a, b, color=TARGET_COLOR, alpha=0.15, linewidth=0, label=label)


def plot_components(
    ax: Axes,
    z: np.ndarray,
    x: np.ndarray,
    grid: np.ndarray,
    *,
    a: float | None = None,
    b: float | None = None,
    kernel: str | LogPdf = "laplace",
    bandwidth: float = 1.0,
    legend: bool = True,
) -> list[Line2D]:
    """Draw each weighted component ``S_j K(t - x_j)`` and their sum ``q(t)`` on ``grid``.

    Returns
    -------
    list of Line2D
        One line per component, then the line of ``q``.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> lines = plot_components(ax, [0.0, 0.0], [-1.0, 1.0], np.linspace(-2, 2, 5))
    >>> len(lines), bool(np.isclose(lines[-1].get_ydata()[2], np.exp(-1.0) / 2))   # q(0)
    (3, True)
    >>> plt.close(fig)
    """
    zz, xx = as_points(z, x)
    t = np.asarray(grid, dtype=float)
    kern = get_kernel(kernel, bandwidth)
    s = softmax(zz)
    if a is not None and b is not None:
        _shade_target(ax, *as_interval(a, b))
    lines = []
    for j in range(xx.size):
        comp = s[j] * kern.pdf(t - xx[j])
        (ln,) = ax.plot(
            t,
            comp,
            color=COLORS[j % len(COLORS)],
            linestyle=_STYLES[j % len(_STYLES)],
            linewidth=1.6,
            label=f"$S_{{{j + 1}}} K(t - x_{{{j + 1}}})$",
        )
        lines.append(ln)
    q = np.exp(log_density(zz, xx, t, kernel=kern))
    (ln,) = ax.plot(t, q, color=OKABE_ITO["black"], linewidth=2.2, label="$q(t)$")
    lines.append(ln)
    ax.set_xlabel("position $t$")
    ax.set_ylabel("density")
    ax.set_xlim(t[0], t[-1])
    ax.set_ylim(bottom=0.0)
    if legend:
        ax.legend(frameon=False, fontsize="small", loc="upper right")
    return lines


class BinGradientArtists(NamedTuple):
    """What :func:`plot_bin_gradient` drew."""

    components: list[Line2D]
    """The weighted components and ``q`` (left panel)."""
    weights: BarContainer
    """Bars of ``S_i`` (right panel)."""
    resp: BarContainer
    """Bars of ``r_i(t)`` (right panel)."""


def plot_bin_gradient(
    axes: Sequence[Axes],
    z: np.ndarray,
    x: np.ndarray,
    t: float,
    grid: np.ndarray,
    *,
    a: float | None = None,
    b: float | None = None,
    kernel: str | LogPdf = "laplace",
    bandwidth: float = 1.0,
) -> BinGradientArtists:
    """The one-bin gradient as a picture: weight minus responsibility.

    Left (``axes[0]``): the weighted components and ``q`` on ``grid`` with the bin ``t``
    marked; at ``t`` the responsibilities are the components' shares of ``q(t)``. Right
    (``axes[1]``): for each point, a bar of its weight ``S_i`` beside a bar of its
    responsibility ``r_i(t)``; the gradient ``S_i - r_i(t)`` is printed above each pair.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from kdeloss import bin_grad
    >>> fig, axes = plt.subplots(1, 2)
    >>> art = plot_bin_gradient(axes, [0.0, 0.5], [-1.0, 1.0], 0.5, np.linspace(-3, 3, 61))
    >>> hs = [p.get_height() for p in art.weights], [p.get_height() for p in art.resp]
    >>> bool(np.allclose(np.subtract(*hs), bin_grad([0.0, 0.5], [-1.0, 1.0], 0.5)))
    True
    >>> plt.close(fig)
    """
    zz, xx = as_points(z, x)
    kern = get_kernel(kernel, bandwidth)
    left, right = axes[0], axes[1]
    comps = plot_components(left, zz, xx, grid, a=a, b=b, kernel=kern, legend=False)
    left.axvline(t, color=OKABE_ITO["black"], linestyle=":", linewidth=1.2)
    # Headroom above the curves for a two-column legend.
    peak = max(float(np.max(ln.get_ydata())) for ln in comps)
    left.set_ylim(0.0, 1.7 * peak)
    left.annotate(
        f"bin $t = {t:g}$",
        (t, 1.15 * peak),
        xytext=(4, 0),
        textcoords="offset points",
        fontsize="small",
    )
    left.legend(frameon=False, fontsize="small", loc="upper left", ncol=2)
    s = softmax(zz)
    r = responsibilities(zz, xx, t, kernel=kern)
    idx = np.arange(xx.size)
    wbars = right.bar(
        idx - 0.2,
        s,
        width=0.4,
        color=[COLORS[j % len(COLORS)] for j in idx],
        alpha=0.45,
        edgecolor=OKABE_ITO["black"],
        label="weight $S_i$",
    )
    rbars = right.bar(
        idx + 0.2,
        r,
        width=0.4,
        color=[COLORS[j % len(COLORS)] for j in idx],
        edgecolor=OKABE_ITO["black"],
        hatch="//",
        label="responsibility $r_i(t)$",
    )
    for j in idx:
        right.annotate(
            f"{s[j] - r[j]:+.2f}",
            (j, max(s[j], r[j])),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            fontsize="small",
        )
    right.set_xticks(idx, [f"$i = {j + 1}$" for j in idx])
    right.set_ylabel("probability")
    right.set_ylim(0.0, 1.15 * max(float(s.max()), float(r.max())) + 0.08)
    right.legend(frameon=False, fontsize="small", loc="upper left")
    right.set_title(r"gradient $S_i - r_i(t)$ printed above each pair", fontsize=10)
    return BinGradientArtists(comps, wbars, rbars)


def plot_step_sweep(ax: Axes, sweep: StepSweep) -> list[Line2D]:
    """Log-log plot of a central difference's error against its step, with the model.

    Draws the measured errors (markers), the truncation line ``h^2 |L'''| / 6``, the
    round-off line ``EPS |L| / h`` and the predicted best step. Zero errors (exact by luck)
    are drawn at ``EPS * |exact|`` / 10 so they stay on a log axis.

    Returns
    -------
    list of Line2D
        Measured, truncation, round-off, and the vertical line at the predicted step.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from kdeloss.book.checks import fd_step_sweep
    >>> sw = fd_step_sweep([0.3, -0.2], [-0.5, 1.5], 0.0, 1.0, np.logspace(-1, -9, 9))
    >>> fig, ax = plt.subplots()
    >>> lines = plot_step_sweep(ax, sw)
    >>> bool(np.array_equal(lines[0].get_ydata(), sw.errors))
    True
    >>> plt.close(fig)
    """
    h = sweep.steps
    floor = EPS * max(abs(sweep.exact), 1e-3) / 10
    shown = np.where(sweep.errors > 0, sweep.errors, floor)
    (meas,) = ax.loglog(
        h,
        shown,
        "o",
        color=COLORS[0],
        markersize=4.5,
        label="measured error",
    )
    (trunc,) = ax.loglog(
        h,
        sweep.truncation(),
        "--",
        color=COLORS[1],
        linewidth=1.8,
        label=r"truncation $s^2 |L'''| / 6$",
    )
    (rnd,) = ax.loglog(
        h,
        sweep.roundoff(),
        "-.",
        color=COLORS[2],
        linewidth=1.8,
        label=r"round-off $2^{-52} |L| / s$",
    )
    vline = ax.axvline(
        sweep.predicted_step,
        color=OKABE_ITO["black"],
        linestyle=":",
        linewidth=1.2,
        label="predicted best step $s^*$",
    )
    ax.set_xlabel("step $s$")
    ax.set_ylabel("absolute error of the derivative")
    ax.set_ylim(max(floor / 2, 1e-17), 10 * float(max(shown.max(), 1e-12)))
    ax.legend(frameon=False, fontsize="small", loc="upper center")
    return [meas, trunc, rnd, vline]


def plot_binning_convergence(
    ax_abs: Axes,
    ax_scaled: Axes,
    studies: Sequence[BinningStudy],
    labels: Sequence[str],
    *,
    max_bins_scaled: int | None = None,
) -> dict[str, list[Line2D]]:
    """Binning error against the number of bins, for several cases.

    Left (``ax_abs``): ``|L_M - L|`` on log-log axes, with a dotted ``M^-2`` guide; errors at
    the level of round-off are drawn at ``1e-16`` (a log axis has no zero). Right
    (``ax_scaled``): ``M^2 (L_M - L)`` as markers and the leading-order model
    (:func:`kdeloss.book.checks.midpoint_error_model`) as a line: a clean second-order method is a
    flat line here. ``max_bins_scaled`` limits the right panel to ``M <= max_bins_scaled``,
    so that erratic values stay readable. The legend is on the left panel only.

    Returns
    -------
    dict
        ``"abs"``: one line per study; ``"scaled"``: markers then model line, per study.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from kdeloss.book.checks import binning_study
    >>> st = binning_study([0.0, 0.0], [-0.5, 1.5], 0.0, 1.0, [8, 9, 10], kernel="gaussian")
    >>> fig, (a1, a2) = plt.subplots(1, 2)
    >>> out = plot_binning_convergence(a1, a2, [st], ["Gaussian"])
    >>> bool(np.allclose(out["scaled"][0].get_ydata(), st.scaled_errors))
    True
    >>> plt.close(fig)
    """
    if len(studies) != len(labels):
        raise ValueError("labels: expected one label per study")
    out: dict[str, list[Line2D]] = {"abs": [], "scaled": []}
    floor = LOG_FLOOR
    for k, (st, lab) in enumerate(zip(studies, labels, strict=True)):
        col = COLORS[k % len(COLORS)]
        mk = _MARKERS[k % len(_MARKERS)]
        m = st.bins
        e = np.maximum(np.abs(st.errors), floor)
        (ln,) = ax_abs.loglog(m, e, mk, color=col, markersize=3, linestyle="none", label=lab)
        out["abs"].append(ln)
        keep = m <= (max_bins_scaled if max_bins_scaled is not None else m.max())
        (pts,) = ax_scaled.plot(
            m[keep],
            st.scaled_errors[keep],
            mk,
            color=col,
            markersize=3.5,
            linestyle="none",
            label=lab,
        )
        (mod,) = ax_scaled.plot(
            m[keep], st.scaled_model[keep], "-", color=col, linewidth=0.8, alpha=0.7
        )
        out["scaled"] += [pts, mod]
    m_all = np.concatenate([st.bins for st in studies]).astype(float)
    lo, hi = m_all.min(), m_all.max()
    top = max(float(np.abs(st.errors).max()) for st in studies)
    guide = np.array([lo, hi])
    ax_abs.loglog(
        guide,
        top * (lo / guide) ** 2,
        ":",
        color=OKABE_ITO["black"],
        linewidth=1.2,
        label=r"slope $-2$ ($\propto M^{-2}$)",
    )
    ax_abs.set_xlabel("number of bins $M$")
    ax_abs.set_ylabel(r"$|L_M - L|$")
    ax_abs.set_ylim(floor / 3, 3 * top)
    ax_abs.legend(frameon=False, fontsize="small", loc="center left")
    ax_scaled.axhline(0.0, color=OKABE_ITO["black"], linewidth=0.6)
    ax_scaled.set_xlabel("number of bins $M$")
    ax_scaled.set_ylabel(r"$M^2 (L_M - L)$")
    return out


def plot_responsibilities(
    ax: Axes,
    z: np.ndarray,
    x: np.ndarray,
    grid: np.ndarray,
    *,
    a: float | None = None,
    b: float | None = None,
    kernel: str | LogPdf = "laplace",
    bandwidth: float = 1.0,
) -> list[Any]:
    """Stacked areas of the responsibilities ``r_1(t), r_2(t), ...`` over ``grid``.

    At every ``t`` the bands fill ``[0, 1]``: each band's height is the probability that
    its point produced ``t``. Dashed vertical lines mark ``a`` and ``b`` when given, and
    the points' positions inside the grid are marked on the top edge.

    Returns
    -------
    list
        The ``PolyCollection`` of each band.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> bands = plot_responsibilities(ax, [0.0, 0.0], [-1.0, 1.0], np.linspace(-2, 2, 9))
    >>> len(bands)
    2
    >>> plt.close(fig)
    """
    zz, xx = as_points(z, x)
    t = np.asarray(grid, dtype=float)
    r = responsibilities(zz, xx, t, kernel=kernel, bandwidth=bandwidth)
    bands = ax.stackplot(
        t,
        r.T,
        colors=[COLORS[j % len(COLORS)] for j in range(xx.size)],
        labels=[f"$r_{{{j + 1}}}(t)$" for j in range(xx.size)],
        alpha=0.85,
        edgecolor="white",
        linewidth=0.5,
    )
    for band, j in zip(bands, range(xx.size), strict=True):
        band.set_hatch(["", "//", "..", "\\\\", "xx", "oo", "--", "++"][j % 8])
    if a is not None and b is not None:
        for edge in as_interval(a, b):
            ax.axvline(edge, color=OKABE_ITO["black"], linestyle="--", linewidth=1.2)
    inside = (xx >= t[0]) & (xx <= t[-1])
    ax.plot(
        xx[inside],
        np.ones(int(inside.sum())),
        "v",
        color=OKABE_ITO["black"],
        markersize=7,
        clip_on=False,
        label="points $x_j$",
    )
    ax.set_xlim(t[0], t[-1])
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("position $t$")
    ax.set_ylabel("responsibility (stacked)")
    return list(bands)


def plot_loss_curves(
    ax: Axes, runs: Sequence[Any], labels: Sequence[str], optimum: float
) -> list[Line2D]:
    """``L - L*`` against the iteration for several training runs, on a log axis.

    ``runs`` are :class:`kdeloss.training.Trajectory` objects (anything with a ``loss``
    array). Gaps at or below zero (converged to round-off) are drawn at ``1e-16``.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from types import SimpleNamespace
    >>> fig, ax = plt.subplots()
    >>> run = SimpleNamespace(loss=np.array([2.0, 1.5, 1.25]))
    >>> lines = plot_loss_curves(ax, [run], ["toy"], optimum=1.0)
    >>> lines[0].get_ydata()
    array([1.  , 0.5 , 0.25])
    >>> plt.close(fig)
    """
    lines = []
    for k, (run, lab) in enumerate(zip(runs, labels, strict=True)):
        gap = np.maximum(np.asarray(run.loss) - optimum, LOG_FLOOR)
        (ln,) = ax.semilogy(
            np.arange(gap.size),
            gap,
            color=COLORS[k % len(COLORS)],
            linestyle=_STYLES[k % len(_STYLES)],
            marker=_MARKERS[k % len(_MARKERS)],
            markevery=max(gap.size // 12, 1),
            markersize=4,
            linewidth=1.8,
            label=lab,
        )
        lines.append(ln)
    ax.set_xlabel("iteration")
    ax.set_ylabel(r"$L_M - L_M^*$ (log scale)")
    ax.legend(frameon=False, fontsize="small")
    return lines


def plot_weight_paths(
    ax: Axes, runs: Sequence[Any], labels: Sequence[str], index: int, *, loglog: bool = True
) -> list[Line2D]:
    """The weight ``S_index`` against the iteration for several runs.

    Iteration 0 is left out on log-log axes (log 0 is not drawn); iterations start at 1.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from types import SimpleNamespace
    >>> fig, ax = plt.subplots()
    >>> run = SimpleNamespace(weights=np.array([[0.5, 0.5], [0.7, 0.3], [0.9, 0.1]]))
    >>> plot_weight_paths(ax, [run], ["toy"], 1)[0].get_ydata()
    array([0.3, 0.1])
    >>> plt.close(fig)
    """
    lines = []
    for k, (run, lab) in enumerate(zip(runs, labels, strict=True)):
        w = np.asarray(run.weights)[:, index]
        it = np.arange(w.size)
        if loglog:
            it, w = it[1:], w[1:]
        (ln,) = ax.plot(
            it,
            w,
            color=COLORS[k % len(COLORS)],
            linestyle=_STYLES[k % len(_STYLES)],
            linewidth=1.8,
            label=lab,
        )
        lines.append(ln)
    if loglog:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"weight $S_{{{index + 1}}}$")
    ax.legend(frameon=False, fontsize="small")
    return lines
