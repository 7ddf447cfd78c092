"""The NumPy reference backend: the core library's own functions."""
from __future__ import annotations

from ..core import analytic, empirical


class NumpyBackend:
    name = "numpy"
    device = "cpu"

    def empirical_ntk(self, arch, params, X1, X2=None, *, progress=None):
        """(N1, N2, n_L, n_L) in params.dtype."""
        return empirical.empirical_ntk(arch, params, X1, X2, full=True, progress=progress)

    def analytic_kernels(self, arch, X1, X2=None, *, progress=None):
        return analytic.analytic_kernels(arch, X1, X2, progress=progress)
