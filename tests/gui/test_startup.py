"""The ntk-desktop command for the lab workflow, as a user runs it (subprocesses): startup time,
no network, --install-desktop-entry, FILE.ntksession, --recover, --record."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ntk_desktop.gui.app import main
from ntk_desktop.recording import encoder_status

REPO = Path(__file__).resolve().parents[2]

NO_NETWORK = (
    "import socket, sys\n"
    "def _refuse(*a, **k):\n"
    "    raise OSError('network access attempted during startup')\n"
    "socket.socket.connect = _refuse\n"
    "socket.socket.connect_ex = _refuse\n"
    "socket.create_connection = _refuse\n"
    "from ntk_desktop.gui.app import main\n"
    "sys.exit(main(sys.argv[1:]))\n")


def _env(tmp_path, **extra):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "cfg"),
               XDG_DATA_HOME=str(tmp_path / "share"), NTK_DESKTOP_DATA_DIR=str(tmp_path / "data"),
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("NTK_MEMORY_BUDGET", None)
    env.update(extra)
    return env


def _app(tmp_path, *args, timeout=120, code=NO_NETWORK):
    return subprocess.run([sys.executable, "-c", code, *args], env=_env(tmp_path), cwd=str(REPO),
                          capture_output=True, text=True, timeout=timeout)


def test_startup_time_and_no_network(tmp_path):
    """Time from process start to the first frame of the window (a screenshot taken as soon as
    the event loop runs), with every socket connection refused."""
    shot = tmp_path / "start.png"
    t0 = time.time()
    r = _app(tmp_path, "--screenshot", str(shot), "--after", "0")
    assert r.returncode == 0, r.stderr
    assert "network access attempted" not in r.stderr
    shown = shot.stat().st_mtime - t0
    print(f"\nstartup: window shown and grabbed {shown:.2f} s after the process started "
          f"(process total {time.time() - t0:.2f} s)")
    assert shown < 10.0


def test_startup_imports_no_heavy_optional_modules(tmp_path):
    code = ("import sys\nfrom ntk_desktop.gui.app import main\n"
            "main(['--screenshot', sys.argv[1], '--after', '0'])\n"
            "print(sorted(m for m in ('numba', 'pyopencl', 'imageio', 'imageio_ffmpeg', 'torch') if m in sys.modules))\n")
    r = _app(tmp_path, str(tmp_path / "s.png"), code=code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_install_desktop_entry(tmp_path):
    r = _app(tmp_path, "--install-desktop-entry")
    assert r.returncode == 0, r.stderr
    paths = [Path(p) for p in r.stdout.split()]
    assert all(p.exists() for p in paths)
    entry = tmp_path / "share" / "applications" / "ntk-desktop.desktop"
    assert entry in paths
    exec_line = [ln for ln in entry.read_text().splitlines() if ln.startswith("Exec=")][0]
    assert exec_line.endswith("%f") and "ntk_desktop.gui" in exec_line


def test_window_icon(window):
    assert not window.windowIcon().isNull()


def _session(tmp_path, seed=5):
    from ntk_desktop.session import Session, save_session

    params = {"network": {"depth": 3, "widths": [20, 40], "n_init": 2, "nonlinearity": "erf",
                          "beta": 0.2, "parametrization": "ntk", "seed": seed},
              "panels": {}, "active_panel": "kernel"}
    return save_session(tmp_path / "lesson", Session(parameters=params))


def test_open_a_session_file_from_the_command_line(tmp_path):
    path = _session(tmp_path)
    r = _app(tmp_path, path, "--screenshot", str(tmp_path / "s.png"), "--after", "0")
    assert r.returncode == 0, r.stderr


def test_bad_session_file_exits_2_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.ntksession"
    bad.write_bytes(b"garbage")
    assert main([str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "corrupt or truncated" in err
    assert bad.read_bytes() == b"garbage"


def test_recover_flag_after_a_killed_process(tmp_path):
    """A process autosaves and is killed (no clean exit); ``--recover`` restores its state."""
    code = ("import os, sys, ntk_desktop.gui\n"
            "from PySide6.QtWidgets import QApplication\n"
            "app = QApplication([])\n"
            "from ntk_desktop.gui.main_window import MainWindow\n"
            "w = MainWindow(); w.params.seed.setValue(11); w.params.depth.setValue(2); w.show()\n"
            "w.sessions.autosave()\n"
            "print('saved', flush=True)\n"
            "import time; time.sleep(60)\n")
    p = subprocess.Popen([sys.executable, "-c", code], env=_env(tmp_path), cwd=str(REPO),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "saved"
    finally:
        p.kill()
        p.wait(30)
    from ntk_desktop.gui.sessions import crash_pending
    assert crash_pending(str(tmp_path / "data"))
    check = ("import sys\nfrom ntk_desktop.gui import app\nfrom ntk_desktop.gui import main_window\n"
             "orig = main_window.MainWindow.close\n"
             "def close(self):\n"
             "    p = self.params.params(); print('STATE', p.seed, p.depth, flush=True)\n"
             "    return orig(self)\n"
             "main_window.MainWindow.close = close\n"
             "sys.exit(app.main(sys.argv[1:]))\n")
    r = _app(tmp_path, "--recover", "--screenshot", str(tmp_path / "s.png"), "--after", "0", code=check)
    assert r.returncode == 0, r.stderr
    assert "recovered the autosaved session" in r.stderr
    assert "STATE 11 2" in r.stdout


@pytest.mark.skipif(bool(encoder_status()[".mp4"]), reason="imageio-ffmpeg not installed")
def test_record_flag_writes_a_video_and_exits_0(tmp_path):
    import imageio.v2 as iio

    out = tmp_path / "clip.mp4"
    code = ("import sys\nfrom ntk_desktop.gui.app import main\n"
            "from ntk_desktop.gui import main_window\n"
            "from ntk_desktop.gui.presets import PRESETS\n"
            "import dataclasses\n"
            "p = PRESETS['fig1']\n"      # a lighter Figure 1 so that the test stays short
            "PRESETS['fig1'] = dataclasses.replace(p, network=dataclasses.replace(p.network, widths=(50, 200), "
            "n_init=2, backend='numpy'))\n"
            "sys.exit(main(sys.argv[1:]))\n")
    r = _app(tmp_path, "--preset", "fig1", "--run", "--record", str(out), "--after", "2", "--fps", "10",
             "--size", "800x600", code=code)
    assert r.returncode == 0, r.stderr
    assert out.exists() and r.stdout.strip().endswith(str(out))
    reader = iio.get_reader(str(out))
    try:
        frames = [f for f in reader]
    finally:
        reader.close()
    assert len(frames) == 20        # 2 s at 10 fps, whatever the computation's speed
    assert frames[0].ndim == 3 and frames[0].shape[2] == 3
    assert not np.array_equal(frames[0], frames[-1])    # the curves arrived while recording


@pytest.mark.parametrize("argv, message", [
    (["--record", "clip.avi"], "use a .mp4 or .gif file name"),
    (["--record", "/nonexistent-folder/c.mp4"], "does not exist"),
    (["--record", "c.mp4", "--fps", "0"], "--fps must be between"),
])
def test_bad_record_flags(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
