import os
import sys

import numpy as np
import pytest
import scipy.linalg as sl

from ntk_desktop.core.analytic import analytic_kernels
from ntk_desktop.core.network import Architecture

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture
def problem():
    """A small classification problem and its independent dense answer: the NumPy reference
    kernels and SciPy's solve of (K + μI) α = Y with centred one-hot targets."""
    rng = np.random.default_rng(7)
    X, T = rng.standard_normal((130, 12)), rng.standard_normal((41, 12))
    y, yt = rng.integers(0, 3, 130), rng.integers(0, 3, 41)
    arch = Architecture.build(12, depth=3, nonlinearity="relu", beta=0.1)
    return X, y, T, yt, arch


def dense_reference(arch, X, Y, T, ridge, kind="ntk"):
    k, kt = analytic_kernels(arch, X), analytic_kernels(arch, T, X)
    K, Kt = (k.ntk, kt.ntk) if kind == "ntk" else (k.nngp, kt.nngp)
    mu = ridge * np.mean(np.diag(K))
    return Kt @ sl.solve(K + mu * np.eye(len(K)), Y, assume_a="pos")


def one_hot_centred(y, k):
    return np.eye(k)[y] - 0.1
