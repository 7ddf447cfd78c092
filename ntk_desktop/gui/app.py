"""``ntk-desktop``: start the NTK Desktop window.

    ntk-desktop                          the window with the last parameters
    ntk-desktop --preset fig1 --run      the paper's Figure 1, computing at once
    ntk-desktop --preset fig2 --run      Figure 2: training networks vs. the infinite-width prediction
    ntk-desktop --preset fig3 --run      Figure 3: kernel principal components on MNIST
    ntk-desktop --preset fig1 --run --screenshot fig1.png --after 20 --size 1600x1000
                                         grab the window after 20 s into a PNG and exit
    ntk-desktop --reset-settings         forget the saved parameters and layout
    ntk-desktop LESSON.ntksession        open a saved session (the launcher passes the file)
    ntk-desktop --recover                restore the autosave of a run that did not close cleanly
    ntk-desktop --preset fig1 --run --record clip.mp4 --after 10
                                         record 10 s of the experiment into a video, then exit
    ntk-desktop --install-desktop-entry  add NTK Desktop to the applications menu, print the paths

Bad flags exit with status 2 and one line on stderr; a failed screenshot exits with status 1.
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import re
import sys
from typing import List, Optional

from .. import __version__
from ..errors import NTKInputError

PROG = "ntk-desktop"
DEFAULT_AFTER = 3.0
MAX_AFTER = 24 * 3600.0


class _UsageError(Exception):
    """A bad command line: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + message
        raise _UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="NTK Desktop: a laboratory for the Neural Tangent Kernel "
                "(Jacot, Gabriel & Hongler, NeurIPS 2018).")
    from .presets import LESSON_PRESETS, PRESETS, TEACHING

    paper = [n for n in PRESETS if n not in TEACHING]
    lessons = [n for n in TEACHING if n in LESSON_PRESETS]
    teaching = [n for n in TEACHING if n not in LESSON_PRESETS]
    p.add_argument("--preset", metavar="NAME",
                   help=f"open ready to show it: the paper's figures and the kernel matrix ({', '.join(paper)}); "
                   f"one idea each ({', '.join(teaching)}); lessons ({', '.join(lessons)}) — "
                   "Help → Presets gallery explains each")
    p.add_argument("--run", action="store_true", help="start computing immediately")
    p.add_argument("--screenshot", metavar="PATH", help="save a PNG of the window after --after seconds, then exit")
    p.add_argument("--after", metavar="SECONDS", help=f"delay before --screenshot (default {DEFAULT_AFTER:g})")
    p.add_argument("--size", metavar="WxH", help="window size in pixels, e.g. 1600x1000")
    p.add_argument("--reset-settings", action="store_true", help="forget the saved parameters and window layout")
    p.add_argument("session", nargs="?", metavar="FILE.ntksession", help="open this saved session")
    p.add_argument("--recover", action="store_true",
                   help="restore the autosaved state of a run that did not close cleanly, without asking")
    p.add_argument("--record", metavar="PATH", help="record the active panel to PATH (.mp4 or .gif) for "
                   "--after seconds of the experiment, write the video and exit")
    p.add_argument("--record-window", action="store_true", help="with --record: the whole window, not a panel")
    p.add_argument("--fps", metavar="N", type=float, default=30.0, help="frame rate of --record (default 30)")
    p.add_argument("--presentation", metavar="THEME", nargs="?", const="light", choices=("light", "dark"),
                   help="start in presentation mode (F11): large fonts, thick lines, full screen; THEME light or dark")
    p.add_argument("--install-desktop-entry", action="store_true",
                   help="install the applications-menu launcher and icons for this user, print the paths, exit")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return p


def _parse(argv: Optional[List[str]]):
    args = build_parser().parse_args(argv)
    from .presets import get_preset

    try:
        args.preset_obj = get_preset(args.preset) if args.preset is not None else None
    except NTKInputError as exc:
        raise _UsageError(str(exc)) from None
    if args.after is not None and args.screenshot is None and args.record is None:
        raise _UsageError("--after needs --screenshot or --record")
    if args.record is not None:
        from ..recording import check_recording_path
        try:
            args.record = os.path.abspath(check_recording_path(args.record))
        except NTKInputError as exc:
            raise _UsageError(f"--record: {exc}") from None
        if not 0 < args.fps <= 120:
            raise _UsageError(f"--fps must be between 0 and 120, got {args.fps:g}")
    args.session_obj = None
    if args.session is not None:
        from ..session import load_session
        try:
            args.session_obj = load_session(args.session)
        except NTKInputError as exc:
            raise _UsageError(str(exc)) from None
    after = DEFAULT_AFTER if args.after is None else args.after
    try:
        args.after = float(after)
    except ValueError:
        raise _UsageError(f"--after must be a number of seconds, got {after!r}") from None
    if not math.isfinite(args.after) or not 0 <= args.after <= MAX_AFTER:
        raise _UsageError(f"--after must be between 0 and {MAX_AFTER:g} seconds, got {after!r}")
    if args.screenshot is not None:
        path = os.path.abspath(args.screenshot)
        folder = os.path.dirname(path)
        if not os.path.isdir(folder):
            raise _UsageError(f"--screenshot: folder does not exist: {folder}")
        if not os.access(folder, os.W_OK):
            raise _UsageError(f"--screenshot: folder is not writable: {folder}")
        if os.path.isdir(path):
            raise _UsageError(f"--screenshot: {path} is a folder")
        args.screenshot = path
    args.size_wh = None
    if args.size is not None:
        m = re.fullmatch(r"\s*(\d{2,5})\s*[xX×]\s*(\d{2,5})\s*", args.size)
        if not m or not (320 <= int(m.group(1)) <= 10000 and 240 <= int(m.group(2)) <= 10000):
            raise _UsageError(f"--size must be WIDTHxHEIGHT between 320x240 and 10000x10000, got {args.size!r}")
        args.size_wh = (int(m.group(1)), int(m.group(2)))
    return args


def main(argv: Optional[List[str]] = None) -> int:
    """Run the application; returns the exit status."""
    try:
        args = _parse(sys.argv[1:] if argv is None else list(argv))
    except _UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:             # --help, --version
        return int(exc.code or 0)

    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(levelname)s: %(message)s")
    if args.install_desktop_entry:
        from ..desktop import install_desktop_entry
        try:
            for path in install_desktop_entry():
                print(path)
        except OSError as exc:
            print(f"{PROG}: error: cannot install the desktop entry: {exc}", file=sys.stderr)
            return 1
        return 0
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from . import theme
    from .main_window import MainWindow
    from .runner import join_all_workers
    from .settings import APPLICATION, ORGANIZATION, open_settings

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else PROG])
    app.setApplicationName(APPLICATION)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationDisplayName("NTK Desktop")
    app.setApplicationVersion(__version__)
    theme.apply(app)

    if args.reset_settings:
        s = open_settings()
        s.clear()
        s.sync()

    scripted = args.screenshot is not None or args.record is not None
    window = MainWindow(preset=args.preset_obj, persist=not scripted)
    if args.size_wh is not None:
        window.resize(*args.size_wh)
    result = {"code": 0}
    window.closed.connect(app.quit)
    window.show()
    from . import lab
    if not lab.after_show(window, args, result, PROG):
        window.close()
        join_all_workers()
        return result["code"] or 1
    if args.run:
        QTimer.singleShot(0, window.run)

    if args.screenshot is not None:
        def grab_and_close():
            if not window.save_screenshot(args.screenshot):
                print(f"{PROG}: error: could not grab the window into {args.screenshot}", file=sys.stderr)
                result["code"] = 1
            window.close()
        QTimer.singleShot(int(round(args.after * 1000)), grab_and_close)

    code = app.exec()
    join_all_workers()
    return result["code"] or int(code)


if __name__ == "__main__":   # pragma: no cover
    sys.exit(main())
