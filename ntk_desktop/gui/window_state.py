"""The window's saved state: settings, geometry and dock layout (a part of :class:`MainWindow`).

The window saves its geometry, the dock layout, auto-run, the network parameters and each panel's
options (in the settings group of the panel's key) on close, and restores them when it is built;
a layout saved by another :data:`~ntk_desktop.gui.settings.STATE_VERSION` is ignored.
"""
from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings, Qt

from .settings import STATE_VERSION, open_settings, read_bool, read_int


class WindowState:
    """Mixed into :class:`~ntk_desktop.gui.main_window.MainWindow` (a QMainWindow with ``docks``,
    ``panels``, ``params``, ``act_auto`` and the ``settings`` given to its constructor)."""

    _settings = None
    _default_state = None
    _state_restored = False
    _shown_once = False

    def open_settings(self) -> QSettings:
        """The settings this window reads and writes (see the constructor's ``settings``)."""
        return self._settings if self._settings is not None else open_settings()

    def _panel_settings(self, settings: QSettings, method) -> None:
        """``method(panel, settings)`` for each panel, in the settings group of its key."""
        for p in self.panels:
            settings.beginGroup(p.key)
            try:
                method(p, settings)
            finally:
                settings.endGroup()

    def _restore_settings(self):
        self._default_state = self.saveState(STATE_VERSION)
        s = self.open_settings()
        if read_int(s, "version", 0) != STATE_VERSION:
            return
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = s.value("window/state")
        if isinstance(state, QByteArray):
            self._state_restored = bool(self.restoreState(state, STATE_VERSION))
        self.act_auto.setChecked(read_bool(s, "run/auto", True))
        self.params.restore_settings(s)
        self._panel_settings(s, lambda p, group: p.restore_settings(group))

    def save_settings(self):
        s = self.open_settings()
        s.setValue("version", STATE_VERSION)
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState(STATE_VERSION))
        s.setValue("run/auto", self.act_auto.isChecked())
        self.params.save_settings(s)
        self._panel_settings(s, lambda p, group: p.save_settings(group))
        s.sync()

    def reset_layout(self):
        for dock in self.docks.values():
            dock.setFloating(False)
            dock.show()
        if self._default_state is not None:
            self.restoreState(self._default_state, STATE_VERSION)
        self._default_dock_sizes()

    # ------------------------------------------------------------------ showing
    def showEvent(self, event):
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            if not self._state_restored:
                self._default_dock_sizes()

    def _default_dock_sizes(self):
        """Parameters narrow on the left, the panels take the rest (without a central widget Qt
        would split the width evenly; resizeDocks needs both sides of the separator)."""
        params = self.docks["params"]
        right = [self.docks[p.key] for p in self.panels
                 if self.dockWidgetArea(self.docks[p.key]) == Qt.DockWidgetArea.RightDockWidgetArea]
        if right:
            rest = max(400, self.width() - 340)
            self.resizeDocks([params, right[0]], [330, rest], Qt.Orientation.Horizontal)
