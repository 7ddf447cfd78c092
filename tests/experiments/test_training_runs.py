"""The training job against core.training / core.predict computed independently."""
from __future__ import annotations

import numpy as np
import pytest

from ntk_desktop.core.analytic import analytic_kernels
from ntk_desktop.core.network import Architecture
from ntk_desktop.core.predict import predict_gd
from ntk_desktop.core.stability import max_stable_lr
from ntk_desktop.core.training import train
from ntk_desktop.data.synthetic import circle_slice, figure2_training_set
from ntk_desktop.errors import MemoryBudgetError, NTKInputError
from ntk_desktop.experiments import training_runs as tr
from ntk_desktop.experiments.training_runs import TrainingRequest, training_job

SMALL = dict(depth=3, widths=(8, 32), n_init=2, steps=12, record_every=3, n_angles=33)


def arch(req, w):
    return Architecture.build(2, depth=req.depth, widths=[w] * (req.depth - 1), outputs=1,
                              nonlinearity=req.nonlinearity, beta=req.beta)


def test_the_first_snapshot_is_the_infinite_width_prediction():
    req = TrainingRequest(**SMALL)
    first = next(iter(training_job(req)))
    X, y, angles = figure2_training_set(0)
    _, Xc, g = circle_slice(33)
    np.testing.assert_allclose(first.X_train, X)
    np.testing.assert_allclose(first.angles, g)
    times = np.array([0, 3, 6, 9, 12], dtype=float)
    np.testing.assert_allclose(first.times, times)
    a = arch(req, 8)
    kx, kt, ktt = analytic_kernels(a, X), analytic_kernels(a, Xc, X), analytic_kernels(a, Xc)
    p = predict_gd(kx.ntk, kt.ntk, kx.nngp, kt.nngp, ktt.nngp, y, times)
    np.testing.assert_allclose(first.limit_mean, p.mean[:, :, 0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(first.limit_percentiles, p.percentiles[:, :, :, 0], rtol=1e-10, atol=1e-12)
    assert first.lr_bound == pytest.approx(max_stable_lr(kx.ntk, 4))
    assert np.all(np.isnan(first.loss)) and first.n_recorded.tolist() == [0, 0, 0, 0]
    assert "largest stable learning rate" in first.status


def test_every_network_matches_core_training():
    req = TrainingRequest(**SMALL, linearized=True, dtype="float64")
    snaps = list(training_job(req))
    last = snaps[-1]
    assert last.state == "ok" and last.progress == 1.0 and last.final
    assert last.n_recorded.tolist() == [5] * 4
    X, y, _ = figure2_training_set(0)
    _, Xc, _ = circle_slice(33)
    for j in range(4):
        k, i = divmod(j, 2)
        r = train(arch(req, req.widths[k]), X, y, X_test=Xc, seed=i, lr=1.0, steps=12, record_every=3,
                  ntk_inputs=X, linearized=True)
        np.testing.assert_allclose(last.loss[j], r.loss, rtol=1e-12)
        np.testing.assert_allclose(last.drift[j], r.drift, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(last.f_circle[j], r.f_test[-1, :, 0], rtol=1e-12)
        np.testing.assert_allclose(last.f_lin_circle[j], r.f_lin_test[-1, :, 0], rtol=1e-12)
        np.testing.assert_allclose(last.lin_loss[j], r.lin_loss, rtol=1e-12)
    # snapshots are read-only and the limit arrays are shared, not copied
    assert not last.loss.flags.writeable
    assert last.limit_mean is snaps[0].limit_mean


def test_random_points_dataset():
    req = TrainingRequest(**{**SMALL, "widths": (8,), "n_init": 1}, dataset="random", n_points=6, data_seed=3)
    last = list(training_job(req))[-1]
    assert last.X_train.shape == (6, 2)
    np.testing.assert_allclose(last.y_train, last.X_train[:, 0] * last.X_train[:, 1])
    np.testing.assert_allclose(np.hypot(*last.X_train.T), 1.0)


def test_divergence_stops_the_run_and_keeps_the_curves():
    req = TrainingRequest(depth=3, widths=(16,), n_init=2, steps=200, record_every=1, n_angles=33, lr=2000.0)
    snaps = list(training_job(req))
    last = snaps[-1]
    assert last.state == "diverged" and "diverged" in last.message
    assert "exceeds" in snaps[0].message            # the bound is reported before training
    assert last.n_recorded.max() >= 1
    assert np.isfinite(last.loss[0, 0])             # the curves so far are kept


def test_cancellation_at_the_next_yield(monkeypatch):
    monkeypatch.setattr(tr, "YIELD_INTERVAL", 0.0)   # a snapshot after every record interval
    calls = {"n": 0}
    real = tr.train_iter

    def counting(*args, **kwargs):
        for s in real(*args, **kwargs):
            calls["n"] += 1
            yield s

    monkeypatch.setattr(tr, "train_iter", counting)
    req = TrainingRequest(depth=2, widths=(8,), n_init=1, steps=1000, record_every=1, n_angles=16)
    gen = training_job(req)
    next(gen)
    next(gen)
    next(gen)
    seen = calls["n"]
    gen.close()
    assert seen == 2 and calls["n"] == seen


@pytest.mark.parametrize("bad", [dict(lr=0), dict(lr=float("nan")), dict(steps=0), dict(widths=(8, 8)),
                                 dict(dataset="spiral"), dict(n_points=0), dict(record_every=0),
                                 dict(nonlinearity="nope"), dict(steps=100_000, record_every=1)])
def test_bad_requests_are_refused(bad):
    with pytest.raises(NTKInputError):
        TrainingRequest(**{**SMALL, **bad})


def test_memory_budget_is_checked_first():
    req = TrainingRequest(**SMALL, memory_budget=1000)
    with pytest.raises(MemoryBudgetError):
        next(iter(training_job(req)))


def test_record_steps_include_the_last_step():
    assert TrainingRequest(steps=10, record_every=4).record_steps().tolist() == [0, 4, 8, 10]
    assert TrainingRequest(steps=12, record_every=3).record_steps().tolist() == [0, 3, 6, 9, 12]


def test_float32_networks_on_the_compiled_steps_match_numpy_float32_training():
    """The desktop's default: float32 parameters, steps compiled (backend "auto"); the reference
    is core training in float32 on NumPy, and both stay close to the float64 run."""
    req = TrainingRequest(**SMALL)
    assert req.dtype == "float32" and req.backend == "auto"
    last = list(training_job(req))[-1]
    assert last.backend == "numba steps, float32"
    assert next(iter(training_job(TrainingRequest(**SMALL, backend="numpy", dtype="float64")))).backend == \
        "numpy steps, float64"
    X, y, _ = figure2_training_set(0)
    _, Xc, _ = circle_slice(33)
    for j in range(4):
        k, i = divmod(j, 2)
        a = arch(req, req.widths[k])
        r32 = train(a, X, y, X_test=Xc, seed=i, lr=1.0, steps=12, record_every=3, ntk_inputs=X, dtype="float32")
        r64 = train(a, X, y, X_test=Xc, seed=i, lr=1.0, steps=12, record_every=3, ntk_inputs=X)
        np.testing.assert_allclose(last.loss[j], r32.loss, rtol=2e-5)
        np.testing.assert_allclose(last.f_circle[j], r32.f_test[-1, :, 0], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(last.loss[j], r64.loss, rtol=2e-5)
        np.testing.assert_allclose(last.drift[j], r64.drift, rtol=1e-3, atol=1e-6)


def test_precision_is_validated():
    with pytest.raises(NTKInputError, match="precision"):
        TrainingRequest(**SMALL, dtype="float16")


def test_f_on_the_circle_is_evaluated_only_when_it_can_be_shown(monkeypatch):
    """Every record has its loss and drift; the networks' f on the circle (A inputs) is evaluated
    at most every CIRCLE_INTERVAL and at the last record — a record is a few steps on 4 points."""
    calls = []
    real = tr.train_iter

    def counting(*args, **kw):
        when = kw["test_when"]

        def spy():
            due = when()
            calls.append(due)
            return due
        kw["test_when"] = spy
        return real(*args, **kw)
    monkeypatch.setattr(tr, "train_iter", counting)
    monkeypatch.setattr(tr, "CIRCLE_INTERVAL", 3600.0)
    req = TrainingRequest(**{**SMALL, "n_init": 1, "widths": (8,), "steps": 30, "record_every": 1})
    snaps = list(training_job(req))
    last = snaps[-1]
    assert last.n_recorded.tolist() == [31] and np.all(np.isfinite(last.loss)) and np.all(np.isfinite(last.drift))
    assert calls.count(True) == 1            # the first record; then once an hour, and the last
    assert np.all(np.isfinite(last.f_circle)) and last.t_now.tolist() == [30.0]
    assert any(np.isfinite(s.t_now[0]) and s.t_now[0] == 0.0 for s in snaps[1:-1])
