"""What a panel is: a dockable view driven by one kind of generator job.

The main window owns one :class:`~ntk_desktop.gui.runner.JobRunner` (one compute slot) and the
shared :class:`~ntk_desktop.gui.params_panel.ParamsPanel`.  A panel adds to that:

* ``key`` and ``title``: the settings group and dock object name, and the dock's title;
* ``job``: the Qt-free generator function from :mod:`ntk_desktop.experiments`;
* :meth:`make_request`: the frozen request for the shared network parameters plus the panel's own
  options (raise :class:`~ntk_desktop.errors.NTKInputError` with a one-line message when they do
  not fit);
* :meth:`show_snapshot`: push the latest snapshot into plot items created once (the window calls it
  from its ~30 Hz frame timer on the GUI thread, with the newest snapshot only);
* ``requestChanged``: emitted when one of the panel's own options that feeds the request changes
  (the window reruns after the usual debounce when auto-run is on);
* optional hooks: :meth:`clear`, :meth:`reset`, :meth:`apply_preset`, :meth:`save_settings`,
  :meth:`restore_settings`.

Snapshots should expose ``progress`` (0..1), ``status`` (one line) and may expose ``backend``
(the name of the backend that computes), which the window shows in its status bar.

To add a panel: subclass, then ``window.add_panel(MyPanel())`` (see
:meth:`ntk_desktop.gui.main_window.MainWindow.add_panel`).
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QWidget

from .params_panel import NetworkParams


class Panel(QWidget):
    """Base class of the dockable views (see the module docstring)."""

    #: settings group and dock object name (``dock_<key>``): stable, ASCII
    key: str = ""
    #: dock title
    title: str = ""
    #: the generator function ``job(request)`` this panel runs
    job: Callable[[Any], Iterator[Any]]

    requestChanged = Signal()

    #: the "press Run" label shown over a plot before the first result (see :meth:`make_hint`)
    hint: Optional[QLabel] = None

    def make_hint(self, text: str, host: QWidget, *, max_width: int = 560, margin: int = 80) -> QLabel:
        """Create the centred hint label over ``host``; the base class keeps it placed on resize."""
        self.hint = QLabel(text, host)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("QLabel { color: #333; background: rgba(255,255,255,220); "
                                "border: 1px solid #bbb; border-radius: 6px; padding: 10px; font-size: 14pt; }")
        self._hint_geometry = (host, max_width, margin)
        return self.hint

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._place_hint()

    def _place_hint(self):
        if self.hint is None:
            return
        host, max_width, margin = self._hint_geometry
        w = min(max_width, max(200, host.width() - margin))
        self.hint.setFixedWidth(w)
        self.hint.adjustSize()
        self.hint.move((host.width() - w) // 2, max(10, host.height() // 3))

    def make_request(self, params: NetworkParams) -> Any:
        raise NotImplementedError

    def show_snapshot(self, snapshot: Any) -> None:
        raise NotImplementedError

    def clear(self) -> None:
        """Forget the results shown (the items stay, hidden)."""

    def reset(self) -> None:
        """Put the panel's own options back to their defaults."""

    def apply_preset(self, options: dict) -> None:
        """Set the panel's own options from a preset (keys the panel defines)."""

    def save_settings(self, settings) -> None:
        """Write the panel's options (the window has opened group ``key``)."""

    def restore_settings(self, settings) -> None:
        """Read the panel's options (the window has opened group ``key``)."""

    def busy_changed(self, busy: bool, owner: Optional["Panel"]) -> None:
        """The compute slot became busy/idle; ``owner`` is the panel whose job runs."""

    # --- lecture and lab workflow hooks (defaults work for any panel built from pyqtgraph plots)
    def set_presentation(self, on: bool, theme: str = "light") -> None:
        """Presentation mode: large fonts, thick lines, high-contrast ``theme`` ("light"/"dark");
        ``on=False`` restores the normal look.  Default: scales every PlotItem of the panel."""
        from .presentation import style_plots
        style_plots(self, on, theme)

    def caption(self) -> str:
        """Panel-specific part of the presentation caption, e.g. ``"t = 120"`` ("" if none)."""
        return ""

    def export_arrays(self) -> dict:
        """The plotted data as name → array (Export data…).  Default: every visible curve."""
        from .export import plotted_curves
        return plotted_curves(self)

    def session_state(self) -> tuple:
        """(JSON-able options, name → array of computed results) for a session file."""
        return {}, {}

    def restore_session(self, params: dict, arrays: dict) -> None:
        """Show the results of :meth:`session_state` without recomputing."""
