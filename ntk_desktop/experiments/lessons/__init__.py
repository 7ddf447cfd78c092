"""The lessons of the paper beyond its three figures (issue 15), computed Qt-free.

Each lesson module (``randfeat``, ``earlystop``, ``posdef``, ``scaling``) offers

* a frozen ``Settings`` dataclass: defaults are the full setting, ``Settings.quick()`` the
  ``--quick`` one (under two minutes on 2 cores), ``validated()`` raises NTKInputError;
* ``live(settings, cancel=None)``: a generator of :class:`.live.LessonSnapshot` — the job the
  application's lesson panel runs in its worker thread;
* the arrays that :mod:`ntk_desktop.figures` turns into ``ntk reproduce NAME`` (PNG, npz, report
  with checks), exactly as Figures 1–3 do.
"""
