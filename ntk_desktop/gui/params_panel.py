"""The shared network parameters: depth, widths, initializations, σ, β, parametrization, seed, backend.

Every panel builds its job's request from the :class:`NetworkParams` this panel produces, plus its
own options.  Invalid values cannot be entered: spin boxes have ranges and the widths list has a
validator that refuses anything but digits, commas and spaces; a list that is still incomplete
(``"10,"``) is marked and explained, and never runs.
"""
from __future__ import annotations

import re
from typing import Optional, Tuple

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFormLayout, QLabel, QLineEdit, QSpinBox,
                               QVBoxLayout, QWidget)

from .. import backends
from ..core.activations import NAMES
from ..core.spec import DEFAULT_SLOPE, MAX_DEPTH, MAX_INITS, MAX_SEED, MAX_WIDTH, MAX_WIDTHS, NetworkSpec
from ..errors import NTKInputError

WIDTHS_HINT = (f"widths: enter 1 to {MAX_WIDTHS} different whole numbers between 1 and {MAX_WIDTH:,}, "
               "separated by commas (e.g. 100, 1000)")

PARAMETRIZATION_LABELS = (("ntk", "NTK (paper)"), ("standard", "standard"))


#: the panel's values are a :class:`~ntk_desktop.core.spec.NetworkSpec` (the GUI's name for it)
NetworkParams = NetworkSpec


def backend_names() -> Tuple[str, ...]:
    """Names the backend combo offers: the registry's list when it publishes one."""
    names = getattr(backends, "BACKEND_NAMES", None) or ("auto", "numpy")
    return tuple(str(n) for n in names)


def parse_widths(text: str) -> Tuple[int, ...]:
    """``"100, 1000"`` → (100, 1000); anything else raises :class:`NTKInputError` (one line)."""
    items = [t.strip() for t in str(text).split(",")]
    if not items or any(not re.fullmatch(r"[0-9]{1,7}", t) for t in items):
        raise NTKInputError(WIDTHS_HINT)
    values = tuple(int(t) for t in items)
    if not 1 <= len(values) <= MAX_WIDTHS or any(not 1 <= v <= MAX_WIDTH for v in values) \
            or len(set(values)) != len(values):
        raise NTKInputError(WIDTHS_HINT)
    return values


class WidthsValidator(QValidator):
    """Refuses characters other than digits, commas and spaces (and a 7th width or 7-digit one);
    an incomplete list is *intermediate*: it may be edited on but is not used."""

    def validate(self, text: str, pos: int):
        if not re.fullmatch(r"[0-9,\s]*", text):
            return QValidator.State.Invalid, text, pos
        items = [t.strip() for t in text.split(",")]
        if len(items) > MAX_WIDTHS + 1 or (len(items) == MAX_WIDTHS + 1 and items[-1] != "") \
                or any(len(t) > 6 or " " in t for t in items):
            return QValidator.State.Invalid, text, pos
        try:
            parse_widths(text)
        except NTKInputError:
            return QValidator.State.Intermediate, text, pos
        return QValidator.State.Acceptable, text, pos


class ParamsPanel(QWidget):
    """Form of the shared parameters; ``changed`` fires on every edit (the window debounces)."""

    changed = Signal()

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setObjectName("params_panel")
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)

        self.depth = QSpinBox(minimum=1, maximum=MAX_DEPTH)
        self.depth.setToolTip("number of weight layers L (L - 1 hidden layers)")
        self.widths = QLineEdit()
        self.widths.setValidator(WidthsValidator(self.widths))
        self.widths.setPlaceholderText("e.g. 100, 1000")
        self.widths.setToolTip("one family of curves per width: every hidden layer has that width\n"
                               + WIDTHS_HINT)
        self.widths.setStatusTip(WIDTHS_HINT)
        self.n_init = QSpinBox(minimum=1, maximum=MAX_INITS)
        self.n_init.setToolTip("random initializations per width (seeds seed, seed+1, …)")
        self.nonlinearity = QComboBox()
        self.nonlinearity.addItems(list(NAMES))
        self.slope = QDoubleSpinBox(minimum=-2.0, maximum=2.0, singleStep=0.01, decimals=3)
        self.slope.setToolTip("negative slope of leaky_relu")
        self.beta = QDoubleSpinBox(minimum=0.0, maximum=10.0, singleStep=0.05, decimals=3)
        self.beta.setToolTip("bias scale β: a = W α / √n + β b")
        self.parametrization = QComboBox()
        for value, label in PARAMETRIZATION_LABELS:
            self.parametrization.addItem(label, value)
        self.parametrization.setToolTip("NTK: the paper's parametrization, with a finite limit Θ∞;\n"
                                        "standard: W ~ N(0, 1/n), whose NTK grows with the width")
        self.seed = QSpinBox(minimum=0, maximum=MAX_SEED)
        self.backend = QComboBox()
        self.backend.addItems(list(backend_names()))
        self.backend.setToolTip("compute backend for the finite networks (auto picks the fastest)")

        form.addRow("Depth L", self.depth)
        form.addRow("Widths n", self.widths)
        form.addRow("Initializations", self.n_init)
        form.addRow("Nonlinearity σ", self.nonlinearity)
        form.addRow("Leaky slope", self.slope)
        form.addRow("Bias scale β", self.beta)
        form.addRow("Parametrization", self.parametrization)
        form.addRow("Seed", self.seed)
        form.addRow("Backend", self.backend)

        self.widths_error = QLabel()
        self.widths_error.setWordWrap(True)
        self.widths_error.setStyleSheet("color: #8a5200;")
        self.widths_error.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(form)
        layout.addWidget(self.widths_error)

        self.set_params(NetworkParams())
        for w in (self.depth, self.n_init, self.seed):
            w.valueChanged.connect(self._emit_changed)
        for w in (self.slope, self.beta):
            w.valueChanged.connect(self._emit_changed)
        for w in (self.nonlinearity, self.parametrization, self.backend):
            w.currentIndexChanged.connect(self._emit_changed)
        self.widths.textChanged.connect(self._emit_changed)

    # ------------------------------------------------------------------ values
    def widths_valid(self) -> bool:
        return self.widths.hasAcceptableInput()

    def params(self) -> NetworkParams:
        """The current values; :class:`NTKInputError` when the widths list is incomplete."""
        widths = parse_widths(self.widths.text())
        nonlinearity = self.nonlinearity.currentText()
        return NetworkParams(
            depth=self.depth.value(), widths=widths, n_init=self.n_init.value(), nonlinearity=nonlinearity,
            slope=self.slope.value() if nonlinearity == "leaky_relu" else None, beta=self.beta.value(), parametrization=self.parametrization.currentData(),
            seed=self.seed.value(), backend=self.backend.currentText())

    def set_params(self, p: NetworkParams) -> None:
        """Show ``p`` (values out of the widgets' ranges are clamped); emits ``changed`` once."""
        self.blockSignals(True)
        widgets = (self.depth, self.widths, self.n_init, self.nonlinearity, self.slope, self.beta,
                   self.parametrization, self.seed, self.backend)
        for w in widgets:
            w.blockSignals(True)
        try:
            self.depth.setValue(int(p.depth))
            self.widths.setText(", ".join(str(int(w)) for w in p.widths))
            self.n_init.setValue(int(p.n_init))
            i = self.nonlinearity.findText(p.nonlinearity)
            self.nonlinearity.setCurrentIndex(max(i, 0))
            self.slope.setValue(DEFAULT_SLOPE if p.slope is None else float(p.slope))
            self.beta.setValue(float(p.beta))
            i = self.parametrization.findData(p.parametrization)
            self.parametrization.setCurrentIndex(max(i, 0))
            self.seed.setValue(int(p.seed))
            i = self.backend.findText(p.backend)
            self.backend.setCurrentIndex(max(i, 0))
        finally:
            for w in widgets:
                w.blockSignals(False)
            self.blockSignals(False)
        self._emit_changed()

    def _emit_changed(self, *_):
        self.slope.setEnabled(self.nonlinearity.currentText() == "leaky_relu")
        ok = self.widths_valid()
        # incomplete, not wrong (wrong characters never get in): amber rather than red
        self.widths.setStyleSheet("" if ok else "QLineEdit { background: #fff4d6; border: 2px solid #c77700; }")
        self.widths_error.setText("" if ok else WIDTHS_HINT)
        self.widths_error.setVisible(not ok)
        self.changed.emit()

    # ------------------------------------------------------------------ persistence
    def save_settings(self, settings) -> None:
        settings.beginGroup("network")
        try:
            p = self.params()
        except NTKInputError:
            p = None
        if p is not None:
            for key, value in p.to_dict().items():
                settings.setValue(key, ",".join(map(str, value)) if key == "widths" else value)
        settings.endGroup()

    def restore_settings(self, settings) -> None:
        """Load the saved values; anything unreadable keeps its default."""
        from .settings import read_float, read_int, read_str

        d = NetworkParams()
        settings.beginGroup("network")
        try:
            try:
                widths = parse_widths(read_str(settings, "widths", ",".join(map(str, d.widths))))
            except NTKInputError:
                widths = d.widths
            nl = read_str(settings, "nonlinearity", d.nonlinearity)
            param = read_str(settings, "parametrization", d.parametrization)
            values = dict(
                depth=min(max(read_int(settings, "depth", d.depth), 1), MAX_DEPTH),
                widths=widths,
                n_init=min(max(read_int(settings, "n_init", d.n_init), 1), MAX_INITS),
                nonlinearity=nl if nl in NAMES else d.nonlinearity,
                slope=read_float(settings, "slope", DEFAULT_SLOPE),
                beta=read_float(settings, "beta", d.beta),
                parametrization=param if param in ("ntk", "standard") else d.parametrization,
                seed=read_int(settings, "seed", d.seed),
                backend=read_str(settings, "backend", d.backend))
        finally:
            settings.endGroup()
        try:
            p = NetworkParams.from_dict(values)
        except NTKInputError:
            p = d
        self.set_params(p)
