"""Desktop integration: install the ``.desktop`` launcher and the icon for the current user.

Follows the freedesktop.org specifications: the launcher goes to
``$XDG_DATA_HOME/applications`` and the icons to ``$XDG_DATA_HOME/icons/hicolor/<size>/apps``
(``$XDG_DATA_HOME`` defaults to ``~/.local/share``).  ``Exec`` points at the interpreter that runs
now, so the launcher starts the same installation (a virtualenv included).  No Qt here.
"""
from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

from ._resources import resource_path
from .atomic import atomic_open

APP_ID = "ntk-desktop"
ICON_SIZES = (64, 256)


def data_home() -> Path:
    env = os.environ.get("XDG_DATA_HOME")
    return Path(env) if env else Path.home() / ".local" / "share"


def launcher_command() -> str:
    return f"{shlex.quote(sys.executable)} -m ntk_desktop.gui"


def install_desktop_entry(base: Path | None = None) -> list:
    """Write the launcher and icons; returns the paths written."""
    base = Path(base) if base is not None else data_home()
    written = []
    apps = base / "applications"
    apps.mkdir(parents=True, exist_ok=True)
    template = resource_path("ntk-desktop.desktop").read_text(encoding="utf-8")
    lines = []
    for line in template.splitlines():
        if line.startswith("Exec="):
            line = f"Exec={launcher_command()} %f"
        lines.append(line)
    target = apps / f"{APP_ID}.desktop"
    with atomic_open(target, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    written.append(target)
    for size in ICON_SIZES:
        icon_dir = base / "icons" / "hicolor" / f"{size}x{size}" / "apps"
        icon_dir.mkdir(parents=True, exist_ok=True)
        dst = icon_dir / f"{APP_ID}.png"
        shutil.copyfile(resource_path("icons", f"ntk-desktop-{size}.png"), dst)
        written.append(dst)
    return written
