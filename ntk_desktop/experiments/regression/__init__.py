"""Kernel regression at scale (``ntk regress``): the infinite-time predictor of the paper's §5
with Θ∞ (or the NNGP posterior mean with Σ), from a kernel computed in tiles that need not fit
in memory, on this machine or on a Dask cluster."""
