"""The real wheel carries kernels_cl/*.cl and resources/, and the resolver finds them installed."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _repo_files(folder):
    return sorted(p.relative_to(ROOT / folder).as_posix() for p in (ROOT / folder).rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    pytest.importorskip("hatchling")
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--no-index", "-w", str(out), str(ROOT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    wheels = list(out.glob("ntk_desktop-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def test_wheel_contains_kernels_and_resources(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    cl = _repo_files("kernels_cl")
    assert any(n.endswith(".cl") for n in cl), "kernels_cl/ has no .cl file"
    for f in cl:
        assert f"ntk_desktop/kernels_cl/{f}" in names
    res = _repo_files("resources")
    assert res, "resources/ is empty"
    for f in res:
        assert f"ntk_desktop/resources/{f}" in names
    assert "ntk_desktop/cli/__init__.py" in names
    entry = [n for n in names if n.endswith("entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry[0]).decode()
    assert "ntk = ntk_desktop.cli:main" in text


def test_installed_layout_resolves_resources(wheel, tmp_path):
    """Unpack the wheel as site-packages would hold it and import from there, far from the checkout."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import ntk_desktop, ntk_desktop._resources as r; "
            "print(ntk_desktop.__file__); print(r.kernels_dir()); print(r.resources_dir()); "
            "import os; print(sorted(os.listdir(r.kernels_dir())))")
    env = {k: v for k, v in os.environ.items() if k != "NTK_DESKTOP_RESOURCES"}
    env["PYTHONPATH"] = str(site)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    pkg, kdir, rdir, listing = proc.stdout.splitlines()
    assert pkg.startswith(str(site))
    assert kdir == str(site / "ntk_desktop" / "kernels_cl")
    assert rdir == str(site / "ntk_desktop" / "resources")
    assert ".cl'" in listing


def test_checkout_layout_resolves_resources():
    from ntk_desktop import _resources

    assert _resources.kernels_dir() == ROOT / "kernels_cl"
    assert _resources.resources_dir() == ROOT / "resources"
