"""Synthetic inputs for the paper's low-dimensional experiments (Jacot et al. 2018, §6).

Angle convention, used everywhere in this module: a point of the circle of radius ``r`` is
``x(γ) = r·(cos γ, sin γ)`` with γ measured from the positive x1 axis, counter-clockwise,
and angles are reported in **[-π, π)** (the slice grid also includes the end point +π), which is
the horizontal axis of the paper's Figures 1 and 2.

* :func:`circle_points`: n points on the circle, on an equispaced grid or at random angles;
* :func:`circle_slice`: the slice x0 = (1, 0), x = (cos γ, sin γ), γ ∈ [-π, π], on which
  Figure 1 plots Θ(x0, x) (and Figure 2 plots the network function);
* :func:`product_target`: the goal function f*(x) = x1·x2 of Figure 2;
* :func:`figure2_training_set`: Figure 2's 4 training points on the unit circle (one random
  angle per quadrant, seeded) with their targets;
* :func:`gaussian_points`: i.i.d. N(0, 1) inputs in R^d (optionally projected to the sphere).
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np

from ..errors import NTKInputError
from ._checks import count as _count, positive, rng as _rng

#: Figure 1's reference input x0 = (1, 0): the point γ = 0 of the unit circle.
X0 = (1.0, 0.0)

#: Default seed of :func:`figure2_training_set`, so the figure is the same at every run.
FIGURE2_SEED = 0

#: Number of training points in Figure 2.
FIGURE2_N_POINTS = 4


def _on_circle(angles: np.ndarray, radius: float) -> np.ndarray:
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def circle_points(n: int, *, random: bool = False, seed: Optional[int] = None,
                  radius: float = 1.0) -> Tuple[np.ndarray, np.ndarray]:
    """``n`` points on the circle of radius ``radius`` centred at the origin.

    * ``random=False``: the equispaced grid γ_k = -π + 2πk/n, k = 0..n-1 (the first point is
      (-r, 0); γ = 0, i.e. (r, 0), is on the grid whenever n is even);
    * ``random=True``: n angles drawn uniformly in [-π, π) from ``seed`` (``None``: fresh
      randomness), returned sorted increasingly so that the points can be drawn as a curve.

    Returns ``(X, angles)``: X float64 of shape (n, 2) with X[k] = r·(cos γ_k, sin γ_k), and the
    angles γ float64 of shape (n,), all in [-π, π).
    """
    n = _count(n)
    r = positive(radius, "radius")
    if random:
        angles = np.sort(_rng(seed).uniform(-np.pi, np.pi, size=n))
    else:
        angles = -np.pi + 2.0 * np.pi * np.arange(n) / n
    return _on_circle(angles, r), angles


def circle_slice(n: int = 201, *, radius: float = 1.0) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The slice of the paper's Figure 1: Θ(x0, x) for x0 = (1, 0) and x = (cos γ, sin γ).

    γ runs over ``np.linspace(-π, π, n)``, both ends included (they are the same point (-r, 0),
    as on the figure's axis); the grid is symmetric about 0 and, for odd ``n`` such as the
    default, contains γ = 0 exactly (x = x0).

    Returns ``(x0, X, gammas)``: x0 float64 of shape (2,) equal to r·(1, 0), X float64 of
    shape (n, 2) and gammas float64 of shape (n,).
    """
    n = _count(n, minimum=2)
    r = positive(radius, "radius")
    g = np.linspace(-np.pi, np.pi, n)
    gammas = 0.5 * (g - g[::-1])  # exactly antisymmetric: γ = 0 exactly in the middle for odd n
    x0 = r * np.asarray(X0, dtype=np.float64)
    return x0, _on_circle(gammas, r), gammas


def product_target(X) -> np.ndarray:
    """Figure 2's goal function f*(x) = x1·x2 for each row of X (shape (N, d), d >= 2).

    Returns float64 of shape (N,); use ``[:, None]`` for a one-output network's (N, 1) targets.
    On the unit circle f*(cos γ, sin γ) = sin(2γ)/2.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] < 2:
        raise NTKInputError(f"f*(x) = x1*x2 needs inputs of shape (N, d) with d >= 2; got {X.shape}")
    return X[:, 0] * X[:, 1]


def figure2_training_set(seed: Optional[int] = FIGURE2_SEED, *, n: int = FIGURE2_N_POINTS
                         ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The training set of the paper's Figure 2: 4 points of the unit circle, targets x1·x2.

    The paper trains on four points of the unit circle (drawn on the figure) without listing
    their coordinates.  Here they are random but spread out: the circle is cut into ``n``
    (default 4) equal arcs [-π + 2πk/n, -π + 2π(k+1)/n) and one angle is drawn uniformly in
    each arc from ``seed`` (default :data:`FIGURE2_SEED` = 0, so every run shows the same
    figure).  With n = 4 that is one point per quadrant, so the targets x1·x2 alternate in sign
    (+, -, +, - from γ = -π), and no two points nearly coincide as plain uniform draws may.

    Returns ``(X, y, angles)``: X (n, 2), y = f*(X) of shape (n, 1) (one output), angles (n,)
    increasing in [-π, π).
    """
    n = _count(n)
    width = 2.0 * np.pi / n
    angles = -np.pi + width * (np.arange(n) + _rng(seed).uniform(0.0, 1.0, size=n))
    X = _on_circle(angles, 1.0)
    return X, product_target(X)[:, None], angles


def gaussian_points(n: int, d: int, *, seed: Optional[int] = None, sphere: bool = False) -> np.ndarray:
    """``n`` i.i.d. standard Gaussian points in R^d, float64 of shape (n, d).

    With ``sphere=True`` each point is rescaled to norm sqrt(d), i.e. projected to the sphere of
    radius sqrt(n0) on which the paper studies the kernel (uniform on that sphere).
    """
    n = _count(n)
    d = _count(d, "d")
    X = _rng(seed).standard_normal((n, d))
    if sphere:
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        X *= math.sqrt(d) / norms  # a Gaussian draw is never exactly 0
    return X
