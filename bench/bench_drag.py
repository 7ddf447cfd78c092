"""Dragging a training point: how often the infinite-width band follows, and whether the window stalls.

    QT_QPA_PLATFORM=offscreen python bench/bench_drag.py [--seconds 6] [--hz 60] [--size 1600x1000]
        [--train]

Opens the window (``--size``) with the Training panel showing a finished run of the Figure 2
setting (depth 4, ReLU, β = 0.1, 4 points, 201 angles, t = 1000), presses the left button on a
training point and moves the mouse along a path at ``--hz`` (synthetic Qt mouse events on the
plot's viewport, as a hand would send them) for ``--seconds``, then releases (the networks would
retrain then; the job is not run here).  ``--train`` keeps networks of widths 50 and 1000 training
in the window's job meanwhile (the other core busy, as when a lecturer drags during a run).

Printed:

* **band updates/s**: previews computed in the worker thread and drawn (the band's setData),
  against the mouse moves/s sent — the goal is ≥ 30/s;
* the preview's latency: time from a mouse move to the band showing it (median, 95 %);
* **event-loop lateness**: a 5 ms GUI timer's largest and 99th-percentile lateness while dragging
  (the GUI thread never waits for the preview: a stall shows up here), and the same measured in
  the same run with the window idle (the baseline) — their ratio.
"""
import argparse
import os
import sys
import time

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from PySide6.QtCore import QEventLoop, QPoint, QPointF, Qt, QTimer  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

import ntk_desktop.gui  # noqa: E402,F401  (the PySide6 guard first)

TICK_MS = 5


class Lateness:
    """A 5 ms timer's lateness (ms) over a period of the event loop."""

    def __init__(self):
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.gaps = []
        self._last = None

    def _tick(self):
        now = time.perf_counter()
        if self._last is not None:
            self.gaps.append((now - self._last) * 1000.0 - TICK_MS)
        self._last = now

    def start(self):
        self.gaps, self._last = [], None
        self.timer.start()

    def stop(self):
        self.timer.stop()
        g = np.maximum(np.array(self.gaps), 0.0)
        return float(np.max(g)), float(np.percentile(g, 99))


class Drag:
    """Press on training point 1, move the mouse along a path at ``hz`` for ``seconds``, release."""

    def __init__(self, app, panel, snap, hz, seconds):
        self.app, self.panel, self.hz, self.seconds = app, panel, hz, seconds
        self.a0, self.y0 = float(snap.train_angles[1]), float(snap.y_train[1])
        self.sent, self.drawn = {}, []
        submit = panel.preview.submit

        def timed_submit(request):
            seq = submit(request)
            self.sent[seq] = time.perf_counter()
            return seq

        panel.preview.submit = timed_submit
        panel.preview.ready.connect(lambda seq, _r: self.drawn.append((time.perf_counter(), seq)))

    def to_view(self, x, y) -> QPoint:
        vb = self.panel.fn_plot.getViewBox()
        return self.panel.fn_widget.mapFromScene(vb.mapViewToScene(QPointF(x, y)))

    def run(self) -> dict:
        view = self.panel.fn_widget.viewport()
        self.sent.clear()
        self.drawn.clear()
        period = 1.0 / self.hz
        n_moves = int(self.seconds * self.hz)
        k = [0]
        loop = QEventLoop()

        def move():
            if k[0] >= n_moves:
                loop.quit()
                return
            k[0] += 1
            s = k[0] * period
            QTest.mouseMove(view, self.to_view(self.a0 + 0.8 * np.sin(2 * np.pi * s / 3.0),
                                               self.y0 + 0.3 * np.sin(2 * np.pi * s / 1.7)))

        mover = QTimer()
        mover.setTimerType(Qt.TimerType.PreciseTimer)
        mover.setInterval(int(round(1000 * period)))
        mover.timeout.connect(move)
        QTest.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, self.to_view(self.a0, self.y0))
        lat = Lateness()
        lat.start()
        t0 = time.perf_counter()
        mover.start()
        loop.exec()                      # the event loop as the application runs it (no busy wait)
        mover.stop()
        t1 = time.perf_counter()
        worst, p99 = lat.stop()
        QTest.mouseRelease(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                           self.to_view(self.a0, self.y0))
        spin(0.5)
        inside = [(t, seq) for t, seq in self.drawn if t0 <= t <= t1]
        lat_ms = np.array([(t - self.sent[seq]) * 1000.0 for t, seq in inside if seq in self.sent])
        return dict(moves=n_moves / (t1 - t0), rate=len(inside) / (t1 - t0), max=worst, p99=p99,
                    lat50=float(np.median(lat_ms)), lat95=float(np.percentile(lat_ms, 95)))


def spin(seconds):
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--hz", type=float, default=60.0)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--train", action="store_true", help="networks train in the background meanwhile")
    args = ap.parse_args()

    app = QApplication([])
    from ntk_desktop.experiments.training_runs import TrainingRequest, training_job
    from ntk_desktop.gui import theme
    from ntk_desktop.gui.main_window import MainWindow
    from ntk_desktop.gui.runner import join_all_workers
    theme.apply(app)
    w = MainWindow(persist=False)
    W, H = (int(v) for v in args.size.split("x"))
    w.resize(W, H)
    w.show()
    w.act_auto.setChecked(False)
    panel = w.panel("training")
    w.docks["training"].raise_()
    w.set_active(panel)
    *_, last = training_job(TrainingRequest(widths=(50,), n_init=1, steps=1000, record_every=10, backend="numpy"))
    panel.show_snapshot(last)
    panel.runRequested.disconnect()          # measure the drag, not the retraining after it
    if args.train:
        w.params.widths.setText("50, 1000")
        w.params.n_init.setValue(2)
        panel.steps.setValue(100_000)
        panel.record_every.setValue(100)
        w.run()
        spin(3.0)
    spin(0.5)

    lat = Lateness()
    lat.start()
    spin(2.0)
    base_max, base_p99 = lat.stop()

    from ntk_desktop.gui import training_panel
    real = training_panel.limit_preview
    drag = Drag(app, panel, last, args.hz, args.seconds)
    m = drag.run()                                       # the real preview
    fixed = real(panel.make_request(w.params.params()), float(last.times[-1]))
    training_panel.limit_preview = lambda request, t: fixed     # no numerics: the GUI's own cost
    try:
        c = drag.run()
    finally:
        training_panel.limit_preview = real
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (other processes); "
          f"window {args.size}; {'networks training meanwhile' if args.train else 'no job running'}")
    print(f"5 ms timer lateness, idle window:        max {base_max:6.1f} ms, 99 % {base_p99:5.1f} ms  (baseline)")
    for name, r in (("dragging, preview computed", m), ("dragging, preview a constant", c)):
        print(f"{name:28s}: mouse moves {r['moves']:5.1f}/s, band updates {r['rate']:5.1f}/s, "
              f"latency median {r['lat50']:5.1f} ms (95 % {r['lat95']:5.1f}); "
              f"timer lateness max {r['max']:6.1f} ms, 99 % {r['p99']:5.1f} ms")
    print(f"ratios: band updates / mouse moves {m['rate'] / m['moves']:.2f}; lateness max dragging / idle "
          f"{m['max'] / max(base_max, 1e-3):.1f}; lateness 99 % with the preview / with a constant "
          f"{m['p99'] / max(c['p99'], 1e-3):.2f} (≈ 1: the preview's numerics do not stall the GUI thread)")
    ok = m["rate"] >= 30.0
    print("RESULT:", "OK" if ok else "band below 30 updates/s")
    w.runner.cancel()
    w.close()
    join_all_workers(30_000)
    panel.preview.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
