"""The look: projector-friendly defaults shared by every panel.

White plot background with dark text, antialiasing, thick lines, fonts of 11 pt and more, and a
colour-blind-safe palette (Okabe & Ito) that stays distinct on washed-out projectors.
"""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QFont, QPalette
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


def apply(app: QApplication) -> None:
    """Fusion style with a light palette (plots are white, so the window is too) and 11 pt text."""
    configure_pyqtgraph()
    app.setStyle("Fusion")
    pal = QPalette()
    pal.setColor(QPalette.ColorRole.Window, QColor("#f3f3f3"))
    pal.setColor(QPalette.ColorRole.WindowText, QColor("#111111"))
    pal.setColor(QPalette.ColorRole.Base, QColor("#ffffff"))
    pal.setColor(QPalette.ColorRole.AlternateBase, QColor("#eeeeee"))
    pal.setColor(QPalette.ColorRole.Text, QColor("#111111"))
    pal.setColor(QPalette.ColorRole.Button, QColor("#e8e8e8"))
    pal.setColor(QPalette.ColorRole.ButtonText, QColor("#111111"))
    pal.setColor(QPalette.ColorRole.Highlight, QColor(PALETTE[0]))
    pal.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    pal.setColor(QPalette.ColorRole.ToolTipBase, QColor("#ffffdd"))
    pal.setColor(QPalette.ColorRole.ToolTipText, QColor("#111111"))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#8a8a8a"))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor("#8a8a8a"))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText, QColor("#8a8a8a"))
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
