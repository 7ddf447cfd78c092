"""The network: architecture validation, gradients by finite differences, parameter files."""
import numpy as np
import pytest

from naive import fd_jacobian, jacobian, naive_forward
from ntk_desktop.core.network import Architecture, apply, init_params, load_params, save_params
from ntk_desktop.errors import NTKInputError


@pytest.mark.parametrize("parametrization", ["ntk", "standard"])
@pytest.mark.parametrize("n_out", [1, 3])
@pytest.mark.parametrize("nl", ["tanh", "relu"])
def test_jacobian_matches_finite_differences(parametrization, n_out, nl, rng):
    arch = Architecture.build(3, depth=3, widths=[4, 5], outputs=n_out, nonlinearity=nl, beta=0.4,
                              parametrization=parametrization)
    p = init_params(arch, seed=3)
    X = rng.standard_normal((2, 3))
    J = jacobian(arch, p, X)
    assert J.shape == (2, n_out, arch.n_params)
    for i in range(2):
        fd = fd_jacobian(arch.widths, arch.nonlinearity, arch.beta, p.weights, p.biases, X[i],
                         parametrization)
        np.testing.assert_allclose(J[i], fd, rtol=1e-6, atol=1e-7)


def test_forward_matches_naive_loops(rng):
    arch = Architecture.build(4, depth=4, width=6, outputs=2, nonlinearity="erf", beta=0.3)
    p = init_params(arch, seed=1)
    X = rng.standard_normal((3, 4))
    ref = np.array([naive_forward(arch.widths, arch.nonlinearity, 0.3, p.weights, p.biases, x) for x in X])
    np.testing.assert_allclose(apply(arch, p, X), ref, rtol=1e-12)


def test_the_standard_parametrization_is_the_same_function_in_its_own_units(rng):
    """Remark 1: the standard network a = W_std α + b_std with W_std = W/√n_l, b_std = β b,
    evaluated sample by sample in those units, is the function the raw parameters give."""
    X = rng.standard_normal((5, 2))
    b = Architecture.build(2, depth=3, width=8, parametrization="standard", beta=0.3)
    p = init_params(b, seed=9)
    W_std = [w / np.sqrt(w.shape[1]) for w in p.weights]
    b_std = [0.3 * v for v in p.biases]
    want = []
    for x in X:
        h = x
        for l in range(b.depth):
            a = np.array([np.dot(row, h) for row in W_std[l]]) + b_std[l]
            h = a if l == b.depth - 1 else b.nonlinearity(a)
        want.append(h)
    np.testing.assert_allclose(apply(b, p, X), np.array(want), rtol=1e-13, atol=1e-15)


def test_init_is_reproducible_and_standard_normal():
    arch = Architecture.build(50, depth=2, width=400)
    p1, p2 = init_params(arch, seed=7), init_params(arch, seed=7)
    np.testing.assert_array_equal(p1.flat(), p2.flat())
    assert not np.array_equal(p1.flat(), init_params(arch, seed=8).flat())
    w = p1.weights[0].ravel()
    assert abs(w.mean()) < 4 / np.sqrt(w.size) and abs(w.var() - 1) < 4 * np.sqrt(2 / w.size)
    p32 = init_params(arch, seed=7, dtype="float32")
    assert p32.dtype == np.float32
    np.testing.assert_allclose(p32.flat(), p1.flat(), rtol=1e-7)


def test_params_file_round_trip_and_format(tmp_path):
    arch = Architecture.build(3, depth=3, widths=[4, 6], outputs=2)
    p = init_params(arch, seed=2)
    path = tmp_path / "p.npz"
    save_params(path, p)
    with np.load(path) as z:
        assert sorted(z.files) == ["W0", "W1", "W2", "b0", "b1", "b2"]
        assert z["W1"].shape == (6, 4) and z["b2"].shape == (2,)
    q = load_params(path, arch)
    np.testing.assert_array_equal(q.flat(), p.flat())


def test_params_file_errors(tmp_path):
    arch = Architecture.build(3, depth=2, width=4)
    good = init_params(arch, 0)
    path = tmp_path / "p.npz"
    np.savez(path, W0=good.weights[0], b0=good.biases[0], W1=good.weights[1])
    with pytest.raises(NTKInputError, match="missing key b1"):
        load_params(path, arch)
    np.savez(path, W0=good.weights[0], b0=good.biases[0], W1=np.ones((1, 5)), b1=good.biases[1])
    with pytest.raises(NTKInputError, match="W1"):
        load_params(path, arch)
    (tmp_path / "junk.npz").write_bytes(b"not an npz at all")
    with pytest.raises(NTKInputError, match="cannot read params"):
        load_params(tmp_path / "junk.npz")
    with pytest.raises(NTKInputError, match="not found"):
        load_params(tmp_path / "nope.npz")


@pytest.mark.parametrize("kw,msg", [
    (dict(depth=0), "depth"), (dict(width=0), "width"), (dict(beta=-1.0), "beta"),
    (dict(beta=float("nan")), "beta"), (dict(nonlinearity="cubic"), "unknown nonlinearity"),
    (dict(parametrization="mup"), "parametrization"), (dict(outputs=0), "outputs"),
    (dict(depth=3, widths=[5]), "widths"),
])
def test_architecture_errors(kw, msg):
    with pytest.raises(NTKInputError, match=msg):
        Architecture.build(2, **kw)


def test_atomic_npz_has_normal_permissions(tmp_path):
    import os

    from ntk_desktop.core.network import save_npz_atomic

    old = os.umask(0o022)
    try:
        path = save_npz_atomic(tmp_path / "a", {"x": np.ones(3)})
    finally:
        os.umask(old)
    assert path.endswith("a.npz")
    assert os.stat(path).st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"]
