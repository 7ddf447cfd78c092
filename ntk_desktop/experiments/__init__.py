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


@contextlib.contextmanager
def leave_a_core_for_the_gui():
    """Limit the BLAS threads to one less than the cores while a job trains networks.

    OpenBLAS threads spin while they wait: with every core in a GEMM, the GUI thread (which
    paints the frames) steals one of them and the whole GEMM waits for it — on a two-core laptop
    training a width-1000 network ran ~7× slower with 2 BLAS threads than with 1 while the window
    drew.  A no-op where threadpoolctl is not installed."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:            # pragma: no cover - optional
        yield
        return
    n = max(1, (os.cpu_count() or 1) - 1)
    with threadpool_limits(limits=n, user_api="blas"):
        yield
