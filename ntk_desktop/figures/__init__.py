"""The paper's three figures, reproduced with their quantitative checks (Qt-free).

Jacot, Gabriel & Hongler, *Neural Tangent Kernel: Convergence and Generalization in Neural
Networks* (NeurIPS 2018), §6:

* :mod:`.fig1` — convergence of the NTK to Θ∞ as the width grows, at t = 0 and after training;
* :mod:`.fig2` — trained networks against the percentiles of the infinite-width Gaussian;
* :mod:`.fig3` — kernel PCA of Θ∞ on MNIST and training along the 2nd principal component;

and the lessons of issue 15 (numerics in :mod:`ntk_desktop.experiments.lessons`), written the same way:

* :mod:`.randfeat` — random features: an exact, constant tangent kernel K_P → K like P^(−1/2);
* :mod:`.posdef` — positive-definiteness of Θ∞ on the sphere (Proposition 2).

:func:`reproduce` computes one figure (or lesson) NAME and writes ``DIR/NAME.png``, ``NAME.npz``,
``NAME_report.json`` and ``NAME_report.md``; ``ntk reproduce`` is its command line.
"""
from __future__ import annotations

import os
from typing import Optional

from ..core.network import save_npz_atomic
from ..errors import NTKInputError
from . import earlystop, fig1, fig2, fig3, posdef, randfeat, scaling
from .common import Check, FigureResult
from .plotting import PLOTTERS
from .report import write_report

FIGURES = {"fig1": fig1, "fig2": fig2, "fig3": fig3}
SETTINGS = {"fig1": fig1.Fig1Settings, "fig2": fig2.Fig2Settings, "fig3": fig3.Fig3Settings}
#: the lessons (issue 15): one line each; ``ntk reproduce all`` runs FIGURES then LESSONS
LESSONS = {"randfeat": randfeat, "earlystop": earlystop, "posdef": posdef, "scaling": scaling}
FIGURES.update(LESSONS)
SETTINGS.update({name: module.Settings for name, module in LESSONS.items()})


def settings_for(name: str, quick: bool = False, **overrides):
    """The paper's (or ``--quick``) settings of figure ``name`` with ``overrides`` (None values
    are ignored)."""
    if name not in FIGURES:
        raise NTKInputError(f"unknown figure or lesson {name!r}; choose one of {', '.join(FIGURES)}")
    cls = SETTINGS[name]
    kw = {k: v for k, v in overrides.items() if v is not None}
    s = cls.quick_settings(**kw) if quick else cls.paper(**kw)
    return s.validated()


def check_out_dir(out) -> str:
    """The absolute path of ``out``: an existing folder, or a new one whose parent exists."""
    out = os.path.abspath(os.fspath(out))
    if os.path.isdir(out):
        return out
    if os.path.exists(out):
        raise NTKInputError(f"--out {out} exists and is not a folder")
    parent = os.path.dirname(out)
    if not os.path.isdir(parent):
        raise NTKInputError(f"the parent folder of --out does not exist: {parent}")
    return out


def prepare_out_dir(out) -> str:
    """Create ``out`` if missing (its parent must exist); returns its absolute path."""
    out = check_out_dir(out)
    os.makedirs(out, exist_ok=True)
    return out


def write_outputs(result: FigureResult, out_dir) -> dict:
    """Write the npz, the PNG and the two reports (the JSON report last); returns the paths."""
    out_dir = os.fspath(out_dir)
    name = result.figure
    files = {"figure": os.path.join(out_dir, f"{name}.png"), "data": os.path.join(out_dir, f"{name}.npz"),
             "report_json": os.path.join(out_dir, f"{name}_report.json"),
             "report_md": os.path.join(out_dir, f"{name}_report.md")}
    save_npz_atomic(files["data"], result.arrays)
    PLOTTERS[name](result, files["figure"])
    write_report(result, out_dir, {k: os.path.basename(v) for k, v in files.items()})
    return files


def reproduce(name: str, out_dir, settings=None, *, quick: bool = False, budget: Optional[int] = None,
              progress=None, quiet: bool = False):
    """Compute figure ``name`` and write its files into ``out_dir`` (created if missing).
    Returns ``(result, files)``."""
    if settings is None:
        settings = settings_for(name, quick)
    check_out_dir(out_dir)
    result = FIGURES[name].compute(settings, progress=progress, budget=budget, quiet=quiet)
    files = write_outputs(result, prepare_out_dir(out_dir))
    return result, files


__all__ = ["FIGURES", "Check", "FigureResult", "reproduce", "settings_for", "check_out_dir", "prepare_out_dir", "write_outputs"]
