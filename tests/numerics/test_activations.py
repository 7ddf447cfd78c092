"""Nonlinearities: values, derivatives (finite differences), dtype handling and errors."""
import math

import numpy as np
import pytest

from ntk_desktop.core.activations import NAMES, get_nonlinearity
from ntk_desktop.errors import NTKInputError

X = np.array([-3.0, -1.2, -0.3, 0.2, 0.7, 1.9, 4.0])  # no kink at exactly 0


@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_finite_differences(name):
    nl = get_nonlinearity(name)
    h = 1e-6
    fd = (nl(X + h) - nl(X - h)) / (2 * h)
    np.testing.assert_allclose(nl.deriv(X), fd, rtol=1e-7, atol=1e-9)


REFERENCE = {
    "relu": lambda x: max(x, 0.0),
    "leaky_relu": lambda x: x if x > 0 else 0.01 * x,
    "erf": math.erf,
    "tanh": math.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + math.exp(-x)),
    "softplus": lambda x: math.log1p(math.exp(x)),
    "gelu": lambda x: 0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0))),
    "identity": lambda x: x,
}


@pytest.mark.parametrize("name", NAMES)
def test_values_match_scalar_definitions(name):
    nl = get_nonlinearity(name)
    np.testing.assert_allclose(nl(X), [REFERENCE[name](x) for x in X], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(name, dtype):
    nl = get_nonlinearity(name)
    x = X.astype(dtype)
    assert nl(x).dtype == dtype
    assert nl.deriv(x).dtype == dtype


def test_leaky_relu_slope_and_errors():
    nl = get_nonlinearity("leaky_relu", slope=0.2)
    assert nl(np.array([-2.0]))[0] == pytest.approx(-0.4)
    assert nl.label == "leaky_relu(0.2)"
    with pytest.raises(NTKInputError, match="unknown nonlinearity"):
        get_nonlinearity("swish")
    with pytest.raises(NTKInputError, match="slope"):
        get_nonlinearity("relu", slope=0.1)
    assert get_nonlinearity("Leaky-ReLU").name == "leaky_relu"
