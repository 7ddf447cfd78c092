"""Qt-free generator jobs behind the desktop panels.

A job is a generator function ``job(request)``: ``request`` is a frozen dataclass of parameters
(validated when it is constructed, so an invalid one never exists), every ``yield`` hands out an
immutable snapshot of NumPy copies and is a cancellation point: whoever drives the generator
stops by not resuming it (``close()``).  Snapshots carry ``progress`` (0..1) and a one-line
``status`` so that a generic runner can show them.  Nothing here imports Qt; the GUI's
:class:`ntk_desktop.gui.runner.JobRunner` runs jobs in a worker thread, and scripts or tests can
simply iterate them.
"""

import contextlib
import os
from typing import Iterator


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Run the block with at most ``n`` BLAS threads, restoring each BLAS's count afterwards.

    Training on a handful of inputs is a sequence of skinny, memory-bound matrix products, for
    which a multi-threaded BLAS gains little and, on a busy machine, loses a lot: OpenBLAS
    threads spin while they wait for a core.  Every BLAS loaded in the process is limited
    (through threadpoolctl); a no-op where threadpoolctl is not installed."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:            # pragma: no cover - a declared dependency
        yield
        return
    saved = [(lib, lib.num_threads) for lib in ThreadpoolController().select(user_api="blas").lib_controllers]
    try:
        for lib, old in saved:
            if old > n:
                lib.set_num_threads(int(n))
        yield
    finally:
        for lib, old in saved:
            lib.set_num_threads(old)


def leave_a_core_for_the_gui():
    """Limit the BLAS threads to one less than the cores while a job trains networks.

    With every core in a GEMM, the GUI thread (which paints the frames) steals one of them and
    the whole GEMM waits for it — on a two-core laptop training a width-1000 network ran ~7×
    slower with 2 BLAS threads than with 1 while the window drew."""
    return blas_threads(max(1, (os.cpu_count() or 1) - 1))
