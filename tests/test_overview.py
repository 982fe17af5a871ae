"""kdeloss.book.overview: the front page's picture draws the library's numbers."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

import kdeloss
from kdeloss.book.overview import plot_overview

Z = np.array([0.4, -0.2, 0.0, 0.3])
X = np.array([-2.5, 0.2, 0.7, 1.6])
A, B = 0.0, 1.0


@pytest.fixture
def axes2():
    fig, axes = plt.subplots(1, 2)
    yield axes
    plt.close(fig)


def test_overview_bars_are_weight_and_mean_responsibility(axes2):
    art = plot_overview(axes2, Z, X, A, B, bandwidth=0.5, bins=64)
    s = [p.get_height() for p in art.weights]
    r = [p.get_height() for p in art.mean_resp]
    t = kdeloss.bin_centers(A, B, 64)
    np.testing.assert_allclose(s, kdeloss.softmax(Z), rtol=1e-14)
    np.testing.assert_allclose(
        r, kdeloss.responsibilities(Z, X, t, bandwidth=0.5).mean(axis=0), rtol=1e-13
    )
    _, grad = kdeloss.loss_and_grad(Z, X, A, B, bandwidth=0.5, bins=64)
    np.testing.assert_allclose(np.subtract(s, r), grad, atol=1e-14)
    assert [t.get_text() for t in axes2[1].texts] == [f"{v:+.2f}" for v in grad]
    # left panel: one line per weighted component, then q
    assert len(art.components) == X.size + 1
    for ax in axes2:
        assert ax.get_xlabel() and ax.get_ylabel()


def test_overview_rejects_bad_input(axes2):
    with pytest.raises(ValueError, match=r"^axes: "):
        plot_overview(axes2[:1], Z, X, A, B)
    with pytest.raises(ValueError, match=r"^a and b: "):
        plot_overview(axes2, Z, X, 1.0, 0.0)


def test_front_page_alt_text_gives_the_drawn_gradient():
    """The alt text of the front page's picture quotes the gradient that the picture prints."""
    text = (Path(__file__).resolve().parents[1] / "book" / "intro.md").read_text()
    call = re.search(
        r"plot_overview\(\s*axes,\s*(\[[^\]]*\]),\s*(\[[^\]]*\]),\s*([-\d.]+),"
        r"\s*([-\d.]+),\s*kernel=\"(\w+)\",\s*bandwidth=([\d.]+),\s*bins=(\d+)",
        text,
    )
    assert call, "book/intro.md: the plot_overview call is not where this test looks"
    z, x = ast.literal_eval(call[1]), ast.literal_eval(call[2])
    a, b, kernel, h, bins = float(call[3]), float(call[4]), call[5], float(call[6]), int(call[7])
    _, grad = kdeloss.loss_and_grad(z, x, a, b, kernel=kernel, bandwidth=h, bins=bins)
    alt = re.search(r"alt: >\n(.*?)\ntags:", text, flags=re.S)
    assert alt, "book/intro.md: the figure has no alt text"
    quoted = re.findall(r"[+-]\d\.\d\d", alt[1])
    assert quoted == [f"{g:+.2f}" for g in grad]
