"""What a panel is: a dockable view driven by one kind of generator job.

The main window owns one :class:`~ntk_desktop.gui.runner.JobRunner` (one compute slot) and the
shared :class:`~ntk_desktop.gui.params_panel.ParamsPanel`.  A panel adds to that:

* ``key`` and ``title``: the settings group and dock object name, and the dock's title;
* ``job``: the Qt-free generator function from :mod:`ntk_desktop.experiments`;
* :meth:`make_request`: the frozen request for the shared network parameters plus the panel's own
  options (raise :class:`~ntk_desktop.errors.NTKInputError` with a one-line message when they do
  not fit);
* :meth:`draw`: push a snapshot into plot items created once (the window hands the newest
  snapshot to :meth:`show_snapshot` from its frame timer, at most every
  :data:`~ntk_desktop.gui.main_window.FRAME_MS` ms, on the GUI thread); :meth:`draw_empty` hides
  the results;
* ``runRequested``: the panel asks the window to run its job now (a direct manipulation ended);
* ``requestChanged``: emitted when one of the panel's own options that feeds the request changes
  (the window reruns after the usual debounce when auto-run is on);
* its own options: ``defaults`` (key → default value) and :meth:`add_options` (key → widget):
  reset, presets, settings and sessions read and set them by key;
* ``request_type`` and ``snapshot_type`` (frozen dataclasses): a session stores the shown
  snapshot (:func:`snapshot_state`) and shows it again without recomputing.

Snapshots should expose ``progress`` (0..1), ``status`` (one line) and may expose ``backend``
(the name of the backend that computes), which the window shows in its status bar.

To add a panel: subclass, then ``window.add_panel(MyPanel())`` (see
:meth:`ntk_desktop.gui.main_window.MainWindow.add_panel`).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Iterable, Iterator, Optional, Tuple

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (QAbstractButton, QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QVBoxLayout,
                               QWidget)

from . import hover, theme
from .params_panel import NetworkParams
from .presentation_style import style_new_items, style_plots, theme_colors
from .settings import read_value
from .theme import DARK_CONTROLS, palette

INFO_STYLE = "QLabel { color: #222; font-size: 12pt; }"
#: the info line when something is wrong (a run diverged, η above its bound)
WARNING_STYLE = "QLabel { color: #b00020; font-weight: bold; font-size: 12pt; }"
#: the info line's colours on the dark presentation theme (≥ 7:1 on black): its text, and the
#: theme's warning colour (the one the presentation header's notice uses)
_DARK_TEXT = {"#222": "#e6e6e6", "#b00020": theme_colors("dark")["warning"]}


def themed_style(style: str, theme_name) -> str:
    """``style`` (:data:`INFO_STYLE`, :data:`WARNING_STYLE`) in the colours of the presentation
    theme ``theme_name`` (None: the normal look)."""
    if theme_name == "dark":
        for light, dark in _DARK_TEXT.items():
            style = style.replace(f"color: {light};", f"color: {dark};")
    return style


class Panel(QWidget):
    """Base class of the dockable views (see the module docstring)."""

    #: settings group and dock object name (``dock_<key>``): stable, ASCII
    key: str = ""
    #: dock title
    title: str = ""
    #: the generator function ``job(request)`` this panel runs
    job: Callable[[Any], Iterator[Any]]
    #: the panel's own options and their defaults (see :meth:`add_options`)
    defaults: Dict[str, Any] = {}
    #: the request and snapshot dataclasses of ``job`` (sessions rebuild a snapshot from them)
    request_type: Optional[type] = None
    snapshot_type: Optional[type] = None
    #: whether the job uses the Parameters panel's network (the presentation caption names it)
    uses_network_params: bool = True

    requestChanged = Signal()
    #: the panel asks for its job to run now (e.g. the training points were moved by hand)
    runRequested = Signal()

    #: the "press Run" label shown over a plot before the first result (see :meth:`make_hint`)
    hint: Optional[QLabel] = None
    #: the line of text above the plots (see :meth:`make_info`)
    info: Optional[QLabel] = None
    #: the presentation theme ("light"/"dark") while presentation mode shows the panel, else None
    presentation_theme: Optional[str] = None

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        theme.configure_pyqtgraph()
        if self.key:
            self.setObjectName(f"{self.key}_panel")
        self._snapshot: Any = None
        self._option_widgets: Dict[str, QWidget] = {}
        self._info_shown: Tuple[str, str] = (" ", "")
        hover.install(self)          # values of curves and images under the mouse, on every plot

    # ------------------------------------------------------------------ building blocks
    def add_options(self, widgets: Dict[str, QWidget]) -> None:
        """Register the option widgets by key (a check box, spin box or combo box whose items
        carry the values as data), in the order presets and settings set them."""
        self._option_widgets.update(widgets)

    def options_row(self, labelled: Iterable[Tuple[str, QWidget]]) -> QHBoxLayout:
        """A row of options, each after its label ("" for none), then a stretch."""
        row = QHBoxLayout()
        row.setContentsMargins(6, 2, 6, 0)
        for label, widget in labelled:
            if label:
                row.addWidget(QLabel(label))
            row.addWidget(widget)
        row.addStretch(1)
        return row

    def make_info(self, object_name: str, style: str = "") -> QLabel:
        """The line of text above the plots (the run's parameters and its state)."""
        self.info = QLabel(" ")
        self.info.setObjectName(object_name)
        self.info.setWordWrap(True)
        self.info.setMinimumWidth(120)
        self.info.setContentsMargins(8, 0, 8, 0)
        self.info.setStyleSheet(themed_style(style, self.presentation_theme))
        self._info_shown = (" ", style)
        return self.info

    def set_info(self, text: str, style: str = INFO_STYLE) -> None:
        """Set the info line (only when it changes: a new style sheet costs a relayout)."""
        if (text, style) != self._info_shown:
            self._info_shown = (text, style)
            self.info.setText(text)
            self.info.setStyleSheet(themed_style(style, self.presentation_theme))

    def stack(self, *rows) -> QVBoxLayout:
        """The panel's layout: ``rows`` (layouts, widgets, or (either, stretch)) top to bottom."""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        for row in rows:
            row, stretch = row if isinstance(row, tuple) else (row, 0)
            if isinstance(row, QWidget):
                layout.addWidget(row, stretch)
            else:
                layout.addLayout(row, stretch)
        return layout

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

    # ------------------------------------------------------------------ results
    def make_request(self, params: NetworkParams) -> Any:
        raise NotImplementedError

    def show_snapshot(self, snapshot: Any) -> None:
        """Show ``snapshot`` (the window calls it with the newest one of a frame)."""
        self._snapshot = snapshot
        self.redraw()

    def clear(self) -> None:
        """Forget the results shown (the items stay, hidden)."""
        self._snapshot = None
        self.redraw()

    def redraw(self, *_) -> None:
        """Draw the snapshot shown again (after a display option changed), or the empty plots."""
        snap = self._snapshot
        if self.hint is not None:
            self.hint.setVisible(snap is None)
        if snap is None:
            self.draw_empty()
            self._place_hint()
        else:
            self.draw(snap)
        if self.presentation_theme is not None:      # what the draw added gets the presentation look
            style_new_items(self, self.presentation_theme)
        hover.refresh(self)          # a label under a still mouse reads the new data

    def draw(self, snapshot: Any) -> None:
        """Push ``snapshot`` into the plot items (created once; ``setData`` only)."""
        raise NotImplementedError

    def draw_empty(self) -> None:
        """Hide every result (no snapshot)."""

    # ------------------------------------------------------------------ options
    def options(self) -> dict:
        """The panel's own options by key (see :meth:`add_options`)."""
        return {key: _value_of(w) for key, w in self._option_widgets.items()}

    def apply_preset(self, options: dict) -> None:
        """Set the panel's own options from a preset (keys the panel defines; others ignored)."""
        for key, w in self._option_widgets.items():
            if key in options:
                _set_value(w, options[key])

    def reset(self) -> None:
        """Put the panel's own options back to their defaults."""
        self.apply_preset(self.defaults)

    def save_settings(self, settings) -> None:
        """Write the panel's options (the window has opened group ``key``)."""
        for key, value in self.options().items():
            settings.setValue(key, value)

    def restore_settings(self, settings) -> None:
        """Read the panel's options (the window has opened group ``key``)."""
        self.apply_preset({key: read_value(settings, key, value) for key, value in self.defaults.items()})

    def busy_changed(self, busy: bool, owner: Optional["Panel"]) -> None:
        """The compute slot became busy/idle; ``owner`` is the panel whose job runs."""

    # --- lecture and lab workflow hooks (defaults work for any panel built from pyqtgraph plots)
    def set_presentation(self, on: bool, theme: str = "light") -> None:
        """Presentation mode: large fonts, thick lines, high-contrast ``theme`` ("light"/"dark");
        ``on=False`` restores the normal look.  Default: scales every PlotItem of the panel."""
        self.presentation_theme = theme if on else None
        style_plots(self, on, theme)
        dark = on and theme == "dark"                 # the controls and info line on black too
        self.setPalette(palette(DARK_CONTROLS) if dark else QPalette())
        self.setAutoFillBackground(dark)
        info = getattr(self, "info", None)
        if info is not None:
            info.setStyleSheet(themed_style(self._info_shown[1], self.presentation_theme))

    def caption(self) -> str:
        """Panel-specific part of the presentation caption, e.g. ``"t = 120"`` ("" if none)."""
        return ""

    def export_arrays(self) -> dict:
        """The plotted data as name → array (Export data…).  Default: every visible curve."""
        from .export import plotted_curves
        return plotted_curves(self)

    def session_state(self) -> tuple:
        """(JSON-able options, name → array of computed results) for a session file."""
        if self.snapshot_type is None:
            return {}, {}
        return snapshot_state(self._snapshot, self.options())

    def restore_session(self, params: dict, arrays: dict) -> None:
        """Show the results of :meth:`session_state` without recomputing."""
        if self.snapshot_type is None:
            return
        self.blockSignals(True)          # restoring is not a request to recompute
        try:
            self.apply_preset(params.get("options", {}))
        finally:
            self.blockSignals(False)
        snap = restore_snapshot(self.request_type, self.snapshot_type, params, arrays)
        if snap is None:
            self.clear()
        else:
            self.show_snapshot(snap)


def _value_of(widget: QWidget):
    if isinstance(widget, QAbstractButton):
        return widget.isChecked()
    if isinstance(widget, QComboBox):
        return widget.currentData()
    return widget.value()


def _set_value(widget: QWidget, value) -> None:
    if isinstance(widget, QAbstractButton):
        widget.setChecked(bool(value))
    elif isinstance(widget, QComboBox):
        i = widget.findData(str(value))
        if i >= 0:
            widget.setCurrentIndex(i)
    elif isinstance(widget, QDoubleSpinBox):
        widget.setValue(float(value))
    else:
        widget.setValue(int(value))


# ---------------------------------------------------------------------- sessions
def snapshot_state(snap, options: dict) -> tuple:
    """(JSON-able {"options", "request", "snapshot"}, name → array) of a frozen snapshot dataclass whose
    ``request`` is a frozen request dataclass: arrays go to the array dict (a tuple of arrays per
    width as ``<name>_<k>``, its ``None`` entries left out), scalars to the meta."""
    if snap is None:
        return {"options": options}, {}
    request = dataclasses.asdict(snap.request)
    request["widths"] = list(request["widths"])
    arrays, meta = {}, {}
    for f in dataclasses.fields(snap):
        if f.name == "request":
            continue
        value = getattr(snap, f.name)
        if isinstance(value, np.ndarray):
            arrays[f.name] = value
        elif isinstance(value, tuple):
            arrays.update({f"{f.name}_{k}": a for k, a in enumerate(value) if a is not None})
        elif value is None or isinstance(value, (bool, int, float, str)):
            meta[f.name] = value
        elif isinstance(value, (np.integer, np.floating)):
            meta[f.name] = value.item()
    return {"options": options, "request": request, "snapshot": meta}, arrays


def restore_snapshot(request_cls, snapshot_cls, params: dict, arrays: dict):
    """The snapshot :func:`snapshot_state` saved, or None when the session holds none."""
    request = params.get("request")
    if not request:
        return None
    request = dict(request)
    request["widths"] = tuple(int(w) for w in request["widths"])
    names = {f.name for f in dataclasses.fields(snapshot_cls)}
    values = {k: v for k, v in dict(params.get("snapshot", {})).items() if k in names}
    per_width: Dict[str, dict] = {}
    for k, v in arrays.items():
        a = np.array(v)
        a.setflags(write=False)
        name, _, index = k.rpartition("_")
        if k in names:
            values[k] = a
        elif name in names and index.isdigit():
            per_width.setdefault(name, {})[int(index)] = a
    n = len(request["widths"])
    values.update({name: tuple(parts.get(k) for k in range(n)) for name, parts in per_width.items()})
    return snapshot_cls(request=request_cls(**request), **values)
