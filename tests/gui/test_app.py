"""The ntk-desktop command: flags, presets, screenshots (in a subprocess, as a user runs it)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ntk_desktop.gui.app import main

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("argv, message", [
    (["--preset", "fig9"], "unknown preset 'fig9'"),
    (["--screenshot", "/nonexistent-folder/x.png"], "folder does not exist"),
    (["--screenshot", "x.png", "--after", "-1"], "--after must be between"),
    (["--screenshot", "x.png", "--after", "soon"], "--after must be a number"),
    (["--after", "2"], "--after needs --screenshot"),
    (["--size", "10x10"], "--size must be"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_flags_exit_2_with_one_line(capsys, argv, message):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("ntk-desktop: error: ") and message in err


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    assert "--preset" in capsys.readouterr().out


def test_help_names_every_preset(capsys):
    from ntk_desktop.gui.presets import PRESETS

    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split()).replace("- ", "-")  # argparse wraps at hyphens
    missing = [name for name in PRESETS if name not in text]
    assert not missing, f"--help does not name the presets {missing}"


def run_app(args, config_dir, timeout=60):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(config_dir),
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("NTK_MEMORY_BUDGET", None)
    return subprocess.run([sys.executable, "-m", "ntk_desktop.gui", *args], env=env, cwd=str(REPO),
                          capture_output=True, text=True, timeout=timeout)


def load_png(path):
    from PySide6.QtGui import QImage

    img = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB888)
    assert not img.isNull()
    w, h = img.width(), img.height()
    bpl = img.bytesPerLine()
    raw = np.frombuffer(img.constBits(), dtype=np.uint8, count=bpl * h).reshape(h, bpl)
    return raw[:, :3 * w].reshape(h, w, 3).astype(float)


def test_screenshot_of_the_fig1_preset(tmp_path, isolated_settings):
    out = tmp_path / "fig1.png"
    proc = run_app(["--preset", "fig1", "--screenshot", str(out), "--after", "0.3", "--size", "1200x800"],
                   isolated_settings)
    assert proc.returncode == 0, proc.stderr
    pixels = load_png(out)
    assert pixels.shape == (800, 1200, 3)
    assert pixels.std() > 20                       # not blank: text, widgets, plot frame
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50
    assert not list(isolated_settings.rglob("*.ini")), "a screenshot run must not save settings"


def test_run_and_screenshot_shows_the_curves(tmp_path, isolated_settings):
    """Saved light parameters + --run: the grabbed plot holds the width colours."""
    ini = isolated_settings / "NTK Desktop" / "ntk-desktop.ini"
    ini.parent.mkdir(parents=True)
    ini.write_text("[General]\nversion=1\n\n[network]\ndepth=2\nwidths=\"16,64\"\nn_init=2\nbackend=numpy\n\n"
                   "[kernel]\nn_angles=64\n", encoding="utf-8")
    out = tmp_path / "run.png"
    proc = run_app(["--run", "--screenshot", str(out), "--after", "2.5", "--size", "1200x800"], isolated_settings)
    assert proc.returncode == 0, proc.stderr
    pixels = load_png(out)
    blue = np.all(np.abs(pixels - np.array([0x00, 0x72, 0xB2])) < 30, axis=2)      # n = 16
    orange = np.all(np.abs(pixels - np.array([0xD5, 0x5E, 0x00])) < 30, axis=2)    # n = 64
    assert blue.sum() > 200 and orange.sum() > 200


def test_a_screenshot_path_that_is_a_folder_is_a_bad_flag(tmp_path, isolated_settings):
    target = tmp_path / "shot.png"
    target.mkdir()
    assert main(["--screenshot", str(target)]) == 2


def test_a_failed_grab_exits_1_with_one_line_and_reset_settings(tmp_path, isolated_settings):
    ini = isolated_settings / "NTK Desktop" / "ntk-desktop.ini"
    ini.parent.mkdir(parents=True)
    ini.write_text("[General]\nversion=1\n\n[network]\nwidths=\"7,9\"\n", encoding="utf-8")
    target = tmp_path / ("x" * 300 + ".png")        # the folder is fine, the name is too long to write
    proc = run_app(["--reset-settings", "--screenshot", str(target), "--after", "0"], isolated_settings)
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ntk-desktop:")]
    assert len(errors) == 1 and "could not grab the window" in errors[0]
    assert "7,9" not in ini.read_text(encoding="utf-8")      # --reset-settings forgot them


def test_the_pyside_reference_count_guard():
    """Thousands of signal emissions and void calls must not abort the interpreter (PySide6 6.12
    on CPython 3.11 releases None/True once per call; see ntk_desktop.gui._qtcompat)."""
    code = ("import ntk_desktop.gui\n"
            "from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal\n"
            "app = QCoreApplication([])\n"
            "class O(QObject):\n    s = Signal(bool)\n"
            "o, t = O(), QTimer()\n"
            "for i in range(20000):\n    o.s.emit(True); t.start(1000); t.stop()\n"
            "print('ok')\n")
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-500:]
