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
import threading
from typing import Iterator


#: the limits of the blocks now running (any thread: a cancelled job may close after its successor
#: started) and each BLAS's thread count before the first of them
_limits: list = []
_saved: list = []
_lock = threading.Lock()


def _take_control() -> None:
    """Let this thread set OpenBLAS's (process-wide) thread count: threadpoolctl lets only the
    first thread that ever set it do so and silently ignores the others, so a limit set by a job
    in the GUI's worker would do nothing once any other thread had set one."""
    try:
        from threadpoolctl import OpenBLASController
    except ImportError:            # pragma: no cover - an old threadpoolctl: no such rule
        return
    clear = getattr(OpenBLASController, "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)


def _set_counts(limit=None) -> None:
    """Each saved BLAS at min(its saved count, ``limit``) (None: back to its saved count)."""
    from threadpoolctl import threadpool_limits

    _take_control()
    threadpool_limits(limits=[{"filepath": info["filepath"], "prefix": info["prefix"],
                               "num_threads": info["num_threads"] if limit is None
                               else min(info["num_threads"], limit)} for info in _saved],
                      user_api="blas")


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Run the block with at most ``n`` BLAS threads, restoring each BLAS's count afterwards.

    Training on a handful of inputs is a sequence of skinny, memory-bound matrix products, for
    which a multi-threaded BLAS gains little and, on a busy machine, loses a lot: OpenBLAS
    threads spin while they wait for a core.  Every BLAS loaded in the process is limited
    (through threadpoolctl; a no-op where it is not installed).  Blocks may overlap and end in
    any order (the GUI starts a new job before the cancelled one is closed): the smallest limit
    of the blocks still running holds, and the counts come back when the last one ends."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:            # pragma: no cover - a declared dependency
        yield
        return
    n = max(1, int(n))
    with _lock:
        if not _limits:
            _saved[:] = [info for info in threadpool_info() if info["user_api"] == "blas"]
        _limits.append(n)
        _set_counts(min(_limits))
    try:
        yield
    finally:
        with _lock:
            _limits.remove(n)
            _set_counts(min(_limits) if _limits else None)


def leave_a_core_for_the_gui():
    """Limit the BLAS threads to one less than the cores while a job trains networks.

    With every core in a GEMM, the GUI thread (which paints the frames) steals one of them and
    the whole GEMM waits for it — on a two-core laptop training a width-1000 network ran ~7×
    slower with 2 BLAS threads than with 1 while the window drew."""
    return blas_threads(max(1, (os.cpu_count() or 1) - 1))
