"""OpenCL work-group tiles: every configuration a device may choose computes the same kernels, and
the choice (``NTK_OPENCL_TILES`` or timing on first use) behaves.

The parity cases are sized against each configuration's tile (16, 64, 128 rows): several
work-groups per dimension with a ragged last one, the symmetric skip of work-groups below the
diagonal, N = 1 and width 1.  They run on PoCL's CPU device, so the GPU configurations — which
CI never sees on a GPU — are checked for correctness here.  Reference: the float64 NumPy core
(``ntk_desktop.core``) on the same parameters; tolerances as in ``test_backend_parity``.
"""
import dataclasses

import numpy as np
import pytest

from ntk_desktop.backends.base import BackendUnsupported, relative_error
from ntk_desktop.core import analytic, derivatives, empirical, network
from ntk_desktop.core.network import init_params

from backend_helpers import build, inputs

TOL = {"float64": 1e-11, "float32": 3e-5}
TOL_ANALYTIC = {"float64": 1e-11, "float32": 1e-5}
TOL_GD = {"float64": 1e-11, "float32": 1e-4}

programs = pytest.importorskip("ntk_desktop.backends.opencl.programs")

# (N1, N2 or None, n0, depth, width, n_L): per tile name
CASES = {
    "small": [(1, None, 3, 2, 1, 1), (37, None, 9, 3, 19, 1), (33, 18, 7, 3, 17, 2)],
    "gpu": [(1, 3, 5, 2, 1, 1), (150, None, 11, 3, 67, 1), (70, 131, 6, 2, 65, 2)],
    "wide": [(1, None, 4, 3, 1, 1), (290, None, 13, 3, 129, 1), (131, 140, 5, 2, 130, 2)],
    "tall": [(200, None, 9, 3, 70, 1), (65, 129, 7, 2, 33, 3)],
}
PARAMS = [(name, i) for name, cases in CASES.items() for i in range(len(cases))]


@pytest.fixture(scope="module")
def tiled(opencl_backend):
    """One OpenCL backend per named tile configuration, on the test device."""
    from ntk_desktop.backends.opencl import OpenCLBackend

    return {name: OpenCLBackend(opencl_backend.dev, cfg) for name, cfg in programs.NAMED_TILES.items()}


def _case(name, i, dtype, seed=0):
    N1, N2, n0, depth, width, nL = CASES[name][i]
    arch = build(n0, depth, width, nL, "relu", "ntk" if i % 2 == 0 else "standard", 0.3)
    rng = np.random.default_rng(seed + i)
    X1 = inputs(rng, N1, n0).astype(dtype)
    X2 = None if N2 is None else inputs(rng, N2, n0).astype(dtype)
    return arch, init_params(arch, seed + 7, dtype), X1, X2


def _up(x):
    return None if x is None else np.asarray(x, dtype=np.float64)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,i", PARAMS, ids=[f"{n}-{i}" for n, i in PARAMS])
def test_every_tile_configuration_matches_the_reference(tiled, name, i, dtype):
    be = tiled[name]
    if dtype == "float64" and not be.dev.fp64:
        pytest.skip("device without fp64")
    assert be.tiles == programs.NAMED_TILES[name]
    arch, params, X1, X2 = _case(name, i, dtype)
    p64 = params.astype(np.float64)
    theta = be.empirical_ntk(arch, params, X1, X2)
    ref = empirical.empirical_ntk(arch, p64, _up(X1), _up(X2), full=True)
    assert relative_error(theta, ref) <= TOL[dtype]
    if X2 is None:
        assert np.array_equal(theta, theta.transpose(1, 0, 3, 2))
    k = be.analytic_kernels(arch, X1, X2, dtype=dtype)
    kref = analytic.analytic_kernels(arch, _up(X1), _up(X2))
    for got, want in ((k.nngp, kref.nngp), (k.ntk, kref.ntk)):
        assert relative_error(got, want) <= TOL_ANALYTIC[dtype]
    # one GD step: its loss and the updated parameters
    Y = np.random.default_rng(5).standard_normal((len(X1), arch.n_out)).astype(dtype)
    loss_ref = derivatives.loss_value(network.apply(arch, p64, _up(X1)), _up(Y))
    step = be.gd_step(arch, params.copy(), X1, Y, 0.5)
    want = derivatives.gd_step(arch, p64, _up(X1), _up(Y), 0.5)
    assert abs(step.loss - loss_ref) <= TOL[dtype] * max(1.0, loss_ref)
    for got, ref in zip(step.params.weights + step.params.biases, want.weights + want.biases):
        assert relative_error(got, ref) <= TOL_GD[dtype]


# -- the choice ------------------------------------------------------------------------------------
def test_parse_tiles():
    assert programs.parse_tiles("wide") is programs.WIDE_TILES
    assert programs.parse_tiles(" Small ") is programs.SMALL_TILES
    assert programs.parse_tiles("tune") == "tune"
    assert programs.parse_tiles("64,32,8,4,4") == programs.TileConfig(64, 32, 8, 4, 4)
    assert programs.parse_tiles("64x32x8/4x4") == programs.TileConfig(64, 32, 8, 4, 4)
    for bad, why in (("huge", "give one of"), ("32,64,8,4", "give one of"), ("30,64,8,4,4", "multiple of WPTM"),
                     ("32,64,8,4,4", "multiple of TSN"),
                     ("32,32,1,4,4", "multiples of the 64 work-items"), ("0,16,8,2,2", "positive")):
        with pytest.raises(ValueError, match=why) as err:
            programs.parse_tiles(bad)
        assert "NTK_OPENCL_TILES" in str(err.value) and "\n" not in str(err.value)


def test_configurations_that_do_not_fit_the_device_are_named():
    @dataclasses.dataclass
    class Dev:
        max_work_group: int = 128
        local_mem: int = 20000

    assert "256 work-items > the device's maximum 128" in programs.WIDE_TILES.problem(Dev())
    assert programs.SMALL_TILES.problem(Dev()) == ""
    assert "local memory" in programs.WIDE_TILES.problem(Dev(max_work_group=1024), itemsize=8)


@pytest.fixture
def fresh_dev(opencl_backend, monkeypatch):
    """A copy of the test device's record (same context and queue) whose status the test may
    change, with no tuning remembered."""
    monkeypatch.setattr(programs, "_TUNED", {})
    return dataclasses.replace(opencl_backend.dev, programs=None, note="")


def test_tuning_keeps_the_fastest_candidate_and_skips_what_fails(fresh_dev, monkeypatch):
    seconds = {programs.GPU_TILES: 3.0, programs.WIDE_TILES: 1.0, programs.TALL_TILES: 2.0,
               programs.SMALL_TILES: 0.5}
    real_build = programs.ProgramCache._build

    def build(self, opts, act):
        if "-DTSM=16" in opts:  # the fastest would be SMALL, but it does not build here
            raise BackendUnsupported("OpenCL build failed (injected)")
        return real_build(self, opts, act)

    monkeypatch.setattr(programs.ProgramCache, "_build", build)
    monkeypatch.setattr(programs.ProgramCache, "_time_gemm",
                        lambda self, prog, cfg: (seconds[cfg], [1.0 / seconds[cfg]]))
    cache = programs.ProgramCache(fresh_dev, "tune", tune_shapes=((8, 8, 8),))
    assert cache.tiles == programs.WIDE_TILES
    assert set(cache.tuning) == {c.label() for c in programs.CANDIDATES}
    assert "injected" in cache.tuning[programs.SMALL_TILES.label()]
    assert f"tiles {programs.WIDE_TILES.label()}" in fresh_dev.note
    # the program of the chosen tiles was built while tuning, and is the one handed out
    assert cache.get(np.float32, "relu").options == cache.options(np.float32, "relu", programs.WIDE_TILES)
    # the same hardware found again reuses the result without timing anything
    monkeypatch.setattr(programs.ProgramCache, "_time_gemm", lambda *a: pytest.fail("timed again"))
    assert programs.ProgramCache(fresh_dev, "tune", tune_shapes=((8, 8, 8),)).tiles == programs.WIDE_TILES


def test_tuning_times_real_products(fresh_dev):
    cache = programs.ProgramCache(fresh_dev, "tune", tune_shapes=((33, 70, 20), (5, 5, 40)))
    assert cache.tiles in programs.CANDIDATES
    timed = [v for v in cache.tuning.values() if v.endswith("GF/s")]
    assert timed and all(len(v.split(" + ")) == 2 for v in timed)


def test_nothing_builds_disables_the_device_with_the_build_error(fresh_dev, monkeypatch):
    def build(self, opts, act):
        raise BackendUnsupported(f"OpenCL build failed ({' '.join(opts)})")

    monkeypatch.setattr(programs.ProgramCache, "_build", build)
    cache = programs.ProgramCache(fresh_dev, "tune", tune_shapes=((8, 8, 8),))
    with pytest.raises(BackendUnsupported, match="build failed"):
        cache.get(np.float32, "relu")
    assert not fresh_dev.usable and "build failed" in fresh_dev.reason
    with pytest.raises(BackendUnsupported):  # remembered: no second round of builds
        monkeypatch.setattr(programs.ProgramCache, "_build", lambda *a: pytest.fail("rebuilt"))
        cache.tiles


def test_environment_variable_forces_or_rejects(fresh_dev, monkeypatch):
    monkeypatch.setenv("NTK_OPENCL_TILES", "tall")
    assert programs.ProgramCache(fresh_dev).tiles is programs.TALL_TILES
    monkeypatch.setenv("NTK_OPENCL_TILES", "64,64,16,4")
    with pytest.raises(BackendUnsupported, match="NTK_OPENCL_TILES='64,64,16,4'"):
        programs.ProgramCache(fresh_dev).get(np.float32, "relu")
    assert not fresh_dev.usable and "NTK_OPENCL_TILES" in fresh_dev.reason


# -- Gram products split along their depth (few work-groups on a large device) --------------------
SPLIT_CASES = [(1, None, 5, 3, 300, "small"), (37, None, 9, 4, 400, "wide"), (150, 90, 784, 3, 270, "tall"),
               (40, 33, 6, 2, 1, "gpu")]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("N1,N2,n0,depth,width,name", SPLIT_CASES)
def test_split_gram_products_match_the_reference(tiled, monkeypatch, N1, N2, n0, depth, width, name, dtype):
    be = tiled[name]
    if dtype == "float64" and not be.dev.fp64:
        pytest.skip("device without fp64")
    monkeypatch.setattr(be, "min_groups", 64)  # as on a device with 32 compute units
    calls = []
    real = type(be)._ntk_layer1_split
    monkeypatch.setattr(be, "_ntk_layer1_split", lambda *a: calls.append(a[1]) or real(be, *a))
    arch = build(n0, depth, width, 1, "relu", "ntk", 0.3)
    rng = np.random.default_rng(N1)
    X1 = inputs(rng, N1, n0).astype(dtype)
    X2 = None if N2 is None else inputs(rng, N2, n0).astype(dtype)
    params = init_params(arch, 3, dtype)
    theta = be.empirical_ntk(arch, params, X1, X2)
    ref = empirical.empirical_ntk(arch, params.astype(np.float64), _up(X1), _up(X2), full=True)
    assert relative_error(theta, ref) <= TOL[dtype]
    if width >= 8 * be.tiles.TSK * 2:
        assert calls and max(calls) >= 2  # the split path ran, in ≥ 2 slices
    else:
        assert not calls  # too shallow to split: the fused kernel


def test_split_is_chosen_only_for_few_work_groups(tiled):
    be = tiled["wide"]
    assert be.min_groups is None
    cus = be.dev.compute_units
    # a tile with at least 2 work-groups per compute unit is never split
    r = 128 * (2 * cus + 1)
    assert be._gram_split(r, 128, 10_000, False) == 1
    be.min_groups = 64
    try:
        assert be._gram_split(512, 512, 10_000, True) == 7      # 10 work-groups on/above the diagonal → 7 slices
        assert be._gram_split(512, 512, 10_000, False) == 4     # 16 work-groups
        assert be._gram_split(512, 512, 200, False) == 1        # each slice ≥ 8 steps of 16
        assert be._gram_split(1, 1, 10 ** 6, False) == 16       # at most MAX_SPLIT
    finally:
        be.min_groups = None


def test_ntk_info_tune_shows_each_devices_tiles(opencl_backend, capsys):
    from ntk_desktop import cli

    assert cli.main(["info", "--tune"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if f"device {opencl_backend.dev.id} " in x)
    assert f"tiles {opencl_backend.tiles.label()}" in line and "GF/s" in line


def test_a_malformed_override_is_one_clear_cli_error(monkeypatch, capsys, tmp_path):
    """``ntk kernel --backend opencl`` with a bad NTK_OPENCL_TILES: exit 2 and one line naming it."""
    from ntk_desktop import backends, cli

    X = tmp_path / "X.npy"
    np.save(X, np.random.default_rng(0).standard_normal((4, 3)))
    monkeypatch.setenv("NTK_OPENCL_TILES", "64,64,16")
    backends.reset()
    try:
        code = cli.main(["kernel", "--inputs", str(X), "--kind", "empirical", "--backend", "opencl",
                         "--out", str(tmp_path / "k.npz")])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and "NTK_OPENCL_TILES='64,64,16'" in err
    finally:
        monkeypatch.undo()
        backends.reset()
