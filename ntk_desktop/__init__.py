"""NTK Desktop: a desktop laboratory for the Neural Tangent Kernel (Jacot, Gabriel & Hongler 2018).

The Python interface (:mod:`ntk_desktop.api`) is importable from here::

    from ntk_desktop import Architecture, init_params, analytic_kernels, empirical_ntk, train, predict, kernel_pca, regress

It is loaded on first use, so that ``import ntk_desktop`` (and the command line's start-up)
stays light.
"""

__version__ = "0.1.0"

_API = ("Architecture", "Params", "init_params", "load_params", "save_params", "analytic_kernels",
        "empirical_ntk", "train", "train_iter", "predict", "kernel_pca", "backend_chain",
        "AnalyticKernels", "GDPrediction", "KernelPCA", "regress", "RegressionResult")

__all__ = ["__version__", *_API]


def __getattr__(name):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'ntk_desktop' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API))
