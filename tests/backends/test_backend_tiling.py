"""Tiled computation: tiles give the one-block result, results can go to an array or a
memory-mapped .npy, progress is reported per tile, cancellation stops within one tile, and the
block size follows the memory budget.

Tolerances: tiling changes only which BLAS routine sums a product (syrk on diagonal tiles, gemm
elsewhere) and in which order, so tiled and one-block results agree to 1e-12 (float64) relative
to the largest entry.
"""
import numpy as np
import pytest

from ntk_desktop.backends import tiling
from ntk_desktop.backends.base import relative_error
from ntk_desktop.core import analytic, empirical
from ntk_desktop.core.network import init_params
from ntk_desktop.errors import Cancelled, MemoryBudgetError, NTKInputError

from backend_helpers import build, inputs


@pytest.mark.parametrize("nL", [1, 2])
@pytest.mark.parametrize("cross", [False, True])
def test_empirical_tiles_equal_one_block(any_backend, nL, cross):
    arch = build(5, 3, 11, nL, "relu", "ntk", 0.2)
    rng = np.random.default_rng(4)
    X1 = inputs(rng, 37, 5)
    X2 = inputs(rng, 23, 5) if cross else None
    p = init_params(arch, 1)
    one = any_backend.empirical_ntk(arch, p, X1, X2)
    for block in (16, 7):  # 16: whole OpenCL work-group tiles; 7: ragged everywhere
        tiled = any_backend.empirical_ntk(arch, p, X1, X2, block=block)
        assert relative_error(tiled, one) <= 1e-12
    assert relative_error(one, empirical.empirical_ntk(arch, p, X1, X2, full=True)) <= 1e-12
    if not cross:
        assert np.array_equal(tiled, tiled.transpose(1, 0, 3, 2))


@pytest.mark.parametrize("cross", [False, True])
def test_analytic_tiles_equal_one_block(any_backend, cross):
    arch = build(6, 4, 10, 1, "erf", "standard", 0.4)
    rng = np.random.default_rng(5)
    X1 = inputs(rng, 41, 6)
    X2 = inputs(rng, 19, 6) if cross else None
    one = any_backend.analytic_kernels(arch, X1, X2)
    tiled = any_backend.analytic_kernels(arch, X1, X2, block=16)
    ragged = any_backend.analytic_kernels(arch, X1, X2, block=9)
    for k in (tiled, ragged):
        assert relative_error(k.ntk, one.ntk) <= 1e-12 and relative_error(k.nngp, one.nngp) <= 1e-12
    ref = analytic.analytic_kernels(arch, X1, X2)
    assert relative_error(one.ntk, ref.ntk) <= 1e-11


def test_features_recomputed_per_block_when_they_do_not_fit(fast_backend):
    """A budget too small for the features of all inputs: they are recomputed per block."""
    arch = build(8, 3, 64, 1, "tanh", "ntk", 0.1)
    rng = np.random.default_rng(6)
    X = inputs(rng, 50, 8)
    p = init_params(arch, 2)
    per_row = fast_backend._feature_row_bytes(arch, 8)
    plan = tiling.plan_blocks(50, 50, True, per_row=per_row, per_pair=64, budget=50 * per_row, block=16)
    assert not plan.cache_features
    theta = fast_backend.empirical_ntk(arch, p, X, memory_budget=50 * per_row + 4 * per_row, block=16)
    assert relative_error(theta, empirical.empirical_ntk(arch, p, X, full=True)) <= 1e-12


def test_out_array_memmap_and_path(any_backend, tmp_path):
    arch = build(4, 2, 9, 1, "relu", "ntk", 0.1)
    rng = np.random.default_rng(8)
    X = inputs(rng, 21, 4)
    p = init_params(arch, 3)
    ref = empirical.empirical_ntk(arch, p, X, full=True)
    # a plain array, 4-D and (n_L = 1) 2-D
    out = np.full((21, 21, 1, 1), np.nan)
    assert any_backend.empirical_ntk(arch, p, X, out=out, block=8) is out
    assert relative_error(out, ref) <= 1e-12
    out2 = np.full((21, 21), np.nan)
    assert any_backend.empirical_ntk(arch, p, X, out=out2, block=8) is out2
    assert relative_error(out2, ref[:, :, 0, 0]) <= 1e-12
    # a path: a memory-mapped .npy written tile by tile
    mm = any_backend.empirical_ntk(arch, p, X, out=tmp_path / "theta", block=8)
    assert isinstance(mm, np.memmap)
    loaded = np.load(tmp_path / "theta.npy")
    assert loaded.shape == (21, 21, 1, 1) and relative_error(loaded, ref) <= 1e-12
    # an existing memmap
    mm2 = np.lib.format.open_memmap(tmp_path / "given.npy", mode="w+", dtype=np.float64, shape=(21, 21, 1, 1))
    assert any_backend.empirical_ntk(arch, p, X, out=mm2, block=8) is mm2
    del mm2
    assert relative_error(np.load(tmp_path / "given.npy"), ref) <= 1e-12
    # analytic: a pair of outputs
    k = any_backend.analytic_kernels(arch, X, out=(tmp_path / "nngp.npy", None), block=8)
    assert isinstance(k.nngp, np.memmap)
    assert relative_error(np.load(tmp_path / "nngp.npy"), analytic.analytic_kernels(arch, X).nngp) <= 1e-12


@pytest.mark.parametrize("bad", ["dtype", "shape", "strided", "pair"])
def test_bad_out(numpy_backend, bad):
    arch = build(3, 2, 4)
    p = init_params(arch, 0)
    X = np.ones((5, 3))
    if bad == "pair":
        with pytest.raises(NTKInputError):
            numpy_backend.analytic_kernels(arch, X, out=np.empty((5, 5)))
        return
    out = {"dtype": np.empty((5, 5, 1, 1), np.float32), "shape": np.empty((5, 4, 1, 1)),
           "strided": np.empty((5, 10, 1, 1))[:, ::2]}[bad]
    with pytest.raises(NTKInputError):
        numpy_backend.empirical_ntk(arch, p, X, out=out)


def test_progress_per_tile(any_backend):
    arch = build(4, 2, 8)
    p = init_params(arch, 0)
    X = np.random.default_rng(0).standard_normal((40, 4))
    calls = []
    any_backend.empirical_ntk(arch, p, X, block=16, progress=lambda d, t: calls.append((d, t)))
    # 40 rows in blocks of 16: 3 block rows, upper triangle 3 + 2 + 1 tiles
    assert calls == [(i, 6) for i in range(1, 7)]
    calls.clear()
    any_backend.analytic_kernels(arch, X, X[:7], block=16, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 3), (2, 3), (3, 3)]


@pytest.mark.parametrize("cross", [False, True])
def test_rows_done_reports_rows_that_are_final(any_backend, cross):
    """rows_done(r) promises that rows [0, r) of both results never change again: a snapshot
    taken at each call equals the finished result (and the core reference)."""
    arch = build(5, 3, 9, 1, "relu", "ntk", 0.3)
    rng = np.random.default_rng(7)
    X1 = inputs(rng, 37, 5)
    X2 = inputs(rng, 13, 5) if cross else None
    out = (np.full((37, 13 if cross else 37), np.nan), np.full((37, 13 if cross else 37), np.nan))
    seen = []
    any_backend.analytic_kernels(arch, X1, X2, out=out, block=8,
                                 rows_done=lambda r: seen.append((r, out[0][:r].copy(), out[1][:r].copy())))
    assert [r for r, _, _ in seen] == [0, 8, 16, 24, 32, 37]   # at the start, then once per block row
    for r, nngp, ntk in seen:
        assert np.array_equal(nngp, out[0][:r]) and np.array_equal(ntk, out[1][:r])
    ref = analytic.analytic_kernels(arch, X1, X2)
    assert relative_error(out[1], ref.ntk) <= 1e-12 and relative_error(out[0], ref.nngp) <= 1e-12


@pytest.mark.parametrize("op", ["empirical", "analytic"])
def test_cancel_within_one_tile(any_backend, op):
    arch = build(4, 2, 8)
    p = init_params(arch, 0)
    X = np.random.default_rng(0).standard_normal((50, 4))
    done = []

    def progress(d, t):
        done.append(d)

    def cancel():
        return len(done) >= 2  # asked for after the second tile

    with pytest.raises(Cancelled):
        if op == "empirical":
            any_backend.empirical_ntk(arch, p, X, block=10, progress=progress, cancel=cancel)
        else:
            any_backend.analytic_kernels(arch, X, block=10, progress=progress, cancel=cancel)
    assert done == [1, 2]  # no tile after the request


def test_progress_may_raise_cancelled(numba_backend):
    arch = build(4, 2, 8)
    p = init_params(arch, 0)

    def progress(d, t):
        raise Cancelled("stop")

    with pytest.raises(Cancelled):
        numba_backend.empirical_ntk(arch, p, np.ones((30, 4)), block=10, progress=progress)


def test_plan_blocks_follows_budget():
    small = tiling.plan_blocks(10000, 10000, True, per_row=1000, per_pair=32, budget=64 << 20)
    big = tiling.plan_blocks(10000, 10000, True, per_row=1000, per_pair=32, budget=4 << 30)
    assert small.cache_features and big.cache_features
    assert small.block < big.block <= tiling.DEFAULT_MAX_BLOCK
    assert small.block ** 2 * 32 + 10000 * 1000 <= 64 << 20
    assert small.block % 32 == 0
    # features of all rows do not fit: recomputed per block, still inside the budget
    plan = tiling.plan_blocks(10 ** 6, 10 ** 6, False, per_row=4000, per_pair=8, budget=256 << 20)
    assert not plan.cache_features
    assert plan.block ** 2 * 8 + 2 * plan.block * 4000 <= 256 << 20
    # the largest single allocation (OpenCL) bounds a tile too
    plan = tiling.plan_blocks(5000, 5000, True, per_row=10, per_pair=4, budget=1 << 30, max_alloc=1 << 20)
    assert plan.block ** 2 * 4 <= 1 << 20
    with pytest.raises(MemoryBudgetError):
        tiling.plan_blocks(100, 100, True, per_row=10, per_pair=4, budget=1000, fixed=2000)
    with pytest.raises(MemoryBudgetError):
        tiling.plan_blocks(100, 100, True, per_row=10 ** 6, per_pair=10 ** 6, budget=10 ** 6)
    assert tiling.plan_tiles(5, 5, True, 2) == [tiling.Tile(0, 2, 0, 2), tiling.Tile(0, 2, 2, 4),
                                                 tiling.Tile(0, 2, 4, 5), tiling.Tile(2, 4, 2, 4),
                                                 tiling.Tile(2, 4, 4, 5), tiling.Tile(4, 5, 4, 5)]


def test_budget_too_small_for_the_parameters(opencl_backend):
    arch = build(4, 2, 100)
    with pytest.raises(MemoryBudgetError):
        opencl_backend.empirical_ntk(arch, init_params(arch, 0, "float32"), np.ones((3, 4)), memory_budget=1000)


def test_small_budget_still_exact(numba_backend):
    arch = build(6, 3, 30, 1, "relu", "ntk", 0.1)
    X = np.random.default_rng(2).standard_normal((60, 6))
    p = init_params(arch, 0)
    theta = numba_backend.empirical_ntk(arch, p, X, memory_budget=60 * 1000)
    assert relative_error(theta, empirical.empirical_ntk(arch, p, X, full=True)) <= 1e-12
