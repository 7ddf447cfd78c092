"""Compiled gradient descent on few points (backends/numba_train.py) against the NumPy reference.

``train_iter(backend="auto")`` runs every step in compiled code when there are at most
SMALL_BATCH training points; ``backend="numpy"`` is the reference.  Same records, same stop
tests and messages, parameters to rounding."""
from __future__ import annotations

import numpy as np
import pytest

from ntk_desktop.backends import training as BT
from ntk_desktop.backends.training import train, train_iter
from ntk_desktop.core import training as T
from ntk_desktop.core.network import Architecture, init_params
from ntk_desktop.errors import NTKInputError

RNG = np.random.default_rng(7)


def problem(n0, widths, n_out, N, seed=0, **kw):
    arch = Architecture.build(n0, depth=len(widths) + 1, widths=list(widths), outputs=n_out, **kw)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, n0))
    Y = rng.standard_normal((N, n_out)) * 0.5
    return arch, X, Y


def final_params(arch, X, Y, backend, **kw):
    snaps = list(train_iter(arch, X, Y, backend=backend, **kw))
    return snaps, snaps[-1].params


SHAPES = [
    # n0, hidden widths, n_out, N: one input; width 1; odd widths and N not a multiple of 4
    # (padding), two outputs; no hidden layer; the largest batch that runs compiled
    (3, (), 1, 1),
    (2, (1,), 1, 1),
    (3, (7, 5), 2, 5),
    (2, (13, 9, 6), 1, 4),
    (4, (33,), 3, 7),
    (5, (16, 16), 1, BT.SMALL_BATCH),
]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"n0{s[0]}-w{'x'.join(map(str, s[1])) or 'none'}-out{s[2]}-N{s[3]}")
@pytest.mark.parametrize("parametrization", ["ntk", "standard"])
def test_float64_steps_match_the_reference(shape, parametrization, monkeypatch):
    n0, widths, n_out, N = shape
    arch, X, Y = problem(n0, widths, n_out, N, nonlinearity="relu", beta=0.1, parametrization=parametrization)
    lr = 0.5 if parametrization == "ntk" else 0.02
    kw = dict(lr=lr, steps=23, record_every=5, X_test=X[:2] + 0.1, ntk_inputs=X)
    ref, p_ref = final_params(arch, X, Y, "numpy", **kw)
    monkeypatch.setattr(T, "descend", None)          # every step compiled: the NumPy step is never used
    got, p_got = final_params(arch, X, Y, "auto", **kw)
    assert [s.step for s in got] == [s.step for s in ref] == [0, 5, 10, 15, 20, 23]
    assert got[-1].status == ref[-1].status == "ok"
    np.testing.assert_allclose([s.loss for s in got], [s.loss for s in ref], rtol=1e-11, atol=1e-300)
    for s, r in zip(got, ref):
        np.testing.assert_allclose(s.f_train, r.f_train, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(s.f_test, r.f_test, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(s.drift, r.drift, rtol=1e-8, atol=1e-13)
    for a, b in zip(p_got.weights + p_got.biases, p_ref.weights + p_ref.biases):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("nonlinearity,slope", [("identity", None), ("leaky_relu", 0.2), ("leaky_relu", -1.5),
                                                ("erf", None), ("tanh", None), ("sigmoid", None),
                                                ("softplus", None), ("gelu", None)])
def test_every_nonlinearity(nonlinearity, slope):
    arch, X, Y = problem(3, (9, 6), 1, 3, nonlinearity=nonlinearity, slope=slope, beta=0.3)
    kw = dict(lr=0.3, steps=17, record_every=4)
    ref, p_ref = final_params(arch, X, Y, "numpy", **kw)
    got, p_got = final_params(arch, X, Y, "auto", **kw)
    np.testing.assert_allclose([s.loss for s in got], [s.loss for s in ref], rtol=1e-11)
    for a, b in zip(p_got.weights + p_got.biases, p_ref.weights + p_ref.biases):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def test_last_layer_only_and_frozen_standard_biases():
    arch, X, Y = problem(2, (11, 6), 1, 6, nonlinearity="tanh", beta=0.0, parametrization="standard")
    for last_only in (True, False):
        kw = dict(lr=0.05, steps=9, record_every=3, train_last_layer_only=last_only)
        _, p_ref = final_params(arch, X, Y, "numpy", **kw)
        _, p_got = final_params(arch, X, Y, "auto", **kw)
        p0 = init_params(arch, 0, np.float64)
        for l, (a, b) in enumerate(zip(p_got.weights, p_ref.weights)):
            np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)
            if last_only and l < arch.depth - 1:
                np.testing.assert_array_equal(a, p0.weights[l])
        for a, b0 in zip(p_got.biases, p0.biases):      # β = 0, standard: biases never move
            np.testing.assert_array_equal(a, b0)


def test_float32_is_as_accurate_as_numpy_float32():
    """Against a float64 run of the same initialization, the compiled float32 steps (float64 sums)
    are no further off than the NumPy float32 steps."""
    arch, X, Y = problem(2, (64, 64, 64), 1, 4, nonlinearity="relu", beta=0.1)
    kw = dict(lr=1.0, steps=60, record_every=60)
    _, p64 = final_params(arch, X, Y, "numpy", **kw)
    _, p32 = final_params(arch, X, Y, "numpy", dtype="float32", **kw)
    snaps, pfast = final_params(arch, X, Y, "auto", dtype="float32", **kw)
    assert pfast.dtype == np.float32
    err_ref = max(np.abs(a - b).max() for a, b in zip(p32.weights, p64.weights))
    err_fast = max(np.abs(a - b).max() for a, b in zip(pfast.weights, p64.weights))
    assert err_fast <= 2 * err_ref + 1e-7
    assert err_fast < 1e-4


def test_divergence_stops_at_the_same_step_with_the_same_message():
    arch, X, Y = problem(2, (16, 16), 1, 4, nonlinearity="relu", beta=0.1)
    for factor in (1e6, 50.0):
        kw = dict(lr=400.0, steps=300, record_every=7, divergence_factor=factor)
        ref, p_ref = final_params(arch, X, Y, "numpy", **kw)
        got, p_got = final_params(arch, X, Y, "auto", **kw)
        assert ref[-1].status == got[-1].status == "diverged"
        assert got[-1].step == ref[-1].step and got[-1].message == ref[-1].message
        assert [s.step for s in got] == [s.step for s in ref]
        for a, b in zip(p_got.weights, p_ref.weights):      # the state before the bad step, kept
            np.testing.assert_allclose(a, b, rtol=1e-9)


def test_a_step_whose_back_propagation_could_overflow_is_left_to_the_reference(monkeypatch):
    """The compiled step declines when its bound cannot prove the back-propagated factors finite
    (here: the bound is made tiny); train_iter then takes every step itself — same results."""
    from ntk_desktop.backends import numba_train as nt

    arch, X, Y = problem(2, (8, 8), 1, 3, nonlinearity="relu", beta=0.1)
    real = nt.SmallBatchStepper.__init__

    def tiny_bound(self, *a, **kw):
        real(self, *a, **kw)
        self._big = 1e-30
    monkeypatch.setattr(nt.SmallBatchStepper, "__init__", tiny_bound)
    calls = []
    real_descend = T.descend

    def counting(*a, **kw):
        calls.append(1)
        return real_descend(*a, **kw)
    monkeypatch.setattr(T, "descend", counting)
    kw = dict(lr=0.5, steps=12, record_every=5)
    ref, p_ref = final_params(arch, X, Y, "numpy", **kw)
    n_ref = len(calls)
    calls.clear()
    got, p_got = final_params(arch, X, Y, "auto", **kw)
    assert len(calls) == n_ref == 12                  # every step by the reference path
    for a, b in zip(p_got.weights, p_ref.weights):
        np.testing.assert_array_equal(a, b)


def test_progress_every_step_and_cancellation_between_chunks(monkeypatch):
    arch, X, Y = problem(2, (8,), 1, 4, nonlinearity="relu", beta=0.1)
    seen = []
    res = train(arch, X, Y, lr=0.1, steps=40, record_every=10, backend="auto",
                progress=lambda d, t: seen.append((d, t)))
    assert seen == [(k, 40) for k in range(1, 41)]
    assert res.steps.tolist() == [0, 10, 20, 30, 40]
    # chunks of at most 3 steps: a cancel request is seen within 3 steps
    monkeypatch.setattr(T, "CHUNK_WORK", 3 * arch.n_params)
    done = []
    res = train(arch, X, Y, lr=0.1, steps=40, record_every=20, backend="auto",
                progress=lambda d, t: done.append(d), cancel=lambda: len(done) >= 5)
    assert res.status == "cancelled"
    assert 5 <= res.steps[-1] <= 8


def test_when_the_compiled_steps_apply():
    arch, X, Y = problem(2, (8,), 1, BT.SMALL_BATCH + 1, nonlinearity="relu", beta=0.1)
    p = init_params(arch, 0, np.float64)
    assert BT.stepper_factory("auto", len(X), False) is None or BT.plan_steps("auto", len(X), False).where == "opencl"
    assert BT.stepper_factory("auto", 4, True) is None                                  # linearized
    assert BT.stepper_factory("numpy", 4, False) is None
    stepper = BT.stepper_factory("numba", 4, False)(arch, p, X[:4], Y[:4], 0.1, 0)
    assert stepper is not None and stepper.where == "numba"
    # the choice is kept, or the caller learns why not
    assert BT.plan_steps("numba", 4, False).label == "numba steps"
    assert BT.plan_steps("numba", len(X), False).label == (
        f"numpy steps (not numba: compiled steps take at most {BT.SMALL_BATCH} points)")
    assert BT.plan_steps("opencl", 4, True).label == (
        "numpy steps (not opencl: the linearized model trains on numpy)")
    assert BT.plan_steps("numpy", 4, False).label == "numpy steps"
    with pytest.raises(NTKInputError, match="training backend"):
        list(train_iter(arch, X, Y, backend="cuda", steps=2))


def test_a_linearized_run_with_backend_auto_is_the_reference():
    arch, X, Y = problem(2, (8,), 1, 4, nonlinearity="relu", beta=0.1)
    kw = dict(lr=0.3, steps=6, record_every=3, linearized=True)
    ref = train(arch, X, Y, **kw)
    got = train(arch, X, Y, backend="auto", **kw)
    np.testing.assert_array_equal(got.loss, ref.loss)
    np.testing.assert_array_equal(got.lin_loss, ref.lin_loss)
