"""Helpers shared by the GUI tests (imported as a plain module: tests/gui is on sys.path)."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QCoreApplication, QEvent


def delete_now(widget) -> None:
    """deleteLater and process the deferred deletion at once."""
    widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()


def close_window(qtbot, window, timeout=20_000) -> None:
    """Close ``window`` as a user would, wait until its job has stopped and it has really closed."""
    if not window._closed_emitted:
        window.close()
        qtbot.waitUntil(lambda: window._closed_emitted, timeout=timeout)
    assert not window.runner.busy


def make_window(qtbot, **kwargs):
    from ntk_desktop.gui import theme
    from ntk_desktop.gui.main_window import MainWindow

    theme.apply(QCoreApplication.instance())
    w = MainWindow(**kwargs)
    w.params.backend.setCurrentText("numpy")   # deterministic and no JIT compilation in tests
    w._debounce.stop()                         # that change is not a request to run
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    return w


def set_params(window, *, depth=None, widths=None, n_init=None, n_angles=None, seed=None):
    p = window.params
    if depth is not None:
        p.depth.setValue(depth)
    if widths is not None:
        p.widths.setText(widths)
    if n_init is not None:
        p.n_init.setValue(n_init)
    if seed is not None:
        p.seed.setValue(seed)
    if n_angles is not None:
        window.panel("kernel").n_angles.setValue(n_angles)


def run_and_wait(qtbot, window, timeout=30_000):
    """Run the active panel's job, wait until it has ended and its last snapshot is drawn."""
    ticket = window.run()
    assert ticket is not None
    qtbot.waitUntil(lambda: ticket.done and not window.runner.busy, timeout=timeout)
    # the frame timer draws the last snapshot at most FRAME_MS after it arrived
    qtbot.waitUntil(lambda: not window._pending_frames, timeout=timeout)
    return ticket


def nan_rows(item, length):
    """(x, y) of the rows of ``length`` points that one curve item holds NaN-separated."""
    x, y = item.getData()
    x = np.asarray(x).reshape(-1, length + 1)
    y = np.asarray(y).reshape(-1, length + 1)
    assert np.all(np.isnan(x[:, -1])) and np.all(np.isnan(y[:, -1]))
    return x[:, :-1], y[:, :-1]
