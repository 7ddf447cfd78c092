"""The code's shape, enforced: the layers and the Qt boundary (import-linter contracts in
pyproject.toml), no import cycles, no reaching into another module's private names, and no
function or module too long to read in one sitting (issue 11)."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "ntk_desktop"
MAX_FUNCTION_LINES = 100
MAX_MODULE_LINES = 500


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_import_contracts_hold():
    """`lint-imports` with the project's contracts: layers gui/cli > experiments/figures >
    backends > core/data, Qt only under gui/, no cycles among siblings, private modules kept in
    their package."""
    pytest.importorskip("importlinter")
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    proc = subprocess.run([sys.executable, "-c", code, "--no-cache"], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " 0 broken" in proc.stdout and " BROKEN" not in proc.stdout


def test_contracts_catch_a_violation(tmp_path):
    """The contracts are live: a copy of the package in which core imports the GUI breaks them."""
    pytest.importorskip("importlinter")
    import shutil

    shutil.copytree(PACKAGE, tmp_path / "ntk_desktop", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    bad = tmp_path / "ntk_desktop" / "core" / "zz_bad.py"
    bad.write_text("from ..gui import theme\nimport PySide6\n")
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    proc = subprocess.run([sys.executable, "-c", code, "--no-cache"], cwd=tmp_path, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert proc.returncode != 0
    assert "ntk_desktop.core.zz_bad -> ntk_desktop.gui" in proc.stdout


def _function_lengths(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node.lineno, node.end_lineno - node.lineno + 1


def test_functions_and_modules_are_short():
    long = []
    for path in _modules():
        src = path.read_text(encoding="utf-8")
        n = len(src.splitlines())
        if n > MAX_MODULE_LINES:
            long.append(f"{_rel(path)}: module of {n} lines")
        for name, line, length in _function_lengths(ast.parse(src)):
            if length > MAX_FUNCTION_LINES:
                long.append(f"{_rel(path)}:{line} {name}() has {length} lines")
    assert not long, "over the limits (functions <= 100 lines, modules <= 500):\n" + "\n".join(long)


def _defined_private_names(tree: ast.AST) -> set:
    """Private names a module defines: its functions, classes and assignments, and the
    attributes it assigns (``self._x = …``)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.keyword) and node.arg:
            names.add(node.arg)        # e.g. set_defaults(_x=...), dataclass(field=...)
    return {n for n in names if _private(n)}


def _is_module(path: Path, level: int, module: str | None, name: str, root: Path) -> bool:
    base = path.parent
    for _ in range(max(0, level - 1)):
        base = base.parent
    if level == 0:
        base = root
    parts = (module.split(".") if module else [])
    target = base.joinpath(*parts, name)
    return target.with_suffix(".py").exists() or (target / "__init__.py").exists()


def _private_uses(path: Path, root: Path = ROOT) -> list:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own = _defined_private_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if _private(alias.name) and not _is_module(path, node.level, node.module, alias.name, root):
                    found.append(f"{path.relative_to(root).as_posix()}:{node.lineno} imports private {alias.name!r}")
        elif isinstance(node, ast.Attribute) and _private(node.attr) and isinstance(node.ctx, ast.Load):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super":
                continue
            if node.attr in own:
                continue        # the module's own private attribute, on another instance
            found.append(f"{path.relative_to(root).as_posix()}:{node.lineno} uses another module's private {node.attr!r}")
    return found


def test_no_module_reaches_into_another_modules_private_names():
    found = [hit for path in _modules() for hit in _private_uses(path)]
    assert not found, "\n".join(found)


def test_private_name_check_catches_both_forms(tmp_path):
    """The check above is live: it reports a private import and a private attribute use."""
    mod = tmp_path / "m.py"
    mod.write_text("from .other import _helper\n\ndef f(w):\n    return w._hidden()\n")
    (tmp_path / "other.py").write_text("def _helper():\n    return 1\n")
    hits = _private_uses(mod, tmp_path)
    assert any("'_helper'" in h for h in hits) and any("'_hidden'" in h for h in hits)
    mod.write_text("from . import other\n\nclass A:\n    def __eq__(self, o):\n        return self._k == o._k\n"
                   "    def __init__(self):\n        self._k = 1\n")
    assert _private_uses(mod, tmp_path) == []     # its own private attribute on another instance
