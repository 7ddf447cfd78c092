"""The nonlinearity ids the host passes (core.activations.ACT_IDS, the only copy) select, in the
compiled kernels, the nonlinearity the host means: every nonlinearity's forward pass and
back-propagated vectors on each compiled backend against the slow per-sample reference
(tests/naive.py), and the OpenCL build options define every id."""
import numpy as np
import pytest

from ntk_desktop.core.activations import ACT_IDS, NAMES
from ntk_desktop.core.network import init_params

from backend_helpers import build, slow_features


def test_every_nonlinearity_has_one_distinct_id():
    assert sorted(ACT_IDS) == sorted(NAMES)
    assert len(set(ACT_IDS.values())) == len(ACT_IDS)


@pytest.mark.parametrize("name", NAMES)
def test_the_kernels_compute_the_nonlinearity_the_host_names(fast_backend, name):
    arch = build(3, 3, 5, 2, name, "ntk", 0.4)
    params = init_params(arch, 1, "float32")
    X = np.random.default_rng(2).standard_normal((6, 3)).astype(np.float32)
    alphas, _, output, deltas = slow_features(arch, params, X)
    fwd = fast_backend.forward(arch, params, X)
    np.testing.assert_allclose(fwd.output, output, rtol=2e-5, atol=2e-6)
    for got, want in zip(fwd.alphas, alphas):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)
    for got, want in zip(fast_backend.backward(arch, params, fwd), deltas):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)


def test_the_opencl_build_options_define_every_id(opencl_backend):
    import pyopencl as cl

    from ntk_desktop._resources import kernel_source

    names = sorted(ACT_IDS)
    body = " ".join(f"out[{i}] = ACT_{n.upper()};" for i, n in enumerate(names))
    src = kernel_source("ntk_common") + f"\n__kernel void ids(__global int* out) {{ {body} out[{len(names)}] = ACT; }}\n"
    dev = opencl_backend.dev
    for name in ("relu", "gelu"):
        prg = cl.Program(dev.context, src).build(options=list(opencl_backend.programs.options(np.float32, name)))
        out = np.zeros(len(names) + 1, np.int32)
        buf = cl.Buffer(dev.context, cl.mem_flags.WRITE_ONLY, out.nbytes)
        prg.ids(dev.queue, (1,), None, buf)
        cl.enqueue_copy(dev.queue, out, buf)
        assert out[:-1].tolist() == [ACT_IDS[n] for n in names] and out[-1] == ACT_IDS[name]
