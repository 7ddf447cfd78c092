"""``figN_report.json`` and ``figN_report.md``: every check with its value, threshold, reasoning
and outcome, the settings, notes and timings."""
from __future__ import annotations

import json
import os
import platform

import numpy as np

from .. import __version__
from .common import FigureResult, jsonable, fmt
from ..atomic import atomic_open


def _write_text(path, text: str) -> str:
    path = os.fspath(path)
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


def report_dict(result: FigureResult, files: dict) -> dict:
    return {
        "figure": result.figure,
        "title": result.title,
        "passed": bool(result.passed),
        "checks": [c.to_json() for c in result.checks],
        "settings": jsonable(result.settings),
        "notes": list(result.notes),
        "info": jsonable(result.info),
        "timings_s": jsonable(result.timings),
        "files": files,
        "software": {"ntk_desktop": __version__, "python": platform.python_version(), "numpy": np.__version__},
        "complete": True,
    }


def report_markdown(result: FigureResult, files: dict) -> str:
    lines = [f"# {result.title}", ""]
    n_pass = sum(c.passed for c in result.checks)
    verdict = "all checks pass" if result.passed else f"{len(result.checks) - n_pass} check(s) FAIL"
    s = result.settings
    mode = "quick" if s.get("quick") else "paper"
    lines += [f"**{verdict}** ({n_pass}/{len(result.checks)}) — {mode} setting, seed {s.get('seed')}, "
              f"{result.timings.get('total', float('nan')):.1f} s.", ""]
    lines += ["| check | value | threshold | result |", "|---|---|---|---|"]
    for c in result.checks:
        lines.append(f"| `{c.name}` | {fmt(c.value)} | {c.threshold_text()} | "
                     f"{'PASS' if c.passed else '**FAIL**'} |")
    lines.append("")
    lines.append("## Checks and their thresholds")
    lines.append("")
    for c in result.checks:
        lines += [f"### `{c.name}` — {'PASS' if c.passed else 'FAIL'}", "", f"*{c.description}*", "",
                  f"Value {fmt(c.value)}, threshold {c.threshold_text()}.", "", c.reasoning, ""]
    lines += ["## Notes", ""]
    lines += [f"- {n}" for n in result.notes]
    lines += ["", "## Settings", ""]
    for k, v in result.settings.items():
        lines.append(f"- `{k}`: {v}")
    lines += ["", "## Files", ""]
    for k, v in files.items():
        lines.append(f"- {k}: `{v}`")
    lines += ["", "## Timings (s)", ""]
    lines.append(", ".join(f"{k} {v:.2f}" for k, v in result.timings.items()))
    lines.append("")
    return "\n".join(lines)


def write_report(result: FigureResult, out_dir, files: dict) -> tuple:
    base = os.path.join(os.fspath(out_dir), result.figure)
    md = _write_text(base + "_report.md", report_markdown(result, files))
    js = _write_text(base + "_report.json", json.dumps(report_dict(result, files), indent=2, ensure_ascii=False)
                     + "\n")
    return js, md
