"""The lessons of the paper beyond its three figures (issue 15), computed Qt-free.

Each lesson module (``randfeat``, ``earlystop``, ``posdef``, ``scaling``) offers

* a frozen ``Settings`` dataclass (a :class:`LessonSettings`): defaults are the full setting,
  ``Settings.quick_settings()`` the ``--quick`` one (under two minutes on 2 cores), ``validated()`` raises
  NTKInputError with a one-line message;
* ``EXPLANATION``: the lesson in one line (the lesson panel and the gallery show it);
* ``live(settings, cancel=None)``: a generator of :class:`.live.LessonSnapshot` — the job the
  application's lesson panel runs in its worker thread;
* the arrays that :mod:`ntk_desktop.figures` turns into ``ntk reproduce NAME`` (PNG, npz, report
  with checks), exactly as Figures 1–3 do.

:data:`LESSONS` names them; adding a lesson is one line there.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Iterator

from ...errors import NTKInputError
from ..requests import FullOrQuick

#: lesson name -> its module under this package (in the order the chooser lists them)
LESSONS = {
    "randfeat": "randfeat",
    "earlystop": "earlystop",
    "posdef": "posdef",
    "scaling": "scaling",
}


#: the lessons' settings base (shared with Figures 1–3)
LessonSettings = FullOrQuick


def lesson(name: str) -> ModuleType:
    """The module of lesson ``name``; NTKInputError (one line) for an unknown name."""
    if name not in LESSONS:
        raise NTKInputError(f"unknown lesson {name!r}; choose one of {', '.join(LESSONS)}")
    return importlib.import_module(f"{__name__}.{LESSONS[name]}")


@dataclass(frozen=True)
class LessonRequest:
    """What the lesson panel asks its worker to run: lesson ``lesson`` with ``settings``
    (validated when the request is made)."""

    lesson: str
    settings: Any

    @classmethod
    def make(cls, name: str, quick: bool = True) -> "LessonRequest":
        module = lesson(name)
        settings = module.Settings.quick_settings() if quick else module.Settings.paper()
        return cls(name, settings.validated())


def lesson_job(request: LessonRequest) -> Iterator:
    """The lesson panel's job: the lesson's ``live`` generator (each yield a cancellation point)."""
    return lesson(request.lesson).live(request.settings)
