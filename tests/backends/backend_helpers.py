"""Small helpers shared by the backend tests (imported as a plain module)."""
from ntk_desktop.core.network import Architecture


def build(n_in, depth, width, outputs=1, act="relu", par="ntk", beta=0.3, widths=None):
    return Architecture.build(n_in, depth=depth, width=None if widths else width, widths=widths, outputs=outputs,
                              nonlinearity=act, parametrization=par, beta=beta)


def inputs(rng, n, d):
    return rng.standard_normal((n, d))
