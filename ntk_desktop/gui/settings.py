"""Where the application keeps its settings (window layout, last parameters).

Always an INI file in the user scope (``$XDG_CONFIG_HOME/NTK Desktop/ntk-desktop.ini`` on
Linux), so that tests can redirect it with ``QSettings.setPath(IniFormat, UserScope, tmpdir)``
or ``XDG_CONFIG_HOME`` and never touch the user's file.
"""
from __future__ import annotations

from PySide6.QtCore import QSettings

ORGANIZATION = "NTK Desktop"
APPLICATION = "ntk-desktop"
#: bump when the saved window state stops fitting the docks and toolbars
STATE_VERSION = 1


def open_settings() -> QSettings:
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


def read_bool(settings: QSettings, key: str, default: bool) -> bool:
    value = settings.value(key, default)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def read_int(settings: QSettings, key: str, default: int) -> int:
    try:
        return int(settings.value(key, default))
    except (TypeError, ValueError):
        return default


def read_float(settings: QSettings, key: str, default: float) -> float:
    try:
        return float(settings.value(key, default))
    except (TypeError, ValueError):
        return default


def read_str(settings: QSettings, key: str, default: str) -> str:
    value = settings.value(key, default)
    return default if value is None else str(value)


def read_value(settings: QSettings, key: str, default):
    """The setting ``key`` read as the type of ``default`` (bool, int, float or str)."""
    if isinstance(default, bool):
        return read_bool(settings, key, default)
    if isinstance(default, int):
        return read_int(settings, key, default)
    if isinstance(default, float):
        return read_float(settings, key, default)
    return read_str(settings, key, default)
