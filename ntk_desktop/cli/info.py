"""``ntk info``: version, environment, backends and devices."""
from __future__ import annotations

import platform
import sys

import numpy as np

from .. import __version__


def add_parser(sub):
    p = sub.add_parser("info", help="show version, backends and devices",
                       description="Print the version, the Python and NumPy in use, and every compute "
                       "backend and OpenCL device with its status (and why one is unusable).")
    p.add_argument("--tune", action="store_true",
                   help="also choose each usable OpenCL device's work-group tiles now (builds its programs "
                   "and times a product per candidate; otherwise done on first use) and show the timings")
    return p


def run(args) -> int:
    from ..backends import describe
    from ..core.memory import available_ram, format_bytes, memory_budget

    budget = memory_budget()  # a bad NTK_MEMORY_BUDGET is refused before anything is printed
    print(f"ntk-desktop {__version__}")
    print(f"python {platform.python_version()} ({sys.executable})")
    print(f"numpy {np.__version__}")
    print(f"memory: {format_bytes(available_ram())} available, budget {format_bytes(budget)}")
    for line in describe(tune=getattr(args, "tune", False)):
        print(line)
    return 0
