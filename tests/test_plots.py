"""What kdeloss.book.plots draws: the library's own q, the target box, the weighted points."""

import matplotlib
import numpy as np
import pytest

import kdeloss
from kdeloss.book.plots import OKABE_ITO, density_grid, plot_density

Z = np.array([0.5, -1.0, 0.0])
X = np.array([-2.0, 0.3, 4.0])
A, B = -1.0, 1.0


@pytest.mark.parametrize("kernel", ["laplace", "gaussian", "vonmises"])
def test_curve_is_the_library_density(ax, kernel):
    art = plot_density(ax, Z, X, A, B, kernel=kernel, bandwidth=0.7)
    t = art.density.get_xdata()
    expected = np.exp(kdeloss.log_density(Z, X, t, kernel=kernel, bandwidth=0.7))
    np.testing.assert_allclose(art.density.get_ydata(), expected, rtol=1e-12)


def test_box_kernel_draws_zero_where_no_kernel_reaches(ax):
    art = plot_density(ax, Z, X, A, B, kernel="box", bandwidth=1.0)
    t = np.asarray(art.density.get_xdata())
    q = np.asarray(art.density.get_ydata())
    reached = (np.abs(t[:, None] - X[None, :]) <= 0.5).any(axis=1)
    assert np.all(q[~reached] == 0.0)
    np.testing.assert_allclose(
        q[reached], np.exp(kdeloss.log_density(Z, X, t[reached], kernel="box")), rtol=1e-12
    )


def test_target_is_the_uniform_density_on_the_interval(ax):
    art = plot_density(ax, Z, X, A, B)
    tx = np.asarray(art.target.get_xdata())
    ty = np.asarray(art.target.get_ydata())
    inside = (tx >= A) & (tx <= B) & (ty > 0)
    assert set(tx[inside]) == {A, B}
    np.testing.assert_allclose(ty[inside], 1.0 / (B - A))
    assert np.all(ty[~inside] == 0.0)


def test_points_sit_on_the_axis_with_area_proportional_to_weight(ax):
    art = plot_density(ax, Z, X, A, B, marker_area=200.0)
    offsets = art.points.get_offsets()
    np.testing.assert_allclose(offsets[:, 0], X)
    np.testing.assert_allclose(offsets[:, 1], 0.0)
    np.testing.assert_allclose(art.points.get_sizes(), 200.0 * kdeloss.softmax(Z))


def test_show_points_false(ax):
    assert plot_density(ax, Z, X, A, B, show_points=False).points is None


def test_axes_are_labelled_and_colours_are_okabe_ito(ax):
    art = plot_density(ax, Z, X, A, B)
    assert ax.get_xlabel() == "position $t$"
    assert ax.get_ylabel() == "density"
    palette = {c.lower() for c in OKABE_ITO.values()}
    for line in (art.density, art.target):
        assert matplotlib.colors.to_hex(line.get_color()) in palette
        assert line.get_label() and not line.get_label().startswith("_")
    assert {t.get_text() for t in ax.get_legend().get_texts()} >= {
        art.density.get_label(),
        art.target.get_label(),
        art.points.get_label(),
    }
    assert art.density.get_linestyle() != art.target.get_linestyle()


def test_circular_kernel_uses_the_circle(ax):
    art = plot_density(ax, Z, X, A, B, kernel="vonmises", bandwidth=0.5)
    t = art.density.get_xdata()
    assert t[0] == -np.pi and t[-1] == np.pi
    assert "angle" in ax.get_xlabel()


def test_far_points_draw_finite_values(ax):
    art = plot_density(ax, [0.0, 0.0], [1e6, 2e6], A, B, grid=np.linspace(-2, 2, 11))
    q = np.asarray(art.density.get_ydata())
    assert np.all(np.isfinite(q)) and np.all(q >= 0)


def test_custom_grid_is_used(ax):
    grid = np.linspace(-3.0, 3.0, 7)
    art = plot_density(ax, Z, X, A, B, grid=grid)
    np.testing.assert_array_equal(art.density.get_xdata(), grid)


def test_default_grid_covers_points_interval_and_margin():
    t = density_grid(X, A, B, bandwidth=0.5, num=11)
    assert t[0] == pytest.approx(X.min() - 2.0) and t[-1] == pytest.approx(X.max() + 2.0)
    assert np.all(np.diff(t) > 0)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"z": [0.0, np.nan, 0.0]}, "z"),
        ({"x": [0.0, 1.0]}, "z and x"),
        ({"a": 2.0}, "a and b"),
        ({"bandwidth": -1.0}, "bandwidth"),
        ({"kernel": "cauchy"}, "kernel"),
        ({"grid": [[0.0, 1.0]]}, "grid"),
    ],
)
def test_bad_input_names_the_argument(ax, kwargs, name):
    args = {"z": Z, "x": X, "a": A, "b": B} | kwargs
    z, x, a, b = (args.pop(k) for k in ("z", "x", "a", "b"))
    with pytest.raises(ValueError, match=f"^{name}"):
        plot_density(ax, z, x, a, b, **args)


def test_legend_is_optional_and_leaves_headroom(ax):
    art = plot_density(ax, Z, X, A, B, legend=False, headroom=2.0)
    assert ax.get_legend() is None
    top = max(np.max(art.density.get_ydata()), np.max(art.target.get_ydata()))
    assert ax.get_ylim() == pytest.approx((0.0, 2.0 * top))
