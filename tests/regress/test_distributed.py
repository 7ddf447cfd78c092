"""The Dask layer of ``ntk regress``: a kernel held as tiles by Dask workers equals the dense
NumPy-reference kernel (ragged tiles, N = 1, k = 1), survives a worker killed mid-run, works on
a cluster started with Dask's own ``dask scheduler`` / ``dask worker`` commands, and refuses
bad cluster options with one line."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import dense_reference
from ntk_desktop.cli import main
from ntk_desktop.core.analytic import analytic_kernels
from ntk_desktop.core.network import Architecture
from ntk_desktop.errors import NTKInputError
from ntk_desktop.experiments.regression.distributed import DaskKernelOperator, open_client
from ntk_desktop.experiments.regression.operators import DenseOperator
from ntk_desktop.experiments.regression.store import TileStore, fingerprint
from ntk_desktop.experiments.regression.tiles import KernelJob

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARCH = Architecture.build(3, depth=3, nonlinearity="relu", beta=0.1)


def _inputs(n, seed):
    return np.random.default_rng(seed).standard_normal((n, 3))


def _reference(kind, X, Y=None):
    k = analytic_kernels(ARCH, X, Y)  # the NumPy reference, the whole matrix at once
    return DenseOperator(k.ntk if kind == "ntk" else k.nngp)


@pytest.fixture(scope="module")
def cluster():
    conn = open_client(2, None, timeout=60)
    yield conn
    conn.close()


def _assert_same(op, ref, V, idx, rtol):
    np.testing.assert_allclose(op.matmat(V), ref.matmat(V), rtol=rtol, atol=rtol * np.abs(ref.K).max())
    np.testing.assert_allclose(op.columns(idx), ref.columns(idx), rtol=rtol)
    if op.shape[0] == op.shape[1]:
        np.testing.assert_allclose(op.diagonal(), ref.diagonal(), rtol=rtol)


def test_local_cluster_has_two_workers_and_says_where_the_dashboard_is(cluster):
    assert cluster.workers == 2 and "2 workers" in cluster.where
    assert cluster.dashboard  # an address, or why there is none


@pytest.mark.parametrize("n,block,k", [(13, 5, 3), (13, 5, 1), (1, 4, 2), (8, 8, 1)])
def test_symmetric_operator_equals_dense_reference(cluster, n, block, k):
    X = _inputs(n, n)
    op = DaskKernelOperator(cluster.client, KernelJob(ARCH, "ntk", "float64", "numpy"), X, block=block)
    try:
        op.wait()
        rng = np.random.default_rng(1)
        idx = rng.integers(0, n, size=min(n, 4))
        _assert_same(op, _reference("ntk", X), rng.standard_normal((n, k)), idx, 1e-12)
        assert op.shape == (n, n) and op.dtype == np.float64
    finally:
        op.close()


def test_rectangular_nngp_float32_equals_reference_to_float32_tolerance(cluster):
    X, T = _inputs(11, 2), _inputs(7, 3)
    op = DaskKernelOperator(cluster.client, KernelJob(ARCH, "nngp", "float32", "numpy"), T, X, block=4)
    try:
        assert op.shape == (7, 11) and op.dtype == np.float32
        V = np.random.default_rng(2).standard_normal((11, 2))
        _assert_same(op, _reference("nngp", T, X), V, np.array([10, 0, 4, 4]), 2e-6)
    finally:
        op.close()


def test_progress_reports_every_tile(cluster):
    seen = []
    op = DaskKernelOperator(cluster.client, KernelJob(ARCH, "ntk", "float64", "numpy"), _inputs(9, 4), block=3)
    try:
        op.wait(lambda done, total: seen.append((done, total)))
    finally:
        op.close()
    assert seen == [(i, 6) for i in range(1, 7)]  # 3 row blocks: 3 + 2 + 1 upper-triangle tiles


def test_killed_worker_costs_only_its_tiles(cluster):
    """A worker killed (SIGKILL) once tiles have landed on it: its tiles are recomputed by the
    cluster and every product still equals the reference."""
    from distributed import as_completed

    client = cluster.client
    X = _inputs(40, 5)
    op = DaskKernelOperator(client, KernelJob(ARCH, "ntk", "float64", "numpy"), X, block=6)
    try:
        first = next(iter(as_completed(op._futures)))
        victim = next(iter(client.who_has([first])[first.key]))
        pid = client.run(os.getpid, workers=[victim])[victim]
        lost = [f.key for f, hosts in zip(op._futures, client.who_has(op._futures).values()) if victim in hosts]
        assert lost  # the kill takes tiles with it
        os.kill(pid, signal.SIGKILL)
        V = np.random.default_rng(3).standard_normal((40, 2))
        _assert_same(op, _reference("ntk", X), V, np.array([0, 17, 39]), 1e-12)
        holders = client.who_has(op._futures)
        assert all(victim not in holders[key] for key in lost)
    finally:
        op.close()
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scheduler_address(info, wait=120.0):
    end = time.monotonic() + wait
    while True:
        try:
            return json.loads(info.read_text())["address"]
        except (OSError, ValueError, KeyError):  # not (completely) written yet
            if time.monotonic() > end:
                raise
            time.sleep(0.1)


def test_external_scheduler_and_workers_joined_by_address(tmp_path):
    """`ntk regress --scheduler ADDRESS` on a cluster of Dask's own `dask scheduler` and two
    `dask worker` processes predicts what SciPy's dense solve predicts."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    info = tmp_path / "scheduler.json"
    dask = [sys.executable, "-m", "dask"]
    commands = [["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]] + 2 * [
        ["worker", "--nthreads", "1", "--no-dashboard", "--no-nanny"]]  # all three start together
    procs = [subprocess.Popen(dask + c + ["--scheduler-file", str(info)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for c in commands]
    try:
        address = _scheduler_address(info)  # what `dask scheduler` prints
        X, y, T = _inputs(24, 9), np.arange(24) % 3, _inputs(6, 10)
        arch = ARCH
        np.save(tmp_path / "X.npy", X)
        np.save(tmp_path / "y.npy", y)
        np.save(tmp_path / "T.npy", T)
        with open_client(None, address, timeout=60) as conn:
            conn.client.wait_for_workers(2, timeout=60)
            assert address in conn.where and "none" in conn.dashboard
        out = tmp_path / "p.npz"
        assert main(["regress", "--inputs", str(tmp_path / "X.npy"), "--targets", str(tmp_path / "y.npy"),
                     "--test-inputs", str(tmp_path / "T.npy"), "--depth", "3", "--beta", "0.1", "--dtype", "float32",
                     "--scheduler", address, "--out", str(out), "--quiet"]) == 0
        Y = np.where(np.arange(3) == y[:, None], 0.9, -0.1)  # centred one-hot targets
        with np.load(out) as z:
            ref = dense_reference(arch, X, Y, T, float(z["ridge"]))
            np.testing.assert_allclose(z["predictions"], ref, rtol=1e-3, atol=1e-3 * np.abs(ref).max())
    finally:
        for p in procs:  # ours: no graceful shutdown needed
            p.kill()
        for p in procs:
            p.wait(timeout=60)


@pytest.mark.parametrize("workers,scheduler,needle", [
    (0, None, "--workers must be a positive"),
    (-2, None, "--workers must be a positive"),
    (2, "tcp://127.0.0.1:1", "not both"),
    (None, "tcp://127.0.0.1:{port}", "no Dask scheduler answered at tcp://127.0.0.1:"),
])
def test_bad_cluster_options_are_one_line(workers, scheduler, needle):
    if scheduler:
        scheduler = scheduler.format(port=_free_port())
    with pytest.raises(NTKInputError) as exc:
        open_client(workers, scheduler, timeout=1.0)
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_bad_scheduler_through_the_cli_is_one_line_exit_2(tmp_path, capsys):
    np.save(tmp_path / "X.npy", _inputs(5, 7))
    np.save(tmp_path / "y.npy", np.array([0, 1, 0, 1, 1]))
    address = f"tcp://127.0.0.1:{_free_port()}"
    code = main(["regress", "--inputs", str(tmp_path / "X.npy"), "--targets", str(tmp_path / "y.npy"),
                 "--scheduler", address, "--out", str(tmp_path / "p.npz")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and f"no Dask scheduler answered at {address}" in err
    assert "Traceback" not in err and not (tmp_path / "p.npz").exists()


def test_store_tiles_are_written_by_workers_and_read_back(cluster, tmp_path):
    """Tiles go to the shared store as the workers compute them; an operator on the same store
    reads them back (a tile altered in the store shows in its products) instead of recomputing."""
    X = _inputs(11, 8)
    job = KernelJob(ARCH, "ntk", "float64", "numpy")
    tiles = TileStore(tmp_path / "store", fingerprint(X, ARCH, "ntk", "float64", 4)).train()
    ref = _reference("ntk", X)
    op = DaskKernelOperator(cluster.client, job, X, block=4, store=tiles)
    op.wait()
    op.close()
    assert tiles.done_mask().all()
    first = tiles.tiles[1]  # off the diagonal: serves both halves of K
    np.testing.assert_allclose(tiles.read(first), ref.K[first.r0:first.r1, first.c0:first.c1], rtol=1e-12)
    tiles.write(first, 2 * tiles.read(first))
    K = ref.K.copy()
    K[first.r0:first.r1, first.c0:first.c1] *= 2
    K[first.c0:first.c1, first.r0:first.r1] *= 2
    V = np.random.default_rng(5).standard_normal((11, 2))
    again = DaskKernelOperator(cluster.client, job, X, block=4, store=tiles)
    try:
        _assert_same(again, DenseOperator(K), V, np.array([0, 5, 10]), 1e-12)
    finally:
        again.close()
    with pytest.raises(ValueError, match="tile store"):
        DaskKernelOperator(cluster.client, job, X, block=5, store=tiles)


def test_on_a_cluster_the_tiles_are_computed_and_timed_before_the_solve(cluster):
    """Progress reports every training tile done before the first CG step, and every test tile
    (the kernel's time is that of the tiles, not ~0 with the tiles left to the solve)."""
    from ntk_desktop.experiments.regression import regress

    X, y, T = _inputs(40, 11), np.arange(40) % 2, _inputs(7, 12)
    events = []
    res = regress(X, y, T, arch=ARCH, scheduler=cluster.client.scheduler.address, block=16,
                  progress=lambda phase, done, total, detail="": events.append((phase, done, total)))
    phases = [e[0] for e in events]
    first_cg = phases.index("cg")
    train = [e for e in events[:first_cg] if e[0] == "train tiles"]
    assert train and train[-1][1] == train[-1][2] == 6          # 3 row blocks: 6 upper-triangle tiles
    test = [e for e in events if e[0] == "test tiles"]
    assert test and test[-1][1] == test[-1][2] == 3             # 1 × 3 blocks
    assert min(i for i, p in enumerate(phases) if p == "test tiles") > first_cg
    assert res.timings["kernel"] > 0
