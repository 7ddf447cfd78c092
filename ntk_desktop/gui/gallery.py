"""The presets gallery (View → Presets gallery…, Ctrl+G): the paper's figures and teaching presets.

Each entry is a :class:`~ntk_desktop.gui.presets.Preset`; choosing one applies its parameters
(:meth:`MainWindow.apply_preset`) and shows its one-line explanation in the status bar and under
the list; "Apply and run" also starts the computation.  Presets whose panel this window does not
have are left out.
"""
from __future__ import annotations

from typing import List, Optional

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QLabel, QListWidget, QListWidgetItem,
                               QPushButton, QVBoxLayout)

from .presets import PRESETS, TEACHING, Preset


def gallery_presets(window) -> List[Preset]:
    """Paper presets first (fig1, fig2, …), then the teaching ones; only those with a panel here."""
    paper = [p for name, p in PRESETS.items() if name not in TEACHING]
    teach = [p for p in TEACHING.values()]
    return [p for p in paper + teach if p.panel in window.docks]


class GalleryDialog(QDialog):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.setObjectName("presets_gallery")
        self.setWindowTitle("Presets gallery")
        self.list = QListWidget()
        self.explanation = QLabel("")
        self.explanation.setWordWrap(True)
        self.explanation.setTextFormat(Qt.TextFormat.PlainText)
        self.explanation.setMinimumHeight(48)
        for p in gallery_presets(window):
            kind = "paper" if p.name not in TEACHING else "lesson"
            item = QListWidgetItem(f"[{kind}] {p.name} — {p.description.split(':')[0]}")
            item.setData(Qt.ItemDataRole.UserRole, p.name)
            item.setToolTip(p.description)
            self.list.addItem(item)
        self.list.currentItemChanged.connect(self._on_current)
        self.list.itemDoubleClicked.connect(lambda _i: self.apply(run=False))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.apply_button = QPushButton("&Apply")
        self.run_button = QPushButton("Apply and &run")
        buttons.addButton(self.apply_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.run_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.apply_button.clicked.connect(lambda: self.apply(run=False))
        self.run_button.clicked.connect(lambda: self.apply(run=True))
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.explanation)
        layout.addWidget(buttons)
        self.resize(720, 420)
        if self.list.count():
            self.list.setCurrentRow(0)

    def names(self) -> List[str]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]

    def select(self, name: str) -> None:
        self.list.setCurrentRow(self.names().index(name))

    def _on_current(self, item, _prev=None):
        if item is not None:
            self.explanation.setText(PRESETS[item.data(Qt.ItemDataRole.UserRole)].description)

    def apply(self, run: bool = False) -> Optional[Preset]:
        item = self.list.currentItem()
        if item is None:
            return None
        return self.window.gallery.apply(item.data(Qt.ItemDataRole.UserRole), run=run)


class GalleryController(QObject):
    """View → Presets gallery… for a :class:`MainWindow` (``window.gallery``)."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.dialog: Optional[GalleryDialog] = None
        self.act_gallery = QAction("Presets &gallery…", window)
        self.act_gallery.setShortcut(QKeySequence("Ctrl+G"))
        self.act_gallery.setToolTip("The paper's figures and teaching presets, each explained in one line")
        self.act_gallery.triggered.connect(self.show)
        window.view_menu.addAction(self.act_gallery)
        self.explanation = ""

    def show(self) -> GalleryDialog:
        if self.dialog is None:
            self.dialog = GalleryDialog(self.window)
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog

    def apply(self, name: str, run: bool = False) -> Preset:
        preset = PRESETS[name]
        w = self.window
        w.apply_preset(preset)                 # parameters, panel options, the status-bar message
        self.explanation = preset.description
        w.show_message(f"{preset.name}: {preset.description}" + ("" if run else ". Press Run (F5)."))
        w.cancel_auto_run()
        if run:
            w.run()
        return preset
