"""Frame rate of the Training panel while a width-1000 network trains (offscreen: no display needed).

    QT_QPA_PLATFORM=offscreen python bench/bench_training_panel.py [--width 1000] [--n-init 1]
        [--record-every 5] [--dtype float32] [--seconds 12] [--size 1600x1000]

Opens the window (``--size``), trains a depth-4 ReLU network (β = 0.1, η = 1, the panel's
defaults unless given) and prints, over the run after its first second:

* **frames/s**: how often the panel showed a *new* result and repainted its function plot — what
  a viewer sees move (a repaint without new data does not count);
* paints/s of each of the three plots (one per frame when the view ranges hold still);
* the GUI thread's share: median time of ``show_snapshot`` and of a paint of the function plot;
* how regularly a 33-ms GUI timer fires while all this happens (responsiveness: a mouse click or
  a key waits at most about as long as the longest gap);
* records/s the worker produced and the network time t reached;
* the baseline measured in the same process: the same panel replaying the run's recorded
  snapshots as fast as it can draw them with no training (``--replay``: the GUI's own ceiling).
"""
import argparse
import collections
import os
import sys
import time

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from PySide6.QtCore import QEvent, QEventLoop, QObject, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

import ntk_desktop.gui  # noqa: E402,F401


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--width", type=int, default=1000)
    ap.add_argument("--n-init", type=int, default=1)
    ap.add_argument("--record-every", type=int, default=None, help="default: the panel's")
    ap.add_argument("--steps", type=int, default=None, help="default: the panel's")
    ap.add_argument("--dtype", default=None, help="float32 or float64 (default: the panel's)")
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--size", default="1600x1000")
    args = ap.parse_args()

    app = QApplication([])
    from ntk_desktop.gui import theme
    from ntk_desktop.gui.main_window import MainWindow
    from ntk_desktop.gui.runner import join_all_workers
    from ntk_desktop.experiments.training_runs import training_job
    theme.apply(app)
    w = MainWindow(persist=False)
    W, H = (int(v) for v in args.size.split("x"))
    w.resize(W, H)
    w.show()
    panel = w.panel("training")
    w.docks["training"].raise_()
    w.set_active(panel)
    w.params.widths.setText(str(args.width))
    w.params.n_init.setValue(args.n_init)
    w.params.depth.setValue(4)
    opts = {"lr": 1.0}
    for key in ("record_every", "steps", "dtype"):
        if getattr(args, key) is not None:
            opts[key] = getattr(args, key)
    panel.apply_preset(opts)
    w._debounce.stop()
    request = panel.make_request(w.params.params())

    paints = collections.defaultdict(list)
    paint_ms = []
    shown = []            # (time, snapshot id) of every show_snapshot
    draw_ms = []

    class PaintCounter(QObject):
        def __init__(self):
            super().__init__()
            self.t0 = {}

        def eventFilter(self, obj, event):
            if event.type() == QEvent.Type.Paint:
                paints[obj.parent().objectName()].append(time.perf_counter())
            return False

    counter = PaintCounter()
    for widget in (panel.fn_widget, panel.loss_widget, panel.drift_widget):
        widget.viewport().installEventFilter(counter)
    orig_paint = panel.fn_widget.paintEvent

    def timed_paint(event):
        t0 = time.perf_counter()
        orig_paint(event)
        paint_ms.append(1e3 * (time.perf_counter() - t0))
    panel.fn_widget.paintEvent = timed_paint

    orig_show = panel.show_snapshot

    def timed_show(snap):
        t0 = time.perf_counter()
        orig_show(snap)
        draw_ms.append(1e3 * (time.perf_counter() - t0))
        shown.append(t0)
    panel.show_snapshot = timed_show

    ticks = []
    tick = QTimer()
    tick.setInterval(33)
    tick.timeout.connect(lambda: ticks.append(time.perf_counter()))

    def report(t_from, t_to):
        s = np.array(shown)
        s = s[(s >= t_from) & (s <= t_to)]
        span = t_to - t_from
        fn_p = np.array(paints["training_function_plot"])
        fn_p = fn_p[(fn_p >= t_from) & (fn_p <= t_to)]
        # a frame: a paint of the function plot after a new result was shown
        frames = np.searchsorted(s, fn_p)                  # results shown before each paint
        new = np.count_nonzero(np.diff(np.concatenate([[0], frames])) > 0)
        rates = {k: np.count_nonzero((np.array(v) >= t_from) & (np.array(v) <= t_to)) / span
                 for k, v in paints.items()}
        tk = np.array(ticks)
        tk = tk[(tk >= t_from) & (tk <= t_to)]
        gaps = np.diff(tk) if len(tk) > 1 else np.array([np.nan])
        return (f"frames/s {new / span:.1f} (new results shown {len(s) / span:.1f}/s); paints/s "
                + ", ".join(f"{k.split('_')[1]} {v:.1f}" for k, v in sorted(rates.items()))
                + f"; show_snapshot median {np.median(draw_ms):.1f} ms, function-plot paint median "
                f"{np.median(paint_ms):.1f} ms; 33-ms timer {len(tk) / span:.1f}/s, longest gap "
                f"{1e3 * np.nanmax(gaps):.0f} ms")

    def run_loop(ms):
        loop = QEventLoop()
        QTimer.singleShot(int(ms), loop.quit)
        loop.exec()

    def clear():
        shown.clear(); draw_ms.clear(); paint_ms.clear(); ticks.clear()
        for v in paints.values():
            v.clear()

    # --- 1. the baseline, in the same process: the panel replays the run's snapshots (recorded
    #        first, without the window) as fast as it can draw them, with nothing training
    import ntk_desktop.experiments.training_runs as tr
    interval, tr.YIELD_INTERVAL = tr.YIELD_INTERVAL, 0.0
    snaps = list(training_job(request))
    tr.YIELD_INTERVAL = interval
    i = [0]

    def feed():
        i[0] += 1
        panel.show_snapshot(snaps[1 + i[0] % (len(snaps) - 1)])
    feeder = QTimer()
    feeder.setInterval(1)
    feeder.timeout.connect(feed)
    run_loop(300)
    clear()
    tick.start()
    r0 = time.perf_counter()
    feeder.start()
    run_loop(4000)
    feeder.stop()
    replay = (r0 + 0.5, time.perf_counter())
    replay_stats = report(*replay)
    panel.clear()
    run_loop(300)

    # --- 2. live: train while drawing
    clear()
    t0 = time.perf_counter()
    w.run()
    run_loop(1000 * args.seconds)
    t1 = time.perf_counter()
    w.stop()
    tick.stop()
    snap = panel._snapshot
    n_rec = int(np.max(snap.n_recorded)) if snap is not None else 0
    t_done = shown[-1] if shown else t1
    live_stats = report(t0 + 1.0, min(t1, t_done))
    print(f"# width {args.width} × {args.n_init}, depth 4, relu, η = 1, record every "
          f"{request.record_every} of {request.steps} steps, {request.dtype}, window {args.size}, "
          f"{os.cpu_count()} CPUs, Qt platform {app.platformName()}")
    print("live (training): " + live_stats + f"; {n_rec} records in {t_done - t0:.1f} s, "
          f"t = {snap.t_common if snap else 0:g}")
    print("replay (GUI only, no training, baseline): " + replay_stats)
    w.close()
    run_loop(200)
    join_all_workers()


if __name__ == "__main__":
    main()
