"""Fixtures of the backend tests: one instance of each backend for the whole session, so that
Numba compiles (and caches) its kernels once and PoCL builds each OpenCL program once.

The OpenCL fixture uses the first usable OpenCL device (PoCL's CPU device where there is no GPU;
on a machine with a GPU driver ``NTK_TEST_OPENCL_DEVICE`` may name another device, e.g. ``gpu``).
OpenCL tests are skipped, with the reason, when no device is usable.
"""
import os
import sys

import pytest

# the tests import backend_helpers.py as a plain module (pytest runs with --import-mode=importlib)
sys.path.insert(0, os.path.dirname(__file__))

from ntk_desktop import backends


@pytest.fixture(scope="session")
def numpy_backend():
    return backends.select("numpy").primary


@pytest.fixture(scope="session")
def numba_backend():
    reg = backends.registry()["numba"]
    if not reg.available:
        pytest.skip(f"numba unavailable: {reg.reason}")
    return backends.select("numba").primary


@pytest.fixture(scope="session")
def opencl_backend():
    if backends.opencl_disabled():
        pytest.skip("OpenCL disabled by NTK_DISABLE_OPENCL")
    reg = backends.registry()["opencl"]
    if not reg.available:
        pytest.skip(f"OpenCL unavailable: {reg.reason}")
    from ntk_desktop.backends.opencl import find_device
    from ntk_desktop.errors import NTKInputError

    try:
        dev = find_device(os.environ.get("NTK_TEST_OPENCL_DEVICE"))
    except NTKInputError as exc:
        pytest.skip(str(exc))
    return backends.select("opencl", dev.id).primary  # the instance select() hands out too


@pytest.fixture(scope="session", params=["numpy", "numba", "opencl"])
def any_backend(request):
    return request.getfixturevalue(f"{request.param}_backend")


@pytest.fixture(scope="session", params=["numba", "opencl"])
def fast_backend(request):
    return request.getfixturevalue(f"{request.param}_backend")
