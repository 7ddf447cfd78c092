"""Screenshots of dragging a training point and of the time scrubber: docs/screenshots/training_drag.png and
training_scrubber.png.  Run from the repository root under an X server (Xvfb):

    DISPLAY=:82 python docs/screenshots/drag_shots.py docs/screenshots/training_drag.png docs/screenshots/training_scrubber.png
"""
import sys, time
import numpy as np
from PySide6.QtCore import QEventLoop, QPointF, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
import ntk_desktop.gui  # noqa
app = QApplication([])
from ntk_desktop.gui import theme
from ntk_desktop.gui.main_window import MainWindow
from ntk_desktop.gui.presets import get_preset
from ntk_desktop.gui.runner import join_all_workers
theme.apply(app)
w = MainWindow(preset=get_preset("fig2"), persist=False)
w.resize(1280, 720); w.show()
def spin(s):
    loop = QEventLoop(); QTimer.singleShot(int(s * 1000), loop.quit); loop.exec()
panel = w.panel("training")
w.act_auto.setChecked(False)
w.params.widths.setText("50, 500"); w.params.n_init.setValue(3)
panel.steps.setValue(400); panel.record_every.setValue(2)
spin(0.5)
t = w.run()
while not (t.done and not w.runner.busy):
    spin(0.2)
spin(1.0)
snap = panel._snapshot
print("done", snap.status)
vb = panel.fn_plot.getViewBox(); view = panel.fn_widget.viewport()
to = lambda x, y: panel.fn_widget.mapFromScene(vb.mapViewToScene(QPointF(x, y)))
# scrubber: t = 20
r = int(np.argmin(np.abs(snap.times - 20)))
panel.scrubber.set_index(r); spin(0.8)
w.grab().save(sys.argv[2]); print("scrub", panel.scrubber.label.text())
panel.scrubber.set_index(-1); spin(0.5)
# drag point 1 upwards, hold
a0, y0 = float(snap.train_angles[1]), float(snap.y_train[1])
QTest.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, to(a0, y0))
for k in range(1, 16):
    QTest.mouseMove(view, to(a0 + 0.35 * k / 15, y0 + 0.75 * k / 15)); spin(0.05)
spin(1.0)
w.grab().save(sys.argv[1]); print("drag", panel._preview is not None)
QTest.mouseRelease(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, to(a0 + 0.35, y0 + 0.75))
w.runner.cancel(); spin(0.5)
w.close(); join_all_workers(30000)
