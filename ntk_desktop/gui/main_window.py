"""The main window: parameters, panels as docks, menus, status bar, and the job plumbing.

Data flow: a parameter change → a :data:`DEBOUNCE_MS` debounce → the active panel's frozen
request → :meth:`JobRunner.submit` (cancels the running job, latest request wins) → the job yields
snapshots in a worker thread → the runner hands the latest to the GUI thread → a single-shot frame
timer (at most every :data:`FRAME_MS` ms) pushes the newest snapshot of each panel into its plot
items.  The GUI thread only validates parameters and draws.

Closing while a job runs hides the window at once, asks the job to stop and finishes closing when
its thread has ended (the job stops at its next yield), so no thread outlives the window.
"""
from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Dict, List, Optional

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QCheckBox, QDockWidget, QFileDialog, QHBoxLayout, QLabel, QMainWindow,
                               QMessageBox, QProgressBar, QPushButton, QSizePolicy, QStyle,
                               QVBoxLayout, QWidget)

from .. import __version__
from ..errors import NTKInputError
from . import theme
from .fields import FieldGuard
from .kernel_panel import KernelPanel
from .panel import Panel
from .params_panel import NetworkParams, ParamsPanel
from .presets import Preset
from .runner import JobRunner, Ticket
from .window_state import WindowState

log = logging.getLogger(__name__)

DEBOUNCE_MS = 300
#: shortest time between two frames: ≤ 40 Hz, so that a 30-Hz stream of results is never
#: held back by the timer (frames are drawn as soon as a result arrives, at most this often)
FRAME_MS = 25

PAPER = ("Arthur Jacot, Franck Gabriel, Clément Hongler. <i>Neural Tangent Kernel: Convergence and "
         "Generalization in Neural Networks</i>. NeurIPS 2018 (arXiv:1806.07572).")


def _single_shot_timer(parent, interval_ms: int, slot) -> QTimer:
    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.setInterval(interval_ms)
    timer.timeout.connect(slot)
    return timer


class MainWindow(WindowState, QMainWindow):
    """The NTK Desktop window.

    ``preset``: start from this preset instead of the saved parameters; ``persist``: save the
    parameters and layout on close (off for screenshots); ``settings``: a QSettings to use instead
    of :func:`~ntk_desktop.gui.settings.open_settings` (tests).
    """

    #: emitted once, when the window has really closed (its job, if any, has stopped)
    closed = Signal()

    def __init__(self, *, preset: Optional[Preset] = None, persist: bool = True,
                 settings: Optional[QSettings] = None):
        super().__init__()
        theme.configure_pyqtgraph()
        self.setObjectName("ntk_main_window")
        self.setWindowTitle("NTK Desktop — Neural Tangent Kernel lab")
        self.setDockNestingEnabled(True)
        self.persist = persist
        self._settings = settings
        self._closing = False
        self._close_deferred = False
        self._state_restored = False
        self._shown_once = False
        self._closed_emitted = False

        self.runner = JobRunner()          # no Qt parent: its lifetime follows this window's reference
        self.runner.started.connect(self._on_started)
        self.runner.snapshot.connect(self._on_snapshot)
        self.runner.finished.connect(self._on_finished)
        self.runner.cancelled.connect(self._on_cancelled)
        self.runner.failed.connect(self._on_failed)
        self.runner.busyChanged.connect(self._on_busy_changed)

        self.panels: List[Panel] = []
        self.docks: Dict[str, QDockWidget] = {}
        self.active_panel: Optional[Panel] = None
        self._pending_frames: Dict[Panel, object] = {}
        self._last_frame = 0.0
        self._last_status = ""

        # (no bool keyword arguments in Qt constructors: PySide6 6.12 over-releases True/False)
        self._debounce = _single_shot_timer(self, DEBOUNCE_MS, self._auto_run)
        self._frame_timer = _single_shot_timer(self, FRAME_MS, self._push_frames)

        self._make_actions()
        self._make_menus()
        self._make_toolbar()
        self._make_params_dock()
        self._make_status_bar()
        self.field_guard = FieldGuard(lambda text: self.show_message(text, error=True), self)
        self.field_guard.watch([self.params])
        self.add_panel(KernelPanel())
        from .training_panel import TrainingPanel
        self.add_panel(TrainingPanel(), tabify_with="kernel")
        from .mnist_panel import MnistPanel
        self.add_panel(MnistPanel(), tabify_with="kernel")
        from .matrix_panel import MatrixPanel
        self.add_panel(MatrixPanel(), tabify_with="kernel")
        from .lesson_panel import LessonPanel
        self.add_panel(LessonPanel(), tabify_with="kernel")
        self.docks["kernel"].raise_()
        self.resize(1400, 880)

        self._restore_settings()
        if preset is not None:
            self.apply_preset(preset)
        self.params.changed.connect(self._on_params_changed)
        self._on_busy_changed(False)
        from . import lab       # sessions, export, presentation mode, recording, gallery, icon
        self.sessions, self.exporter, self.presentation, self.recorder, self.gallery = lab.install(self)

    # ------------------------------------------------------------------ building
    def _action(self, text: str, slot, shortcut=None, tooltip: str = "", icon=None) -> QAction:
        if isinstance(icon, QStyle.StandardPixmap):
            icon = self.style().standardIcon(icon)
        action = QAction(text, self) if icon is None else QAction(icon, text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tooltip:
            action.setToolTip(tooltip)
        action.triggered.connect(slot)
        return action

    def _make_actions(self):
        icons = QStyle.StandardPixmap
        self.act_run = self._action("&Run", self.run, Qt.Key.Key_F5, "Compute with the current parameters (F5)")
        self.act_stop = self._action("&Stop", self.stop, Qt.Key.Key_Escape, "Stop the computation (Esc)")
        self.set_icon_colors(theme.LIGHT_CONTROLS)
        self.act_reset = self._action("R&eset", self.reset, "Ctrl+R",
                                      "Back to the default parameters, clear the plots (Ctrl+R)",
                                      icons.SP_BrowserReload)
        self.act_auto = QAction("&Auto-run on changes", self)
        self.act_auto.setCheckable(True)
        self.act_auto.setChecked(True)
        self.act_auto.setToolTip("Recompute automatically when a parameter changes")
        self.act_auto.toggled.connect(self._on_auto_toggled)
        self.act_screenshot = self._action("Save &screenshot…", self.save_screenshot_dialog, "Ctrl+Shift+S")
        self.act_quit = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.act_quit.setMenuRole(QAction.MenuRole.QuitRole)
        self.act_about = self._action("&About NTK Desktop", self.show_about)
        self.act_about.setMenuRole(QAction.MenuRole.AboutRole)
        self.act_reset_layout = self._action("Reset &layout", self.reset_layout)

    def set_icon_colors(self, colors: dict) -> None:
        """Draw the run and stop icons in the text colours of ``colors`` (the presentation theme's
        controls, or :data:`theme.LIGHT_CONTROLS`)."""
        self.act_run.setIcon(theme.glyph_icon("play", colors))
        self.act_stop.setIcon(theme.glyph_icon("stop", colors))

    def _make_menus(self):
        bar = self.menuBar()
        m = bar.addMenu("&File")
        m.addAction(self.act_screenshot)
        m.addSeparator()
        m.addAction(self.act_quit)
        m = bar.addMenu("&Run")
        for a in (self.act_run, self.act_stop, self.act_reset):
            m.addAction(a)
        m.addSeparator()
        m.addAction(self.act_auto)
        self.view_menu = bar.addMenu("&View")
        self.view_menu.addAction(self.act_reset_layout)
        self.view_menu.addSeparator()
        m = bar.addMenu("&Help")
        m.addAction(self.act_about)

    def _make_toolbar(self):
        tb = self.addToolBar("Run")
        tb.setObjectName("toolbar_run")
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tb.setMovable(False)
        for a in (self.act_run, self.act_stop, self.act_reset):
            tb.addAction(a)
        tb.addSeparator()
        tb.addAction(self.act_auto)
        self.view_menu.addAction(tb.toggleViewAction())

    def _make_params_dock(self):
        self.params = ParamsPanel()
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.params)
        self.auto_box = QCheckBox("Auto-run on changes")
        self.auto_box.setChecked(True)
        self.auto_box.setToolTip("Recompute automatically (after 0.3 s) when a parameter changes")
        self.auto_box.toggled.connect(self.act_auto.setChecked)
        self.act_auto.toggled.connect(self.auto_box.setChecked)
        auto_row = QHBoxLayout()
        auto_row.setContentsMargins(12, 0, 6, 6)
        auto_row.addWidget(self.auto_box)
        layout.addLayout(auto_row)
        layout.addStretch(1)
        dock = QDockWidget("Parameters", self)
        dock.setObjectName("dock_params")
        dock.setWidget(box)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        box.setMinimumWidth(280)
        self.docks["params"] = dock
        self.view_menu.addAction(dock.toggleViewAction())

    def _make_status_bar(self):
        sb = self.statusBar()
        self.backend_label = QLabel("backend: –")
        self._backend_text = ""
        self.backend_label.setObjectName("backend_label")
        self.backend_label.setToolTip("the compute backend of the current job")
        self.message = QLabel("")
        self.message.setObjectName("message_area")
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("%p%")
        self.progress.setFixedWidth(220)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the computation (Esc)")
        self.cancel_button.clicked.connect(self.stop)
        sb.addWidget(self.message, 1)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)
        sb.addPermanentWidget(self.backend_label)

    # ------------------------------------------------------------------ panels
    def add_panel(self, panel: Panel, area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea,
                  tabify_with: Optional[str] = None) -> QDockWidget:
        """Dock ``panel`` (see :mod:`ntk_desktop.gui.panel`); the first panel becomes the active one."""
        if not panel.key or panel.key in self.docks:
            raise ValueError(f"panel key {panel.key!r} is empty or already used")
        dock = QDockWidget(panel.title, self)
        dock.setObjectName(f"dock_{panel.key}")
        dock.setWidget(panel)
        self.addDockWidget(area, dock)
        if tabify_with is not None and tabify_with in self.docks:
            self.tabifyDockWidget(self.docks[tabify_with], dock)
        self.docks[panel.key] = dock
        self.panels.append(panel)
        self.field_guard.watch([panel])           # bad values get one line of explanation
        self.view_menu.addAction(dock.toggleViewAction())
        panel.requestChanged.connect(lambda p=panel: self._on_panel_request_changed(p))
        panel.runRequested.connect(lambda p=panel: (self.set_active(p), self.run()))
        dock.visibilityChanged.connect(lambda visible, p=panel: visible and self.set_active(p))
        if self.active_panel is None:
            self.active_panel = panel
        return dock

    def panel(self, key: str) -> Panel:
        for p in self.panels:
            if p.key == key:
                return p
        raise KeyError(key)

    def set_active(self, panel: Panel):
        """Make ``panel`` the one that Run computes for."""
        self.active_panel = panel

    # ------------------------------------------------------------------ running
    def run(self) -> Optional[Ticket]:
        """Start the active panel's job with the current parameters (cancels a running one)."""
        self._debounce.stop()
        panel = self.active_panel
        if panel is None or self._closing:
            return None
        try:
            request = panel.make_request(self.params.params())
        except NTKInputError as exc:
            self.show_message(str(exc), error=True)
            return None
        return self.runner.submit(panel.job, request, owner=panel)

    def stop(self):
        self._debounce.stop()
        if self.runner.busy:
            self.runner.cancel()
            self.show_message("Stopping…")

    def reset(self):
        """Default parameters and panel options; clear the plots (auto-run recomputes)."""
        self.runner.cancel()
        for p in self.panels:
            p.reset()
            p.clear()
        self._pending_frames.clear()
        # the backend is a choice about this machine, not a parameter of the experiment: kept
        self.params.set_params(replace(NetworkParams(), backend=self.params.backend.currentText()))
        self.show_message("Parameters reset to their defaults.")

    def apply_preset(self, preset: Preset):
        """Parameters and panel options of ``preset`` (does not start a job; keeps the backend)."""
        self.params.set_params(replace(preset.network, backend=self.params.backend.currentText()))
        panel = self.panel(preset.panel)
        panel.apply_preset(preset.options)
        self.docks[panel.key].raise_()
        self.set_active(panel)
        self.show_message(f"Preset {preset.name}: {preset.description}. Press Run (F5).")

    def _on_params_changed(self):
        if not self.params.widths_valid():
            self._debounce.stop()
            return
        if self.act_auto.isChecked():
            self._debounce.start()

    def _on_panel_request_changed(self, panel: Panel):
        self.set_active(panel)
        if self.act_auto.isChecked() and self.params.widths_valid():
            self._debounce.start()

    def _on_auto_toggled(self, on: bool):
        if not on:
            self._debounce.stop()

    def cancel_auto_run(self) -> None:
        """Forget the pending auto-run (what changed the parameters was not an edit)."""
        self._debounce.stop()

    def _auto_run(self):
        if self.act_auto.isChecked():
            self.run()

    # ------------------------------------------------------------------ runner signals
    def _on_started(self, ticket: Ticket):
        self.progress.setRange(0, 0)          # busy until the first snapshot tells the fraction
        self.show_message("Computing…")

    def _on_snapshot(self, ticket: Ticket, snap):
        self._pending_frames[ticket.owner] = snap
        if not self._frame_timer.isActive():
            # throttle, not delay: draw now if the last frame is old enough, else when it is
            since = (time.monotonic() - self._last_frame) * 1000.0
            self._frame_timer.start(max(0, int(FRAME_MS - since)))
        fraction = getattr(snap, "progress", None)
        if fraction is not None:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(round(1000 * min(max(float(fraction), 0.0), 1.0))))
        status = getattr(snap, "status", "")
        if status:
            self._last_status = status
            self.show_message(status)
        backend = getattr(snap, "backend", "")
        if backend and backend != self._backend_text:
            self.show_backend(backend)

    def show_backend(self, backend: str) -> None:
        """The status bar's backend label; a fallback's reason ("numba (not opencl: why)") goes
        to the tooltip, so that the label stays short."""
        self._backend_text = backend
        short, _, why = backend.partition(" (not ")
        self.backend_label.setText(f"backend: {short}" + (" (fallback)" if why else ""))
        self.backend_label.setToolTip(f"the compute backend of the current job: {short}"
                                      + (f"; not {why[:-1] if why.endswith(')') else why}" if why else ""))

    def drop_pending_frames(self) -> None:
        """Forget the snapshots not drawn yet (the panels show something else now)."""
        self._pending_frames.clear()

    def _push_frames(self):
        self._last_frame = time.monotonic()
        frames, self._pending_frames = self._pending_frames, {}
        for panel, snap in frames.items():
            panel.show_snapshot(snap)

    def _on_finished(self, ticket: Ticket):
        self.progress.setRange(0, 1000)
        self.progress.setValue(1000)
        self.show_message(self._last_status or "Done.")

    def _on_cancelled(self, ticket: Ticket):
        if self.runner.current is None:       # stopped, not replaced by a newer request
            self.progress.setRange(0, 1000)
            self.show_message("Stopped.")

    def _on_failed(self, ticket: Ticket, message: str):
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.show_message(message, error=True)

    def _on_busy_changed(self, busy: bool):
        self.cancel_button.setEnabled(busy)
        self.act_stop.setEnabled(busy)
        for p in self.panels:
            p.busy_changed(busy, self.active_panel if busy else None)
        if not busy and self.progress.maximum() == 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(0)
        if not busy and self._close_deferred:
            self._close_deferred = False
            self.close()

    # ------------------------------------------------------------------ messages
    def show_message(self, text: str, *, error: bool = False):
        """One line in the message area (errors in red); the full text is the tooltip."""
        text = " ".join(str(text).split())
        self.message.setText(("⚠ " + text) if error else text)
        self.message.setToolTip(text)
        self.message.setStyleSheet("QLabel { color: #b00020; font-weight: bold; }" if error else "")
        presentation = getattr(self, "presentation", None)
        if presentation is not None:        # the status bar is hidden in presentation mode
            presentation.show_notice(self.message.text() if error else "")
        if error:
            log.info("message: %s", text)

    # ------------------------------------------------------------------ screenshots, about
    def save_screenshot(self, path: str) -> bool:
        """Grab the window into a PNG at ``path``; False if the grab or the write failed."""
        self._push_frames()
        pixmap = self.grab()
        return (not pixmap.isNull()) and pixmap.save(str(path), "PNG")

    def save_screenshot_dialog(self):
        path, _ = QFileDialog.getSaveFileName(self, "Save screenshot", "ntk-desktop.png", "PNG images (*.png)")
        if not path:
            return
        if not path.lower().endswith(".png"):
            path += ".png"
        if self.save_screenshot(path):
            self.show_message(f"Screenshot saved to {path}")
        else:
            self.show_message(f"cannot write the screenshot to {path}", error=True)

    def show_about(self):
        QMessageBox.about(
            self, "About NTK Desktop",
            f"<h3>NTK Desktop {__version__}</h3>"
            "<p>A desktop laboratory for the Neural Tangent Kernel: the kernel of finite networks "
            "at initialization next to its infinite-width limit Θ∞.</p>"
            f"<p>{PAPER}</p>"
            "<p>F5 runs, Esc stops, Ctrl+R resets the parameters.</p>")

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event):
        if not self._closing:
            self._closing = True
            self._debounce.stop()
            if self.persist:
                self.save_settings()
        if self.runner.busy:
            self.runner.cancel()
        if self.runner.busy:
            # finish closing when the job has stopped (at its next yield): see _on_busy_changed
            self._close_deferred = True
            self.show_message("Stopping the computation before closing…")
            self.hide()
            event.ignore()
            return
        self._frame_timer.stop()
        self._pending_frames.clear()
        super().closeEvent(event)
        if not self._closed_emitted:
            self._closed_emitted = True
            self.closed.emit()
