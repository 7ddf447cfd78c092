"""Export: PNG at the chosen width, SVG, CSV/NPZ equal to the plotted arrays, session data, atomic writes."""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from gui_helpers import set_params

from ntk_desktop.errors import NTKInputError
from ntk_desktop.gui.export import (export_panel_data, export_panel_image, export_session_data, read_csv)


@pytest.fixture
def computed(qtbot, window):
    set_params(window, depth=2, widths="16, 64", n_init=2, n_angles=64)
    window._debounce.stop()
    ticket = window.run()
    qtbot.waitUntil(lambda: ticket.done, timeout=30_000)
    window._push_frames()
    return window


def _no_temp_left(folder):
    return not [n for n in os.listdir(folder) if n.startswith(".ntk-")]


@pytest.mark.parametrize("width", [800, 1921])
def test_png_has_the_requested_width(computed, tmp_path, width):
    from PySide6.QtGui import QImage

    out = export_panel_image(computed.panel("kernel"), tmp_path / "k.png", width=width)
    img = QImage(out)
    assert not img.isNull() and img.width() == width and img.height() > 100
    assert _no_temp_left(tmp_path)


def test_svg_parses_as_xml(computed, tmp_path):
    out = export_panel_image(computed.panel("kernel"), tmp_path / "k.svg")
    root = ET.parse(out).getroot()
    assert root.tag.endswith("svg")
    assert _no_temp_left(tmp_path)


def test_csv_and_npz_equal_the_plotted_arrays(computed, tmp_path):
    panel = computed.panel("kernel")
    snap = panel._snapshot
    npz = export_panel_data(panel, tmp_path / "k.npz")
    with np.load(npz, allow_pickle=False) as z:
        np.testing.assert_array_equal(z["angles"], snap.angles)
        np.testing.assert_array_equal(z["theta_inf"], snap.ntk_limit[0])
        np.testing.assert_array_equal(z["ntk"], snap.ntk_limit[:1])
        for k, w in enumerate((16, 64)):
            np.testing.assert_array_equal(z[f"mean_n{w}"], snap.mean[k])
            np.testing.assert_array_equal(z[f"std_n{w}"], snap.std[k])
            np.testing.assert_array_equal(z[f"curves_n{w}"], snap.curves[k])
        # what the plot items draw
        x, y = panel.width_items[1].mean.getData()
        np.testing.assert_array_equal(z["mean_n64"], y)
        x, y = panel.limit_item.getData()
        np.testing.assert_array_equal(z["theta_inf"], y)
    cols = read_csv(export_panel_data(panel, tmp_path / "k.csv"))
    np.testing.assert_array_equal(cols["angles"], snap.angles)
    np.testing.assert_array_equal(cols["theta_inf"], snap.ntk_limit[0])
    np.testing.assert_array_equal(cols["mean_n16"], snap.mean[0])
    np.testing.assert_array_equal(cols["curves_n64[1]"], snap.curves[1][1])
    assert _no_temp_left(tmp_path)


def test_session_data_npz(computed, tmp_path):
    out = export_session_data(computed, tmp_path / "all")
    assert out.endswith("all.npz")
    with np.load(out, allow_pickle=False) as z:
        assert "ntk" in z.files and "kernel/angles" in z.files
        np.testing.assert_array_equal(z["ntk"], computed.panel("kernel")._snapshot.ntk_limit[:1])


def test_refusals_touch_nothing(window, tmp_path):
    panel = window.panel("kernel")
    existing = tmp_path / "k.csv"
    existing.write_text("keep")
    with pytest.raises(NTKInputError, match="no data yet"):
        export_panel_data(panel, existing)
    assert existing.read_text() == "keep"
    with pytest.raises(NTKInputError, match="use .png or .svg"):
        export_panel_image(panel, tmp_path / "k.jpg")
    with pytest.raises(NTKInputError, match="does not exist"):
        export_panel_image(panel, tmp_path / "nope" / "k.png")
    assert _no_temp_left(tmp_path)


def test_menu_actions_with_injected_dialogs(computed, tmp_path):
    ex = computed.exporter
    ex.ask_path = lambda *a: str(tmp_path / "menu.png")
    ex.ask_width = lambda: 640
    assert ex.export_panel() is not None and (tmp_path / "menu.png").exists()
    ex.ask_path = lambda *a: str(tmp_path / "menu.csv")
    assert ex.export_data() is not None and (tmp_path / "menu.csv").exists()
    ex.ask_path = lambda *a: str(tmp_path / "menu.npz")
    assert ex.export_session() is not None and (tmp_path / "menu.npz").exists()
    texts = [a.text() for a in computed.menuBar().actions()[0].menu().actions()]
    assert {"Export &panel…", "Export &data…", "Export session data…"} <= set(texts)
