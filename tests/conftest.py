import os
import sys

import numpy as np
import pytest

# tests import tests/naive.py as a plain module
sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def circle(n, *, endpoint=False, phase=0.0):
    t = np.linspace(0, 2 * np.pi, n, endpoint=endpoint) + phase
    return np.stack([np.cos(t), np.sin(t)], axis=1)


@pytest.fixture
def circle_points():
    return circle
