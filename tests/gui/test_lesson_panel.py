"""The Lessons panel: a lesson preset runs live, the plotted data are the snapshot's arrays, and
every plot and curve item is created once (the same objects after further snapshots)."""
from __future__ import annotations

import numpy as np
import pytest

from ntk_desktop.experiments.lessons import LESSONS, LessonRequest, lesson
from ntk_desktop.gui.gallery import gallery_presets
from ntk_desktop.gui.presets import NOT_YET, PRESETS, get_preset
from ntk_desktop.errors import NTKInputError


def _items(panel, name):
    page = panel.pages[name]
    return dict(page.plots), dict(page.curves)


def _assert_drawn(panel, snap):
    page = panel.pages[snap.lesson]
    for spec in snap.plots:
        for c in spec.curves:
            item = page.curves[(spec.key, c.name)]
            assert item.isVisible() == (c.x.size > 0)
            np.testing.assert_array_equal(item.xData, c.x)
            np.testing.assert_array_equal(item.yData, c.y)


@pytest.mark.parametrize("name", sorted(LESSONS))
def test_preset_runs_live_and_draws_the_snapshots(qtbot, window, name):
    assert PRESETS[name].panel == "lesson" and PRESETS[name] in gallery_presets(window)
    window.gallery.apply(name, run=True)
    panel = window.panel("lesson")
    assert window.active_panel is panel and panel.lesson_name() == name
    assert lesson(name).EXPLANATION in panel.info.text()
    ticket = window.runner.current
    qtbot.waitUntil(lambda: ticket.done, timeout=120_000)
    assert ticket.state == "finished"
    window._push_frames()
    final = panel._snapshot
    assert final.done and final.lesson == name
    _assert_drawn(panel, final)
    plots, curves = _items(panel, name)
    # an earlier snapshot of the same job (fewer points) reuses the very same items
    first = next(iter(lesson(name).live(LessonRequest.make(name).settings)))
    panel.show_snapshot(first)
    _assert_drawn(panel, first)
    panel.show_snapshot(final)
    again_plots, again_curves = _items(panel, name)
    assert all(again_plots[k] is v for k, v in plots.items()) and len(again_plots) == len(plots)
    assert all(again_curves[k] is v for k, v in curves.items()) and len(again_curves) == len(curves)
    # Export data… writes the plotted curves
    arrays = panel.export_arrays()
    assert sum(k.endswith("_y") for k in arrays) == sum(len(p.curves) for p in final.plots)


def test_lessons_not_registered_yet_are_refused_in_one_line():
    for name in NOT_YET:
        with pytest.raises(NTKInputError, match="not available yet"):
            get_preset(name)
    with pytest.raises(NTKInputError, match="unknown lesson"):
        lesson("nope")


def test_presentation_and_export_work_through_the_panel_base(qtbot, window, tmp_path):
    from ntk_desktop.gui.export import export_panel_data, export_panel_image
    from ntk_desktop.gui.presentation import plot_style_summary

    panel = window.panel("lesson")
    window.apply_preset(PRESETS["posdef"])
    snaps = list(lesson("posdef").live(LessonRequest.make("posdef").settings))
    panel.show_snapshot(snaps[-1])
    before = plot_style_summary(panel)
    panel.set_presentation(True, "dark")
    assert plot_style_summary(panel) != before
    panel.set_presentation(False)
    assert plot_style_summary(panel) == before
    _assert_drawn(panel, snaps[-1])
    png = export_panel_image(panel, tmp_path / "lesson.png")
    assert (tmp_path / "lesson.png").stat().st_size > 10_000 and png
    export_panel_data(panel, tmp_path / "lesson.npz")
    with np.load(tmp_path / "lesson.npz") as z:
        ys = sorted((k for k in z.files if k.endswith("_y")))
        assert len(ys) == sum(len(p.curves) for p in snaps[-1].plots)
