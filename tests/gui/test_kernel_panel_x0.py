"""Moving x0 in the Kernel panel with the mouse (issue 14, item 4): Θ∞ follows at once, the finite
networks after the rerun; both against the library's kernels at the new x0, computed here."""
from __future__ import annotations

import math

import numpy as np
import pytest

from gui_helpers import run_and_wait, set_params
from plot_mouse import click, press_and_move, release

from ntk_desktop.core.analytic import analytic_kernels
from ntk_desktop.core.empirical import empirical_ntk
from ntk_desktop.core.network import Architecture, init_params


def circle(n):
    g = np.linspace(-np.pi, np.pi, n)
    return g, np.stack([np.cos(g), np.sin(g)], axis=1)


def theta_inf(alpha, n_angles, depth=2):
    _, X = circle(n_angles)
    a = Architecture.build(2, depth=depth, width=16)
    return analytic_kernels(a, np.array([[math.cos(alpha), math.sin(alpha)]]), X).ntk[0]


def mid_y(panel):
    (_, _), (y0, y1) = panel.plot.vb.viewRange()
    return 0.5 * (y0 + y1)


def test_a_click_moves_x0_and_the_slices_follow(qtbot, window, small_params):
    set_params(window, **small_params, seed=5)
    run_and_wait(qtbot, window)
    panel = window.panel("kernel")
    A = small_params["n_angles"]
    assert panel.x0_line.value() == 0.0
    click(panel.plot_widget, panel.plot, 1.0, mid_y(panel))
    assert panel.x0_degrees.value() == pytest.approx(math.degrees(1.0), abs=1.0)
    alpha = panel.x0_angle()
    assert panel.x0_line.value() == pytest.approx(alpha)
    # the click asked for the full job (auto-run): wait until its networks are drawn
    qtbot.waitUntil(lambda: panel._snapshot is not None and panel._snapshot.request.x0_angle == alpha
                    and panel._snapshot.complete and not window.runner.busy, timeout=30_000)
    qtbot.waitUntil(lambda: not window._pending_frames, timeout=10_000)
    assert panel._snapshot.request == panel.make_request(window.params.params())
    g, X = circle(A)
    x, y = panel.limit_item.getData()
    np.testing.assert_allclose(x, g, atol=1e-15)
    np.testing.assert_allclose(y, theta_inf(alpha, A), rtol=1e-12)
    assert g[np.argmax(y)] == pytest.approx(alpha, abs=2 * np.pi / (A - 1))     # the peak is at x = x0
    x0 = np.array([[math.cos(alpha), math.sin(alpha)]])
    a = Architecture.build(2, depth=2, width=64)
    expected = np.mean([empirical_ntk(a, init_params(a, 5 + i), x0, X)[0] for i in range(2)], axis=0)
    np.testing.assert_allclose(panel.width_items[1].mean.getData()[1], expected, rtol=1e-10, atol=1e-12)
    assert "x₀ at" in panel.plot.titleLabel.text
    exported = panel.export_arrays()
    assert exported["x0_angle"] == alpha
    np.testing.assert_allclose(exported["x0"], x0[0])


def test_dragging_moves_theta_inf_at_once_and_reruns_on_release(qtbot, window, small_params):
    set_params(window, **small_params)
    run_and_wait(qtbot, window)
    panel = window.panel("kernel")
    A = small_params["n_angles"]
    asked = []
    panel.requestChanged.connect(lambda: asked.append(panel.x0_angle()))
    y = mid_y(panel)
    press_and_move(panel.plot_widget, panel.plot, (0.0, y), [(-0.5, y), (-1.2, y), (-2.0, y)])
    assert panel.x0_degrees.value() == pytest.approx(math.degrees(-2.0), abs=1.0)
    alpha = panel.x0_angle()
    # while the button is down: Θ∞ for the new x0 comes from the panel's own preview job …
    qtbot.waitUntil(lambda: panel._snapshot.request.x0_angle == alpha, timeout=10_000)
    np.testing.assert_allclose(panel.limit_item.getData()[1], theta_inf(alpha, A), rtol=1e-12)
    # … the finite networks of the old x0 are gone, and no full job was asked for yet
    assert not any(items.mean.isVisible() or items.inits.isVisible() for items in panel.width_items)
    assert asked == []
    release(panel.plot_widget, panel.plot, -2.0, y)
    assert asked == [alpha]
    qtbot.waitUntil(lambda: panel._snapshot.complete and panel._snapshot.request.x0_angle == alpha
                    and not window.runner.busy, timeout=30_000)
    qtbot.waitUntil(lambda: not window._pending_frames, timeout=10_000)
    assert panel.width_items[0].mean.isVisible()


def test_x0_is_kept_by_presets_sessions_and_reset(qtbot, window, small_params):
    panel = window.panel("kernel")
    panel.apply_preset({"x0_degrees": 90.0})
    assert panel.x0_angle() == pytest.approx(math.pi / 2)
    assert panel.make_request(window.params.params()).x0_angle == pytest.approx(math.pi / 2)
    assert panel.options()["x0_degrees"] == 90.0
    panel.reset()
    assert panel.x0_angle() == 0.0 and panel.x0_line.value() == 0.0
    window.cancel_auto_run()


def test_a_session_keeps_x0_and_its_slice(qtbot, window, small_params):
    set_params(window, **small_params)
    panel = window.panel("kernel")
    panel.x0_degrees.setValue(-45.0)
    run_and_wait(qtbot, window)
    params, arrays = panel.session_state()
    assert params["request"]["x0_angle"] == pytest.approx(-math.pi / 4)
    panel.reset()
    window.cancel_auto_run()
    panel.restore_session(params, arrays)
    assert panel.x0_degrees.value() == -45.0 and panel._snapshot.request.x0_angle == pytest.approx(-math.pi / 4)
    np.testing.assert_allclose(panel.limit_item.getData()[1], theta_inf(-math.pi / 4, small_params["n_angles"]),
                               rtol=1e-12)
    qtbot.waitUntil(lambda: not panel.preview.busy, timeout=10_000)
    window.cancel_auto_run()


def test_the_circle_inset_moves_x0_by_click_and_drag(qtbot, window, small_params):
    from types import SimpleNamespace

    set_params(window, **small_params)
    run_and_wait(qtbot, window)
    panel = window.panel("kernel")
    inset = SimpleNamespace(vb=panel.inset)          # the inset's own view coordinates: the plane of x
    click(panel.plot_widget, inset, 0.8 * math.cos(2.0), 0.8 * math.sin(2.0))
    assert panel.x0_degrees.value() == pytest.approx(math.degrees(2.0), abs=3.0)
    alpha = panel.x0_angle()
    np.testing.assert_allclose(panel.inset.dot.getData(), [[math.cos(alpha)], [math.sin(alpha)]])
    assert panel.x0_line.value() == pytest.approx(alpha)
    qtbot.waitUntil(lambda: panel._snapshot.request.x0_angle == alpha and panel._snapshot.complete
                    and not window.runner.busy, timeout=30_000)
    qtbot.waitUntil(lambda: not window._pending_frames, timeout=10_000)
    # a drag around the circle to the bottom (−π/2): Θ∞ follows before the release
    press_and_move(panel.plot_widget, inset, (math.cos(2.0), math.sin(2.0)),
                   [(-0.9, 0.1), (-0.6, -0.6), (0.0, -0.9)])
    assert panel.x0_degrees.value() == pytest.approx(-90.0, abs=3.0)
    beta = panel.x0_angle()
    qtbot.waitUntil(lambda: panel._snapshot.request.x0_angle == beta, timeout=10_000)
    np.testing.assert_allclose(panel.limit_item.getData()[1], theta_inf(beta, small_params["n_angles"]), rtol=1e-12)
    release(panel.plot_widget, inset, 0.0, -0.9)
    qtbot.waitUntil(lambda: panel._snapshot.complete and panel._snapshot.request.x0_angle == beta
                    and not window.runner.busy, timeout=30_000)
    qtbot.waitUntil(lambda: not window._pending_frames, timeout=10_000)
