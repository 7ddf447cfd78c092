"""The one place that finds ``kernels_cl/`` and ``resources/``.

In a source checkout they sit at the repository root, next to the ``ntk_desktop`` package; in an
installed wheel they are mapped into the package as ``ntk_desktop/kernels_cl`` and
``ntk_desktop/resources`` (see ``[tool.hatch.build.targets.wheel.force-include]``).
``NTK_DESKTOP_RESOURCES`` may point at another root holding both folders.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def _root(folder: str) -> Path:
    candidates = []
    env = os.environ.get("NTK_DESKTOP_RESOURCES")
    if env:
        candidates.append(Path(env) / folder)
    candidates += [_PACKAGE / folder, _PACKAGE.parent / folder]
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError(
        f"NTK Desktop cannot find its {folder}/ folder (looked in {', '.join(map(str, candidates))}); "
        "reinstall the package")


def kernels_dir() -> Path:
    return _root("kernels_cl")


def resources_dir() -> Path:
    return _root("resources")


def kernel_source(name: str) -> str:
    """Text of ``kernels_cl/<name>`` (``.cl`` added when missing)."""
    if not name.endswith(".cl"):
        name += ".cl"
    return (kernels_dir() / name).read_text(encoding="utf-8")


def resource_path(*parts: str) -> Path:
    """Path of a file under ``resources/`` (it must exist)."""
    p = resources_dir().joinpath(*parts)
    if not p.exists():
        raise FileNotFoundError(f"missing resource: {p}")
    return p
