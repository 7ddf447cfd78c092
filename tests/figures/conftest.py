"""Shared by the lesson tests: the output checks of ``test_reproduce`` (the suite imports test
modules with --import-mode=importlib, so they are loaded from their file)."""
import importlib.util
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def reproduce_helpers():
    """The module ``test_reproduce`` (``run_cli``, ``_check_outputs``, ``_check_png``)."""
    path = Path(__file__).with_name("test_reproduce.py")
    spec = importlib.util.spec_from_file_location("_reproduce_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
