"""Presets gallery: lists the paper's figures and the teaching presets; applying sets the
parameters and shows the one-line explanation."""
from __future__ import annotations

import pytest

from ntk_desktop.gui.presets import PRESETS, TEACHING


@pytest.fixture
def gallery(qtbot, window):
    dlg = window.gallery.show()
    yield dlg
    dlg.close()


def test_lists_paper_and_teaching_presets(window, gallery):
    names = gallery.names()
    assert names[0] == "fig1"
    for name in ("depth1", "depth4", "relu", "erf", "ntk-param", "standard-param"):
        assert name in names
    assert "diverge" in names and "fig2" in names and "fig3" in names
    assert window.gallery.act_gallery in window.view_menu.actions()


@pytest.mark.parametrize("name", sorted(TEACHING))
def test_apply_sets_parameters_and_explains(window, gallery, name):
    preset = PRESETS[name]
    gallery.select(name)
    assert gallery.explanation.text() == preset.description
    gallery.apply_button.click()
    p = window.params.params()
    assert (p.depth, p.widths, p.n_init, p.nonlinearity, p.parametrization) == (
        preset.network.depth, preset.network.widths, preset.network.n_init, preset.network.nonlinearity,
        preset.network.parametrization)
    assert preset.description in window.message.text()
    assert window.active_panel is window.panel(preset.panel)
    assert not window._debounce.isActive() and not window.runner.busy


def test_apply_and_run_computes(qtbot, window, gallery):
    gallery.select("depth1")
    gallery.run_button.click()
    ticket = window.runner.current
    assert ticket is not None
    qtbot.waitUntil(lambda: ticket.done, timeout=30_000)
    window._push_frames()
    assert window.panel("kernel")._snapshot.request.depth == 1


def test_diverging_learning_rate_diverges(qtbot, window):
    window.gallery.apply("diverge", run=True)
    ticket = window.runner.current
    qtbot.waitUntil(lambda: ticket.done, timeout=60_000)
    window._push_frames()
    assert window.panel("training")._snapshot.state == "diverged"
