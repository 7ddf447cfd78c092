"""``train_iter`` with its steps on an OpenCL device (``backend="opencl"``; ``"auto"`` with more
than SMALL_BATCH points when it selects a GPU): the same run as the NumPy reference.

Reference: ``train_iter(backend="numpy")`` from the same initialization — every record's loss,
outputs, test outputs, NTK drift, the final parameters, and where and why a run stops.  float64
to 1e-10 (the products are summed in another order); float32 to 1e-4.  Runs on PoCL's CPU device
here, on the GPU with ``NTK_TEST_OPENCL_DEVICE=gpu``.
"""
from types import SimpleNamespace

import numpy as np
import pytest

from ntk_desktop import backends
from ntk_desktop.backends import training
from ntk_desktop.core.derivatives import loss_value
from ntk_desktop.core.network import Architecture, apply, init_params
from ntk_desktop.errors import NTKInputError

from backend_helpers import inputs


@pytest.fixture
def opencl_selected(opencl_backend, monkeypatch):
    """``select("opencl")`` hands out the test device's backend (the fixture's choice)."""
    real = backends.select

    def select(name=None, device=None):
        if name == "opencl":
            return real("opencl", opencl_backend.dev.id)
        return real(name, device)

    monkeypatch.setattr(backends, "select", select)
    return opencl_backend


def _run(backend, arch, X, Y, dtype="float64", **kw):
    return list(training.train_iter(arch, X, Y, params=init_params(arch, 3, dtype), dtype=dtype, backend=backend,
                                    **kw))


def _close(a, b, tol):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
    return a.shape == b.shape and float(np.max(np.abs(a - b), initial=0.0)) <= tol * scale


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 1e-4)])
@pytest.mark.parametrize("outputs,last", [(1, False), (2, False), (1, True)])
def test_device_steps_follow_the_reference(opencl_selected, dtype, tol, outputs, last):
    if dtype == "float64" and not opencl_selected.dev.fp64:
        pytest.skip("device without fp64")
    rng = np.random.default_rng(1)
    arch = Architecture.build(4, depth=3, width=17, outputs=outputs, beta=0.2)
    X, Xt = inputs(rng, 40, 4), inputs(rng, 7, 4)
    Y = rng.standard_normal((40, outputs))
    kw = dict(X_test=Xt, ntk_inputs=X[:5], lr=0.7, steps=11, record_every=3, train_last_layer_only=last)
    dev = _run("opencl", arch, X, Y, dtype, **kw)
    ref = _run("numpy", arch, X, Y, dtype, **kw)
    assert [s.step for s in dev] == [s.step for s in ref] == [0, 3, 6, 9, 11]
    for a, b in zip(dev, ref):
        assert abs(a.loss - b.loss) <= tol * max(1.0, b.loss)
        assert _close(a.f_train, b.f_train, tol) and _close(a.f_test, b.f_test, tol)
        assert _close(a.ntk, b.ntk, tol) and abs(a.drift - b.drift) <= 10 * tol
    assert dev[-1].status == ref[-1].status == "ok" and dev[-1].message == ref[-1].message
    for w, r in zip(dev[-1].params.weights + dev[-1].params.biases, ref[-1].params.weights + ref[-1].params.biases):
        assert w.dtype == np.dtype(dtype) and _close(w, r, tol)
    if last:   # hidden layers untouched
        p0 = init_params(arch, 3, dtype)
        assert all(np.array_equal(a, b) for a, b in zip(dev[-1].params.weights[:-1], p0.weights[:-1]))


def test_a_diverging_run_stops_where_and_as_the_reference(opencl_selected):
    rng = np.random.default_rng(2)
    arch = Architecture.build(3, depth=3, width=20)
    X, Y = inputs(rng, 36, 3), rng.standard_normal((36, 1))
    kw = dict(lr=60.0, steps=200, record_every=5, check_stability=False)
    dev, ref = _run("opencl", arch, X, Y, **kw), _run("numpy", arch, X, Y, **kw)
    assert ref[-1].status == "diverged" and ref[-1].step < 200
    assert (dev[-1].status, dev[-1].step, dev[-1].message) == (ref[-1].status, ref[-1].step, ref[-1].message)
    assert [s.step for s in dev] == [s.step for s in ref]


def test_cancellation_between_steps(opencl_selected):
    rng = np.random.default_rng(3)
    arch = Architecture.build(3, depth=2, width=9)
    X, Y = inputs(rng, 33, 3), rng.standard_normal((33, 1))
    seen = []

    def progress(done, total):
        seen.append(done)

    snaps = _run("opencl", arch, X, Y, lr=0.5, steps=500, record_every=50, progress=progress,
                 cancel=lambda: len(seen) >= 7)
    assert snaps[-1].status == "cancelled" and snaps[-1].step == 7 and seen[-1] == 7
    ref = _run("numpy", arch, X, Y, lr=0.5, steps=7)
    assert _close(snaps[-1].f_train, ref[-1].f_train, 1e-10)


def test_a_host_step_reaches_the_device(opencl_selected):
    """After the NumPy path changed the parameters (a step the device's test refused), the
    device computes from the host's parameters again."""
    rng = np.random.default_rng(4)
    arch = Architecture.build(3, depth=2, width=6)
    X, Y = inputs(rng, 34, 3), rng.standard_normal((34, 1))
    params = init_params(arch, 0)
    stepper = training.stepper_factory("opencl", len(X), False)(arch, params, X, Y, 0.1, 0)
    code, loss = stepper.forward(0.0, 1e6)
    assert code == 0 and abs(loss - loss_value(apply(arch, params, X), Y)) <= 1e-12
    params.weights[-1][...] = 0.0          # what a NumPy step would do to the host copy
    stepper.invalidate()
    code, loss = stepper.forward(0.0, 1e6)
    assert abs(loss - loss_value(apply(arch, params, X), Y)) <= 1e-12


def test_where_the_steps_run(monkeypatch):
    plan = training.plan_steps
    assert plan("numpy", 1000, False).where == "numpy"
    assert plan("numba", 1000, False).where == "numpy"
    assert plan("opencl", 4, False).where == "opencl"
    assert plan("opencl", 100, True).where == "numpy"      # the linearized model: NumPy
    assert plan("auto", training.SMALL_BATCH, False).where != "opencl"
    # auto with more points: on the device exactly when auto selects an OpenCL device
    for primary, where in (("opencl", "opencl"), ("numba", "numpy"), ("numpy", "numpy")):
        chain = SimpleNamespace(primary=SimpleNamespace(name=primary))
        monkeypatch.setattr(backends, "select", lambda name=None, device=None, c=chain: c)
        assert plan("auto", training.SMALL_BATCH + 1, False) == training.StepPlan(where)
    with pytest.raises(NTKInputError):
        plan("cuda", 10, False)


def test_the_mnist_job_trains_on_the_device_it_names(opencl_selected):
    from ntk_desktop.experiments import mnist_eigen as me

    def run(backend):
        req = me.MnistRequest(depth=2, widths=(16,), n_digits=40, backend=backend, steps=30)
        return list(me.mnist_job(req))[-1]

    dev, ref = run("opencl"), run("numpy")
    assert dev.backend == "opencl steps" and ref.backend == "numpy steps"
    n = int(ref.n_recorded[0])
    assert n > 2 and int(dev.n_recorded[0]) == n
    assert _close(dev.g_norm[:, :n], ref.g_norm[:, :n], 1e-10) and _close(dev.h_norm[:, :n], ref.h_norm[:, :n], 1e-10)
