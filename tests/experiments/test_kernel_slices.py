"""The kernel-slice job against the library's kernels computed independently."""
from __future__ import annotations

import time

import numpy as np
import pytest

from ntk_desktop.core.analytic import analytic_kernels
from ntk_desktop.core.empirical import empirical_ntk, mc_empirical_ntk
from ntk_desktop.core.network import init_params
from ntk_desktop.errors import MemoryBudgetError, NTKInputError
from ntk_desktop.experiments import kernel_slices as ks
from ntk_desktop.experiments.kernel_slices import KernelSliceRequest, kernel_slice_job

SMALL = dict(depth=2, widths=(16, 64), n_init=3, n_angles=64, backend="numpy")


def circle(n):
    g = np.linspace(-np.pi, np.pi, n)
    return g, np.stack([np.cos(g), np.sin(g)], axis=1)


def run_all(req):
    return list(kernel_slice_job(req))


def test_the_analytic_curve_comes_first_and_fast():
    req = KernelSliceRequest(**SMALL, show_nngp=True)
    t0 = time.perf_counter()
    first = next(iter(kernel_slice_job(req)))
    assert time.perf_counter() - t0 < 2.0           # milliseconds in practice
    g, X = circle(64)
    k = analytic_kernels(req.architecture(16), np.array([[1.0, 0.0]]), X)
    np.testing.assert_allclose(first.angles, g, rtol=0, atol=1e-15)
    assert first.ntk_limit.shape == (1, 64)
    np.testing.assert_allclose(first.ntk_limit[0], k.ntk[0], rtol=1e-13)
    np.testing.assert_allclose(first.nngp, k.nngp[0], rtol=1e-13)
    assert first.n_done == (0, 0) and first.mean == (None, None) and first.progress == 0.0


@pytest.mark.parametrize("nonlinearity, slope, param", [("relu", None, "ntk"), ("erf", None, "ntk"),
                                                        ("leaky_relu", 0.2, "ntk"), ("tanh", None, "ntk")])
def test_finite_width_curves_equal_the_library(nonlinearity, slope, param):
    req = KernelSliceRequest(**{**SMALL, "depth": 3}, nonlinearity=nonlinearity, slope=slope,
                             parametrization=param, seed=7, beta=0.3)
    snaps = run_all(req)
    last = snaps[-1]
    assert last.complete and last.progress == pytest.approx(1.0)
    assert last.backend == "numpy"
    x0 = np.array([[1.0, 0.0]])
    _, X = circle(64)
    for k, w in enumerate(req.widths):
        arch = req.architecture(w)
        expected = np.stack([empirical_ntk(arch, init_params(arch, 7 + i), x0, X)[0] for i in range(3)])
        np.testing.assert_allclose(last.curves[k], expected, rtol=1e-10, atol=1e-12)
        mean, std = mc_empirical_ntk(arch, x0, X, n_init=3, seed=7)
        np.testing.assert_allclose(last.mean[k], mean[0], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(last.std[k], std[0], rtol=1e-8, atol=1e-12)


def test_one_snapshot_per_initialization_with_running_statistics():
    req = KernelSliceRequest(**SMALL)
    snaps = run_all(req)
    complete_steps = [s for i, s in enumerate(snaps) if i == 0 or s.n_done != snaps[i - 1].n_done]
    # the analytic snapshot, then one per (width, initialization)
    assert len(complete_steps) == 1 + 2 * 3
    assert [sum(s.n_done) for s in complete_steps] == list(range(7))
    progress = [s.progress for s in snaps]
    assert progress == sorted(progress)
    for s in complete_steps[1:]:
        for k, n in enumerate(s.n_done):
            if n == 0:
                assert s.mean[k] is None
                continue
            np.testing.assert_allclose(s.mean[k], s.curves[k].mean(axis=0), rtol=1e-14)
            if n == 1:
                assert np.all(s.std[k] == 0)
            else:
                np.testing.assert_allclose(s.std[k], s.curves[k].std(axis=0, ddof=1), rtol=1e-12)


def test_cheap_widths_are_scheduled_first():
    assert ks.schedule([1.0, 100.0], 3) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert ks.schedule([1.0, 1.0], 2) == [(0, 0), (1, 0), (0, 1), (1, 1)]


def test_large_networks_are_computed_in_chunks_with_the_same_result(monkeypatch):
    req = KernelSliceRequest(**{**SMALL, "n_init": 2})
    whole = run_all(req)[-1]
    monkeypatch.setattr(ks, "_CHUNK_WORK", 1.0)          # every chunk: _MIN_CHUNK_ROWS angles
    snaps = run_all(req)
    chunked = snaps[-1]
    for a, b in zip(whole.curves, chunked.curves):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    # 64 angles in chunks of 16: 3 progress snapshots between the 4 chunks of every initialization
    partial = [s for s in snaps if "% of the angles" in s.status]
    assert len(partial) == 3 * 2 * 2


def test_standard_parametrization_has_one_limit_per_width():
    req = KernelSliceRequest(**{**SMALL, "n_init": 1}, parametrization="standard")
    first = next(iter(kernel_slice_job(req)))
    assert first.limit_per_width and first.ntk_limit.shape == (2, 64)
    _, X = circle(64)
    for k, w in enumerate(req.widths):
        expected = analytic_kernels(req.architecture(w), np.array([[1.0, 0.0]]), X).ntk[0]
        np.testing.assert_allclose(first.ntk_limit[k], expected, rtol=1e-13)


def test_nngp_only_on_request():
    assert next(iter(kernel_slice_job(KernelSliceRequest(**SMALL)))).nngp is None


def test_snapshots_are_read_only_copies():
    it = kernel_slice_job(KernelSliceRequest(**SMALL))
    snaps = [next(it) for _ in range(4)]
    kept = [c.copy() for c in snaps[3].curves]
    rest = list(it)
    for a, b in zip(kept, snaps[3].curves):
        np.testing.assert_array_equal(a, b)
    for arr in (rest[-1].angles, rest[-1].ntk_limit, rest[-1].curves[0], rest[-1].mean[0], rest[-1].std[0]):
        assert not arr.flags.writeable
        with pytest.raises(ValueError):
            arr[0] = 1.0


class CountingBackend:
    name = "counting"

    def __init__(self):
        from ntk_desktop.backends.numpy_backend import NumpyBackend

        self.inner = NumpyBackend()
        self.calls = 0

    def empirical_ntk(self, arch, params, X1, X2=None):
        self.calls += 1
        return self.inner.empirical_ntk(arch, params, X1, X2)


def test_cancellation_stops_at_the_next_yield(monkeypatch):
    backend = CountingBackend()
    monkeypatch.setattr("ntk_desktop.backends.select", lambda name=None, device=None: backend)
    req = KernelSliceRequest(**{**SMALL, "n_init": 50})
    it = kernel_slice_job(req)
    for _ in range(5):
        next(it)
    calls = backend.calls
    assert 0 < calls < 100
    it.close()                       # what the runner does with a cancelled job
    assert backend.calls == calls
    with pytest.raises(StopIteration):
        next(it)


def test_the_memory_budget_refuses_before_allocating(monkeypatch):
    def forbidden(*a, **k):
        raise AssertionError("allocated before the budget check")

    monkeypatch.setattr(ks, "init_params", forbidden)
    monkeypatch.setattr(ks, "analytic_kernels", forbidden)
    req = KernelSliceRequest(**{**SMALL, "depth": 4, "widths": (16, 20000)}, memory_budget=50_000_000)
    with pytest.raises(MemoryBudgetError, match="width-20000"):
        next(iter(kernel_slice_job(req)))


@pytest.mark.parametrize("changes, message", [
    (dict(widths=()), "between 1 and"),
    (dict(widths=(0,)), "width must be between"),
    (dict(widths=(16, 16)), "distinct"),
    (dict(widths=("a",)), "must be an integer"),
    (dict(widths=tuple(range(1, 9))), "between 1 and"),
    (dict(n_init=0), "initializations"),
    (dict(depth=0), "depth"),
    (dict(nonlinearity="swish"), "unknown nonlinearity"),
    (dict(slope=0.1), "slope"),
    (dict(beta=-1.0), "beta"),
    (dict(beta=float("nan")), "beta"),
    (dict(n_angles=3), "number of angles"),
    (dict(seed=-1), "seed"),
    (dict(parametrization="mup"), "parametrization"),
    (dict(backend=""), "backend"),
])
def test_invalid_requests_are_refused(changes, message):
    with pytest.raises(NTKInputError, match=message) as info:
        KernelSliceRequest(**{**SMALL, **changes})
    assert "\n" not in str(info.value)


def test_an_unknown_backend_is_an_input_error_after_the_analytic_curve():
    it = kernel_slice_job(KernelSliceRequest(**{**SMALL, "backend": "quantum"}))
    next(it)
    with pytest.raises(NTKInputError, match="unknown backend"):
        next(it)


def test_the_job_module_is_qt_free():
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys\n"
            "from ntk_desktop.experiments.kernel_slices import KernelSliceRequest, kernel_slice_job\n"
            "list(kernel_slice_job(KernelSliceRequest(depth=2, widths=(4,), n_init=1, n_angles=8, backend='numpy')))\n"
            "qt = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph'))\n"
            "print(qt)\n")
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(repo), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert proc.stdout.strip() == "[]"


def test_the_snapshot_names_the_backend_that_really_ran(monkeypatch):
    """A chain whose first backend cannot run the operation: the status names the fallback and why."""
    from ntk_desktop.backends.base import BackendChain, BackendUnsupported
    from ntk_desktop.backends.numpy_backend import NumpyBackend

    class NoFloat64(NumpyBackend):
        name = "gpu-without-fp64"

        def check(self, op, arch, dtype):
            if np.dtype(dtype) == np.float64:
                raise BackendUnsupported("no usable fp64")

    chain = BackendChain([NoFloat64(), NumpyBackend()])
    monkeypatch.setattr("ntk_desktop.backends.select", lambda name=None, device=None: chain)
    last = list(kernel_slice_job(KernelSliceRequest(**SMALL)))[-1]
    assert last.backend == "numpy (not gpu-without-fp64: no usable fp64)"
    assert chain.used_label("empirical_ntk") == last.backend
    # and the primary when it ran
    plain = BackendChain([NumpyBackend()])
    monkeypatch.setattr("ntk_desktop.backends.select", lambda name=None, device=None: plain)
    assert list(kernel_slice_job(KernelSliceRequest(**SMALL)))[-1].backend == "numpy"


# ---------------------------------------------------------------------- a movable x0 (issue 14, item 4)
@pytest.mark.parametrize("alpha", [0.7, -2.5, np.pi])
def test_x0_at_an_angle_gives_the_kernels_at_that_x0(alpha):
    req = KernelSliceRequest(**{**SMALL, "n_init": 2}, x0_angle=alpha, seed=3, show_nngp=True)
    snaps = run_all(req)
    x0 = np.array([[np.cos(alpha), np.sin(alpha)]])
    _, X = circle(64)
    arch = req.architecture(16)
    k = analytic_kernels(arch, x0, X)
    np.testing.assert_allclose(snaps[0].ntk_limit[0], k.ntk[0], rtol=1e-12)
    np.testing.assert_allclose(snaps[0].nngp, k.nngp[0], rtol=1e-12)
    for kk, w in enumerate(req.widths):
        a = req.architecture(w)
        expected = np.stack([empirical_ntk(a, init_params(a, 3 + i), x0, X)[0] for i in range(2)])
        np.testing.assert_allclose(snaps[-1].curves[kk], expected, rtol=1e-10, atol=1e-12)


def test_the_limit_slice_turns_with_x0():
    """Θ∞ depends on x0·x and the norms only: Θ∞(x0(α), x(γ)) = Θ∞((1, 0), x(γ − α))."""
    alpha = 2 * np.pi / 8                      # a multiple of the grid step 2π/64
    req = KernelSliceRequest(**{**SMALL, "n_angles": 65}, x0_angle=alpha)
    moved = next(iter(ks.limit_slice_job(req)))
    paper = next(iter(ks.limit_slice_job(KernelSliceRequest(**{**SMALL, "n_angles": 65}))))
    shift = 8                                  # γ − α is 8 grid steps to the left
    np.testing.assert_allclose(moved.ntk_limit[0][shift:], paper.ntk_limit[0][:-shift], rtol=1e-12)
    assert np.argmax(moved.ntk_limit[0]) == 32 + shift        # the peak sits at γ = α
    assert moved.n_done == (0, 0) and moved.progress == 1.0


def test_the_default_x0_is_the_papers():
    req = KernelSliceRequest(**SMALL)
    assert req.x0_angle == 0.0
    np.testing.assert_array_equal(req.x0(), [[1.0, 0.0]])


@pytest.mark.parametrize("given, kept", [(3 * np.pi / 2, -np.pi / 2), (-7.0, -7.0 + 2 * np.pi), (np.pi, np.pi)])
def test_x0_angles_are_kept_in_minus_pi_to_pi(given, kept):
    assert KernelSliceRequest(**SMALL, x0_angle=given).x0_angle == pytest.approx(kept, abs=1e-15)


@pytest.mark.parametrize("bad", ["east", float("nan"), float("inf"), None])
def test_a_bad_x0_angle_is_one_line(bad):
    with pytest.raises(NTKInputError, match="angle of x0"):
        KernelSliceRequest(**SMALL, x0_angle=bad)
