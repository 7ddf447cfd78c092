import configparser
import sys

from PIL import Image

from ntk_desktop.desktop import install_desktop_entry


def test_install_desktop_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    written = install_desktop_entry()
    entry = tmp_path / "applications" / "ntk-desktop.desktop"
    assert entry in written
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str
    cp.read(entry)
    d = cp["Desktop Entry"]
    assert d["Type"] == "Application" and d["Name"] == "NTK Desktop" and d["Icon"] == "ntk-desktop"
    assert d["Exec"].startswith(sys.executable) and "-m ntk_desktop.gui" in d["Exec"]
    for size in (64, 256):
        icon = tmp_path / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "ntk-desktop.png"
        assert Image.open(icon).size == (size, size)
