"""The time scrubber: a slider over a run's recorded times, with play/pause.

A panel that shows a run (Training, MNIST) puts one under its plots and tells it, at every draw,
the run's recorded times and how many of them are recorded so far (:meth:`Scrubber.set_extent`).
The slider at its right end follows the run (*live*: :meth:`Scrubber.index` is -1); dragged back,
it pins a record index r and the panel draws its snapshot *as it was at r* from the recorded
history (the snapshots' ``at_record(r)``; no recomputation), while the run goes on in the
background.  Play steps r forward (about :data:`PLAY_SECONDS` for a whole run) and goes live at
the end; pause holds it.  ``changed`` asks the panel to redraw.

:class:`ScrubbedRun` is what such a panel adds (a mixin before :class:`~ntk_desktop.gui.panel.
Panel`): the snapshot as shown, and *frames* — (snapshot, record index) — that the recorder
(:mod:`ntk_desktop.gui.recording`) keeps and replays, so a video shows the t that was shown.
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QToolButton, QWidget

#: seconds play takes over a whole run
PLAY_SECONDS = 6.0
PLAY_MS = 40


class Scrubber(QWidget):
    """Time slider with play/pause over recorded times (module docstring)."""

    changed = Signal()

    def __init__(self, parent: Optional[QWidget] = None, object_name: str = "scrubber"):
        super().__init__(parent)
        self.setObjectName(object_name)
        self._times = np.zeros(1)
        self._n = 0                     # records available
        self._live = True
        self.play_button = QToolButton()
        self.play_button.setText("▶")
        self.play_button.setToolTip("play the run from the shown time (pause holds it)")
        self.play_button.setCheckable(True)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setToolTip("time t shown: drag back to see the plots as they were at that t "
                               "(from the recorded run); at the right end the plots follow the run")
        self.label = QLabel("t = –")
        self.label.setMinimumWidth(150)
        self._timer = QTimer(self)
        self._timer.setInterval(PLAY_MS)
        self._timer.timeout.connect(self._step)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 2)
        layout.addWidget(self.play_button)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.label)
        self.slider.valueChanged.connect(self._on_slider)
        self.play_button.toggled.connect(self._on_play)
        self.setEnabled(False)

    # ------------------------------------------------------------------ the panel's side
    def index(self) -> int:
        """The record index shown, or -1 when the plots follow the run (live)."""
        return -1 if self._live else int(self.slider.value())

    def set_extent(self, times, n_available: int) -> None:
        """The run's recorded ``times`` of which the first ``n_available`` are recorded so far."""
        self._times = np.asarray(times, dtype=np.float64)
        self._n = int(max(0, min(n_available, len(self._times))))
        self.setEnabled(self._n > 1)
        self.slider.blockSignals(True)
        try:
            self.slider.setRange(0, max(0, self._n - 1))
            if self._live:
                self.slider.setValue(self.slider.maximum())
        finally:
            self.slider.blockSignals(False)
        self._show_label()

    def reset(self) -> None:
        """No run: live, empty, stopped."""
        self.play_button.setChecked(False)
        self._live = True
        self.set_extent(np.zeros(1), 0)

    def set_index(self, r: int) -> None:
        """Show record ``r`` (-1 or the last available one: live)."""
        self.slider.setValue(self.slider.maximum() if r < 0 else int(r))
        if r < 0:
            self._go_live()

    def shown_time(self) -> float:
        """The time shown (the latest recorded when live; NaN when nothing is recorded)."""
        if self._n == 0:
            return float("nan")
        return float(self._times[self.slider.value()])

    # ------------------------------------------------------------------ internals
    def _on_slider(self, value: int) -> None:
        self._live = self._n > 0 and value >= self._n - 1 and not self.play_button.isChecked()
        self._show_label()
        self.changed.emit()

    def _go_live(self) -> None:
        if not self._live:
            self._live = True
            self._show_label()
            self.changed.emit()

    def _on_play(self, on: bool) -> None:
        self.play_button.setText("⏸" if on else "▶")
        if on:
            if self._live or self.slider.value() >= self._n - 1:
                self.slider.setValue(0)          # from the start when at the end
            self._live = False
            self._timer.start()
        else:
            self._timer.stop()

    def _step(self) -> None:
        step = max(1, int(round(self._n * PLAY_MS / 1000.0 / PLAY_SECONDS)))
        value = self.slider.value() + step
        if value >= self._n - 1:
            self.play_button.setChecked(False)
            self.slider.setValue(self._n - 1)
            self._go_live()
        else:
            self.slider.setValue(value)

    def _show_label(self) -> None:
        if self._n == 0:
            self.label.setText("t = –")
            return
        t = self._times[self.slider.value()]
        self.label.setText(f"t = {t:g}" + (" (live)" if self._live else f" of {self._times[self._n - 1]:g}"))


class ScrubbedRun:
    """The time scrubber's side of a panel that shows a run (module docstring).  The panel
    creates ``self.scrubber`` (connected to its redraw), calls :meth:`follow_run` first in its
    ``draw`` and draws what it returns; its snapshots have ``times``, ``n_times`` and
    ``at_record(r)``."""

    scrubber: Scrubber

    def shown_snapshot(self):
        """The snapshot as shown: the run's newest, or as it was at the scrubber's record."""
        snap, r = self._snapshot, self.scrubber.index()
        if snap is None or r < 0:
            return snap
        cached = getattr(self, "_scrubbed", None)
        if cached is None or cached[0] is not snap or cached[1] != r:
            self._scrubbed = cached = (snap, r, snap.at_record(r))
        return cached[2]

    def follow_run(self, snap):
        """At the start of a draw: the scrubber spans ``snap``'s run (following a new run live);
        the snapshot to draw."""
        if snap.request is not getattr(self, "_scrub_run", None):
            self._scrub_run = snap.request
            self.scrubber.reset()
        times = snap.times if snap.times is not None else (0.0,)
        self.scrubber.set_extent(times, snap.n_times)
        return self.shown_snapshot()

    def forget_run(self) -> None:
        """No run shown (``draw_empty``)."""
        self._scrub_run = None
        self.scrubber.reset()

    def shown_frame(self) -> Tuple[Any, int]:
        """(the run's snapshot, the record shown or -1): what a recording replays."""
        return self._snapshot, self.scrubber.index()

    def show_frame(self, frame: Tuple[Any, int]) -> None:
        """Show a :meth:`shown_frame` again."""
        snap, r = frame
        self.show_snapshot(snap)
        if snap is not None:
            self.scrubber.set_index(r)
