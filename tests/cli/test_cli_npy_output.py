"""``ntk kernel --out NAME.npy``: the kernel written tile by tile into a memory-mapped .npy, so a
result larger than the memory budget (or RAM) can be computed; atomic, with a JSON sidecar.

References: the NumPy core (``core.analytic``, ``core.empirical``) on the same inputs."""
import json
import os

import numpy as np
import pytest

from cli_helpers import run
from ntk_desktop.core.analytic import analytic_kernels
from ntk_desktop.core.empirical import empirical_ntk
from ntk_desktop.core.network import Architecture, init_params


@pytest.fixture
def inputs(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((700, 3))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    np.save(tmp_path / "X.npy", X)
    return tmp_path, X


def _leftovers(d):
    return [f for f in os.listdir(d) if ".part" in f]


def test_empirical_npy_larger_than_the_memory_budget(inputs, capsys):
    """700 × 700 float64 = 3.9 MB: refused as an .npz under a 3 MB budget (the result is held in
    RAM), computed in tiles into the .npy (the budget bounds only the scratch)."""
    d, X = inputs
    args = ["kernel", "--kind", "empirical", "--inputs", str(d / "X.npy"), "--depth", "3", "--width", "16",
            "--seed", "2", "--memory-budget", "3MB", "--backend", "numba"]
    code, _, err = run(args + ["--out", str(d / "k.npz")], capsys)
    assert code == 2 and "memory budget" in err and err.count("\n") == 1
    code, out, err = run(args + ["--out", str(d / "k.npy")], capsys)
    assert code == 0, err
    assert "k.npy" in out
    arch = Architecture.build(3, depth=3, width=16)
    ref = empirical_ntk(arch, init_params(arch, 2), X)
    K = np.load(d / "k.npy", mmap_mode="r")
    assert K.shape == (700, 700) and K.dtype == np.float64
    np.testing.assert_allclose(K, ref, rtol=1e-12, atol=1e-14)
    meta = json.loads((d / "k.json").read_text())
    assert meta["kind"] == "empirical" and meta["widths"] == [3, 16, 16, 1] and meta["seed"] == 2
    assert meta["shape"] == [700, 700] and meta["files"] == {"ntk": "k.npy"}
    assert not _leftovers(d) and not (d / "k.npz").exists()


def test_analytic_npy_writes_ntk_and_nngp(inputs, capsys):
    d, X = inputs
    code, out, err = run(["kernel", "--inputs", str(d / "X.npy"), "--depth", "3", "--nonlinearity", "erf",
                          "--out", str(d / "a.npy")], capsys)
    assert code == 0, err
    k = analytic_kernels(Architecture.build(3, depth=3, nonlinearity="erf"), X)
    np.testing.assert_allclose(np.load(d / "a.npy"), k.ntk, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.load(d / "a.nngp.npy"), k.nngp, rtol=1e-12, atol=1e-14)
    assert json.loads((d / "a.json").read_text())["files"] == {"ntk": "a.npy", "nngp": "a.nngp.npy"}


def test_npy_with_several_outputs_and_float32(inputs, capsys):
    d, X = inputs
    np.save(d / "Y.npy", X[:9])
    code, _, err = run(["kernel", "--kind", "empirical", "--inputs", str(d / "Y.npy"), "--depth", "2", "--width",
                        "12", "--outputs", "2", "--dtype", "float32", "--out", str(d / "m.npy")], capsys)
    assert code == 0, err
    arch = Architecture.build(3, depth=2, width=12, outputs=2)
    ref = empirical_ntk(arch, init_params(arch, 0), X[:9])
    K = np.load(d / "m.npy")
    assert K.shape == (9, 9, 2, 2) and K.dtype == np.float32
    np.testing.assert_allclose(K, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("extra,why", [(["--n-init", "3"], "--n-init > 1"),
                                       (["--method", "quadrature"], "--method quadrature")])
def test_npy_refusals_are_one_line(inputs, capsys, extra, why):
    d, _ = inputs
    kind = ["--kind", "empirical"] if "--n-init" in extra else []
    code, _, err = run(["kernel", "--inputs", str(d / "X.npy")] + kind + extra + ["--out", str(d / "r.npy")], capsys)
    assert code == 2 and why in err and err.count("\n") == 1
    assert not (d / "r.npy").exists() and not _leftovers(d)


def test_an_interrupted_npy_leaves_the_previous_file_and_nothing_partial(inputs, capsys, monkeypatch):
    d, _ = inputs
    (d / "k.npy").write_bytes(b"previous result")
    from ntk_desktop.backends.base import Backend

    real = Backend.empirical_ntk

    def interrupted(self, *a, progress=None, **kw):
        def stop(done, total):
            if done == 2:
                raise KeyboardInterrupt
        return real(self, *a, progress=stop, **kw)

    monkeypatch.setattr(Backend, "empirical_ntk", interrupted)
    code, _, err = run(["kernel", "--kind", "empirical", "--inputs", str(d / "X.npy"), "--width", "8",
                        "--backend", "numpy", "--memory-budget", "2MB", "--out", str(d / "k.npy")], capsys)
    assert code == 130 and "interrupted" in err
    assert (d / "k.npy").read_bytes() == b"previous result"
    assert not _leftovers(d) and not (d / "k.json").exists()


def test_n_init_leaves_the_rest_of_the_budget_to_the_tiles(inputs, capsys, monkeypatch):
    """--n-init holds 6 float64 results in RAM; each initialization's kernel gets the remainder."""
    d, X = inputs
    np.save(d / "Z.npy", X[:100])
    from ntk_desktop.backends.base import Backend

    budgets = []
    real = Backend.empirical_ntk

    def spy(self, *a, memory_budget=None, **kw):
        budgets.append(memory_budget)
        return real(self, *a, memory_budget=memory_budget, **kw)

    monkeypatch.setattr(Backend, "empirical_ntk", spy)
    code, _, err = run(["kernel", "--kind", "empirical", "--inputs", str(d / "Z.npy"), "--width", "8", "--n-init", "3",
                        "--backend", "numpy", "--memory-budget", "1MB", "--out", str(d / "mc.npz")], capsys)
    assert code == 0, err
    assert budgets == [10 ** 6 - 6 * 8 * 100 * 100] * 3   # 1MB = 10⁶ bytes
