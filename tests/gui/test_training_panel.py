"""The Training panel (Figure 2 live): plot data against the library, cancel, changes, divergence."""
from __future__ import annotations

import numpy as np
import pytest

from gui_helpers import close_window, delete_now, make_window, nan_rows, run_and_wait, set_params
from ntk_desktop.core.analytic import analytic_kernels
from ntk_desktop.core.network import Architecture
from ntk_desktop.core.predict import predict_gd
from ntk_desktop.core.training import train
from ntk_desktop.data.synthetic import circle_slice, figure2_training_set

N_ANGLES = 201      # the job's default circle grid


def training_window(qtbot, **options):
    w = make_window(qtbot)
    panel = w.panel("training")
    w.docks["training"].raise_()
    w.set_active(panel)
    panel.apply_preset({"lr": 1.0, "steps": 12, "record_every": 3, "dataset": "figure2", "log_loss": False,
                        "linearized": False, "dtype": "float64", **options})
    w._debounce.stop()
    return w, panel


@pytest.fixture
def twin(qtbot):
    w, panel = training_window(qtbot)
    yield w, panel
    close_window(qtbot, w)
    delete_now(w)


def arch(depth, width):
    return Architecture.build(2, depth=depth, widths=[width] * (depth - 1), outputs=1, nonlinearity="relu",
                              beta=0.1)


def test_a_short_run_puts_the_library_results_into_the_plots(qtbot, twin):
    w, panel = twin
    set_params(w, depth=3, widths="8, 32", n_init=2)
    w._debounce.stop()
    run_and_wait(qtbot, w)
    X, y, angles = figure2_training_set(0)
    _, Xc, g = circle_slice(N_ANGLES)
    times = np.array([0.0, 3, 6, 9, 12])
    for k, width in enumerate((8, 32)):
        items = panel.width_items[k]
        assert items.fn.isVisible() and items.loss.isVisible() and items.drift.isVisible()
        fx, fy = nan_rows(items.fn, N_ANGLES)
        lx, ly = nan_rows(items.loss, 5)
        dx, dy = nan_rows(items.drift, 5)
        assert fy.shape == (2, N_ANGLES)
        for i in range(2):
            r = train(arch(3, width), X, y, X_test=Xc, seed=i, lr=1.0, steps=12, record_every=3, ntk_inputs=X)
            np.testing.assert_allclose(fx[i], g)
            np.testing.assert_allclose(fy[i], r.f_test[-1, :, 0], rtol=1e-10)
            np.testing.assert_allclose(lx[i], times)
            np.testing.assert_allclose(ly[i], r.loss, rtol=1e-10)
            np.testing.assert_allclose(dy[i], r.drift, rtol=1e-10, atol=1e-14)
    a = arch(3, 8)
    kx, kt, ktt = analytic_kernels(a, X), analytic_kernels(a, Xc, X), analytic_kernels(a, Xc)
    p = predict_gd(kx.ntk, kt.ntk, kx.nngp, kt.nngp, ktt.nngp, y, [12.0])
    np.testing.assert_allclose(panel.limit_mean.getData()[1], p.mean[0, :, 0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(panel.band.getData()[1], p.percentiles[0, 0, :, 0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(panel.band.getData()[2], p.percentiles[-1, 0, :, 0], rtol=1e-9, atol=1e-12)
    px, py = panel.points.getData()
    np.testing.assert_allclose(py, y[:, 0])
    assert panel.band.isVisible() and panel.limit_mean.isVisible()
    assert not panel.width_items[2].fn.isVisible()
    assert "t = 12 of 12" in panel.fn_plot.titleLabel.text
    assert "largest stable learning rate" in panel.info.text()
    # the legends name both widths, the limit and the band
    labels = [label.text for _, label in panel.fn_legend.items]
    assert any("n = 8 " in t for t in labels) and any("n = 32 " in t for t in labels)
    assert any("mean" in t for t in labels) and any("10–90" in t for t in labels)


def test_items_are_created_once_and_log_scale_is_a_view_option(qtbot, twin):
    w, panel = twin
    set_params(w, depth=2, widths="8", n_init=1)
    w._debounce.stop()
    before = set(map(id, panel.loss_plot.items)) | set(map(id, panel.fn_plot.items))
    run_and_wait(qtbot, w)
    run_and_wait(qtbot, w)
    after = set(map(id, panel.loss_plot.items)) | set(map(id, panel.fn_plot.items))
    assert after == before
    panel.log_loss.setChecked(True)
    assert panel.loss_plot.getAxis("left").logMode
    assert not w._debounce.isActive()           # a view option does not rerun
    panel.log_loss.setChecked(False)


def test_linearized_models_are_drawn(qtbot, twin):
    w, panel = twin
    set_params(w, depth=2, widths="8", n_init=2)
    panel.linearized.setChecked(True)
    w._debounce.stop()
    run_and_wait(qtbot, w)
    X, y, _ = figure2_training_set(0)
    _, Xc, _ = circle_slice(N_ANGLES)
    _, ly = nan_rows(panel.width_items[0].lin, N_ANGLES)
    r = train(arch(2, 8), X, y, X_test=Xc, seed=1, lr=1.0, steps=12, record_every=3, linearized=True)
    np.testing.assert_allclose(ly[1], r.f_lin_test[-1, :, 0], rtol=1e-10)
    assert panel.width_items[0].lin.isVisible()


def test_divergence_shows_a_message_and_keeps_the_curves(qtbot, twin):
    w, panel = twin
    set_params(w, depth=3, widths="16", n_init=2)
    panel.apply_preset({"lr": 2000.0, "steps": 200, "record_every": 1})
    w._debounce.stop()
    ticket = run_and_wait(qtbot, w)
    assert ticket.state == "finished"
    snap = panel._snapshot
    assert snap.state == "diverged"
    assert "diverged" in panel.info.text() and "b00020" in panel.info.styleSheet()
    assert "diverged" in w.message.text()
    assert panel.width_items[0].loss.isVisible()
    _, ly = panel.width_items[0].loss.getData()
    assert np.isfinite(ly).sum() >= 1


def test_cancel_and_parameter_change_mid_run(qtbot, twin):
    w, panel = twin
    set_params(w, depth=3, widths="400", n_init=3)
    panel.apply_preset({"steps": 5000, "record_every": 1})
    w._debounce.stop()
    first = w.run()
    qtbot.waitUntil(lambda: panel._snapshot is not None and panel._snapshot.n_recorded.max() > 0, timeout=20_000)
    # a parameter change replaces the running job (auto-run): the old ticket is cancelled
    panel.steps.setValue(9)
    qtbot.waitUntil(lambda: first.done, timeout=20_000)
    assert first.state == "cancelled"
    qtbot.waitUntil(lambda: not w.runner.busy, timeout=30_000)
    qtbot.wait(100)
    assert panel._snapshot.request.steps == 9 and panel._snapshot.state == "ok"
    # Stop mid-run keeps what was drawn
    panel.steps.setValue(5000)
    w._debounce.stop()
    second = w.run()
    qtbot.waitUntil(lambda: panel._snapshot.request.steps == 5000 and panel._snapshot.n_recorded.max() > 0,
                    timeout=20_000)
    w.stop()
    qtbot.waitUntil(lambda: second.done and not w.runner.busy, timeout=20_000)
    assert second.state == "cancelled"
    assert panel.width_items[0].fn.isVisible()


def test_options_survive_a_restart_and_reset(qtbot, isolated_settings):
    w, panel = training_window(qtbot, lr=0.5, steps=77, dataset="random", n_points=9, log_loss=True)
    close_window(qtbot, w)          # persists the settings
    delete_now(w)
    w2 = make_window(qtbot)
    try:
        p2 = w2.panel("training")
        assert p2.options() == dict(lr=0.5, steps=77, record_every=3, dataset="random", n_points=9,
                                    log_loss=True, linearized=False, dtype="float64")
        assert p2.n_points.isEnabled()
        w2.reset()
        assert p2.lr.value() == 1.0 and p2.dataset.currentData() == "figure2" and not p2.n_points.isEnabled()
        assert p2.dtype.currentData() == "float32"
        w2._debounce.stop()
    finally:
        close_window(qtbot, w2)
        delete_now(w2)


def test_the_fig2_preset_opens_the_training_panel(qtbot):
    from ntk_desktop.gui.presets import get_preset

    w = make_window(qtbot, preset=get_preset("fig2"), persist=False)
    try:
        p = w.params.params()
        assert (p.depth, p.widths, p.nonlinearity, p.beta) == (4, (50, 1000), "relu", 0.1)
        assert w.active_panel is w.panel("training")
        assert w.panel("training").options()["lr"] == 1.0 and w.panel("training").steps.value() == 1000
    finally:
        close_window(qtbot, w)
        delete_now(w)


def test_screenshot_of_the_fig2_preset_is_not_blank(tmp_path, isolated_settings):
    from test_app import load_png, run_app

    out = tmp_path / "fig2.png"
    proc = run_app(["--preset", "fig2", "--run", "--screenshot", str(out), "--after", "8", "--size", "1200x800"],
                   isolated_settings, timeout=120)
    assert proc.returncode == 0, proc.stderr
    pixels = load_png(out)
    assert pixels.shape == (800, 1200, 3)
    blue = np.all(np.abs(pixels - np.array([0x00, 0x72, 0xB2])) < 40, axis=2)    # n = 50 curves
    gold = np.all(np.abs(pixels - np.array([0xFF, 0xD7, 0x00])) < 30, axis=2)    # training points
    assert blue.sum() > 200 and gold.sum() > 50


def test_export_and_session_round_trip(qtbot, twin):
    import json

    w, panel = twin
    set_params(w, depth=2, widths="8, 16", n_init=2)
    w._debounce.stop()
    run_and_wait(qtbot, w)
    out = panel.export_arrays()
    assert out["f_n8"].shape == (2, N_ANGLES) and out["loss_n16"].shape == (2, 5)
    assert panel.caption() == "t = 12 of 12"
    params, arrays = panel.session_state()
    params = json.loads(json.dumps(params))
    _, before = panel.width_items[1].fn.getData()
    panel.clear()
    assert not panel.width_items[1].fn.isVisible()
    panel.restore_session(params, {k: np.array(v) for k, v in arrays.items()})
    _, after = panel.width_items[1].fn.getData()
    np.testing.assert_array_equal(before, after)
    assert panel.width_items[1].fn.isVisible() and not w._debounce.isActive()


def test_the_view_ranges_hold_still_while_a_run_streams(qtbot, twin):
    """The time axes span the whole run from its first frame; the value axes move only when data
    leave them (rarely), never every frame — each move repaints the axes and the whole view."""
    from ntk_desktop.experiments import training_runs as tr

    w, panel = twin
    req = tr.TrainingRequest(depth=3, widths=(16,), n_init=2, steps=200, record_every=2, n_angles=N_ANGLES,
                             backend="numpy")
    interval = tr.YIELD_INTERVAL
    tr.YIELD_INTERVAL = 0.0
    try:
        snaps = list(tr.training_job(req))
    finally:
        tr.YIELD_INTERVAL = interval
    assert len(snaps) > 100
    panel.log_loss.setChecked(True)
    changes = {name: 0 for name in ("fn", "loss", "drift")}
    for name, plot in (("fn", panel.fn_plot), ("loss", panel.loss_plot), ("drift", panel.drift_plot)):
        plot.getViewBox().sigRangeChanged.connect(lambda *_, n=name: changes.__setitem__(n, changes[n] + 1))
    for s in snaps:
        panel.show_snapshot(s)
    assert max(changes.values()) <= 12, changes
    for plot in (panel.loss_plot, panel.drift_plot):
        (x0, x1), _ = plot.getViewBox().viewRange()
        assert x0 < 0 < 200 < x1 and x1 - x0 < 1.1 * 200
    last = snaps[-1]
    _, (y0, y1) = panel.drift_plot.getViewBox().viewRange()
    assert y0 <= 0 and np.nanmax(last.drift) <= y1
    _, (y0, y1) = panel.loss_plot.getViewBox().viewRange()       # log axis: decades
    assert y0 <= np.log10(np.nanmin(last.loss)) and np.log10(np.nanmax(last.loss)) <= y1
    _, (y0, y1) = panel.fn_plot.getViewBox().viewRange()
    assert y0 <= np.nanmin(last.limit_percentiles[0]) and np.nanmax(last.limit_percentiles[-1]) <= y1
    assert y0 <= np.nanmin(last.f_circle) and np.nanmax(last.f_circle) <= y1
    np.testing.assert_allclose(panel.band.getData()[2], last.limit_percentiles[-1, -1])
