import os
import sys

# the CLI tests import cli_helpers.py as a plain module (pytest runs with --import-mode=importlib)
sys.path.insert(0, os.path.dirname(__file__))
