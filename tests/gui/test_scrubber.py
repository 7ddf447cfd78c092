"""Scrub time (issue 14, item 5): the time slider shows the recorded snapshots' values exactly.

The recorded history is checked against the run itself (core.training.train with the same seed,
which records f on the circle at every record) and the plotted curves against the snapshot's
arrays at the slider's index; export and the caption use the shown t; a session keeps the whole
trajectory, so a reopened one can be scrubbed.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import Qt

from gui_helpers import close_window, delete_now, make_window, nan_rows
from ntk_desktop.core.network import Architecture
from ntk_desktop.core.training import train
from ntk_desktop.experiments import training_runs as tr
from ntk_desktop.experiments.mnist_eigen import MnistRequest, mnist_job

N_ANGLES = 33


@pytest.fixture(scope="module")
def run():
    """A small run with every record's f on the circle kept (no time limit between evaluations)."""
    req = tr.TrainingRequest(depth=2, widths=(8, 16), n_init=2, steps=10, record_every=2, n_angles=N_ANGLES,
                             backend="numpy", dtype="float64", linearized=True)
    interval = tr.CIRCLE_INTERVAL
    tr.CIRCLE_INTERVAL = 0.0
    try:
        *_, last = tr.training_job(req)
    finally:
        tr.CIRCLE_INTERVAL = interval
    return last


@pytest.fixture
def win(qtbot):
    w = make_window(qtbot)
    yield w
    close_window(qtbot, w)
    delete_now(w)


def test_the_history_is_the_run_at_every_record(run):
    """at_record(r) gives each network's f at times[r]: what train() records there."""
    X = np.asarray(run.X_train)
    _, Xc, _ = tr.circle_slice(N_ANGLES)
    for j, (width, seed) in enumerate([(8, 0), (8, 1), (16, 0), (16, 1)]):
        arch = Architecture.build(2, depth=2, widths=[width], outputs=1, nonlinearity="relu", beta=0.1)
        ref = train(arch, X, np.asarray(run.y_train)[:, None], X_test=Xc, seed=seed, lr=1.0, steps=10,
                    record_every=2, ntk_inputs=X, linearized=True)
        for r in range(len(run.times)):
            s = run.at_record(r)
            np.testing.assert_allclose(s.f_circle[j], ref.f_test[r, :, 0], rtol=1e-10, atol=1e-13)
            np.testing.assert_allclose(s.f_lin_circle[j], ref.f_lin_test[r, :, 0], rtol=1e-10, atol=1e-13)
            assert s.t_now[j] == run.times[r] and s.limit_index() == r
            assert np.all(np.isnan(s.loss[j, r + 1:])) and np.allclose(s.loss[j, :r + 1], ref.loss[:r + 1])


def test_the_slider_shows_the_recorded_snapshot_exactly(qtbot, win):
    panel = win.panel("training")
    panel.log_loss.setChecked(False)                 # getData gives the values, not their log
    panel.show_snapshot(run_snapshot := _fresh_run())
    sc = panel.scrubber
    assert sc.isEnabled() and sc.index() == -1 and sc.slider.maximum() == len(run_snapshot.times) - 1
    sc.slider.setFocus()
    sc.slider.setValue(2)
    qtbot.keyClick(sc.slider, Qt.Key.Key_Left)           # by the hand: record 1, t = 2
    r = 1
    assert sc.index() == r and "t = 2 of 10" in sc.label.text()
    s = run_snapshot.at_record(r)
    for k in range(2):
        nets = np.flatnonzero(run_snapshot.net_width_index == k)
        _, fy = nan_rows(panel.width_items[k].fn, N_ANGLES)
        np.testing.assert_array_equal(fy, s.f_circle[nets])
        lx, ly = panel.width_items[k].loss.getData()
        np.testing.assert_array_equal(ly[np.isfinite(ly)], run_snapshot.loss[nets, :r + 1].ravel())
    np.testing.assert_array_equal(panel.band.getData()[1], run_snapshot.limit_percentiles[0, r])
    np.testing.assert_array_equal(panel.limit_mean.getData()[1], run_snapshot.limit_mean[r])
    assert "t = 2 of 10" in panel.fn_plot.titleLabel.text and panel.caption() == "t = 2 of 10"
    out = panel.export_arrays()                       # export uses the shown t
    np.testing.assert_array_equal(out["limit_mean"], run_snapshot.limit_mean[r])
    np.testing.assert_array_equal(out["f_n16"], s.f_circle[run_snapshot.net_width_index == 1])
    # a session keeps the whole trajectory: reopened, it can be scrubbed to the same values
    params, arrays = panel.session_state()
    params = json.loads(json.dumps(params))
    panel.clear()
    panel.restore_session(params, {k: np.array(v) for k, v in arrays.items()})
    assert panel.scrubber.index() == -1
    panel.scrubber.set_index(r)
    _, fy = nan_rows(panel.width_items[1].fn, N_ANGLES)
    np.testing.assert_array_equal(fy, s.f_circle[run_snapshot.net_width_index == 1])
    panel.scrubber.set_index(-1)                     # live again: the end of the run
    _, fy = nan_rows(panel.width_items[1].fn, N_ANGLES)
    np.testing.assert_array_equal(fy, run_snapshot.f_circle[run_snapshot.net_width_index == 1])


def test_play_runs_to_the_end_and_goes_live(qtbot, win):
    panel = win.panel("training")
    panel.show_snapshot(_fresh_run())
    sc = panel.scrubber
    sc.slider.setValue(0)
    seen = []
    sc.changed.connect(lambda: seen.append(sc.index()))
    sc.play_button.click()
    qtbot.waitUntil(lambda: sc.index() == -1 and not sc.play_button.isChecked(), timeout=10_000)
    assert seen[0] >= 0 and seen == sorted(seen[:-1]) + [-1]


def _fresh_run():
    req = tr.TrainingRequest(depth=2, widths=(8, 16), n_init=2, steps=10, record_every=2, n_angles=N_ANGLES,
                             backend="numpy", dtype="float64")
    interval = tr.CIRCLE_INTERVAL
    tr.CIRCLE_INTERVAL = 0.0
    try:
        *_, last = tr.training_job(req)
    finally:
        tr.CIRCLE_INTERVAL = interval
    return last


def test_the_mnist_slider_shows_the_recorded_norms(qtbot, win):
    panel = win.panel("mnist")
    req = MnistRequest(depth=2, widths=(16,), n_init=2, n_digits=20, steps=12, backend="numpy")
    *_, last = mnist_job(req)
    panel.show_snapshot(last)
    r = 4
    panel.scrubber.set_index(r)
    assert panel.scrubber.index() == r
    gx, gy = panel.g_items[0].getData()
    ok = np.isfinite(gy)
    np.testing.assert_array_equal(gy[ok], last.g_norm[:, :r + 1].ravel())
    np.testing.assert_array_equal(gx[ok], np.tile(last.times[:r + 1], 2))
    assert f"t = {last.times[r]:g}" in panel.caption()
    np.testing.assert_array_equal(panel.export_arrays()["h_norm_n16"][:, :r + 1], last.h_norm[:, :r + 1])


def test_a_recording_shows_the_scrubbed_t(qtbot, win, tmp_path, monkeypatch):
    """Scrubbing while recording puts the shown t into the video: each grabbed frame is drawn at the
    record the slider showed when it was recorded (the frames' titles say which)."""
    from ntk_desktop.gui import recording

    if recording.encoder_status()[".gif"]:
        pytest.skip("no GIF encoder")
    panel = win.panel("training")
    win.set_active(panel)
    snap = _fresh_run()
    panel.show_snapshot(snap)
    titles = []
    grab = recording.grab_rgb
    monkeypatch.setattr(recording, "grab_rgb", lambda w: (titles.append(panel.caption()), grab(w))[1])
    win.recorder.start(tmp_path / "scrub.gif", fps=10)
    for r in (1, 3, 2):
        panel.scrubber.set_index(r)
        qtbot.wait(120)
    out = win.recorder.stop(duration=0.6)
    assert out and (tmp_path / "scrub.gif").exists()
    shown = [t for i, t in enumerate(titles) if i == 0 or t != titles[i - 1]]
    assert shown == [f"t = {snap.times[r]:g} of 10" for r in (1, 3, 2)]
