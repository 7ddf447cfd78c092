"""Registration, selection, device discovery and the fallback paths.

Failures are injected with monkeypatch: the OpenCL kill switch, a device whose probe kernel fails,
fp64 that fails its probe, no platform / a broken ICD / pyopencl not importable, and a kernel
source that does not build.  Each must leave the library usable on the next backend, with the
reason recorded.
"""
import threading

import numpy as np
import pytest

from ntk_desktop import backends
from ntk_desktop.backends.base import BackendChain, relative_error
from ntk_desktop.core import analytic, empirical
from ntk_desktop.core.network import init_params
from ntk_desktop.errors import NTKInputError

from backend_helpers import build, inputs


@pytest.fixture
def rediscover(monkeypatch):
    """Forget the OpenCL discovery and backend instances after the test, once its monkeypatches
    are undone."""
    yield
    monkeypatch.undo()
    backends.reset()


def _opencl_available():
    reg = backends.registry()["opencl"]
    if not reg.available:
        return False
    return bool(reg.factory.discover().usable())


needs_opencl = pytest.mark.skipif("not _opencl_available()", reason="no usable OpenCL device")


def _case(act="relu", nL=1):
    arch = build(5, 3, 8, nL, act, "ntk", 0.2)
    X = inputs(np.random.default_rng(3), 9, 5)
    return arch, init_params(arch, 1), X


def test_registry_and_describe():
    reg = backends.registry()
    assert set(reg) == {"numpy", "numba", "opencl"} and reg["numpy"].available
    lines = backends.describe()
    text = "\n".join(lines)
    for name in ("backend numpy", "backend numba", "backend opencl", "selected:"):
        assert name in text
    if _opencl_available():
        assert any(line.strip().startswith("platform ") for line in lines)
        assert any("device " in line and ("usable" in line) for line in lines)


@needs_opencl
def test_auto_probes_gpus_only(rediscover):
    """Choosing ``auto`` asks about GPUs alone: a CPU device (PoCL's) is listed but not probed
    until something asks for it; then it is probed once and usable."""
    from ntk_desktop.backends.opencl import devices

    backends.reset()
    calls = []
    real = devices.run_probe
    monkey = pytest.MonkeyPatch()
    monkey.setattr(devices, "run_probe", lambda *a: (calls.append(a[-1]), real(*a))[1])
    try:
        backends.select("auto")
        disc = devices.discover()
        cpus = [d for d in disc.devices if d.type == "CPU"]
        if not cpus:
            pytest.skip("no OpenCL CPU device")
        gpu_probes = len(calls)
        assert all(d.context is None and not d.usable for d in cpus)
        assert [p[2] for p in disc.pending if p[2].type == "CPU"] == cpus
        usable = disc.usable()
        assert all(d.usable and d.context is not None and any(u is d for u in usable) for d in cpus)
        assert len(calls) - gpu_probes >= len(cpus) and not disc.pending
        n = len(calls)
        disc.usable()
        assert len(calls) == n  # probed once
    finally:
        monkey.undo()


def test_auto_prefers_a_gpu_else_numba():
    chain = backends.select("auto")
    gpus = []
    if backends.registry()["opencl"].available:
        gpus = [d for d in backends.registry()["opencl"].factory.discover().usable() if d.is_gpu]
    if gpus:
        assert chain.name == "opencl" and chain.primary.dev.is_gpu
    else:
        assert chain.name == ("numba" if backends.registry()["numba"].available else "numpy")
    assert chain.backends[-1].name == "numpy"


def test_names_and_environment(monkeypatch):
    with pytest.raises(NTKInputError, match="unknown backend"):
        backends.select("quantum")
    assert backends.select("numpy").name == "numpy"
    assert [b.name for b in backends.select("numba").backends] == ["numba", "numpy"]
    monkeypatch.setenv("NTK_BACKEND", "numpy")
    assert backends.select().name == "numpy"
    assert backends.select("numba").name == "numba"  # the argument wins over the environment


@needs_opencl
def test_device_environment_and_specs(monkeypatch):
    from ntk_desktop.backends.opencl import discover, find_device

    dev = discover().usable()[0]
    assert find_device(dev.id) is dev
    assert find_device(str(discover().devices.index(dev))) is dev
    assert find_device(dev.type.lower()) is dev
    assert find_device(dev.name[:5].upper()) is dev  # a case-insensitive part of the name
    for bad in ("no-such-device", "7:7", "99"):
        with pytest.raises(NTKInputError, match="no OpenCL device matches"):
            find_device(bad)
    monkeypatch.setenv("NTK_DEVICE", dev.id)
    chain = backends.select()  # auto + a device: OpenCL on that device
    assert chain.name == "opencl" and chain.primary.dev is dev
    assert [b.name for b in chain.backends] == ["opencl", "numba", "numpy"]


def test_kill_switch(monkeypatch):
    monkeypatch.setenv("NTK_DISABLE_OPENCL", "1")
    reg = backends.registry()
    assert not reg["opencl"].available and "NTK_DISABLE_OPENCL" in reg["opencl"].reason
    assert backends.select("auto").name == "numba"
    with pytest.raises(NTKInputError, match="NTK_DISABLE_OPENCL"):
        backends.select("opencl")
    with pytest.raises(NTKInputError, match="NTK_DISABLE_OPENCL"):
        backends.select(None, "0")
    assert any("disabled by NTK_DISABLE_OPENCL" in line for line in backends.describe())
    monkeypatch.delenv("NTK_DISABLE_OPENCL")
    assert backends.registry()["opencl"].available == (backends.registry()["opencl"].reason == "")


@needs_opencl
def test_probe_failure_marks_devices_unusable(monkeypatch, rediscover):
    from ntk_desktop.backends.opencl import devices

    def broken(cl, ctx, queue, dtype):
        raise RuntimeError("injected probe failure")

    monkeypatch.setattr(devices, "run_probe", broken)
    backends.reset()
    disc = devices.discover()
    assert disc.devices and not disc.usable()
    assert all("probe failed" in d.reason and "injected" in d.reason for d in disc.devices)
    assert backends.select("auto").name == "numba"
    with pytest.raises(NTKInputError, match="unusable|no usable"):
        backends.select("opencl")
    assert any("unusable: probe failed" in line for line in backends.describe())


@needs_opencl
def test_fp64_probe_failure_keeps_float32(monkeypatch, rediscover):
    from ntk_desktop.backends.opencl import devices

    real = devices.run_probe

    def no_fp64(cl, ctx, queue, dtype):
        if np.dtype(dtype) == np.float64:
            raise RuntimeError("injected fp64 failure")
        return real(cl, ctx, queue, dtype)

    monkeypatch.setattr(devices, "run_probe", no_fp64)
    backends.reset()
    dev = devices.discover().usable()[0]
    assert dev.usable and not dev.fp64 and "fp64" in dev.note
    chain = backends.select("opencl", dev.id)
    arch, p, X = _case()
    theta = chain.empirical_ntk(arch, p, X)  # float64: falls back to numba
    assert chain.last_used["empirical_ntk"] == "numba"
    assert chain.fallbacks[-1][:2] == ("empirical_ntk", "opencl") and "fp64" in chain.fallbacks[-1][2]
    assert relative_error(theta, empirical.empirical_ntk(arch, p, X, full=True)) <= 1e-12
    chain.empirical_ntk(arch, p.astype(np.float32), X)
    assert chain.last_used["empirical_ntk"] == "opencl"


@pytest.mark.parametrize("how", ["no_platform", "broken_icd", "no_pyopencl"])
def test_no_opencl_never_crashes(monkeypatch, rediscover, how):
    import sys

    if how == "no_pyopencl":
        monkeypatch.setitem(sys.modules, "pyopencl", None)  # import pyopencl raises ImportError
    else:
        cl = pytest.importorskip("pyopencl")
        if how == "no_platform":
            def get_platforms():
                raise cl.LogicError("clGetPlatformIDs failed: PLATFORM_NOT_FOUND_KHR")
        else:
            class BrokenPlatform:
                name = "Broken ICD"
                version = "OpenCL 1.2"

                def get_devices(self):
                    raise RuntimeError("clGetDeviceIDs failed: OUT_OF_HOST_MEMORY")

            def get_platforms():
                return [BrokenPlatform()]
        monkeypatch.setattr(cl, "get_platforms", get_platforms)
    from ntk_desktop.backends.opencl import devices

    backends.reset()
    disc = devices.discover()
    assert not disc.usable()
    if how == "broken_icd":
        assert disc.platforms[0].error.startswith("cannot list devices")
    else:
        assert disc.error
    text = "\n".join(backends.describe())
    assert "backend opencl: no usable device" in text
    assert backends.select("auto").name == "numba"
    with pytest.raises(NTKInputError):
        backends.select("opencl")


@needs_opencl
def test_build_error_falls_back(monkeypatch, rediscover):
    from ntk_desktop.backends.opencl import OpenCLBackend, discover, programs

    calls = []
    real = programs.kernel_source

    def broken_source(name):
        calls.append(name)
        return real(name) + ("\n__kernel void broken(__global float* x) { x[0] = undefined_symbol; }\n"
                             if name == "ntk_analytic" else "")

    monkeypatch.setattr(programs, "kernel_source", broken_source)
    ocl = OpenCLBackend(discover().usable()[0])
    ocl.programs = programs.ProgramCache(ocl.dev)  # a fresh program cache, built from the broken source
    chain = BackendChain([ocl, backends.select("numba").primary, backends.select("numpy").primary])
    arch, p, X = _case()
    theta = chain.empirical_ntk(arch, p.astype(np.float32), X)
    assert chain.last_used["empirical_ntk"] == "numba"
    op, name, reason = chain.fallbacks[-1]
    assert (op, name) == ("empirical_ntk", "opencl") and "build failed" in reason
    assert relative_error(theta, empirical.empirical_ntk(arch, p, X, full=True)) <= 3e-5
    n = len(calls)
    chain.empirical_ntk(arch, p.astype(np.float32), X)
    assert len(calls) == n  # the failed build is remembered, not retried
    # and the device is now unusable for later selections, with the reason
    assert not ocl.dev.usable and "build failed" in ocl.dev.reason
    assert any("unusable: OpenCL build failed" in line for line in backends.describe())
    assert backends.select("auto").name in ("numba", "opencl")  # another device, or the CPU


@needs_opencl
def test_operation_without_kernel_falls_back_per_operation():
    chain = backends.select("opencl")
    arch, p, X = _case("tanh")
    k = chain.analytic_kernels(arch, X)  # quadrature: neither OpenCL nor numba
    assert chain.last_used["analytic_kernels"] == "numpy"
    assert [f[1] for f in chain.fallbacks[-2:]] == ["opencl", "numba"]
    ref = analytic.analytic_kernels(arch, X)
    assert np.array_equal(k.ntk, ref.ntk)
    chain.empirical_ntk(arch, p.astype(np.float32), X)  # everything else stays on the device
    assert chain.last_used["empirical_ntk"] == "opencl"
    assert chain.backend_for("analytic_kernels", arch, np.float64).name == "numpy"


def test_numba_falls_back_for_quadrature():
    chain = backends.select("numba")
    arch, _, X = _case("gelu")
    chain.analytic_kernels(arch, X)
    assert chain.last_used["analytic_kernels"] == "numpy"
    assert chain.backend_for("analytic_kernels", build(3, 2, 4, act="erf"), np.float64).name == "numba"


@needs_opencl
def test_numba_and_pocl_in_one_process(numba_backend, opencl_backend):
    """Both runtimes (Numba's OpenMP threads, the OpenCL driver's threads) in one process:
    alternately, then at the same time from two threads."""
    arch, p, X = _case("erf", nL=2)
    ref = empirical.empirical_ntk(arch, p, X, full=True)
    for _ in range(2):
        assert relative_error(numba_backend.empirical_ntk(arch, p, X), ref) <= 1e-12
        assert relative_error(opencl_backend.empirical_ntk(arch, p, X), ref) <= 1e-12
    results, errors = {}, []

    def run(be):
        try:
            results[be.name] = [be.empirical_ntk(arch, p, X, block=4) for _ in range(3)]
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(b,)) for b in (numba_backend, opencl_backend)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for name in ("numba", "opencl"):
        for theta in results[name]:
            assert relative_error(theta, ref) <= 1e-12


def test_one_compute_thread_per_backend(fast_backend):
    """Several threads on one backend: its lock serializes them and every result is right."""
    arch, p, X = _case("relu", nL=1)
    ref = empirical.empirical_ntk(arch, p, X, full=True)
    out, errors = [], []

    def run():
        try:
            out.append(fast_backend.empirical_ntk(arch, p, X, block=4))
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(out) == 4
    assert all(relative_error(t, ref) <= 1e-12 for t in out)


@pytest.mark.parametrize("backend", ["numba", "numpy", "opencl"])
def test_cli_kernel_uses_the_backend(tmp_path, backend, capsys):
    from ntk_desktop.cli import main

    if backend == "opencl" and not _opencl_available():
        pytest.skip("no usable OpenCL device")
    X = np.random.default_rng(0).standard_normal((6, 3))
    np.save(tmp_path / "x.npy", X)
    for kind in ("empirical", "analytic"):
        out = tmp_path / f"{kind}.npz"
        rc = main(["kernel", "--kind", kind, "--inputs", str(tmp_path / "x.npy"), "--depth", "3", "--width", "7",
                   "--backend", backend, "--out", str(out), "--quiet"])
        assert rc == 0
        with np.load(out) as z:
            ntk = z["ntk"]
        arch = build(3, 3, 7, act="relu", par="ntk", beta=0.1)
        ref = (empirical.empirical_ntk(arch, init_params(arch, 0), X) if kind == "empirical"
               else analytic.analytic_kernels(arch, X).ntk)
        assert relative_error(ntk, ref) <= 1e-12


@needs_opencl
def test_a_device_error_mid_operation_falls_back_with_the_reason(monkeypatch):
    """A real OpenCL runtime error (an allocation the device refuses, as a GPU out of memory would)
    during an operation: the chain redoes it on the CPU and records why."""
    import pyopencl as cl

    from ntk_desktop.backends.opencl import OpenCLBackend, discover

    ocl = OpenCLBackend(discover().usable()[0])
    chain = BackendChain([ocl, backends.select("numba").primary])
    arch, p, X = _case()
    calls = []

    def refused(self, n, dt):
        calls.append(n)
        return cl.Buffer(self.dev.context, cl.mem_flags.READ_WRITE, size=0)  # INVALID_BUFFER_SIZE

    monkeypatch.setattr(OpenCLBackend, "alloc", refused)
    progress = []
    theta = chain.empirical_ntk(arch, p.astype(np.float32), X, progress=lambda d, t: progress.append((d, t)))
    assert calls, "the OpenCL path did not run"
    assert chain.last_used["empirical_ntk"] == "numba"
    op, name, reason = chain.fallbacks[-1]
    assert (op, name) == ("empirical_ntk", "opencl") and "LogicError" in reason and "INVALID_BUFFER_SIZE" in reason
    assert relative_error(theta, empirical.empirical_ntk(arch, p, X, full=True)) <= 3e-5
    assert progress and progress[-1][0] == progress[-1][1]
    # errors that are the caller's are not swallowed
    with pytest.raises(NTKInputError):
        chain.empirical_ntk(arch, p.astype(np.float32), X[:, :1])


@needs_opencl
def test_the_cli_says_why_an_operation_left_the_device(monkeypatch, tmp_path, capsys):
    import pyopencl as cl

    from ntk_desktop import cli
    from ntk_desktop.backends.opencl import OpenCLBackend

    monkeypatch.setattr(OpenCLBackend, "alloc",
                        lambda self, n, dt: cl.Buffer(self.dev.context, cl.mem_flags.READ_WRITE, size=0))
    np.save(tmp_path / "X.npy", inputs(np.random.default_rng(0), 6, 3))
    code = cli.main(["kernel", "--kind", "empirical", "--inputs", str(tmp_path / "X.npy"), "--width", "8",
                     "--dtype", "float32", "--backend", "opencl", "--out", str(tmp_path / "k.npz")])
    out = capsys.readouterr().out
    assert code == 0 and "[numba]" in out
    assert "(not on opencl: " in out and "INVALID_BUFFER_SIZE" in out
