"""``ntk-desktop``: start the NTK Desktop window.

    ntk-desktop                          the window with the last parameters
    ntk-desktop --preset fig1 --run      the paper's Figure 1, computing at once
    ntk-desktop --preset fig1 --run --screenshot fig1.png --after 20 --size 1600x1000
                                         grab the window after 20 s into a PNG and exit
    ntk-desktop --reset-settings         forget the saved parameters and layout

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
    p.add_argument("--preset", metavar="NAME", help="open ready to show a figure of the paper: fig1")
    p.add_argument("--run", action="store_true", help="start computing immediately")
    p.add_argument("--screenshot", metavar="PATH", help="save a PNG of the window after --after seconds, then exit")
    p.add_argument("--after", metavar="SECONDS", help=f"delay before --screenshot (default {DEFAULT_AFTER:g})")
    p.add_argument("--size", metavar="WxH", help="window size in pixels, e.g. 1600x1000")
    p.add_argument("--reset-settings", action="store_true", help="forget the saved parameters and window layout")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return p


def _parse(argv: Optional[List[str]]):
    args = build_parser().parse_args(argv)
    from .presets import get_preset

    try:
        args.preset_obj = get_preset(args.preset) if args.preset is not None else None
    except NTKInputError as exc:
        raise _UsageError(str(exc)) from None
    if args.after is not None and args.screenshot is None:
        raise _UsageError("--after needs --screenshot")
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

    window = MainWindow(preset=args.preset_obj, persist=args.screenshot is None)
    if args.size_wh is not None:
        window.resize(*args.size_wh)
    result = {"code": 0}
    window.closed.connect(app.quit)
    window.show()
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
