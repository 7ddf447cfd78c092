"""NTK Desktop: a desktop laboratory for the Neural Tangent Kernel (Jacot, Gabriel & Hongler 2018)."""

__version__ = "0.1.0"
