"""The in-place npz writer of ``ntk kernel``: rows handed over while computing are checksummed
and checked in the background; the archive is judged by Python's own zipfile (CRC-32 of every
member) and read back by np.load."""
import zipfile

import numpy as np
import pytest

from ntk_desktop.cli.npz_inplace import NpzInPlace


def _fill(npz, data, rows):
    for key, a in data.items():
        npz.maps[key][rows] = a[rows]


@pytest.mark.parametrize("pieces", [[], [3, 10, 17], [5, 2, 17], [17, 17]])
def test_rows_handed_over_in_pieces_give_a_valid_archive(tmp_path, pieces):
    """[5, 2, 17]: a writer that starts over (a backend fallback) after rows were handed over."""
    rng = np.random.default_rng(0)
    data = {"ntk": rng.standard_normal((17, 6)).astype(np.float32), "nngp": rng.standard_normal((17, 6))}
    checked = {k: 0 for k in data}

    def check(name, rows):
        checked[name] += len(rows)

    path = tmp_path / "k.npz"
    npz = NpzInPlace(path, {k: (a.shape, a.dtype) for k, a in data.items()}, {"kind": np.array("analytic")},
                     check=check)
    done = 0
    for r in pieces:
        if r < done:  # start over: the earlier rows are rewritten with other values first
            data = {k: a * 2 for k, a in data.items()}
            _fill(npz, data, slice(0, done))
            done = 0
        _fill(npz, data, slice(done, r))
        npz.rows_done(r)
        done = r
    _fill(npz, data, slice(done, 17))
    npz.close()
    assert zipfile.ZipFile(path).testzip() is None
    with np.load(path) as z:
        for k, a in data.items():
            assert z[k].dtype == a.dtype and np.array_equal(z[k], a)
        assert str(z["kind"]) == "analytic"
    assert all(n >= 17 for n in checked.values())  # every row seen (rows before a restart: again)


def test_a_refused_row_stops_the_writer(tmp_path):
    bad = np.zeros((12, 4))
    bad[9, 1] = np.inf

    def check(name, rows):
        if not np.isfinite(rows).all():
            raise ValueError(f"{name}: not finite")

    npz = NpzInPlace(tmp_path / "k.npz", {"ntk": ((12, 4), np.float64)}, {}, check=check)
    npz.maps["ntk"][:8] = bad[:8]
    npz.rows_done(8)
    npz.maps["ntk"][8:] = bad[8:]
    npz.rows_done(12)
    with pytest.raises(ValueError, match="ntk: not finite"):
        npz.finish()
    npz.abandon()
    assert not zipfile.is_zipfile(tmp_path / "k.npz")  # never completed: the caller removes it


def test_abandon_while_rows_are_being_checked(tmp_path):
    npz = NpzInPlace(tmp_path / "k.npz", {"ntk": ((2000, 500), np.float64)}, {})
    npz.maps["ntk"][:] = 1.0
    npz.rows_done(2000)
    npz.abandon()  # joins the background thread before the maps go
    assert npz.maps == {}


def test_a_backend_fallback_voids_the_rows_reported_before(tmp_path):
    """The first backend reports a block row, then fails: the next one starts over (rows_done(0))
    and the archive holds its results with their own checksums."""
    from ntk_desktop.backends.base import BackendChain, BackendUnsupported
    from ntk_desktop.backends.numpy_backend import NumpyBackend
    from ntk_desktop.core.analytic import analytic_kernels
    from ntk_desktop.core.network import Architecture

    class Failing(NumpyBackend):
        name = "failing"

        def _analytic_tile(self, arch, state, tile, sym, dtype, nngp, ntk, mirror=False):
            nngp[tile.r0:tile.r1, tile.c0:tile.c1] = 7.0
            ntk[tile.r0:tile.r1, tile.c0:tile.c1] = 7.0
            if tile.r0 > 0:
                raise BackendUnsupported("fails on its second block row")

    arch = Architecture.build(3, depth=3, width=5, nonlinearity="relu", beta=0.2)
    X = np.random.default_rng(2).standard_normal((20, 3))
    path = tmp_path / "k.npz"
    npz = NpzInPlace(path, {"ntk": ((20, 20), np.float64), "nngp": ((20, 20), np.float64)}, {})
    chain = BackendChain([Failing(), NumpyBackend()])
    chain.analytic_kernels(arch, X, out=(npz.maps["nngp"], npz.maps["ntk"]), block=8, rows_done=npz.rows_done)
    assert chain.last_used["analytic_kernels"] == "numpy"
    npz.close()
    assert zipfile.ZipFile(path).testzip() is None
    ref = analytic_kernels(arch, X)
    with np.load(path) as z:
        np.testing.assert_allclose(z["ntk"], ref.ntk, rtol=1e-12)
