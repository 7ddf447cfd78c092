"""Presentation mode: readable on a projector or in a 1080p screen recording.

* the plots' look (:mod:`.presentation_style`): large fonts, thick high-contrast pens, legends
  beside the data;
* :class:`PresentationController` — the window side: View → Presentation mode (F11), full screen,
  parameters dock, status bar and most of the toolbar hidden, and at the top of each shown panel
  (in its layout, above its controls and plots) a :class:`PresentationHeader`: the caption of the
  parameters (and the panel's time t) and, with View → Show formula (F9), the recursion being
  plotted (:mod:`.formula`); toggling back restores the previous layout.
"""
from __future__ import annotations

from typing import Dict

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QPalette
from PySide6.QtWidgets import QBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from ..errors import NTKInputError
from .formula import fitted, formula_source, render_formula
from .plot_style import colour_bars, data_items, plot_items
from .theme import DARK_CONTROLS, LIGHT_CONTROLS, palette
from .presentation_style import MIN_PT, THEMES, TITLE_PT, pt_of, theme_colors  # noqa: F401

CAPTION_PT = 22
#: an error message under the caption
NOTICE_PT = 18
FORMULA_PT = 18
#: the most of a panel's height the formula takes (scaled down to fit)
FORMULA_HEIGHT = 0.2
#: ... on a panel under SHORT_PANEL pixels high (a 720- or 768-line projector): the plots under
#: the formula keep room for their titles, axes and data
FORMULA_HEIGHT_SHORT = 0.13
SHORT_PANEL = 720


def format_caption(params, extra: str = "") -> str:
    """``depth 4 · ReLU · β 0.1 · widths 500, 10000`` (+ `` · extra``)."""
    nl = {"relu": "ReLU", "erf": "erf", "tanh": "tanh", "leaky_relu": "leaky ReLU"}.get(
        params.nonlinearity, params.nonlinearity)
    parts = [f"depth {params.depth}", nl, f"β {params.beta:g}",
             "widths " + ", ".join(str(w) for w in params.widths)]
    if params.parametrization != "ntk":
        parts.append(f"{params.parametrization} parametrization")
    if extra:
        parts.append(extra)
    return " · ".join(parts)


class PresentationHeader(QWidget):
    """The top of a panel in presentation mode: the caption and, when shown, the formula."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("presentation_header")
        self.caption = QLabel()
        self.caption.setObjectName("presentation_caption")
        self.caption.setTextFormat(Qt.TextFormat.PlainText)
        self.caption.setWordWrap(True)
        self.caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.formula = QLabel()
        self.formula.setObjectName("presentation_formula")
        self.formula.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.formula.hide()
        #: the last error message (a refused value, a failed run): the status bar is hidden here
        self.notice = QLabel()
        self.notice.setObjectName("presentation_notice")
        self.notice.setTextFormat(Qt.TextFormat.PlainText)
        self.notice.setWordWrap(True)
        self.notice.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.notice.hide()
        self._formula_full = None           # the rendered pixmap before fitting the width
        #: what the formula shown was rendered from: (source, colour, device pixel ratio)
        self.formula_key = None
        self._look = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 4, 10, 4)
        layout.setSpacing(4)
        layout.addWidget(self.caption)
        layout.addWidget(self.notice)
        layout.addWidget(self.formula)
        if parent is not None:
            parent.installEventFilter(self)

    def set_look(self, colors: dict) -> None:
        if colors != self._look:
            self._look = dict(colors)
            self.setStyleSheet(f"QWidget#presentation_header {{ background: {colors['background']}; }} "
                               f"QLabel {{ color: {colors['foreground']}; background: {colors['background']}; "
                               f"font-size: {CAPTION_PT}pt; }} "
                               f"QLabel#presentation_notice {{ color: {colors['warning']}; font-weight: bold; "
                               f"font-size: {NOTICE_PT}pt; }}")
            self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)

    def set_notice(self, text: str) -> None:
        """Show ``text`` under the caption ("" hides it)."""
        if text != self.notice.text():
            self.notice.setText(text)
        self.notice.setVisible(bool(text))

    def set_caption(self, text: str) -> None:
        if text != self.caption.text():
            self.caption.setText(text)

    def show_formula(self, source: str, color: str) -> None:
        """Show the mathtext ``source`` under the caption in ``color`` (rendered when it changed)."""
        key = (source, color, self.devicePixelRatioF())
        if key != self.formula_key or self._formula_full is None:
            self.set_formula(render_formula(source, color, FORMULA_PT, key[2]))
            self.formula_key = key

    def set_formula(self, pixmap) -> None:
        """Show ``pixmap`` under the caption (None: hide the formula)."""
        self._formula_full = pixmap
        self.formula_key = None
        self.formula.setVisible(pixmap is not None)
        self._fit_formula()

    def _fit_formula(self) -> None:
        """The formula as large as rendered, but within the header's width and
        :data:`FORMULA_HEIGHT` of the panel's height (:data:`FORMULA_HEIGHT_SHORT` of a short
        panel; the plots keep the rest)."""
        if self._formula_full is None:
            return
        margins = self.layout().contentsMargins()
        panel = self.parentWidget()
        if panel is None:
            max_height = self._formula_full.height()
        else:
            share = FORMULA_HEIGHT if panel.height() >= SHORT_PANEL else FORMULA_HEIGHT_SHORT
            max_height = int(share * panel.height())
        pixmap = fitted(self._formula_full, self.width() - margins.left() - margins.right(), max_height)
        height = int(round(pixmap.height() / pixmap.devicePixelRatio()))
        if self.formula.height() != height or self.formula.pixmap().cacheKey() != pixmap.cacheKey():
            self.formula.setPixmap(pixmap)
            self.formula.setFixedHeight(height)

    def eventFilter(self, obj, event):
        if obj is self.parentWidget() and event.type() == QEvent.Type.Resize:
            self._fit_formula()
        return False

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._fit_formula()


class PresentationController(QObject):
    """View → Presentation mode (F11), Show formula (F9) and Presentation theme for a MainWindow."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.active = False
        self.theme = "light"
        self._saved = None
        self._notice = ""
        self.captions: Dict[object, QLabel] = {}
        self.headers: Dict[object, PresentationHeader] = {}
        self.act_toggle = QAction("&Presentation mode", window)
        self.act_toggle.setCheckable(True)
        self.act_toggle.setShortcut(QKeySequence(Qt.Key.Key_F11))
        self.act_toggle.setToolTip("Large fonts, thick lines, full screen, a caption of the parameters (F11)")
        self.act_toggle.toggled.connect(self.set_active)
        window.addAction(self.act_toggle)      # the shortcut works while the menu bar is hidden
        self.act_formula = QAction("Show &formula", window)
        self.act_formula.setCheckable(True)
        self.act_formula.setShortcut(QKeySequence(Qt.Key.Key_F9))
        self.act_formula.setToolTip("In presentation mode, show the recursion of Σ, Σ̇ and Θ being plotted "
                                    "under the caption (F9)")
        self.act_formula.toggled.connect(lambda _on: self.update_captions())
        window.addAction(self.act_formula)
        self.theme_group = QActionGroup(window)
        self.theme_actions = {}
        for name, label in (("light", "High-contrast &light"), ("dark", "High-contrast &dark")):
            a = QAction(label, window)
            a.setCheckable(True)
            a.setChecked(name == self.theme)
            a.triggered.connect(lambda _checked=False, n=name: self.set_theme(n))
            self.theme_group.addAction(a)
            self.theme_actions[name] = a
        menu = window.view_menu
        menu.addSeparator()
        menu.addAction(self.act_toggle)
        menu.addAction(self.act_formula)
        sub = menu.addMenu("Presentation &theme")
        for a in self.theme_actions.values():
            sub.addAction(a)
        window.params.changed.connect(self.update_captions)

    # ------------------------------------------------------------------ public
    def set_theme(self, name: str) -> None:
        if name not in THEMES:
            raise ValueError(f"unknown presentation theme {name!r}; choose light or dark")
        self.theme = name
        self.theme_actions[name].setChecked(True)
        if self.active:
            for p in self._shown_panels():
                p.set_presentation(False, self.theme)
                p.set_presentation(True, self.theme)
            self._window_look()
            self.update_captions()

    def set_active(self, on: bool) -> None:
        on = bool(on)
        if on == self.active:
            return
        if self.act_toggle.isChecked() != on:
            self.act_toggle.blockSignals(True)
            self.act_toggle.setChecked(on)
            self.act_toggle.blockSignals(False)
        w = self.window
        if on:
            self._saved = {"state": w.saveState(), "geometry": w.saveGeometry(),
                           "full": w.isFullScreen(), "max": w.isMaximized(), "rect": w.geometry(),
                           "status": w.statusBar().isVisible(),
                           "toolbars": {tb: (tb.isVisible(), tb.toolButtonStyle()) for tb in self._toolbars()}}
            self.active = True
            w.docks["params"].hide()
            w.statusBar().hide()
            for tb in self._toolbars():
                tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)   # minimal: icons only
            for p in self._shown_panels():
                p.set_presentation(True, self.theme)
            self._window_look()
            w.showFullScreen()
            self.update_captions()
        else:
            self.active = False
            self._notice = ""
            for p in w.panels:
                p.set_presentation(False, self.theme)
            self._window_look()
            for header in self.headers.values():
                header.hide()
                header.setParent(None)
                header.deleteLater()
            self.headers.clear()
            self.captions.clear()
            saved, self._saved = self._saved, None
            if saved is not None:
                if not saved["full"]:
                    w.showMaximized() if saved["max"] else w.showNormal()
                w.restoreGeometry(saved["geometry"])
                if not (saved["full"] or saved["max"]):
                    w.setGeometry(saved["rect"])
                w.restoreState(saved["state"])
                w.statusBar().setVisible(saved["status"])
                for tb, (vis, style) in saved["toolbars"].items():
                    tb.setToolButtonStyle(style)
                    tb.setVisible(vis)

    def show_notice(self, text: str) -> None:
        """An error message for the audience too (the status bar is hidden in this mode); "" clears it."""
        self._notice = text
        if self.active:
            for p in self._shown_panels():
                self._header(p).set_notice(text)

    def caption_text(self, panel) -> str:
        try:
            extra = panel.caption()
        except Exception:      # a panel's caption must never break the window
            extra = ""
        return format_caption(self.window.params.params(), extra) if panel.uses_network_params else extra

    def formula_text(self) -> str:
        """The mathtext of the recursion for the current parameters."""
        return formula_source(self.window.params.params())

    def update_captions(self) -> None:
        """The header of each shown panel: its caption, and the formula when it is toggled on."""
        if not self.active:
            return
        colors = theme_colors(self.theme)
        try:
            formula = self.formula_text() if self.act_formula.isChecked() else None
        except NTKInputError:      # incomplete parameters (the widths being typed): keep what is shown
            formula = ""
        for p in self._shown_panels():
            header = self._header(p)
            header.set_look(colors)
            header.set_caption(self._safe_caption(p, header))
            header.set_notice(self._notice)
            if formula is None:
                header.set_formula(None)
            elif formula:
                header.show_formula(formula, colors["foreground"])

    # ------------------------------------------------------------------ helpers
    def _window_look(self) -> None:
        """The window's own controls (menu bar, toolbar, dock titles and tabs) dark in the dark
        theme — a white menu bar over black panels glares on a projector — else the application's."""
        dark = self.active and self.theme == "dark"
        self.window.setPalette(palette(DARK_CONTROLS) if dark else QPalette())
        self.window.set_icon_colors(DARK_CONTROLS if dark else LIGHT_CONTROLS)

    def _safe_caption(self, panel, header) -> str:
        try:
            return self.caption_text(panel)
        except NTKInputError:      # incomplete parameters: the caption shown stays
            return header.caption.text()

    def _header(self, panel) -> PresentationHeader:
        """The panel's header, at the top of its layout (above its controls and plots; panels are
        built with :meth:`Panel.stack`, a box layout)."""
        header = self.headers.get(panel)
        if header is None:
            header = PresentationHeader(panel)
            layout = panel.layout()
            if isinstance(layout, QBoxLayout):
                layout.insertWidget(0, header)
            self.headers[panel] = header
            self.captions[panel] = header.caption
            header.show()
        return header

    def _toolbars(self):
        from PySide6.QtWidgets import QToolBar
        return self.window.findChildren(QToolBar)

    def _shown_panels(self):
        w = self.window
        return [p for p in w.panels if not w.docks[p.key].isHidden()]


def plot_style_summary(panel: QWidget) -> dict:
    """Font sizes (pt) and pen widths as the plots now have them (tests, diagnostics)."""
    out = {"label_pt": [], "tick_pt": [], "legend_pt": [], "title_pt": [], "pen_widths": [], "axis_pen": []}
    for bar in colour_bars(panel):           # the scale's labelled side and its numbers
        for axis in {bar.getAxis("left" if bar.axis is bar.getAxis("right") else "bottom"), bar.axis}:
            if axis.labelText:
                out["label_pt"].append(pt_of(axis.labelStyle.get("font-size")))
            f = axis.style.get("tickFont")
            out["tick_pt"].append(None if f is None else f.pointSizeF())
            out["axis_pen"].append(axis.pen().widthF())
    for plot in plot_items(panel):
        for name in ("left", "bottom"):
            axis = plot.getAxis(name)
            out["label_pt"].append(pt_of(axis.labelStyle.get("font-size")))
            f = axis.style.get("tickFont")
            out["tick_pt"].append(None if f is None else f.pointSizeF())
            out["axis_pen"].append(axis.pen().widthF())
        if plot.legend is not None:
            out["legend_pt"].append(pt_of(plot.legend.opts.get("labelTextSize")))
        out["title_pt"].append(pt_of(plot.titleLabel.opts.get("size")))
        for item in data_items(plot):
            pen = pg.mkPen(item.opts.get("pen"))
            if pen.style() != Qt.PenStyle.NoPen:
                out["pen_widths"].append(pen.widthF())
    return out
