"""2-D Gaussian quadrature for E[σ(u)σ(v)] and E[σ'(u)σ'(v)] with (u, v) centred Gaussian.

Method (polar coordinates).  Write u = √s11·z1, v = √s22·(ρ z1 + √(1-ρ²) z2) with z ~ N(0, I₂),
z = r(cos φ, sin φ).  Then u = r·c1(φ), v = r·c2(φ) with c1 = √s11 cos φ and
c2 = √s22 cos(φ - ψ), ψ = arccos ρ, and

    E[g(u, v)] = 1/(2π) ∫₀^π dφ ∫₀^∞ e^{-s} [g(r c1, r c2) + g(-r c1, -r c2)] ds,   r = √(2s).

* The radial integral uses Gauss–Laguerre nodes in s.  The bracket is even in r, hence a smooth
  function of s = r²/2 whenever σ is smooth, and an exact polynomial in s for the piecewise-linear
  σ (relu, leaky_relu) whose only kink is at 0 — so kinks at the origin cost no accuracy.
* The angular integral uses Gauss–Legendre nodes on the (at most three) sub-intervals of [0, π]
  cut at the zeros of c1 and c2, where the indicator functions of relu-like σ and σ' jump.

Radially, Gauss–Legendre covers r ∈ [0, 3/max(1, sd)] and shifted Gauss–Laguerre the tail, so
the fast change of a saturating σ at large variance is resolved.

Accuracy (asserted by ``tests/numerics/test_quadrature.py`` against the closed forms, relative to the
largest value): relu and leaky_relu are integrated exactly (to rounding) at any variance; erf is
within 1e-8 for variances up to 10 (about 1e-13 up to variance 2, where a network on the unit
sphere with β ≤ 1 lives); tanh, sigmoid, softplus and gelu agree with a four times finer rule to
1e-8 in the same range.  Past variance 12 the rule uses 160 radial nodes and the error grows
slowly (about 1e-5 for erf at variance 100, where every bounded σ is saturated).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

#: correlations within this of ±1 are taken as exactly ±1: x = x' (or x = -x') computed along two
#: rounding paths differs by a few ulps, which arccos would amplify to ~1e-8 errors in θ.
RHO_SNAP = 8 * np.finfo(np.float64).eps

#: default nodes per angular sub-interval
N_ANGLE = 24
#: default radial nodes (per radial piece), chosen per chunk by the largest variance in it
RADIAL_TIERS = ((2.0, 24), (12.0, 64), (np.inf, 160))
#: pairs evaluated per chunk (bounds the scratch memory to ~ CHUNK·3·N_ANGLE·N_RADIAL·8 bytes·4)
CHUNK = 256


@lru_cache(maxsize=16)
def _rules(n_angle: int, n_radial: int):
    xa, wa = np.polynomial.legendre.leggauss(n_angle)
    xr, wr = np.polynomial.legendre.leggauss(n_radial)
    from scipy import special      # on first use: keeps the GUI's start-up free of SciPy

    s, ws = special.roots_laguerre(n_radial)
    return xa, wa, (xr, wr, s, ws)


def _radial_nodes(scale, rules):
    """Radial nodes r (P, 2R) and weights for ∫₀^∞ r e^{-r²/2} G(r) dr.

    Gauss–Legendre on [0, r_b] and shifted Gauss–Laguerre in s = r²/2 beyond, with
    r_b = 3 / max(1, scale): the range where a saturating σ(r·scale·cos φ) changes quickly is
    resolved by the Legendre nodes, the smooth tail by the Laguerre ones.
    """
    xr, wr, s, ws = rules
    rb = 3.0 / np.maximum(scale, 1.0)                    # (P,)
    half = 0.5 * rb[:, None]
    r_in = half * (xr + 1.0)
    w_in = half * wr * r_in * np.exp(-0.5 * r_in * r_in)
    sb = 0.5 * rb[:, None] ** 2
    r_out = np.sqrt(2.0 * (sb + s))
    w_out = np.exp(-sb) * ws
    return np.concatenate([r_in, r_out], axis=1), np.concatenate([w_in, w_out], axis=1)


def _tier(max_variance: float) -> int:
    for bound, n in RADIAL_TIERS:
        if max_variance <= bound:
            return n
    return RADIAL_TIERS[-1][1]


def gaussian_expectations(nonlinearity, s11, s22, s12, *, n_angle: int = N_ANGLE, n_radial: int | None = None):
    """(E[σ(u)σ(v)], E[σ'(u)σ'(v)]) by polar Gauss quadrature; arrays broadcast together.

    ``n_radial=None`` picks the radial nodes per chunk from :data:`RADIAL_TIERS`.
    """
    s11, s22, s12 = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (s11, s22, s12)))
    shape = s11.shape
    a, b, c = s11.ravel(), s22.ravel(), s12.ravel()
    e_ss = np.empty(a.size)
    sigma_dot = np.empty(a.size)
    for start in range(0, a.size, CHUNK):
        sl = slice(start, start + CHUNK)
        nr = n_radial or _tier(float(max(a[sl].max(), b[sl].max())))
        xa, wa, radial = _rules(n_angle, nr)
        e_ss[sl], sigma_dot[sl] = _chunk(nonlinearity, a[sl], b[sl], c[sl], xa, wa, radial)
    return e_ss.reshape(shape), sigma_dot.reshape(shape)


def correlation(s11, s22, s12):
    """(√(s11·s22), ρ) of a centred Gaussian pair: ρ = s12/√(s11·s22) clipped to [−1, 1] and
    snapped to ±1 within :data:`RHO_SNAP` (0 where a variance vanishes)."""
    norm = np.sqrt(np.maximum(s11, 0.0) * np.maximum(s22, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(norm > 0, s12 / np.where(norm > 0, norm, 1.0), 0.0)
    rho = np.clip(rho, -1.0, 1.0)
    return norm, np.where(np.abs(rho) > 1.0 - RHO_SNAP, np.sign(rho), rho)


def _chunk(nonlinearity, s11, s22, s12, xa, wa, radial):
    sd1 = np.sqrt(np.maximum(s11, 0.0))
    sd2 = np.sqrt(np.maximum(s22, 0.0))
    _, rho = correlation(s11, s22, s12)
    psi = 2.0 * np.arctan2(np.sqrt(1.0 - rho), np.sqrt(1.0 + rho))  # arccos ρ, accurate at ±1
    # breakpoints in [0, π]: c1 = 0 at π/2, c2 = 0 at ψ + π/2 (mod π)
    k2 = np.mod(psi + 0.5 * math.pi, math.pi)
    inner = np.sort(np.stack([np.full_like(k2, 0.5 * math.pi), k2], axis=1), axis=1)
    edges = np.concatenate([np.zeros((len(k2), 1)), inner, np.full((len(k2), 1), math.pi)], axis=1)
    lo, hi = edges[:, :-1], edges[:, 1:]                      # (P, 3)
    half = 0.5 * (hi - lo)
    phi = (lo + half)[:, :, None] + half[:, :, None] * xa    # (P, 3, A)
    wphi = half[:, :, None] * wa                              # (P, 3, A)
    c1 = sd1[:, None, None] * np.cos(phi)
    c2 = sd2[:, None, None] * np.cos(phi - psi[:, None, None])
    r, wr = _radial_nodes(np.maximum(sd1, sd2), radial)       # (P, 2R)
    r = r[:, None, None, :]
    u = c1[..., None] * r                                     # (P, 3, A, 2R)
    v = c2[..., None] * r
    f, d = nonlinearity.fn, nonlinearity.deriv
    g_ss = f(u) * f(v) + f(-u) * f(-v)
    g_dd = d(u) * d(v) + d(-u) * d(-v)
    w = wphi[..., None] * wr[:, None, None, :] / (2.0 * math.pi)
    e_ss = np.einsum("pkar,pkar->p", g_ss, w)
    sigma_dot = np.einsum("pkar,pkar->p", g_dd, w)
    return e_ss, sigma_dot
