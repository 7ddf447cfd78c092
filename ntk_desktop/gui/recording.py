"""Record menu: a panel or the whole window to MP4 or GIF at a steady frame rate.

Recording has two phases, so that the video's pace does not depend on how fast the computation
runs or how busy the machine is:

1. while the experiment runs, every snapshot the window receives for the recorded panel is kept
   with its time — the snapshot's ``t`` when it has one (training), else the seconds since the
   recording started;
2. on stop, the snapshots are *replayed* through the panel at a steady ``fps``
   (:func:`ntk_desktop.recording.frame_schedule`): each video frame shows the snapshot scheduled
   for it, the widget is grabbed into an RGB array and handed to
   :class:`~ntk_desktop.recording.VideoWriter` (``.part`` file, renamed when complete).

A panel with a time scrubber (:class:`~ntk_desktop.gui.scrubber.ScrubbedRun`) records frames
(snapshot, record shown): the video shows the t that was shown, and moving or playing the slider
while recording records those frames too.

Scriptable: ``ntk-desktop --preset fig1 --run --record clip.mp4 --after 10``.
"""
from __future__ import annotations

import logging
import os
import time
from typing import List, Optional

import numpy as np
from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QImage
from PySide6.QtWidgets import QFileDialog, QWidget

from ..errors import NTKInputError
from ..recording import RecordingUnavailable, VideoWriter, check_recording_path, encoder_status, frame_schedule

log = logging.getLogger(__name__)

DEFAULT_FPS = 30.0
MIN_SECONDS = 1.0
MAX_SECONDS = 600.0


def grab_rgb(widget: QWidget) -> np.ndarray:
    """The widget as it is drawn now, as an (H, W, 3) uint8 array."""
    img = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    raw = np.frombuffer(img.constBits(), dtype=np.uint8, count=bpl * h).reshape(h, bpl)
    return raw[:, : 3 * w].reshape(h, w, 3).copy()


def _show(panel, item) -> None:
    """Show a recorded snapshot, or a (snapshot, record) frame of a panel with a time scrubber."""
    if hasattr(panel, "show_frame"):
        panel.show_frame(item)
    else:
        panel.show_snapshot(item)


class Recording:
    """One recording in progress: what, where, and the snapshots so far."""

    def __init__(self, path: str, panel, target: str, fps: float):
        self.path = path
        self.panel = panel
        self.target = target           # "panel" or "window"
        self.fps = float(fps)
        self.started = time.monotonic()
        self.snapshots: List[object] = []
        self.times: List[float] = []
        self.use_t: Optional[bool] = None

    def add(self, snap) -> None:
        t = getattr(snap, "t", None)
        if self.use_t is None:
            self.use_t = t is not None
        if self.use_t:
            if t is None:
                return
            t = float(t)
            if self.times and t < self.times[-1]:     # a new run started: keep the newest one
                self.snapshots.clear()
                self.times.clear()
        else:
            t = time.monotonic() - self.started
        self.snapshots.append(snap)
        self.times.append(t)


class RecordController(QObject):
    """The Record menu of a :class:`MainWindow` (``window.recorder``)."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.current: Optional[Recording] = None
        self.ask_path = lambda: QFileDialog.getSaveFileName(
            window, "Record to", "ntk-desktop.mp4", "MP4 video (*.mp4);;GIF animation (*.gif)")[0]
        from PySide6.QtWidgets import QMenu
        menu = QMenu("Re&cord", window)
        bar = window.menuBar()
        help_action = next((a for a in bar.actions() if a.text() == "&Help"), None)   # Help stays last
        if help_action is not None:
            bar.insertMenu(help_action, menu)
        else:
            bar.addMenu(menu)
        self.menu = menu
        self.act_panel = QAction("Record active &panel…", window)
        self.act_panel.setToolTip("Record the active panel while the experiment runs (MP4 or GIF)")
        self.act_panel.triggered.connect(lambda: self.start_dialog("panel"))
        self.act_window = QAction("Record whole &window…", window)
        self.act_window.triggered.connect(lambda: self.start_dialog("window"))
        self.act_stop = QAction("S&top recording and save", window)
        self.act_stop.triggered.connect(self.stop)
        self.act_stop.setEnabled(False)
        for a in (self.act_panel, self.act_window, self.act_stop):
            menu.addAction(a)
        self._status = None            # encoder_status() imports imageio: checked when the menu opens
        self._info_actions = []
        menu.aboutToShow.connect(self._update_status)
        window.runner.snapshot.connect(self._on_snapshot)
        window.closed.connect(self._on_closed)

    @property
    def status(self) -> dict:
        if self._status is None:
            self._status = encoder_status()
        return self._status

    def _update_status(self):
        """Say in the menu which encoders are missing, and why."""
        for a in self._info_actions:
            self.menu.removeAction(a)
        self._info_actions = []
        missing = [reason for reason in self.status.values() if reason]
        if missing:
            self._info_actions.append(self.menu.addSeparator())
            for reason in missing:
                info = self.menu.addAction("⚠ " + reason)
                info.setEnabled(False)
                self._info_actions.append(info)
        if not self.recording:
            self.act_panel.setEnabled(not all(self.status.values()))
            self.act_window.setEnabled(not all(self.status.values()))

    # ------------------------------------------------------------------ API
    @property
    def recording(self) -> bool:
        return self.current is not None

    def start(self, path, target: str = "panel", fps: float = DEFAULT_FPS, panel=None) -> Recording:
        """Start recording ``panel`` (default: the active one) or the whole window to ``path``."""
        path = check_recording_path(path)
        reason = encoder_status()[os.path.splitext(path)[1].lower()]
        if reason:
            raise RecordingUnavailable(reason)
        if target not in ("panel", "window"):
            raise NTKInputError(f"record target must be panel or window (got {target!r})")
        if fps <= 0 or fps > 120:
            raise NTKInputError(f"frame rate must be between 0 and 120 (got {fps})")
        panel = panel or self.window.active_panel
        if panel is None:
            raise NTKInputError("no panel to record")
        self.current = Recording(os.path.abspath(path), panel, target, fps)
        if hasattr(panel, "show_frame"):
            panel.scrubber.changed.connect(self._on_scrubbed)
        self.act_stop.setEnabled(True)
        self.act_panel.setEnabled(False)
        self.act_window.setEnabled(False)
        self.window.show_message(f"Recording {panel.title} to {path}: run the experiment, then Record → Stop.")
        return self.current

    def stop(self, duration: Optional[float] = None) -> Optional[str]:
        """Stop and render: ``duration`` seconds of video (default: as long as it was recorded)."""
        rec, self.current = self.current, None
        if rec is not None and hasattr(rec.panel, "show_frame"):
            rec.panel.scrubber.changed.disconnect(self._on_scrubbed)
        self.act_stop.setEnabled(False)
        self.act_panel.setEnabled(not all(self.status.values()))
        self.act_window.setEnabled(not all(self.status.values()))
        if rec is None:
            return None
        wall = time.monotonic() - rec.started
        if duration is None:
            duration = min(max(wall, MIN_SECONDS), MAX_SECONDS)
        try:
            out = self.render(rec, float(duration))
        except (NTKInputError, OSError) as exc:
            self.window.show_message(f"recording failed: {exc}", error=True)
            return None
        self.window.show_message(f"Recording saved to {out}")
        return out

    def render(self, rec: Recording, duration: float) -> str:
        w = self.window
        widget = rec.panel if rec.target == "panel" else w
        writer = VideoWriter(rec.path, fps=rec.fps)
        try:
            if not rec.snapshots:
                frame = grab_rgb(widget)
                for _ in range(max(1, int(round(duration * rec.fps)))):
                    writer.append(frame)
            else:
                schedule = frame_schedule(rec.times, rec.fps, duration=duration)
                shown = -1
                frame = None
                for idx in schedule:
                    if idx != shown:
                        _show(rec.panel, rec.snapshots[idx])
                        pres = getattr(w, "presentation", None)
                        if pres is not None and pres.active:
                            pres.update_captions()
                        frame = grab_rgb(widget)
                        shown = idx
                    writer.append(frame)
                _show(rec.panel, rec.snapshots[-1])
            return writer.close()
        except BaseException:
            writer.abort()
            raise

    # ------------------------------------------------------------------ GUI
    def start_dialog(self, target: str):
        path = self.ask_path()
        if not path:
            return None
        if os.path.splitext(path)[1].lower() not in (".mp4", ".gif"):
            path += ".mp4"
        try:
            return self.start(path, target)
        except NTKInputError as exc:
            self.window.show_message(str(exc), error=True)
            return None

    def _on_snapshot(self, ticket, snap):
        rec = self.current
        if rec is not None and ticket.owner is rec.panel:
            # a panel with a time scrubber replays each snapshot at the t it showed
            rec.add((snap, rec.panel.scrubber.index()) if hasattr(rec.panel, "show_frame") else snap)

    def _on_scrubbed(self):
        """The time scrubber moved (by hand or playing): the recording shows it too."""
        rec = self.current
        if rec is not None and hasattr(rec.panel, "shown_frame") and rec.panel.shown_frame()[0] is not None:
            rec.add(rec.panel.shown_frame())

    def _on_closed(self):
        self.current = None
