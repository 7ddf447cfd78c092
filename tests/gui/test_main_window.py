"""The main window with the Kernel panel: runs, plot data, cancel, changes, errors, closing."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDockWidget

from gui_helpers import close_window, delete_now, make_window, nan_rows, run_and_wait, set_params
from ntk_desktop.core.analytic import analytic_kernels
from ntk_desktop.core.empirical import empirical_ntk
from ntk_desktop.core.network import Architecture, init_params
from ntk_desktop.core.spec import MAX_WIDTHS
from ntk_desktop.gui import runner as runner_mod
from ntk_desktop.gui.kernel_panel import X_LABEL, Y_LABEL
from ntk_desktop.gui.params_panel import NetworkParams

# a job that takes many seconds and yields often: something to interrupt
SLOW = dict(depth=3, widths="1500", n_init=100, n_angles=256)



def library_curves(depth, width, n_init, n_angles, seed=0, **arch):
    g = np.linspace(-np.pi, np.pi, n_angles)
    X = np.stack([np.cos(g), np.sin(g)], axis=1)
    x0 = np.array([[1.0, 0.0]])
    a = Architecture.build(2, depth=depth, width=width, **arch)
    curves = [empirical_ntk(a, init_params(a, seed + i), x0, X)[0] for i in range(n_init)]
    curves = np.stack(curves) if curves else None
    k = analytic_kernels(a, x0, X)
    return g, curves, k.ntk[0], k.nngp[0]


def test_window_opens_with_its_panels(window):
    assert window.windowTitle().startswith("NTK Desktop")
    assert isinstance(window.docks["params"], QDockWidget) and window.docks["params"].isVisible()
    assert window.docks["kernel"].isVisible()
    assert window.active_panel is window.panel("kernel")
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus == ["File", "Run", "View", "Record", "Help"]
    assert window.act_run.shortcut() == QKeySequence(Qt.Key.Key_F5)
    assert window.act_stop.shortcut() == QKeySequence(Qt.Key.Key_Escape)
    assert not window.act_reset.shortcut().isEmpty()
    assert not window.cancel_button.isEnabled() and not window.act_stop.isEnabled()
    assert window.backend_label.text().startswith("backend")
    plot = window.panel("kernel").plot
    assert plot.getAxis("bottom").labelText == X_LABEL
    assert plot.getAxis("left").labelText == Y_LABEL
    view_actions = [a.text() for a in window.view_menu.actions()]
    assert "Parameters" in view_actions and window.panel("kernel").title in view_actions
    # the defaults are the light interactive Figure 1
    assert window.params.params() == NetworkParams(backend="numpy")


def test_kernel_run_puts_the_library_kernels_into_the_plot(qtbot, window, small_params):
    set_params(window, **small_params, seed=3)
    ticket = run_and_wait(qtbot, window)
    assert ticket.state == "finished"
    panel = window.panel("kernel")
    A = small_params["n_angles"]
    # Θ∞: the dashed black curve
    g, _, ntk_inf, nngp = library_curves(2, 16, 0, A)
    x, y = panel.limit_item.getData()
    np.testing.assert_allclose(x, g, atol=1e-15)
    np.testing.assert_allclose(y, ntk_inf, rtol=1e-12)
    assert panel.limit_item.isVisible()
    for k, width in enumerate((16, 64)):
        items = panel.width_items[k]
        _, expected, _, _ = library_curves(2, width, 2, A, seed=3)
        xs, ys = nan_rows(items.inits, A)
        assert ys.shape == (2, A)
        np.testing.assert_allclose(xs, np.broadcast_to(g, xs.shape), atol=1e-15)
        np.testing.assert_allclose(ys, expected, rtol=1e-10, atol=1e-12)
        mean, std = expected.mean(axis=0), expected.std(axis=0, ddof=1)
        np.testing.assert_allclose(items.mean.getData()[1], mean, rtol=1e-10)
        np.testing.assert_allclose(items.band.getData()[1], mean - std, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(items.band.getData()[2], mean + std, rtol=1e-8, atol=1e-12)
        assert items.inits.isVisible() and items.mean.isVisible() and items.band.isVisible()
    for items in panel.width_items[2:]:
        assert not items.mean.isVisible() and not items.inits.isVisible()
    assert len(panel.legend.items) == 3            # two means and Θ∞
    assert "4/4 networks" in panel.plot.titleLabel.text
    assert window.backend_label.text() == "backend: numpy"
    assert window.progress.value() == window.progress.maximum()
    # Σ on request: shown without recomputing
    assert not panel.nngp_item.isVisible()
    panel.show_nngp.setChecked(True)
    assert panel.nngp_item.isVisible() and not window.runner.busy
    np.testing.assert_allclose(panel.nngp_item.getData()[1], nngp, rtol=1e-12)
    assert len(panel.legend.items) == 4


def test_items_are_created_once(qtbot, window, small_params):
    panel = window.panel("kernel")
    before = list(panel.plot.items)
    set_params(window, **small_params)
    run_and_wait(qtbot, window)
    set_params(window, widths="8, 16, 32")
    run_and_wait(qtbot, window)
    assert panel.plot.items == before
    assert len(panel.width_items) == MAX_WIDTHS


def test_stop_mid_run(qtbot, window):
    set_params(window, **SLOW)
    ticket = window.run()
    qtbot.waitUntil(lambda: ticket.snapshots >= 3, timeout=20_000)
    assert window.cancel_button.isEnabled()
    window.cancel_button.click()
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=20_000)
    assert ticket.state == "cancelled"
    assert window.message.text() == "Stopped."
    qtbot.wait(100)
    snap = window.panel("kernel")._snapshot
    assert snap is not None and sum(snap.n_done) < 100
    assert not window.cancel_button.isEnabled()


def test_escape_stops(qtbot, window):
    set_params(window, **SLOW)
    ticket = window.run()
    qtbot.waitUntil(lambda: ticket.snapshots >= 2, timeout=20_000)
    window.activateWindow()
    qtbot.keyClick(window.panel("kernel").plot_widget, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=20_000)
    assert ticket.state == "cancelled"


def test_a_parameter_change_replaces_the_running_job(qtbot, window):
    set_params(window, **SLOW)
    old = window.run()
    qtbot.waitUntil(lambda: old.snapshots >= 2, timeout=20_000)
    started = []
    window.runner.started.connect(started.append)
    set_params(window, depth=2, widths="16, 64", n_init=2, n_angles=64)   # auto-run, debounced
    qtbot.waitUntil(lambda: bool(started) and started[-1].done and not window.runner.busy, timeout=20_000)
    assert old.state == "cancelled"
    assert len(started) == 1 and started[0].state == "finished"      # debounced: one new job
    assert started[0].request.widths == (16, 64)
    qtbot.wait(100)
    panel = window.panel("kernel")
    _, expected, _, _ = library_curves(2, 64, 2, 64)
    np.testing.assert_allclose(nan_rows(panel.width_items[1].inits, 64)[1], expected, rtol=1e-10, atol=1e-12)
    assert not panel.width_items[2].mean.isVisible()


def test_auto_run_off_waits_for_run(qtbot, window, small_params):
    window.act_auto.setChecked(False)
    assert not window.auto_box.isChecked()
    set_params(window, **small_params)
    qtbot.wait(400)
    assert not window.runner.busy and window.panel("kernel")._snapshot is None
    window.act_run.trigger()
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=20_000)
    qtbot.wait(100)
    assert window.panel("kernel")._snapshot is not None


def test_bad_widths_are_refused_and_the_window_stays_usable(qtbot, window, small_params):
    window.act_auto.setChecked(False)
    set_params(window, **small_params)
    edit = window.params.widths
    edit.clear()
    qtbot.keyClicks(edit, "10,abc")
    assert edit.text() == "10,"                      # the letters never got in
    assert not window.params.widths_valid()
    assert window.params.widths_error.isVisible()
    assert window.run() is None                      # nothing runs …
    assert not window.runner.busy
    assert window.message.text().startswith("⚠ widths:")
    for text in ("10,10", "0", "10,200000", ""):     # duplicates, zero, too wide, empty: incomplete
        edit.setText(text)
        assert not window.params.widths_valid(), text
        assert window.run() is None and not window.runner.busy
    edit.setText("16")
    edit.selectAll()
    edit.insert("8,x,9")                             # a paste with a letter is refused whole
    assert edit.text() == "16"
    edit.setText("8, 12")                            # … and a fixed list runs
    assert window.params.widths_valid() and not window.params.widths_error.isVisible()
    ticket = run_and_wait(qtbot, window)
    assert ticket.state == "finished" and ticket.request.widths == (8, 12)


def test_spin_boxes_clamp_out_of_range_values(window):
    p = window.params
    p.depth.setValue(1000)
    p.n_init.setValue(-5)
    p.beta.setValue(-1.0)
    assert p.depth.value() == p.depth.maximum() and p.n_init.value() == 1 and p.beta.value() == 0.0
    assert not p.slope.isEnabled()
    p.nonlinearity.setCurrentText("leaky_relu")
    assert p.slope.isEnabled()


def test_memory_budget_refusal_is_a_message(qtbot, window, monkeypatch):
    monkeypatch.setenv("NTK_MEMORY_BUDGET", "20MB")
    set_params(window, depth=4, widths="16, 5000", n_init=2, n_angles=64)
    ticket = run_and_wait(qtbot, window)
    assert ticket.state == "failed"
    text = window.message.text()
    assert text.startswith("⚠ ") and "memory budget" in text and "width-5000" in text
    assert window.progress.value() == 0
    set_params(window, depth=2, widths="16, 64", n_init=2)
    ticket = run_and_wait(qtbot, window)             # still usable
    assert ticket.state == "finished"


def test_unknown_backend_is_a_message_and_the_analytic_curve_stays(qtbot, window, small_params):
    set_params(window, **small_params)
    window.act_auto.setChecked(False)
    window.params.backend.addItem("quantum")
    window.params.backend.setCurrentText("quantum")
    ticket = run_and_wait(qtbot, window)
    assert ticket.state == "failed" and "unknown backend" in window.message.text()
    assert window.panel("kernel").limit_item.isVisible()


def test_reset_restores_the_defaults(qtbot, window, small_params):
    window.act_auto.setChecked(False)
    set_params(window, **small_params)
    run_and_wait(qtbot, window)
    window.act_reset.trigger()
    assert window.params.params() == NetworkParams(backend="numpy")      # the backend is kept
    panel = window.panel("kernel")
    assert panel._snapshot is None and panel.hint.isVisible() and not panel.limit_item.isVisible()
    assert panel.n_angles.value() == 256


def test_closing_mid_run_stops_the_job_first(qtbot, small_params):
    w = make_window(qtbot)
    set_params(w, **SLOW)
    ticket = w.run()
    qtbot.waitUntil(lambda: ticket.snapshots >= 2, timeout=20_000)
    w.close()
    assert not w.isVisible()                        # gone for the user at once
    qtbot.waitUntil(lambda: w._closed_emitted, timeout=20_000)
    assert ticket.state == "cancelled" and not w.runner.busy
    assert not any(t.isRunning() for t in runner_mod._LIVE_WORKERS)
    delete_now(w)


def test_settings_are_restored_on_the_next_launch(qtbot, isolated_settings):
    w = make_window(qtbot)
    w.act_auto.setChecked(False)
    set_params(w, depth=3, widths="20, 40, 80", n_init=5, seed=11, n_angles=128)
    w.params.nonlinearity.setCurrentText("erf")
    w.params.beta.setValue(0.25)
    w.panel("kernel").show_nngp.setChecked(True)
    w.resize(1100, 700)
    close_window(qtbot, w)
    delete_now(w)
    assert list(isolated_settings.rglob("*.ini")), "settings were not written in the test folder"

    w2 = make_window(qtbot)
    try:
        p = w2.params.params()
        assert (p.depth, p.widths, p.n_init, p.seed, p.nonlinearity, p.beta) == (3, (20, 40, 80), 5, 11, "erf", 0.25)
        assert w2.panel("kernel").n_angles.value() == 128
        assert w2.panel("kernel").show_nngp.isChecked()
        assert not w2.act_auto.isChecked()
    finally:
        close_window(qtbot, w2)
        delete_now(w2)


def test_a_screenshot_of_the_window(qtbot, window, small_params, tmp_path):
    from PySide6.QtGui import QImage

    set_params(window, **small_params)
    run_and_wait(qtbot, window)
    path = tmp_path / "shot.png"
    assert window.save_screenshot(str(path))
    img = QImage(str(path))
    assert img.width() == window.width() and img.height() == window.height()
    assert not window.save_screenshot(str(tmp_path / "missing" / "shot.png"))


@pytest.mark.parametrize("param", ["standard"])
def test_standard_parametrization_draws_one_limit_per_width(qtbot, window, small_params, param):
    set_params(window, **small_params)
    window.params.parametrization.setCurrentIndex(window.params.parametrization.findData(param))
    run_and_wait(qtbot, window)
    panel = window.panel("kernel")
    assert not panel.limit_item.isVisible()
    assert panel.width_items[0].limit.isVisible() and panel.width_items[1].limit.isVisible()
    assert len(panel.legend.items) == 4


def test_the_fig1_preset_opens_ready_to_run(qtbot):
    from ntk_desktop.gui.presets import get_preset

    w = make_window(qtbot, preset=get_preset("fig1"), persist=False)
    try:
        p = w.params.params()
        assert (p.depth, p.widths, p.nonlinearity, p.beta, p.parametrization) == (4, (500, 10000), "relu", 0.1, "ntk")
        assert 2 <= p.n_init <= 10
        assert w.active_panel is w.panel("kernel")
        assert not w.runner.busy                   # ready, not running: --run starts it
        assert "fig1" in w.message.text()
    finally:
        close_window(qtbot, w)
        delete_now(w)


def test_the_kernel_plot_holds_still_while_widths_arrive(window):
    """y is fitted to the first result and then only grows (rarely), the circle's x range never
    moves; a new computation and a change of what is shown fit afresh; the user's zoom is kept."""
    from ntk_desktop.experiments import kernel_slices as ks

    panel = window.panel("kernel")
    view = panel.plot.getViewBox()
    req = ks.KernelSliceRequest(depth=3, widths=(8, 32, 256), n_init=4, n_angles=41, backend="numpy")
    snaps = list(ks.kernel_slice_job(req))
    assert len(snaps) >= 6
    moves = []
    view.sigRangeChanged.connect(lambda *_: moves.append(view.viewRange()))
    for s in snaps:
        panel.show_snapshot(s)
    assert len(moves) <= 4, len(moves)
    (x0, x1), (y0, y1) = view.viewRange()
    assert x0 < -np.pi and np.pi < x1 and x1 - x0 < 1.05 * 2 * np.pi
    last = snaps[-1]
    shown = [c for c in last.curves if c.size] + [last.ntk_limit]
    shown += [m + sgn * s for m, s in zip(last.mean, last.std) for sgn in (-1, 1)]
    lo, hi = min(np.nanmin(c) for c in shown), max(np.nanmax(c) for c in shown)
    assert y0 <= lo and hi <= y1
    # hiding the initializations and the band: refitted to the means and Θ∞ only
    panel.show_inits.setChecked(False)
    panel.show_band.setChecked(False)
    _, (z0, z1) = view.viewRange()
    tight = [m for m in last.mean] + [last.ntk_limit]
    tlo, thi = min(np.nanmin(c) for c in tight), max(np.nanmax(c) for c in tight)
    assert z0 <= tlo and thi <= z1 and (z1 - z0) < (y1 - y0)
    assert (z1 - z0) <= 1.1 * (thi - tlo)
    # a new computation with a 10× smaller kernel (β and inputs scale it): fitted afresh
    small = ks.KernelSliceRequest(depth=1, widths=(8,), n_init=2, n_angles=41, beta=0.0, backend="numpy")
    s2 = list(ks.kernel_slice_job(small))[-1]
    panel.show_snapshot(s2)
    _, (w0, w1) = view.viewRange()
    vals = np.concatenate([s2.ntk_limit.ravel(), s2.mean[0]])
    assert w0 <= vals.min() and vals.max() <= w1 and (w1 - w0) <= 1.1 * (vals.max() - vals.min()) + 1e-9
    # the user's zoom stays theirs while results of the same computation arrive
    view.scaleBy((0.5, 0.5))
    view.sigRangeChangedManually.emit(view.state["mouseEnabled"])
    zoomed = view.viewRange()
    panel.show_snapshot(s2)
    assert view.viewRange() == zoomed


def test_a_fallback_backend_is_named_short_with_the_reason_in_the_tooltip(window):
    window.show_backend("numba (not opencl: 'GPU' has no usable fp64)")
    assert window.backend_label.text() == "backend: numba (fallback)"
    assert window.backend_label.toolTip().endswith("numba; not opencl: 'GPU' has no usable fp64")
    window.show_backend("numpy")
    assert window.backend_label.text() == "backend: numpy" and "not " not in window.backend_label.toolTip()
