"""Session files: round trip, atomicity, and refusal of corrupt, foreign and newer files."""
import json
import os

import numpy as np
import pytest

from ntk_desktop.errors import NTKInputError
from ntk_desktop.session import HEADER_KEY, Session, load_session, save_session


def _session():
    return Session(parameters={"depth": 4, "widths": (100, 1000), "beta": np.float64(0.1), "seed": 3},
                   arrays={"kernel/theta_inf": np.linspace(0, 1, 7), "training/loss": np.arange(12.0).reshape(3, 4)},
                   meta={"panel": "kernel"})


def test_round_trip(tmp_path):
    path = save_session(tmp_path / "lesson", _session())
    assert path.endswith(".ntksession")
    s = load_session(path)
    assert s.parameters == {"depth": 4, "widths": [100, 1000], "beta": 0.1, "seed": 3}
    np.testing.assert_array_equal(s.arrays["kernel/theta_inf"], np.linspace(0, 1, 7))
    np.testing.assert_array_equal(s.arrays["training/loss"], np.arange(12.0).reshape(3, 4))
    assert s.meta == {"panel": "kernel"}
    # readable by plain numpy, as documented
    with np.load(path, allow_pickle=False) as z:
        assert json.loads(str(z[HEADER_KEY]))["format"] == "ntk-desktop-session"
    assert [f for f in os.listdir(tmp_path) if f != "lesson.ntksession"] == []


def test_overwrite_keeps_old_file_when_write_fails(tmp_path, monkeypatch):
    path = save_session(tmp_path / "a.ntksession", _session())
    before = open(path, "rb").read()
    bad = _session()
    bad.arrays["oops"] = np.array([object()], dtype=object)
    with pytest.raises(NTKInputError):
        save_session(path, bad)

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError):
        save_session(path, _session())
    assert open(path, "rb").read() == before
    assert sorted(os.listdir(tmp_path)) == ["a.ntksession"]


def test_truncated_and_garbage_files_are_refused(tmp_path):
    path = save_session(tmp_path / "a.ntksession", _session())
    data = open(path, "rb").read()
    trunc = tmp_path / "t.ntksession"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(NTKInputError, match="corrupt or truncated"):
        load_session(trunc)
    junk = tmp_path / "j.ntksession"
    junk.write_bytes(b"hello, not a zip")
    with pytest.raises(NTKInputError, match="corrupt or truncated"):
        load_session(junk)
    with pytest.raises(NTKInputError, match="not found"):
        load_session(tmp_path / "missing.ntksession")


def test_newer_and_foreign_files_are_refused(tmp_path):
    newer = tmp_path / "n.ntksession"
    header = {"format": "ntk-desktop-session", "version": 99, "app_version": "9.0"}
    with open(newer, "wb") as fh:
        np.savez(fh, **{HEADER_KEY: np.array(json.dumps(header))})
    with pytest.raises(NTKInputError, match="newer NTK Desktop"):
        load_session(newer)
    foreign = tmp_path / "f.ntksession"
    with open(foreign, "wb") as fh:
        np.savez(fh, x=np.ones(3))
    with pytest.raises(NTKInputError, match="not an NTK Desktop session"):
        load_session(foreign)


def test_atomic_open_replaces_only_on_success(tmp_path):
    from ntk_desktop.atomic import atomic_open

    target = tmp_path / "notes.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target, "w", encoding="utf-8") as fh:
            fh.write("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    with atomic_open(target, "w", encoding="utf-8") as fh:
        fh.write("new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    with pytest.raises(NTKInputError, match="does not exist"):
        with atomic_open(tmp_path / "missing" / "x.txt"):
            pass
