"""Frame rate of the Training panel while width-1000 networks train (offscreen, no display needed).

    QT_QPA_PLATFORM=offscreen python bench/bench_training_panel.py [WIDTH [N_INIT]]

Runs 15 s of the Training panel (depth 4, ReLU, β = 0.1, η = 1, 1000 steps, record every 10) in a
1600x1000 window and prints: the panel updates per second (show_snapshot calls: new data), the
time each takes on the GUI thread, how regularly a 33-ms GUI timer fires (event-loop
responsiveness), and the network time t reached.
"""
import sys, time
import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
import ntk_desktop.gui  # noqa
app = QApplication([])
from ntk_desktop.gui import theme
from ntk_desktop.gui.main_window import MainWindow
from ntk_desktop.gui.runner import join_all_workers
theme.apply(app)
w = MainWindow(persist=False)
w.resize(1600, 1000); w.show()
panel = w.panel("training")
w.docks["training"].raise_(); w._set_active(panel)
width = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
n_init = int(sys.argv[2]) if len(sys.argv) > 2 else 1
w.params.widths.setText(str(width)); w.params.n_init.setValue(n_init); w.params.depth.setValue(4)
panel.apply_preset({"lr": 1.0, "steps": 1000, "record_every": 10})
w._debounce.stop()
frames, draw = [], []
orig = panel.show_snapshot
def timed(snap):
    t0 = time.perf_counter(); orig(snap); draw.append(time.perf_counter() - t0); frames.append(t0)
panel.show_snapshot = timed
ticks = []
tick = QTimer(); tick.setInterval(33); tick.timeout.connect(lambda: ticks.append(time.perf_counter())); tick.start()
t_start = time.perf_counter()
QTimer.singleShot(300, w.run)
def stop():
    tick.stop(); w.close()
QTimer.singleShot(15300, stop)
w.closed.connect(app.quit)
app.exec()
join_all_workers()
f = np.array(frames); f = f[f > t_start + 1.5]   # after the start-up
d = np.array(draw)
gaps = np.diff(ticks)
print(f"width {width} x {n_init}: panel frames/s {len(f) / (f[-1] - f[0]) if len(f) > 1 else 0:.1f} "
      f"(over {f[-1]-f[0]:.1f} s), show_snapshot median {1e3*np.median(d):.1f} ms max {1e3*d.max():.1f} ms; "
      f"GUI 33-ms timer: {len(ticks)/(ticks[-1]-ticks[0]):.1f} ticks/s, max gap {1e3*gaps.max():.0f} ms; "
      f"last t = {panel._snapshot.t_common if panel._snapshot else None}")
