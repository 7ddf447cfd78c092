"""Synthetic inputs: circle grids and random points, Figure 1's slice, Figure 2's training set."""
import math

import numpy as np
import pytest

from ntk_desktop.data import (
    circle_points, circle_slice, figure2_training_set, gaussian_points, product_target,
)
from ntk_desktop.errors import NTKInputError


def test_circle_grid():
    X, angles = circle_points(8)
    assert X.shape == (8, 2) and angles.shape == (8,)
    np.testing.assert_allclose(angles, [-math.pi + k * math.pi / 4 for k in range(8)])
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(X[0], [-1.0, 0.0], atol=1e-15)
    np.testing.assert_allclose(X[4], [1.0, 0.0], atol=1e-15)     # γ = 0
    np.testing.assert_allclose(X[6], [0.0, 1.0], atol=1e-15)     # γ = π/2
    np.testing.assert_allclose(X[1], [-math.sqrt(0.5), -math.sqrt(0.5)], atol=1e-15)


def test_circle_radius_and_angles_match_points():
    X, angles = circle_points(7, radius=2.5)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 2.5, rtol=1e-15)
    # atan2 gives (-π, π]; the grid starts at -π, which atan2 reports as +π
    back = np.arctan2(X[:, 1], X[:, 0])
    np.testing.assert_allclose(np.cos(back - angles), 1.0, atol=1e-14)


def test_circle_random():
    X, angles = circle_points(50, random=True, seed=7)
    assert np.all(angles >= -math.pi) and np.all(angles < math.pi)
    assert np.all(np.diff(angles) >= 0)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(np.arctan2(X[:, 1], X[:, 0]), angles, atol=1e-14)
    np.testing.assert_array_equal(circle_points(50, random=True, seed=7)[1], angles)
    assert not np.array_equal(circle_points(50, random=True, seed=8)[1], angles)
    # spread over the whole circle, not a grid
    assert angles.min() < -2.5 and angles.max() > 2.5
    assert np.ptp(np.diff(angles)) > 1e-3


def test_circle_slice():
    x0, X, g = circle_slice(201)
    np.testing.assert_array_equal(x0, [1.0, 0.0])
    assert g[0] == -math.pi and g[-1] == math.pi and g[100] == 0.0
    np.testing.assert_array_equal(X[100], x0)
    np.testing.assert_array_equal(g, -g[::-1])
    np.testing.assert_allclose(X @ x0, np.cos(g), atol=1e-15)   # cos of the angle to x0
    np.testing.assert_allclose(X[:, 1], np.sin(g), atol=1e-15)
    x0, X, _ = circle_slice(5, radius=3.0)
    np.testing.assert_array_equal(x0, [3.0, 0.0])
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 3.0)


def test_product_target():
    np.testing.assert_allclose(product_target([[2.0, 3.0, 5.0], [-1.0, 4.0, 0.0]]), [6.0, -4.0])
    X, g = circle_points(16)
    np.testing.assert_allclose(product_target(X), np.sin(2 * g) / 2, atol=1e-15)
    with pytest.raises(NTKInputError, match="d >= 2"):
        product_target(np.ones((3, 1)))


def test_figure2_training_set():
    X, y, angles = figure2_training_set()
    assert X.shape == (4, 2) and y.shape == (4, 1) and angles.shape == (4,)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(y[:, 0], X[:, 0] * X[:, 1])
    # one angle in each quadrant, from -π: targets alternate +, -, +, -
    quarter = np.floor((angles + math.pi) / (math.pi / 2)).astype(int)
    assert quarter.tolist() == [0, 1, 2, 3]
    assert (np.sign(y[:, 0]) == [1, -1, 1, -1]).all()
    # reproducible, and the seed matters
    np.testing.assert_array_equal(figure2_training_set()[0], X)
    np.testing.assert_array_equal(figure2_training_set(0)[2], angles)
    assert not np.array_equal(figure2_training_set(1)[2], angles)
    assert figure2_training_set(3, n=6)[0].shape == (6, 2)


def test_gaussian_points():
    X = gaussian_points(20000, 3, seed=11)
    assert X.shape == (20000, 3) and X.dtype == np.float64
    np.testing.assert_array_equal(gaussian_points(20000, 3, seed=11), X)
    assert np.all(np.abs(X.mean(axis=0)) < 0.04)        # std error 0.007
    assert np.all(np.abs(X.var(axis=0) - 1.0) < 0.06)   # std error 0.01
    S = gaussian_points(100, 9, seed=1, sphere=True)
    np.testing.assert_allclose(np.linalg.norm(S, axis=1), 3.0, rtol=1e-14)


@pytest.mark.parametrize("call, match", [
    (lambda: circle_points(0), "n must be an integer >= 1"),
    (lambda: circle_points(2.5), "n must be an integer"),
    (lambda: circle_points(3, radius=-1), "radius"),
    (lambda: circle_points(3, radius=float("nan")), "radius"),
    (lambda: circle_points(3, random=True, seed=-2), "seed"),
    (lambda: circle_slice(1), "n must be an integer >= 2"),
    (lambda: gaussian_points(3, 0), "d must be"),
])
def test_bad_arguments(call, match):
    with pytest.raises(NTKInputError, match=match):
        call()
