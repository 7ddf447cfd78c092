"""The Kernel matrix panel (issue 14, item 6): its images hold Θ∞(X, X) from the closed forms and
the network's Θ(X, X) from the NumPy reference on inputs built here, in the chosen order; hovering
a pixel names it."""
from __future__ import annotations

import numpy as np
import pytest

from gui_helpers import run_and_wait
from plot_mouse import hover

from ntk_desktop.core.analytic import analytic_kernels
from ntk_desktop.core.empirical import empirical_ntk
from ntk_desktop.core.network import Architecture, init_params
from ntk_desktop.data.mnist import mnist_subset
from ntk_desktop.gui import hover as hover_module
from ntk_desktop.gui.presets import get_preset


def show_matrix(qtbot, window, **options):
    window.docks["matrix"].raise_()
    panel = window.panel("matrix")
    qtbot.waitUntil(lambda: window.active_panel is panel and panel.isVisible(), timeout=5000)
    window.params.depth.setValue(2)
    window.params.widths.setText("24")
    window.params.seed.setValue(6)
    panel.apply_preset(options)
    window.cancel_auto_run()
    return panel


def test_circle_images_equal_the_kernels_and_hovering_names_a_pixel(qtbot, window):
    panel = show_matrix(qtbot, window, dataset="circle", n_points=16)
    run_and_wait(qtbot, window)
    g = -np.pi + 2 * np.pi * np.arange(16) / 16
    X = np.stack([np.cos(g), np.sin(g)], axis=1)
    a = Architecture.build(2, depth=2, width=24)
    inf = analytic_kernels(a, X).ntk
    theta = empirical_ntk(a, init_params(a, 6), X)
    np.testing.assert_allclose(panel.images[0].image, inf, rtol=1e-12)
    np.testing.assert_allclose(panel.images[1].image, theta, rtol=1e-10)
    s = np.sqrt(np.diag(inf))
    np.testing.assert_allclose(panel.images[2].image, (theta - inf) / np.outer(s, s), rtol=1e-9, atol=1e-12)
    assert all(im.isVisible() for im in panel.images)
    # one colour scale for Θ∞ and Θ from their least entry to their largest off the diagonal;
    # a symmetric one for the difference
    lo, hi = panel.bar.levels()
    off = ~np.eye(16, dtype=bool)
    assert lo == pytest.approx(min(inf.min(), theta.min()))
    assert hi == pytest.approx(max(inf[off].max(), theta[off].max()))
    assert panel.images[0].getLevels() == pytest.approx(panel.images[1].getLevels())
    dlo, dhi = panel.diff_bar.levels()
    assert dlo == pytest.approx(-dhi) and dhi == pytest.approx(np.abs(panel.images[2].image).max())
    # hovering pixel (i, j) = (3, 11) of Θ∞ and of the difference: x is the column, y the row
    plot_hovers = {h.plot: h for h in hover_module.hovers(panel)}
    hover(panel.view, panel.plots[0], 11.5, 3.5)
    text = plot_hovers[panel.plots[0]].text
    assert "(i, j) = (3, 11)" in text and f"{inf[3, 11]:.5g}" in text and text.startswith("Θ∞")
    assert f"γᵢ = {g[3]:.3f}" in text
    hover(panel.view, panel.plots[2], 0.5, 15.5)
    d = (theta - inf)[15, 0] / (s[15] * s[0])
    assert "(i, j) = (15, 0)" in plot_hovers[panel.plots[2]].text
    assert f"{d:.5g}" in plot_hovers[panel.plots[2]].text
    assert plot_hovers[panel.plots[0]].text == ""        # the mouse left that plot
    exported = panel.export_arrays()
    np.testing.assert_array_equal(exported["theta_inf"], panel.images[0].image)


@pytest.mark.parametrize("sort", [True, False])
def test_mnist_digits_in_the_chosen_order(qtbot, window, sort):
    panel = show_matrix(qtbot, window, dataset="mnist", n_points=30, sort_by_label=sort)
    assert panel.sort_by_label.isEnabled()
    run_and_wait(qtbot, window)
    X, labels, _ = mnist_subset(30, seed=0, center=True, sphere=True)
    order = np.argsort(labels, kind="stable") if sort else np.arange(30)
    a = Architecture.build(784, depth=2, width=24)
    np.testing.assert_allclose(panel.images[0].image, analytic_kernels(a, X[order]).ntk, rtol=1e-12)
    np.testing.assert_allclose(panel.images[1].image, empirical_ntk(a, init_params(a, 6), X[order]), rtol=1e-10)
    ticks = panel.plots[0].getAxis("left")._tickLevels
    if sort:                                           # one tick per class block, named by its digit
        assert [t for _, t in ticks[0]] == [str(d) for d in range(10)]
        hover(panel.view, panel.plots[0], 29.5, 0.5)
        text = {h.plot: h.text for h in hover_module.hovers(panel)}[panel.plots[0]]
        assert "digits 0 and 9" in text and "(i, j) = (0, 29)" in text
    else:
        assert ticks is None


def test_the_kmatrix_preset_opens_the_panel(window):
    preset = get_preset("kmatrix")
    window.apply_preset(preset)
    window.cancel_auto_run()
    panel = window.panel("matrix")
    assert window.active_panel is panel
    assert panel.options() == {"dataset": "mnist", "n_points": 200, "sort_by_label": True}
    assert panel.make_request(window.params.params()).widths == (1000,)


def test_a_session_shows_the_matrices_again_without_recomputing(qtbot, window):
    panel = show_matrix(qtbot, window, dataset="circle", n_points=12)
    run_and_wait(qtbot, window)
    images = [np.array(im.image) for im in panel.images]
    params, arrays = panel.session_state()
    panel.reset()
    panel.clear()
    window.cancel_auto_run()
    assert not any(im.isVisible() for im in panel.images)
    panel.restore_session(params, arrays)
    assert not window.runner.busy
    for im, before in zip(panel.images, images):
        np.testing.assert_array_equal(im.image, before)
    assert panel.options()["n_points"] == 12
