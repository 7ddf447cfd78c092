"""The MNIST panel (Figure 3 live): spectrum, scatter, eigenfunction images, convergence."""
from __future__ import annotations

import math

import numpy as np
import pytest

from gui_helpers import close_window, delete_now, make_window, run_and_wait, set_params
from ntk_desktop.core.analytic import analytic_kernels
from ntk_desktop.core.network import Architecture, apply, init_params
from ntk_desktop.core.spectral import decompose, kernel_pca
from ntk_desktop.core.training import train
from ntk_desktop.data.mnist import mnist_subset

N = 40



def mnist_window(qtbot, **options):
    w = make_window(qtbot)
    panel = w.panel("mnist")
    w.docks["mnist"].raise_()
    w.set_active(panel)
    panel.apply_preset({"n_digits": N, "comp_x": 2, "comp_y": 3, "component": 2, "train": True, **options})
    w._debounce.stop()
    return w, panel


@pytest.fixture
def mwin(qtbot):
    w, panel = mnist_window(qtbot)
    yield w, panel
    close_window(qtbot, w)
    delete_now(w)


def arch(width, depth=2):
    return Architecture.build(784, depth=depth, widths=[width] * (depth - 1), outputs=1, nonlinearity="relu",
                              beta=0.1)


def test_spectrum_scatter_images_and_convergence_match_the_library(qtbot, mwin):
    w, panel = mwin
    set_params(w, depth=2, widths="8, 16", n_init=1)
    w._debounce.stop()
    run_and_wait(qtbot, w)
    snap = panel._snapshot
    assert snap.state == "ok"
    X, labels, _ = mnist_subset(N, seed=0, center=True, sphere=True)
    theta = analytic_kernels(arch(8), X).ntk
    lam = np.linalg.eigvalsh(theta / N)[::-1]
    # (a) the spectrum: every eigenvalue of Θ∞/N, largest first
    np.testing.assert_allclose(panel.spectrum.yData, np.where(lam > 0, lam, np.nan), rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(panel.spectrum.xData, np.arange(1, N + 1))
    # (b) the scatter: the 2nd and 3rd eigenvectors, one brush per digit label
    pca = kernel_pca(theta)
    x, y = panel.scatter.getData()
    np.testing.assert_allclose(np.abs(x), np.abs(pca.eigenvectors[:, 1]), atol=1e-9)
    np.testing.assert_allclose(x, pca.eigenvectors[:, 1], atol=1e-9)
    np.testing.assert_allclose(y, pca.eigenvectors[:, 2], atol=1e-9)
    brushes = [b.color().name() for b in panel.scatter.data["brush"]]
    from ntk_desktop.gui.mnist_panel import DIGIT_COLORS
    assert brushes == [DIGIT_COLORS[int(l)].lower() for l in labels]
    assert len(panel.digit_legend.items) == 10
    assert sum(isinstance(i, type(panel.scatter)) for i in panel.scatter_plot.items) == 1
    # changing the components redraws without recomputing
    panel.comp_x.setValue(1)
    x, _ = panel.scatter.getData()
    np.testing.assert_allclose(x, pca.eigenvectors[:, 0], atol=1e-9)
    assert not w._debounce.isActive() and not w.runner.busy
    # (c) the images: Σ_j v_i(j) x_j, each scaled to ±1, symmetric levels
    img = panel.image.image
    first = (pca.eigenvectors[:, 0] @ X).reshape(28, 28)
    np.testing.assert_allclose(img[:, :28], first / np.abs(first).max(), atol=1e-9)
    assert tuple(panel.image.levels) == (-1.0, 1.0)
    # (d) convergence: ||g_t||/√N and ||h_t||/√N of every network against the library
    f2 = math.sqrt(N) * pca.eigenvectors[:, 1]
    for k, width in enumerate((8, 16)):
        a = arch(width)
        p0 = init_params(a, 0)
        target = apply(a, p0, X)[:, 0] + 0.5 * f2
        r = train(a, X, target[:, None], params=p0, lr=snap.lr, steps=snap.steps,
                  record_every=int(snap.times[1] / snap.lr), check_stability=False)
        d = decompose(pca, r.f_train, target, component=1)
        tx, gy = panel.g_items[k].getData()
        _, hy = panel.h_items[k].getData()
        np.testing.assert_allclose(tx[:-1], r.times)
        np.testing.assert_allclose(gy[:-1], d.g_norm / math.sqrt(N), rtol=1e-9)
        np.testing.assert_allclose(hy[:-1], d.h_norm / math.sqrt(N), rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(panel.theory.getData()[1], 0.5 * np.exp(-lam[1] * snap.times), rtol=1e-9)


def test_the_pca_shows_before_training_and_cancel_keeps_it(qtbot, mwin):
    w, panel = mwin
    set_params(w, depth=3, widths="600", n_init=2)
    panel.apply_preset({"n_digits": 200})
    w._debounce.stop()
    ticket = w.run()
    qtbot.waitUntil(lambda: panel._snapshot is not None, timeout=30_000)
    assert panel.spectrum.isVisible() and panel.scatter.isVisible() and panel.image.isVisible()
    w.stop()
    qtbot.waitUntil(lambda: ticket.done and not w.runner.busy, timeout=30_000)
    assert ticket.state in ("cancelled", "finished")
    assert panel.spectrum.isVisible() and len(panel.spectrum.yData) == 200


def test_a_component_change_mid_run_reruns(qtbot, mwin):
    w, panel = mwin
    set_params(w, depth=3, widths="600", n_init=2)
    w._debounce.stop()
    first = w.run()
    qtbot.waitUntil(lambda: panel._snapshot is not None, timeout=30_000)
    panel.component.setValue(3)               # auto-run: replaces the running job
    qtbot.waitUntil(lambda: first.done, timeout=30_000)
    assert first.state == "cancelled"
    qtbot.waitUntil(lambda: panel._snapshot.request.component == 3, timeout=30_000)
    w.stop()
    qtbot.waitUntil(lambda: not w.runner.busy, timeout=30_000)
    assert "train along component 3" in panel.conv_plot.titleLabel.text or "component 3" in panel.conv_plot.titleLabel.text


def test_without_training_only_the_pca(qtbot, mwin):
    w, panel = mwin
    set_params(w, depth=2, widths="8", n_init=1)
    panel.train.setChecked(False)
    w._debounce.stop()
    run_and_wait(qtbot, w)
    assert panel._snapshot.times is None and not panel.theory.isVisible()
    assert "not run" in panel.conv_plot.titleLabel.text


def test_the_fig3_preset_and_its_screenshot(qtbot, tmp_path, isolated_settings):
    from ntk_desktop.gui.presets import get_preset
    from test_app import load_png, run_app

    w = make_window(qtbot, preset=get_preset("fig3"), persist=False)
    try:
        assert w.active_panel is w.panel("mnist")
        assert w.panel("mnist").options() == dict(n_digits=512, comp_x=2, comp_y=3, component=2, train=True)
    finally:
        close_window(qtbot, w)
        delete_now(w)
    out = tmp_path / "fig3.png"
    proc = run_app(["--preset", "fig3", "--run", "--screenshot", str(out), "--after", "8", "--size", "1200x800"],
                   isolated_settings, timeout=120)
    assert proc.returncode == 0, proc.stderr
    pixels = load_png(out)
    assert pixels.shape == (800, 1200, 3)
    red = np.all(np.abs(pixels - np.array([178, 24, 43])) < 40, axis=2)      # eigenfunction images
    blue = np.all(np.abs(pixels - np.array([33, 102, 172])) < 40, axis=2)
    assert red.sum() + blue.sum() > 200
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200


def test_export_and_session_round_trip(qtbot, mwin):
    import json

    w, panel = mwin
    set_params(w, depth=2, widths="8", n_init=1)
    w._debounce.stop()
    run_and_wait(qtbot, w)
    out = panel.export_arrays()
    assert out["eigenvalues"].shape == (N,) and out["eigen_images"].shape == (4, 28, 28) and "g_norm_n8" in out
    params, arrays = panel.session_state()
    params = json.loads(json.dumps(params))
    x0, _ = panel.scatter.getData()
    x0 = np.array(x0)
    panel.clear()
    panel.restore_session(params, {k: np.array(v) for k, v in arrays.items()})
    x1, _ = panel.scatter.getData()
    np.testing.assert_array_equal(x0, x1)
    assert panel.g_items[0].isVisible() and not w._debounce.isActive()


def test_the_convergence_plot_holds_still_while_training_streams(mwin, monkeypatch):
    """(d): t pinned to the run's extent from its first frame; the norms' axis fitted once and
    grown only when a curve leaves it, never refitted every frame."""
    from ntk_desktop.experiments import mnist_eigen as me

    _, panel = mwin
    req = me.MnistRequest(depth=2, widths=(8, 64), n_init=2, n_digits=N, backend="numpy", steps=300)
    monkeypatch.setattr(me, "YIELD_INTERVAL", 0.0)
    snaps = [s for s in me.mnist_job(req) if s.times is not None]
    assert len(snaps) >= 3
    view = panel.conv_plot.getViewBox()
    moves = []
    view.sigRangeChanged.connect(lambda *_: moves.append(1))
    for s in snaps:
        panel.show_snapshot(s)
    assert len(moves) <= 3, len(moves)
    (x0, x1), (y0, y1) = view.viewRange()
    t_end = snaps[-1].times[-1]
    assert x0 < 0 < t_end < x1 and x1 - x0 < 1.05 * t_end
    last = snaps[-1]
    n = int(last.n_recorded.max())
    for values in (last.theory, last.g_norm[:, :n], last.h_norm[:, :n]):
        assert y0 <= np.nanmin(values) and np.nanmax(values) <= y1
    top = max(np.nanmax(last.theory), np.nanmax(last.g_norm[:, :n]), np.nanmax(last.h_norm[:, :n]))
    assert -0.05 * top <= y0 <= 0  # norms: from 0, not grown below it
