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
