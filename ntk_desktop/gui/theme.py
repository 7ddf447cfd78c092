"""The look: projector-friendly defaults shared by every panel.

White plot background with dark text, antialiasing, thick lines, fonts of 11 pt and more, and a
colour-blind-safe palette (Okabe & Ito) that stays distinct on washed-out projectors.
"""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPainterPath, QPalette, QPixmap
from PySide6.QtWidgets import QApplication

#: Okabe–Ito colours, most distinct first (yellow left out: invisible on white)
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
LIMIT_COLOR = "#000000"      # the infinite-width kernel
NNGP_COLOR = "#555555"

APP_FONT_PT = 11
PLOT_LABEL_PT = 14
PLOT_TICK_PT = 12
PLOT_TITLE_PT = 13
LEGEND_PT = 12

MEAN_WIDTH = 3.0
LIMIT_WIDTH = 3.0
INIT_WIDTH = 1.2
INIT_ALPHA = 90              # of 255: thin per-initialization curves
BAND_ALPHA = 50              # ±std bands


def color(index: int, alpha: int = 255) -> QColor:
    c = QColor(PALETTE[index % len(PALETTE)])
    c.setAlpha(alpha)
    return c


def configure_pyqtgraph() -> None:
    """Global pyqtgraph options; idempotent, call before creating plot widgets."""
    pg.setConfigOptions(background="w", foreground="k", antialias=True)


#: the colours of the controls (roles of QPalette): the normal light look, and the dark
#: presentation theme's (light text on black, every role ≥ 7:1 against its background)
LIGHT_CONTROLS = {"Window": "#f3f3f3", "WindowText": "#111111", "Base": "#ffffff", "AlternateBase": "#eeeeee",
                  "Text": "#111111", "Button": "#e8e8e8", "ButtonText": "#111111", "disabled": "#8a8a8a"}
DARK_CONTROLS = {"Window": "#000000", "WindowText": "#f0f0f0", "Base": "#1b1b1b", "AlternateBase": "#262626",
                 "Text": "#f0f0f0", "Button": "#2a2a2a", "ButtonText": "#f0f0f0", "disabled": "#9a9a9a"}


def palette(colors: dict) -> QPalette:
    """A Fusion palette of ``colors`` (:data:`LIGHT_CONTROLS`, :data:`DARK_CONTROLS`)."""
    pal = QPalette()
    for role in ("Window", "WindowText", "Base", "AlternateBase", "Text", "Button", "ButtonText"):
        pal.setColor(getattr(QPalette.ColorRole, role), QColor(colors[role]))
    pal.setColor(QPalette.ColorRole.Highlight, QColor(PALETTE[0]))
    pal.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    pal.setColor(QPalette.ColorRole.ToolTipBase, QColor("#ffffdd"))
    pal.setColor(QPalette.ColorRole.ToolTipText, QColor("#111111"))
    for role in ("Text", "ButtonText", "WindowText"):
        pal.setColor(QPalette.ColorGroup.Disabled, getattr(QPalette.ColorRole, role), QColor(colors["disabled"]))
    return pal


def apply(app: QApplication) -> None:
    """Fusion style with a light palette (plots are white, so the window is too) and 11 pt text."""
    configure_pyqtgraph()
    app.setStyle("Fusion")
    pal = palette(LIGHT_CONTROLS)
    app.setPalette(pal)
    font = QFont(app.font())
    if font.pointSizeF() < APP_FONT_PT:
        font.setPointSizeF(APP_FONT_PT)
        app.setFont(font)


def plot_font(point_size: float, bold: bool = False) -> QFont:
    f = QFont()
    f.setPointSizeF(point_size)
    f.setBold(bold)
    return f


# ---------------------------------------------------------------------- contrast (WCAG 2)
#: the least contrast of a plotted item against its plot's background (WCAG 2.1, graphical objects)
MIN_CONTRAST = 3.0


def relative_luminance(c: QColor) -> float:
    """WCAG 2 relative luminance of the opaque colour ``c`` (its alpha is ignored)."""
    def channel(v: float) -> float:
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4
    return 0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) + 0.0722 * channel(c.blueF())


def composite(c: QColor, background: QColor) -> QColor:
    """``c`` drawn with its alpha over the opaque ``background``: the colour the eye sees."""
    a = c.alphaF()
    return QColor.fromRgbF(*(a * f + (1.0 - a) * b for f, b in
                             zip(c.getRgbF()[:3], background.getRgbF()[:3])))


def contrast_ratio(c: QColor, background: QColor) -> float:
    """WCAG 2 contrast ratio (1..21) of ``c`` (alpha-composited) against ``background``."""
    l1 = relative_luminance(composite(c, background))
    l2 = relative_luminance(background)
    return (max(l1, l2) + 0.05) / (min(l1, l2) + 0.05)


def legible(c: QColor, background: QColor, target: float = MIN_CONTRAST) -> QColor:
    """``c`` if it reaches ``target`` contrast on ``background``; else the same hue made more
    opaque, and if full opacity is not enough, mixed toward black (light background) or white
    (dark background) by the least amount that reaches ``target``."""
    c = QColor(c)
    if contrast_ratio(c, background) >= target:
        return c
    for alpha in range(c.alpha(), 256, 5):
        c.setAlpha(alpha)
        if contrast_ratio(c, background) >= target:
            return c
    c.setAlpha(255)
    toward = 0.0 if relative_luminance(background) > 0.18 else 1.0
    rgb = c.getRgbF()[:3]
    for k in range(1, 21):
        t = k / 20.0
        mixed = QColor.fromRgbF(*((1.0 - t) * v + t * toward for v in rgb))
        if contrast_ratio(mixed, background) >= target:
            return mixed
    return QColor.fromRgbF(toward, toward, toward)


#: the run controls' glyphs: the corners of a filled polygon in a unit square
_GLYPHS = {"play": ((0.22, 0.12), (0.86, 0.5), (0.22, 0.88)),
           "stop": ((0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8))}


def glyph_icon(kind: str, colors: dict) -> QIcon:
    """The ``play`` / ``stop`` icon in the text colour of ``colors`` (:data:`LIGHT_CONTROLS`,
    :data:`DARK_CONTROLS`), its disabled state in their disabled colour: the style's own icons are
    dark grey, all but invisible on the dark presentation theme's black toolbar."""
    icon = QIcon()
    for mode, key in ((QIcon.Mode.Normal, "ButtonText"), (QIcon.Mode.Disabled, "disabled")):
        for size in (16, 24, 32, 48, 64):
            pix = QPixmap(size, size)
            pix.fill(Qt.GlobalColor.transparent)
            painter = QPainter(pix)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            path = QPainterPath()
            points = [QPointF(x * size, y * size) for x, y in _GLYPHS[kind]]
            path.moveTo(points[0])
            for pt in points[1:]:
                path.lineTo(pt)
            path.closeSubpath()
            painter.fillPath(path, QColor(colors[key]))
            painter.end()
            icon.addPixmap(pix, mode)
    return icon
