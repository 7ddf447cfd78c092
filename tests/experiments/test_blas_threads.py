"""experiments.blas_threads limits every BLAS in the process for a block and restores it."""
from __future__ import annotations

import numpy as np  # noqa: F401  (loads NumPy's BLAS)
import pytest

from ntk_desktop.experiments import blas_threads

threadpoolctl = pytest.importorskip("threadpoolctl")


def blas_counts():
    return [info["num_threads"] for info in threadpoolctl.threadpool_info() if info["user_api"] == "blas"]


def test_the_block_runs_with_one_thread_and_the_counts_come_back():
    before = blas_counts()
    assert before, "NumPy's BLAS is not visible to threadpoolctl"
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        with blas_threads(1):
            assert blas_counts() == [1] * len(before)
        assert blas_counts() == [2] * len(before)
        with blas_threads(8):                 # a limit never raises the count
            assert blas_counts() == [2] * len(before)
    assert blas_counts() == before


def test_overlapping_blocks_ending_out_of_order_keep_the_limit():
    """The GUI starts a job while the cancelled one is still open: when the older block ends
    first, the newer one must still run limited (it ran with every thread before: 4× slower)."""
    before = blas_counts()
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        old_job, new_job = blas_threads(1), blas_threads(1)
        old_job.__enter__()
        new_job.__enter__()
        old_job.__exit__(None, None, None)
        assert blas_counts() == [1] * len(before)
        new_job.__exit__(None, None, None)
        assert blas_counts() == [2] * len(before)
    assert blas_counts() == before


def test_a_worker_thread_limits_after_another_thread_did():
    """threadpoolctl lets only the first thread that set OpenBLAS's count set it again; a job in
    the GUI's worker thread must still be limited after a block ran in the main thread."""
    import threading

    before = blas_counts()
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        with blas_threads(1):
            pass
        seen = []

        def worker():
            with blas_threads(1):
                seen.append(blas_counts())
            seen.append(blas_counts())

        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert seen == [[1] * len(before), [2] * len(before)]
    assert blas_counts() == before
