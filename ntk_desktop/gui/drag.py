"""Direct manipulation of the training points, and the off-thread preview that follows them.

:class:`DraggablePoints` is the scatter item of the training points: drag a point with the left
button (its angle and its value), double-click the plot to add one, right-click a point to remove
it.  It only reports what the hand did (signals in data coordinates); the panel decides what that
means (bounds, requests).

:class:`LatestWins` computes a function of the newest request in one worker thread and hands the
result back to the GUI thread with a queued signal.  Its mailbox has one slot: a request submitted
while another waits replaces it, so a burst of mouse moves never piles up work, the GUI thread
never waits (:meth:`LatestWins.submit` only swaps the slot under a lock) and the worker always
computes the newest request next.  Results carry the sequence number of their request, so the
receiver can drop one that is older than what it shows.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal

from ..errors import NTKInputError

log = logging.getLogger(__name__)

#: a press within this many pixels of a point grabs it
GRAB_PX = 12.0


class LatestWins(QObject):
    """One worker thread computing ``compute(request)`` for the newest request (module docstring).

    ``ready(seq, result)`` and ``failed(seq, message)`` arrive on the GUI thread.  The thread
    starts with the first request and ends on :meth:`close`, which runs when this object is
    destroyed or the application quits.
    """

    ready = Signal(int, object)
    failed = Signal(int, str)

    def __init__(self, compute: Callable[[Any], Any], parent: Optional[QObject] = None):
        super().__init__(parent)
        self._box = _Mailbox(compute, self._deliver)
        # plain-object slots: they still run while this QObject is being destroyed
        box = self._box
        self.destroyed.connect(lambda *_: box.close())
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(lambda: box.close())

    @property
    def computed(self) -> int:
        """Results computed so far (what the benchmark counts)."""
        return self._box.computed

    def submit(self, request: Any) -> int:
        """Put ``request`` in the mailbox (replacing one that waits); its sequence number."""
        return self._box.submit(request)

    def close(self, timeout: float = 5.0) -> None:
        """Drop a waiting request and end the thread (after the computation under way)."""
        self._box.close(timeout)

    def _deliver(self, ok: bool, seq: int, value) -> None:
        (self.ready if ok else self.failed).emit(seq, value)


class _Mailbox:
    """The one-slot mailbox and its thread (no Qt: it outlives nothing it calls back into)."""

    def __init__(self, compute, deliver):
        self._compute, self._deliver = compute, deliver
        self._cond = threading.Condition()
        self._slot: Optional[tuple] = None
        self._closed = False
        self._seq = 0
        self._thread: Optional[threading.Thread] = None
        self.computed = 0

    def submit(self, request: Any) -> int:
        with self._cond:
            self._seq += 1
            self._slot = (self._seq, request)
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._loop, name="ntk-preview", daemon=True)
                self._thread.start()
            self._cond.notify()
            return self._seq

    def close(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._closed = True
            self._slot = None
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._slot is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                (seq, request), self._slot = self._slot, None
            try:
                result, ok = self._compute(request), True
                self.computed += 1
            except NTKInputError as exc:
                result, ok = str(exc), False
            except Exception as exc:  # noqa: BLE001 (a preview must not end the thread)
                log.exception("preview failed")
                result, ok = f"{type(exc).__name__}: {exc}", False
            with self._cond:
                if self._closed:
                    return
                try:
                    self._deliver(ok, seq, result)
                except RuntimeError:          # the receiving QObject is gone
                    return


class DraggablePoints(pg.ScatterPlotItem):
    """The training points, which the hand moves, adds and removes (module docstring).

    Signals (data coordinates): ``moved(i, x, y)`` while point ``i`` is dragged, ``released(i)``
    when the drag ends, ``addRequested(x, y)`` on a double-click of the plot, ``removeRequested(i)``
    on a right-click of a point.  :meth:`set_points` shows the points (the panel's truth).  A drag
    does not redraw the point itself: its owner does (:meth:`set_points`) together with what
    depends on it, so that one repaint shows both — a repaint of a large plot is what costs most
    on the GUI thread while dragging (``bench/bench_drag.py``).
    """

    moved = Signal(int, float, float)
    released = Signal(int)
    addRequested = Signal(float, float)
    removeRequested = Signal(int)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._xy = np.empty((0, 2))
        self._dragged: Optional[int] = None
        self.editable = True

    @property
    def dragging(self) -> bool:
        return self._dragged is not None

    def set_points(self, x, y) -> None:
        self._xy = np.column_stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])
        self.setData(self._xy[:, 0], self._xy[:, 1])

    def attach(self, plot: pg.PlotItem) -> None:
        """Listen for double-clicks on ``plot`` (anywhere in its view, not only on a point)."""
        self._plot = plot
        plot.scene().sigMouseClicked.connect(self._scene_clicked)

    def point_near(self, scene_pos) -> Optional[int]:
        """Index of the point within :data:`GRAB_PX` pixels of ``scene_pos``, or None."""
        if not len(self._xy) or not self.isVisible():
            return None
        view = self.getViewBox()
        if view is None:
            return None
        pts = [view.mapViewToScene(pg.Point(float(x), float(y))) for x, y in self._xy]
        d = np.array([np.hypot(p.x() - scene_pos.x(), p.y() - scene_pos.y()) for p in pts])
        i = int(np.argmin(d))
        return i if d[i] <= GRAB_PX else None

    # ---------------------------------------------------------------- pyqtgraph mouse events
    def mouseDragEvent(self, ev):
        if ev.button() != Qt.MouseButton.LeftButton or not self.editable:
            ev.ignore()
            return
        if ev.isStart():
            self._dragged = self.point_near(ev.buttonDownScenePos())
        if self._dragged is None:
            ev.ignore()                      # not on a point: the view pans as usual
            return
        ev.accept()
        i = self._dragged
        pos = self.getViewBox().mapSceneToView(ev.scenePos())
        self._xy[i] = (pos.x(), pos.y())
        self.moved.emit(i, float(pos.x()), float(pos.y()))
        if ev.isFinish():
            self._dragged = None
            self.released.emit(i)

    def mouseClickEvent(self, ev):
        if ev.button() == Qt.MouseButton.RightButton and self.editable:
            i = self.point_near(ev.scenePos())
            if i is not None:
                ev.accept()                  # no context menu: the click removes the point
                self.removeRequested.emit(i)
                return
        ev.ignore()

    def _scene_clicked(self, ev):
        if not (ev.double() and ev.button() == Qt.MouseButton.LeftButton and self.editable and self.isVisible()):
            return
        view = self.getViewBox()
        if view is None or not view.sceneBoundingRect().contains(ev.scenePos()):
            return
        pos = view.mapSceneToView(ev.scenePos())
        ev.accept()
        self.addRequested.emit(float(pos.x()), float(pos.y()))
