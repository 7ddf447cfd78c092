"""Drag the data (issue 14, item 3): simulated mouse events on the Training panel's function plot.

Dragging a training point changes the request the job receives and the infinite-width band,
which must equal an independent prediction (core.predict.predict_network) on the moved points;
a double-click adds a point, a right-click removes one, within 1..32 points.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtWidgets import QGraphicsItem

from gui_helpers import close_window, delete_now, make_window
from ntk_desktop.core.network import Architecture
from ntk_desktop.core.predict import predict_network
from ntk_desktop.data.synthetic import circle_slice
from ntk_desktop.experiments.training_runs import TrainingRequest, training_job

STEPS = 6


def shown_run(panel, **fields):
    """Show a finished tiny run in ``panel`` (the networks' values do not matter here)."""
    req = TrainingRequest(depth=2, widths=(8,), n_init=1, steps=STEPS, record_every=2, backend="numpy",
                          dtype="float64", **fields)
    *_, last = training_job(req)
    panel.show_snapshot(last)
    return last


@pytest.fixture
def dwin(qtbot):
    w = make_window(qtbot)
    panel = w.panel("training")
    w.docks["training"].raise_()
    w.set_active(panel)
    w.act_auto.setChecked(False)
    submitted = []
    w.runner.submit = lambda job, request, owner=None: submitted.append(request)   # record, do not train
    qtbot.waitExposed(panel.fn_widget)
    yield w, panel, submitted
    close_window(qtbot, w)
    delete_now(w)


def view_pos(panel, x, y) -> QPoint:
    """Data (x, y) of the function plot → the plot widget's viewport coordinates."""
    scene = panel.fn_plot.getViewBox().mapViewToScene(QPointF(x, y))
    return panel.fn_widget.mapFromScene(scene)


def band_expected(points, t):
    arch = Architecture.build(2, depth=2, widths=[8], outputs=1, nonlinearity="relu", beta=0.1)
    a, y = np.array(points).T
    X = np.stack([np.cos(a), np.sin(a)], axis=1)
    _, Xc, _ = circle_slice(201)
    p = predict_network(arch, X, y, Xc, [t])
    return p.mean[0, :, 0], p.percentiles[0, 0, :, 0], p.percentiles[-1, 0, :, 0]


def drag(qtbot, widget, start: QPoint, end: QPoint, steps: int = 6):
    qtbot.mousePress(widget, Qt.MouseButton.LeftButton, pos=start)
    for k in range(1, steps + 1):
        p = start + (end - start) * (k / steps)
        qtbot.mouseMove(widget, pos=p)
    qtbot.mouseRelease(widget, Qt.MouseButton.LeftButton, pos=end)


def double_click(qtbot, widget, pos: QPoint):
    """As a hand does it: press, release, then the double-click press and its release."""
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=pos)
    qtbot.mouseDClick(widget, Qt.MouseButton.LeftButton, pos=pos)
    qtbot.mouseRelease(widget, Qt.MouseButton.LeftButton, pos=pos)


def test_dragging_a_point_moves_the_band_and_the_request(qtbot, dwin):
    w, panel, submitted = dwin
    last = shown_run(panel)
    a0, y0 = float(last.train_angles[1]), float(last.y_train[1])
    target = (a0 + 0.6, 0.3)
    vp = panel.fn_widget.viewport()
    drag(qtbot, vp, view_pos(panel, a0, y0), view_pos(panel, *target))
    # the released drag asked for a run with the moved point (within a pixel of the mouse)
    qtbot.waitUntil(lambda: len(submitted) >= 1, timeout=5000)
    req = submitted[-1]
    assert isinstance(req, TrainingRequest) and len(req.points) == 4
    (xmin, xmax), (ymin, ymax) = panel.fn_plot.getViewBox().viewRange()
    px = (xmax - xmin) / panel.fn_plot.getViewBox().width()
    py = (ymax - ymin) / panel.fn_plot.getViewBox().height()
    assert abs(req.points[1][0] - target[0]) < 2 * px and abs(req.points[1][1] - target[1]) < 2 * py
    for i in (0, 2, 3):       # the other points are where they were
        assert req.points[i] == pytest.approx((last.train_angles[i], last.y_train[i]), abs=1e-12)
    # the band follows the moved points: the preview at the shown t = STEPS
    qtbot.waitUntil(lambda: panel._preview is not None and panel._preview[0] == req.points, timeout=10_000)
    mean, lo, hi = band_expected(req.points, float(STEPS))
    x, blo, bhi = panel.band.getData()
    np.testing.assert_allclose(blo, lo, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(bhi, hi, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(panel.limit_mean.getData()[1], mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(panel.points.getData()[1], [p[1] for p in req.points])
    # the next run trains on them
    assert panel.make_request(w.params.params()).points == req.points


def test_the_still_curves_are_cached_only_while_a_point_is_dragged(qtbot, dwin):
    w, panel, submitted = dwin
    last = shown_run(panel)
    a0, y0 = float(last.train_angles[1]), float(last.y_train[1])
    vp = panel.fn_widget.viewport()
    cache = lambda: {item.curve.cacheMode() for item in [panel.target, panel.width_items[0].fn]}
    assert cache() == {QGraphicsItem.CacheMode.NoCache}
    start = view_pos(panel, a0, y0)
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=start)
    for k in range(1, 4):
        qtbot.mouseMove(vp, pos=start + QPoint(5 * k, 3 * k))
    assert cache() == {QGraphicsItem.CacheMode.DeviceCoordinateCache}
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=start + QPoint(15, 9))
    assert cache() == {QGraphicsItem.CacheMode.NoCache}     # exports and zooms draw the curves afresh
    qtbot.waitUntil(lambda: len(submitted) >= 1, timeout=5000)


def test_a_press_away_from_the_points_moves_nothing(qtbot, dwin):
    w, panel, submitted = dwin
    last = shown_run(panel)
    vp = panel.fn_widget.viewport()
    empty = (float(last.train_angles[0]) + 0.35, float(last.y_train[0]) + 0.35)
    drag(qtbot, vp, view_pos(panel, *empty), view_pos(panel, empty[0] + 0.3, empty[1]))
    qtbot.wait(50)
    assert submitted == [] and panel._points is None


def test_double_click_adds_and_right_click_removes(qtbot, dwin):
    w, panel, submitted = dwin
    last = shown_run(panel)
    vp = panel.fn_widget.viewport()
    double_click(qtbot, vp, view_pos(panel, 0.5, -0.2))
    qtbot.waitUntil(lambda: len(submitted) == 1, timeout=5000)
    pts = submitted[-1].points
    assert len(pts) == 5 and pts[-1] == pytest.approx((0.5, -0.2), abs=0.02)
    qtbot.mouseClick(vp, Qt.MouseButton.RightButton, pos=view_pos(panel, last.train_angles[0], last.y_train[0]))
    qtbot.waitUntil(lambda: len(submitted) == 2, timeout=5000)
    pts2 = submitted[-1].points
    assert len(pts2) == 4 and pts2 == pts[1:]


def test_the_bounds_1_and_32_are_refused_with_a_message(qtbot, dwin):
    w, panel, submitted = dwin
    shown_run(panel, points=((0.3, 0.2),))
    vp = panel.fn_widget.viewport()
    qtbot.mouseClick(vp, Qt.MouseButton.RightButton, pos=view_pos(panel, 0.3, 0.2))
    assert submitted == [] and "at least 1" in panel.info.text()
    full = tuple((-math.pi + 2 * math.pi * k / 32, 0.0) for k in range(32))
    shown_run(panel, points=full)
    double_click(qtbot, vp, view_pos(panel, 0.05, 0.3))
    assert submitted == [] and "32 training points at most" in panel.info.text()
    assert panel.isVisible() and len(panel.points.getData()[0]) == 32


def test_edited_points_survive_a_session_and_reach_the_export(qtbot, dwin):
    import json

    w, panel, submitted = dwin
    pts = ((-2.0, 0.4), (0.1, -0.3), (1.5, 0.25))
    shown_run(panel, points=pts)
    params, arrays = panel.session_state()
    params = json.loads(json.dumps(params))
    panel.clear()
    panel.restore_session(params, {k: np.array(v) for k, v in arrays.items()})
    assert panel.make_request(w.params.params()).points == pts
    out = panel.export_arrays()
    np.testing.assert_array_equal(out["train_angles"], [p[0] for p in pts])
    np.testing.assert_array_equal(out["train_y"], [p[1] for p in pts])
    panel.apply_preset({"dataset": "figure2"})          # a preset (the same data set) starts afresh
    assert panel.make_request(w.params.params()).points == ()
    panel.restore_session(params, {k: np.array(v) for k, v in arrays.items()})
    panel.dataset.setCurrentIndex(panel.dataset.findData("random"))      # so does another data set
    assert panel.make_request(w.params.params()).points == ()


def test_the_preview_worker_never_piles_up_and_the_latest_wins(qtbot):
    """100 requests while the worker is busy: at most the one under way and the newest are
    computed, the GUI thread never waits, and the last result is the newest request's."""
    import threading

    from ntk_desktop.gui.drag import LatestWins

    gate = threading.Event()
    computed = []

    def compute(x):
        gate.wait(5)
        computed.append(x)
        return x * x

    worker = LatestWins(compute)
    results = []
    worker.ready.connect(lambda seq, value: results.append((seq, value)))
    try:
        seqs = [worker.submit(k) for k in range(100)]       # returns at once: the worker is blocked
        gate.set()
        qtbot.waitUntil(lambda: bool(results) and results[-1][0] == seqs[-1], timeout=5000)
        assert computed[-1] == 99 and len(computed) <= 2 and results[-1] == (seqs[-1], 99 * 99)
    finally:
        worker.close()
