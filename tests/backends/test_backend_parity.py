"""Parity of every backend (numpy, numba, opencl) with the NumPy reference of ``ntk_desktop.core``.

Measure: ``relative_error(a, ref) = max|a - ref| / max|ref|`` over the whole array.

Tolerances (dtype-aware):

* float64 — 1e-11 for every operation (measured ≤ 1e-15: the products are summed in another
  order, nothing else differs; analytic diagonal entries use ρ = 1 exactly where the reference
  rounds x·x, a difference of ~1e-16 there);
* float32 — compared with the float64 reference *of the same float32 parameters and inputs*, so
  the bound is the float32 arithmetic error itself: 3e-5 for the empirical NTK and the building
  blocks (measured ≤ 1e-6 at these sizes: depth ≤ 4, widths ≤ 40), 1e-5 for the analytic kernels
  (measured ≤ 5e-7; the recursion runs in float32 on both CPU and OpenCL), 1e-4 for a GD step's
  updated parameters (measured ≤ 1e-6).

Shapes cover N = 1, width 1, sizes that are not multiples of any tile, n_L > 1, cross kernels
X1 ≠ X2, depth 1 to 4, uneven widths, both parametrizations, and β = 0 (no biases).  The relu
programs see every shape; erf / tanh / leaky_relu a subset, to keep the number of OpenCL programs
PoCL compiles (each (dtype, nonlinearity) is one program) small.
"""
import numpy as np
import pytest

from ntk_desktop.backends.base import relative_error
from ntk_desktop.core import analytic, empirical, network
from ntk_desktop.core.network import init_params

from backend_helpers import build, inputs, slow_features, slow_gd_step, slow_ntk

TOL = {"float64": 1e-11, "float32": 3e-5}
TOL_ANALYTIC = {"float64": 1e-11, "float32": 1e-5}
TOL_GD = {"float64": 1e-11, "float32": 1e-4}

# id: (N1, N2 or None, n0, depth, width or hidden widths, n_L, parametrization, beta)
CASES = {
    "N1-depth1": (1, None, 3, 1, 5, 1, "ntk", 0.3),
    "width1-cross-N1": (1, 1, 3, 4, 1, 1, "standard", 0.3),
    "odd-depth4": (17, None, 5, 4, 7, 1, "ntk", 0.3),
    "cross-nL3": (19, 6, 9, 4, 13, 3, "standard", 0.5),
    "odd-tiles-nL2": (33, 35, 21, 2, 17, 2, "ntk", 0.1),
    "uneven-widths": (70, None, 10, 4, [9, 40, 3], 1, "standard", 0.2),
    "beta0-cross": (12, 5, 4, 3, 6, 1, "standard", 0.0),
}
SUBSET = ("odd-depth4", "cross-nL3")
ACT_CASES = [("relu", c) for c in CASES] + [(a, c) for a in ("erf", "tanh", "leaky_relu") for c in SUBSET]
CLOSED = ("relu", "erf", "leaky_relu", "identity")


def make(case, act, dtype, seed=0):
    N1, N2, n0, depth, width, nL, par, beta = CASES[case]
    widths = width if isinstance(width, list) else None
    arch = build(n0, depth, None if widths else width, nL, act, par, beta, widths=widths)
    rng = np.random.default_rng(seed)
    X1 = inputs(rng, N1, n0).astype(dtype)
    X2 = None if N2 is None else inputs(rng, N2, n0).astype(dtype)
    params = init_params(arch, seed + 1, dtype)
    return arch, params, X1, X2


def up(x):
    return None if x is None else np.asarray(x, dtype=np.float64)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("act,case", ACT_CASES, ids=[f"{a}-{c}" for a, c in ACT_CASES])
def test_empirical_ntk(any_backend, act, case, dtype):
    arch, params, X1, X2 = make(case, act, dtype)
    theta = any_backend.empirical_ntk(arch, params, X1, X2)
    ref = empirical.empirical_ntk(arch, params.astype(np.float64), up(X1), up(X2), full=True)
    assert theta.shape == ref.shape and theta.dtype == np.dtype(dtype)
    assert relative_error(theta, ref) <= TOL[dtype]
    if X2 is None:
        assert np.array_equal(theta, theta.transpose(1, 0, 3, 2))  # mirrored tiles: exactly symmetric


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", ["odd-depth4", "cross-nL3", "N1-depth1", "beta0-cross"])
def test_building_blocks(any_backend, case, dtype):
    """forward, backward and ntk_from_features against the slow per-sample reference of
    backend_helpers (loops over samples, explicit Jacobians), not the core's own functions."""
    arch, params, X1, X2 = make(case, "relu", dtype, seed=3)
    alphas, pres, output, ref_d = slow_features(arch, params, X1)
    fwd = any_backend.forward(arch, params, X1)
    assert len(fwd.alphas) == arch.depth and len(fwd.pre) == arch.depth - 1
    for a, r in zip(fwd.alphas + fwd.pre + [fwd.output], alphas + pres + [output]):
        assert a.dtype == np.dtype(dtype) and a.shape == r.shape
        assert relative_error(a, r) <= TOL[dtype]
    deltas = any_backend.backward(arch, params, fwd)
    assert len(deltas) == arch.depth
    for d, r in zip(deltas, ref_d):
        assert d.shape == r.shape
        assert relative_error(d, r) <= TOL[dtype]
    # the Gram/Hadamard combination on its own, from the reference's features
    cast = [np.asarray(a, dtype=dtype) for a in alphas]
    cast_d = [np.asarray(d, dtype=dtype) for d in ref_d]
    theta = any_backend.ntk_from_features(arch, cast, cast_d)
    want = slow_ntk(arch, alphas, ref_d, alphas, ref_d)
    assert theta.shape == want.shape and relative_error(theta, want) <= TOL[dtype]
    if X2 is not None:
        alphas2, _, _, d2 = slow_features(arch, params, X2)
        theta = any_backend.ntk_from_features(arch, cast, cast_d, [np.asarray(a, dtype=dtype) for a in alphas2],
                                              [np.asarray(d, dtype=dtype) for d in d2])
        assert relative_error(theta, slow_ntk(arch, alphas, ref_d, alphas2, d2)) <= TOL[dtype]


ANALYTIC_CASES = [(a, c) for a in ("relu", "erf") for c in CASES] + \
                 [("leaky_relu", c) for c in SUBSET] + [("identity", "cross-nL3")]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("act,case", ANALYTIC_CASES, ids=[f"{a}-{c}" for a, c in ANALYTIC_CASES])
def test_analytic_kernels(any_backend, act, case, dtype):
    arch, _, X1, X2 = make(case, act, "float64")
    k = any_backend.analytic_kernels(arch, X1, X2, dtype=dtype)
    ref = analytic.analytic_kernels(arch, X1, X2)
    for got, want in ((k.nngp, ref.nngp), (k.ntk, ref.ntk)):
        assert got.shape == want.shape and got.dtype == np.dtype(dtype)
        assert relative_error(got, want) <= TOL_ANALYTIC[dtype]
    if X2 is None:
        assert np.array_equal(k.ntk, k.ntk.T) and np.array_equal(k.nngp, k.nngp.T)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("par,beta,last", [("ntk", 0.5, False), ("standard", 0.3, False), ("standard", 0.0, False),
                                           ("ntk", 0.2, True)])
@pytest.mark.parametrize("act,nL", [("relu", 1), ("tanh", 2)])
def test_gd_step(any_backend, act, nL, par, beta, last, dtype):
    """A few steps of the backend's trainer against the explicit-Jacobian step of
    backend_helpers.slow_gd_step, step by step."""
    arch = build(6, 3, 9, nL, act, par, beta)
    rng = np.random.default_rng(7)
    X = rng.standard_normal((11, 6)).astype(dtype)
    Y = rng.standard_normal((11, nL)).astype(dtype)
    params = init_params(arch, 2, dtype)
    ref = params.astype(np.float64).copy()
    mine = params.copy()
    trainer = any_backend.gd_trainer(arch, mine, X, Y, last_layer_only=last)
    lr = 0.3
    for _ in range(3):
        f_ref = network.apply(arch, ref, up(X))
        loss_ref = 0.5 * np.sum((f_ref - Y.astype(np.float64)) ** 2) / len(X)
        loss, out = trainer.step(lr)
        assert out.shape == (11, nL) and relative_error(out, f_ref) <= TOL[dtype]
        assert abs(loss - loss_ref) <= TOL[dtype] * max(1.0, loss_ref)
        ref = slow_gd_step(arch, ref, up(X), up(Y), lr, last_layer_only=last)
    got = trainer.params()
    assert got is mine  # the caller's parameters, updated in place
    for a, r in zip(got.weights + got.biases, ref.weights + ref.biases):
        assert a.dtype == np.dtype(dtype)
        assert relative_error(a, r) <= TOL_GD[dtype]
    if last:  # hidden layers untouched
        for a, r in zip(got.weights[:-1], params.weights[:-1]):
            assert np.array_equal(a, r)


def test_gd_step_single(any_backend):
    arch = build(4, 2, 5, 1, "relu", "ntk", 0.1)
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((6, 4)), rng.standard_normal(6)
    params = init_params(arch, 0)
    before = network.apply(arch, params, X)
    want = slow_gd_step(arch, params, X, Y, 0.5)
    res = any_backend.gd_step(arch, params, X, Y, 0.5)
    assert res.params is params
    assert relative_error(res.output, before) <= 1e-12
    assert res.loss == pytest.approx(0.5 * np.sum((before[:, 0] - Y) ** 2) / len(Y), rel=1e-12)
    for a, r in zip(params.weights + params.biases, want.weights + want.biases):
        assert relative_error(a, r) <= 1e-12
