"""The Zarr tile store of ntk regress: resume after an interruption, reuse, refusal of a foreign store."""
import numpy as np
import pytest

from conftest import dense_reference, one_hot_centred
from ntk_desktop.backends.tiling import plan_tiles
from ntk_desktop.core.network import Architecture
from ntk_desktop.errors import Cancelled, NTKInputError
from ntk_desktop.experiments.regression import regress
from ntk_desktop.experiments.regression.tiles import KernelJob

BLOCK = 32


@pytest.fixture
def counted(monkeypatch):
    """Every tile computed, as (rows, cols or None) sizes."""
    calls = []
    real = KernelJob.tile

    def tile(self, rows, cols=None):
        calls.append((len(rows), None if cols is None else len(cols)))
        return real(self, rows, cols)

    monkeypatch.setattr(KernelJob, "tile", tile)
    return calls


def n_tiles(n1, n2, same):
    return len(plan_tiles(n1, n2, same, BLOCK))


@pytest.mark.parametrize("budget", [None, 100_000])      # in RAM from the store, and out of core
def test_resume_after_interruption_computes_only_missing_tiles(problem, tmp_path, counted, budget):
    X, y, T, yt, arch = problem
    store = tmp_path / "tiles"
    stop_after = 5

    def cancel():
        return len(counted) >= stop_after

    with pytest.raises(Cancelled):
        regress(X, y, T, arch=arch, store=store, block=BLOCK, memory_budget=budget, cancel=cancel, tol=1e-9)
    assert len(counted) == stop_after
    counted.clear()
    res = regress(X, y, T, arch=arch, store=store, block=BLOCK, memory_budget=budget, tol=1e-9)
    train_total, test_total = n_tiles(130, 130, True), n_tiles(41, 130, False)
    assert len(counted) == train_total + test_total - stop_after
    ref = dense_reference(arch, X, one_hot_centred(y, 3), T, 1e-4)
    assert np.abs(res.predictions - ref).max() / np.abs(ref).max() < 1e-6


def test_store_reused_for_another_ridge_and_test_set(problem, tmp_path, counted):
    X, y, T, _, arch = problem
    store = tmp_path / "tiles"
    regress(X, y, T, arch=arch, store=store, block=BLOCK)
    counted.clear()
    res = regress(X, y, T, arch=arch, store=store, ridge=1e-2)         # tiles all read back
    assert counted == []
    assert np.allclose(res.predictions, dense_reference(arch, X, one_hot_centred(y, 3), T, 1e-2), rtol=0, atol=1e-8)
    regress(X, y, T[:7], arch=arch, store=store, ridge=1e-2)           # a new test set: its tiles only
    assert len(counted) == n_tiles(7, 130, False)
    assert all(c == 130 or c <= BLOCK for _, c in counted)


def test_torn_tile_without_marker_is_recomputed(problem, tmp_path, counted):
    X, y, T, _, arch = problem
    store = tmp_path / "tiles"
    first = regress(X, y, T, arch=arch, store=store, block=BLOCK)
    import zarr

    done = zarr.open_array(str(store / "train.done"), mode="a")
    values = zarr.open_array(str(store / "train"), mode="a")
    values[0:BLOCK, BLOCK:2 * BLOCK] = np.full((BLOCK, BLOCK), 1e9)   # a half-written chunk ...
    done[0, 1] = 0                                                      # ... whose marker was never set
    counted.clear()
    again = regress(X, y, T, arch=arch, store=store, block=BLOCK)
    assert counted == [(BLOCK, BLOCK)]
    assert np.allclose(again.predictions, first.predictions, rtol=0, atol=1e-12)


@pytest.mark.parametrize("change", ["inputs", "beta", "kernel", "dtype"])
def test_store_for_other_data_or_settings_is_refused(problem, tmp_path, change):
    X, y, T, _, arch = problem
    store = tmp_path / "tiles"
    regress(X, y, T, arch=arch, store=store, block=BLOCK)
    kw = dict(arch=arch, store=store, block=BLOCK)
    if change == "inputs":
        X = X + 1e-3
    elif change == "beta":
        kw["arch"] = Architecture.build(12, depth=3, nonlinearity="relu", beta=0.2)
    elif change == "kernel":
        kw["kernel"] = "nngp"
    else:
        kw["dtype"] = "float32"
    with pytest.raises(NTKInputError, match="holds tiles for other data or settings") as info:
        regress(X, y, T, **kw)
    assert "\n" not in str(info.value)


def test_folder_that_is_no_store_is_refused(problem, tmp_path):
    X, y, T, _, arch = problem
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(NTKInputError, match="not a tile store"):
        regress(X, y, T, arch=arch, store=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
