"""Bad values typed into every field of the parameters dock and of each panel: the field refuses
or one line explains, nothing crashes, and the results on screen stay as they were."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractSpinBox

from gui_helpers import run_and_wait, set_params

from ntk_desktop.gui.fields import fields_of

JUNK = ("abc", "-7", "1e999", "99999999999", "1,5x")


def _shown(window):
    return {p.key: {k: np.array(v, copy=True) for k, v in p.export_arrays().items()} for p in window.panels}


def _same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].keys() == b[key].keys(), key
        for name in a[key]:
            np.testing.assert_array_equal(a[key][name], b[key][name])


def _every_field(window):
    out = [(window.params, w) for w in fields_of(window.params)]
    for panel in window.panels:
        out += [(panel, w) for w in fields_of(panel)]
    return out


def _type(qtbot, w, text):
    w.setFocus()
    qtbot.keyClick(w, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(w, text)


def test_junk_in_every_field_is_refused_with_a_message_and_the_results_stay(qtbot, window):
    set_params(window, depth=2, widths="16, 64", n_init=2, n_angles=64)
    window.act_auto.setChecked(False)       # what a partial value would run is not the point here
    run_and_wait(qtbot, window)
    before = _shown(window)
    fields = _every_field(window)
    assert len(fields) >= 10 and any(not isinstance(w, QAbstractSpinBox) for _, w in fields)
    for owner, w in fields:
        if not w.isEnabled():
            w.setEnabled(True)
        value = w.value() if isinstance(w, QAbstractSpinBox) else w.text()
        for junk in JUNK + ("",):
            window.show_message("")
            if junk:
                _type(qtbot, w, junk)
            else:                            # emptied
                _type(qtbot, w, "")
                qtbot.keyClick(w, Qt.Key.Key_Delete)
            message = window.message.text()
            assert message.startswith("⚠ "), (type(owner).__name__, w.toolTip()[:40], junk, message)
            assert "\n" not in message and len(message) < 300
            qtbot.keyClick(w, Qt.Key.Key_Return)
            assert window.isVisible()
        if isinstance(w, QAbstractSpinBox):
            w.setValue(value)
        else:
            w.setText(value)
    window._debounce.stop()
    assert window.params.params().widths == (16, 64)
    _same(before, _shown(window))


def test_widths_with_zero_or_junk_never_run_and_explain(qtbot, window):
    set_params(window, depth=2, widths="16", n_init=1, n_angles=64)
    run_and_wait(qtbot, window)
    before = _shown(window)
    w = window.params.widths
    for text in ("0", "16, 0", "16,, 8", "16, 16", ""):
        _type(qtbot, w, text) if text else _type(qtbot, w, "")
        if not text:
            qtbot.keyClick(w, Qt.Key.Key_Delete)
        assert not window.params.widths_valid()
        assert window.message.text().startswith("⚠ ") and "widths" in window.message.text()
        assert window.run() is None              # nothing runs
        assert window.message.text().startswith("⚠ ")
    _type(qtbot, w, "16, x")
    assert w.text() == "16, "                     # the x was refused
    assert not window._debounce.isActive() and not window.runner.busy
    _same(before, _shown(window))


def test_a_size_over_the_memory_budget_explains_and_keeps_the_results(qtbot, window, monkeypatch):
    set_params(window, depth=2, widths="16", n_init=1, n_angles=64)
    run_and_wait(qtbot, window)
    before = _shown(window)
    monkeypatch.setenv("NTK_MEMORY_BUDGET", "2000000")       # 2 MB
    window.act_auto.setChecked(False)
    set_params(window, depth=6, widths="20000, 50000", n_init=8)
    ticket = window.run()
    if ticket is not None:
        qtbot.waitUntil(lambda: ticket.done and not window.runner.busy, timeout=30_000)
    text = window.message.text()
    assert text.startswith("⚠ ") and "memory" in text.lower() and "\n" not in text
    window._push_frames()
    _same(before, _shown(window))


def test_in_dark_presentation_mode_a_refused_value_shows_under_the_caption_on_dark_controls(qtbot, window):
    """The status bar is hidden in presentation mode: the message shows in the panel's header, in
    the theme's warning colour; the controls and the info line are dark with legible text."""
    from PySide6.QtGui import QColor, QPalette

    from ntk_desktop.gui import theme

    pres = window.presentation
    pres.set_theme("dark")
    pres.set_active(True)
    panel = window.panel("training")
    window.docks["training"].raise_()
    window.set_active(panel)
    try:
        header = pres.headers[panel]
        assert not header.notice.isVisible()
        _type(qtbot, panel.steps, "abc")
        text = header.notice.text()
        assert header.notice.isVisible() and text.startswith("⚠ ") and text == window.message.text()
        black = QColor("#000000")
        for w in (panel.steps, panel.lr, panel.dataset):
            pal = w.palette()
            base, fg = pal.color(QPalette.ColorRole.Base), pal.color(QPalette.ColorRole.Text)
            assert theme.relative_luminance(base) < 0.05 and theme.contrast_ratio(fg, base) >= 7.0
        assert theme.contrast_ratio(QColor(panel.palette().color(QPalette.ColorRole.Window)), black) < 1.1
        panel.set_info("a run's parameters")            # the info line's own colour, then the palette's
        info = panel.info.styleSheet()
        colour = QColor(info.split("color:")[1].split(";")[0].strip()) if "color:" in info else \
            panel.info.palette().color(QPalette.ColorRole.WindowText)
        assert theme.contrast_ratio(colour, black) >= 7.0
        window.show_message("Computing…")               # the next plain message clears it
        assert not header.notice.isVisible()
    finally:
        pres.set_active(False)
    assert panel.steps.palette().color(QPalette.ColorRole.Base).lightness() > 200    # light again
