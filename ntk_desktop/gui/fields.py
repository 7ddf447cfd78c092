"""Bad values typed into any field get one line of explanation, the same way everywhere.

Spin boxes refuse what they cannot hold (letters, a value beyond their range) and the widths list
refuses what is not digits, commas and spaces, silently: :class:`FieldGuard` watches the number
fields and validated text fields of the parameters dock and of every panel and says in the
window's message area what was refused and what to enter instead; a field left empty or
incomplete says which value it keeps.  Nothing runs with a refused value (the window only runs
with acceptable input) and the results on screen stay.
"""
from __future__ import annotations

from typing import Callable, Iterable, Optional

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QAbstractSpinBox, QDoubleSpinBox, QFormLayout, QLabel, QLayout, QLineEdit, QWidget


def fields_of(root: QWidget) -> list:
    """The number fields and validated text fields under ``root`` (not a spin box's own editor)."""
    out = [w for w in root.findChildren(QAbstractSpinBox)]
    out += [w for w in root.findChildren(QLineEdit)
            if w.validator() is not None and not isinstance(w.parentWidget(), QAbstractSpinBox)]
    return out


def field_name(widget: QWidget) -> str:
    """What the field is called on screen: its form label, or the label just before it in its row."""
    parent = widget.parentWidget()
    layouts = [] if parent is None else ([parent.layout()] + parent.findChildren(QLayout))
    for layout in layouts:
        if isinstance(layout, QFormLayout):
            label = layout.labelForField(widget)
            if isinstance(label, QLabel) and label.text():
                return label.text()
        elif layout is not None:
            index = layout.indexOf(widget)
            if index > 0:
                before = layout.itemAt(index - 1).widget()
                if isinstance(before, QLabel) and before.text():
                    return before.text()
    return widget.toolTip().split("\n")[0].split(";")[0] or "this field"


def _range_text(w: QAbstractSpinBox) -> str:
    if isinstance(w, QDoubleSpinBox):
        return f"a number from {w.minimum():g} to {w.maximum():g}"
    return f"a whole number from {w.minimum():,} to {w.maximum():,}"


def _editor(w: QWidget) -> QLineEdit:
    return w.lineEdit() if isinstance(w, QAbstractSpinBox) else w


def _validate(w: QWidget, text: str) -> QValidator.State:
    if isinstance(w, QAbstractSpinBox):
        return w.validate(text, len(text))[0]
    return w.validator().validate(text, len(text))[0]


class FieldGuard(QObject):
    """Explain refused and incomplete input of the fields under the watched widgets through
    ``say(text)`` (one line)."""

    def __init__(self, say: Callable[[str], None], parent: Optional[QObject] = None):
        super().__init__(parent)
        self.say = say
        self.fields = []

    def watch(self, roots: Iterable[QWidget]) -> None:
        """Watch the fields under each of ``roots`` (the parameters dock, a panel)."""
        for root in roots:
            for w in fields_of(root):
                if w in self.fields:
                    continue
                self.fields.append(w)
                w.installEventFilter(self)          # a spin box gets the keys of its editor
                _editor(w).textEdited.connect(lambda text, w=w: self._edited(w, text))

    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.KeyPress and event.text() and event.text().isprintable():
            w = obj if obj in self.fields else None
            if w is not None:
                editor = _editor(w)
                text = editor.text()
                start, end = (editor.selectionStart(), editor.selectionStart() + len(editor.selectedText())) \
                    if editor.hasSelectedText() else (editor.cursorPosition(), editor.cursorPosition())
                new = text[:start] + event.text() + text[end:]
                if _validate(w, new) == QValidator.State.Invalid:
                    self.say(f"{field_name(w)}: {new!r} refused; {self._wanted(w)}")
        return False

    def _edited(self, w: QWidget, text: str) -> None:
        if _validate(w, text) != QValidator.State.Acceptable:
            kept = f"; leaving the field keeps {w.value():g}" if isinstance(w, QAbstractSpinBox) else \
                "; nothing runs until it is complete"
            self.say(f"{field_name(w)}: {text.strip() or 'empty'} is incomplete; {self._wanted(w)}{kept}")

    @staticmethod
    def _wanted(w: QWidget) -> str:
        if isinstance(w, QAbstractSpinBox):
            return f"enter {_range_text(w)}"
        return w.statusTip() or w.toolTip().split("\n")[-1]
