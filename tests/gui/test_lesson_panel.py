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
            if c.style == "bars":   # drawn as steps: one edge more than bars, each x between its edges
                edges = item.xData
                assert len(edges) == len(c.x) + 1 and np.all(edges[:-1] < c.x) and np.all(c.x < edges[1:])
            else:
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
    names = lambda snap: {(p.key, c.name) for p in snap.plots for c in p.curves}   # noqa: E731
    # the contract of lessons.live: names are stable, an early curve is still there at the end
    # (else which items exist depends on which snapshots the window happened to draw)
    assert names(first) <= names(final), names(first) - names(final)
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


def _awkward_view(name):
    """A lesson view with what a session must keep: a marker, log axes, a one-point curve, an
    empty one, bars, NaN values."""
    from ntk_desktop.experiments.lessons.live import LessonPlot, LessonSnapshot, curve

    a = LessonPlot("a", "first: λₘᵢₙ", "N", "loss", (curve("one point", [3.0], [1e-3], "points", 2),
                                                    curve("none yet", [], [], "line", 1),
                                                    curve("with NaN", [1, 2, 3], [1.0, np.nan, 0.5], "dashed", 0)),
                   logx=True, logy=True, marker_x=2.5)
    b = LessonPlot("b", "second", "x", "count", (curve("bars", [0.0, 1.0, 2.0], [4.0, 1.0, 2.0], "bars", 3),))
    return LessonSnapshot(name, (a, b), 0.6, f"{name}: status line", "numba", False)


def test_a_session_keeps_the_lesson_and_its_view(qtbot, window, tmp_path):
    """Save → open shows the lesson's plots as saved (the lesson chosen again) without computing."""
    panel = window.panel("lesson")
    window.apply_preset(PRESETS["posdef"])
    snap = _awkward_view("posdef")
    panel.show_snapshot(snap)
    path = window.sessions.save_to(tmp_path / "lesson")

    window.reset()
    window._debounce.stop()
    panel.lesson_box.setCurrentIndex(panel.lesson_box.findData("randfeat"))
    assert panel._snapshot is None
    submitted = []
    window.runner.submit = lambda *a, **k: submitted.append(a)
    assert window.sessions.open_path(path)
    qtbot.wait(400)                       # longer than the auto-run debounce
    assert submitted == []
    assert panel.lesson_name() == "posdef" and panel.caption() == "posdef: status line"
    restored = panel._snapshot
    assert restored.plots[0].marker_x == 2.5 and restored.plots[0].logx and restored.backend == "numba"
    for p0, p1 in zip(snap.plots, restored.plots, strict=True):
        assert (p0.key, p0.title, p0.xlabel, p0.ylabel, p0.logy) == (p1.key, p1.title, p1.xlabel, p1.ylabel, p1.logy)
        for c0, c1 in zip(p0.curves, p1.curves, strict=True):
            assert (c0.name, c0.style, c0.color) == (c1.name, c1.style, c1.color)
            np.testing.assert_array_equal(c1.x, c0.x)
            np.testing.assert_array_equal(c1.y, c0.y)
    _assert_drawn(panel, snap)
    assert panel.pages["posdef"].markers["a"].isVisible()


def test_a_session_with_a_damaged_lesson_view_is_refused(qtbot, window, tmp_path):
    from ntk_desktop.session import load_session, save_session

    panel = window.panel("lesson")
    window.apply_preset(PRESETS["posdef"])
    panel.show_snapshot(_awkward_view("posdef"))
    s = load_session(window.sessions.save_to(tmp_path / "good"))
    del s.arrays["lesson/p1_c0_y"]
    bad = save_session(tmp_path / "bad", s)
    seen = []
    window.sessions.show_error = lambda title, text: seen.append(text)
    assert not window.sessions.open_path(bad)
    assert len(seen) == 1 and "Lessons panel" in seen[0] and "p1_c0_y" in seen[0]
