"""NetworkSpec: validation, the architecture it builds, and its round trip through session values."""
from __future__ import annotations

import dataclasses

import pytest

from ntk_desktop.core.network import Architecture
from ntk_desktop.core.spec import MAX_DEPTH, MAX_WIDTHS, NetworkSpec
from ntk_desktop.errors import NTKInputError
from ntk_desktop.experiments.kernel_slices import KernelSliceRequest
from ntk_desktop.experiments.mnist_eigen import MnistRequest
from ntk_desktop.experiments.training_runs import TrainingRequest


def test_architecture_is_the_uniform_network_of_one_width():
    spec = NetworkSpec(depth=3, widths=(5, 9), nonlinearity="leaky_relu", slope=0.2, beta=0.3,
                       parametrization="standard")
    arch = spec.architecture(9)
    assert arch.widths == (2, 9, 9, 1) and arch.nonlinearity.slope == 0.2
    assert arch.beta == 0.3 and arch.parametrization == "standard"
    assert spec.architecture(5, n_in=7, n_out=3).widths == (7, 5, 5, 3)
    built = Architecture.build(784, depth=3, widths=[5, 5], outputs=1, nonlinearity="relu", beta=0.1)
    assert MnistRequest(depth=3, widths=(5,)).architecture(5).widths == built.widths


@pytest.mark.parametrize("changes, match", [
    (dict(depth=0), "depth"), (dict(depth=MAX_DEPTH + 1), "depth"), (dict(widths=()), "widths"),
    (dict(widths=tuple(range(1, MAX_WIDTHS + 2))), "widths"), (dict(widths=(4, 4)), "distinct"),
    (dict(widths=(2.5,)), "width"), (dict(n_init=0), "initializations"), (dict(seed=-1), "seed"),
    (dict(nonlinearity="cosh"), "nonlinearity"), (dict(parametrization="mup"), "parametrization"),
    (dict(slope=0.1), "slope"), (dict(beta="x"), "beta"), (dict(backend=""), "backend"), (dict(depth=True), "depth"),
])
def test_invalid_specs_are_refused_with_one_line(changes, match):
    with pytest.raises(NTKInputError, match=match) as info:
        NetworkSpec(**changes)
    assert "\n" not in str(info.value)


def test_integral_values_are_normalised():
    spec = NetworkSpec(depth=3.0, widths=7, n_init=2.0, beta=1, seed=4.0)
    assert (spec.depth, spec.widths, spec.n_init, spec.beta, spec.seed) == (3, (7,), 2, 1.0, 4)
    assert type(spec.depth) is int and type(spec.beta) is float


def test_requests_extend_the_spec_and_keep_their_own_fields():
    spec = NetworkSpec(depth=2, widths=(8, 16), n_init=3, nonlinearity="erf", beta=0.2, seed=5, backend="numpy")
    req = KernelSliceRequest.extend(spec, n_angles=64, show_nngp=True)
    assert req.network() == spec and (req.n_angles, req.show_nngp) == (64, True)
    tr = TrainingRequest.extend(spec, steps=10, record_every=5)
    assert tr.network() == spec and tr.n_nets == 6 and tr.record_steps().tolist() == [0, 5, 10]
    # each request's own defaults
    assert TrainingRequest().widths == (50, 1000) and MnistRequest().n_init == 1
    assert set(dataclasses.asdict(req)) >= {f.name for f in dataclasses.fields(NetworkSpec)}


def test_session_values_round_trip_and_old_values_still_read():
    spec = NetworkSpec(depth=2, widths=(8, 16), nonlinearity="leaky_relu", slope=0.25, seed=3)
    d = spec.to_dict()
    assert d["widths"] == [8, 16] and d["slope"] == 0.25
    assert NetworkSpec.from_dict(d) == spec
    # a relu spec stores leaky_relu's default slope (files have always held a number there) ...
    relu = NetworkSpec(widths=(4,))
    assert relu.to_dict()["slope"] == 0.01
    # ... and a file's slope for another nonlinearity is ignored when read back
    assert NetworkSpec.from_dict(relu.to_dict()) == relu
    old = {"depth": 3, "widths": [10, 20], "n_init": 2, "nonlinearity": "relu", "slope": 0.01, "beta": 0.1,
           "parametrization": "ntk", "seed": 1, "backend": "auto", "unknown_key": 1}
    assert NetworkSpec.from_dict(old) == NetworkSpec(depth=3, widths=(10, 20), n_init=2, seed=1)
    assert NetworkSpec.from_dict({"depth": 2}) == NetworkSpec(depth=2)
