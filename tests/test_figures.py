"""kdeloss.book.figures: what is drawn is the library's numbers; tables and numbers format."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pytest

import kdeloss
from kdeloss.book import checks, figures

Z = np.array([0.6, -0.4, 0.0])
X = np.array([-1.3, 0.2, 1.4])
A, B = -1.0, 1.0


@pytest.fixture
def axes2():
    fig, axes = plt.subplots(1, 2)
    yield axes
    plt.close(fig)


def test_latex_sci():
    assert figures.latex_sci(2.3456e-16) == r"2.3 \times 10^{-16}"
    assert figures.latex_sci(1.0e-3) == r"1.0 \times 10^{-3}"
    assert figures.latex_sci(0.0456) == "0.046"
    assert figures.latex_sci(123.4, 3) == "123"
    assert figures.latex_sci(float("inf")) == r"\infty"
    assert figures.latex_sci(float("nan")) == r"\mathrm{NaN}"


def test_markdown_table_checks_its_shape():
    text = figures.markdown_table(["x", "y"], [[1, 2], [3, 4]], align="rc")
    assert text.splitlines()[1] == "| ---: | :---: |"
    with pytest.raises(ValueError, match="column"):
        figures.markdown_table(["x", "y"], [[1]])


def test_equation_typesets_sympy_and_strings():
    import sympy as sp

    assert figures.equation("y", sp.Symbol("x") ** 2).data == "y = x^{2}"
    assert figures.equation("y", r"\alpha", relation=r"\le").data == r"y \le \alpha"


def test_components_are_the_weighted_kernels(ax):
    grid = np.linspace(-3, 3, 121)
    lines = figures.plot_components(ax, Z, X, grid, a=A, b=B, bandwidth=0.6)
    s = kdeloss.softmax(Z)
    kern = kdeloss.get_kernel("laplace", 0.6)
    for j in range(3):
        np.testing.assert_allclose(lines[j].get_ydata(), s[j] * kern.pdf(grid - X[j]))
    np.testing.assert_allclose(
        lines[-1].get_ydata(), np.exp(kdeloss.log_density(Z, X, grid, bandwidth=0.6))
    )


def test_bin_gradient_bars(axes2):
    art = figures.plot_bin_gradient(
        axes2, Z, X, 0.5, np.linspace(-3, 3, 61), a=A, b=B, bandwidth=0.6
    )
    s = [p.get_height() for p in art.weights]
    r = [p.get_height() for p in art.resp]
    np.testing.assert_allclose(s, kdeloss.softmax(Z))
    np.testing.assert_allclose(r, kdeloss.responsibilities(Z, X, 0.5, bandwidth=0.6))
    labels = [t.get_text() for t in axes2[1].texts]
    g = kdeloss.bin_grad(Z, X, 0.5, bandwidth=0.6)
    assert labels == [f"{v:+.2f}" for v in g]


def test_step_sweep_plot(ax):
    sw = checks.fd_step_sweep(Z, X, A, B, np.logspace(-1, -12, 12))
    meas, trunc, rnd, vline = figures.plot_step_sweep(ax, sw)
    shown = sw.errors > 0
    np.testing.assert_array_equal(meas.get_ydata()[shown], sw.errors[shown])
    np.testing.assert_allclose(trunc.get_ydata(), sw.truncation())
    np.testing.assert_allclose(rnd.get_ydata(), sw.roundoff())
    assert vline.get_xdata()[0] == sw.predicted_step
    assert ax.get_xscale() == ax.get_yscale() == "log"


def test_binning_plot_limits_the_scaled_panel(axes2):
    st = checks.binning_study(Z, X, A, B, np.arange(8, 40), bandwidth=0.5)
    out = figures.plot_binning_convergence(*axes2, [st], ["Laplace"], max_bins_scaled=20)
    np.testing.assert_array_equal(out["scaled"][0].get_xdata(), np.arange(8, 21))
    np.testing.assert_allclose(out["scaled"][0].get_ydata(), st.scaled_errors[:13])
    np.testing.assert_allclose(out["scaled"][1].get_ydata(), st.scaled_model[:13])
    np.testing.assert_allclose(out["abs"][0].get_ydata(), np.abs(st.errors))
    with pytest.raises(ValueError, match="label"):
        figures.plot_binning_convergence(*axes2, [st], [])


def test_responsibility_bands_stack_to_one(ax):
    grid = np.linspace(-2, 2, 41)
    bands = figures.plot_responsibilities(ax, Z, X, grid, a=A, b=B, bandwidth=0.5)
    assert len(bands) == 3
    top = bands[-1].get_paths()[0].vertices[:, 1]
    np.testing.assert_allclose(top.max(), 1.0)
    r = kdeloss.responsibilities(Z, X, grid, bandwidth=0.5)
    np.testing.assert_allclose(r.sum(axis=1), 1.0)


def test_loss_curves_and_weight_paths(ax):
    run = kdeloss.em(np.zeros(3), X, A, B, steps=5, bandwidth=0.5)
    (ln,) = figures.plot_loss_curves(ax, [run], ["EM"], optimum=run.loss[-1] - 1e-3)
    np.testing.assert_allclose(ln.get_ydata(), run.loss - run.loss[-1] + 1e-3)
    toy = SimpleNamespace(weights=np.array([[0.5, 0.5], [0.6, 0.4]]))
    (lw,) = figures.plot_weight_paths(ax, [toy], ["toy"], 0, loglog=False)
    np.testing.assert_allclose(lw.get_ydata(), [0.5, 0.6])
