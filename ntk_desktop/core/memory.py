"""Memory estimates and the budget that every large allocation is checked against first.

The budget is, in order: an explicit value (``--memory-budget`` / the GUI), the environment
variable ``NTK_MEMORY_BUDGET`` (e.g. ``4GB``, ``512MiB``, ``1e9``), else half of the RAM that is
available now.
"""
from __future__ import annotations

import os
import re
from typing import Optional

from ..errors import MemoryBudgetError, NTKInputError

ENV_VAR = "NTK_MEMORY_BUDGET"
DEFAULT_FRACTION = 0.5
#: sizes from this on (and infinite ones) are refused: no machine has that much memory
MAX_SIZE = float(2 ** 60)

_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
          "kib": 2 ** 10, "mib": 2 ** 20, "gib": 2 ** 30, "tib": 2 ** 40}


def parse_size(text) -> int:
    """'4GB', '512MiB', '1e9', 1000000 → bytes."""
    if isinstance(text, (int, float)):
        value, unit = float(text), ""
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*", str(text))
        if not m or m.group(2).lower() not in _UNITS:
            raise NTKInputError(f"cannot read memory size {text!r} (use e.g. 4GB, 512MiB or 1e9)")
        value, unit = float(m.group(1)), m.group(2).lower()
    size = value * _UNITS[unit]
    if not size < MAX_SIZE:
        raise NTKInputError(f"memory size {text!r} is out of range (give at most a few TB, e.g. 8GB)")
    size = int(size)
    if size <= 0:
        raise NTKInputError(f"memory size must be positive, got {text!r}")
    return size


def available_ram() -> int:
    """Bytes of RAM available now (MemAvailable on Linux; free pages elsewhere)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def memory_budget(explicit=None) -> int:
    if explicit is not None:
        return parse_size(explicit)
    env = os.environ.get(ENV_VAR)
    if env:
        try:
            return parse_size(env)
        except NTKInputError as exc:
            raise NTKInputError(f"environment variable {ENV_VAR}: {exc}") from None
    return int(available_ram() * DEFAULT_FRACTION)


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024.0
    return f"{n:.1f} TiB"


def check_budget(needed: int, what: str, budget: Optional[int] = None) -> None:
    """Raise :class:`MemoryBudgetError` (before allocating) if ``needed`` exceeds the budget."""
    limit = memory_budget() if budget is None else int(budget)
    if needed > limit:
        raise MemoryBudgetError(
            f"{what} needs about {format_bytes(needed)}, more than the memory budget of "
            f"{format_bytes(limit)} (use fewer inputs or smaller widths, or raise the budget: "
            f"--memory-budget, the GUI's settings, or {ENV_VAR})")


def estimate_empirical(widths, n1: int, n2: int, itemsize: int, same: bool = False) -> int:
    """Peak bytes of :func:`empirical_ntk`: the result, one Gram temporary, the activations and
    back-propagated vectors of both input sets, and the network's parameters."""
    nL = widths[-1]
    result = n1 * n2 * nL * nL * itemsize
    rows = n1 if same else n1 + n2
    return int(2 * result + 2 * n1 * n2 * itemsize + estimate_tile_scratch(widths, rows, itemsize))


def estimate_tile_scratch(widths, rows: int, itemsize: int) -> int:
    """Bytes a tiled backend needs at least besides the result: the features (activations and
    back-propagated vectors) of ``rows`` inputs and the parameters (a smaller budget fails in
    the backend's own planning with its message)."""
    nL = widths[-1]
    features = sum(widths[:-1]) * (1 + nL) + sum(widths[1:]) * nL
    params = sum(widths[l + 1] * (widths[l] + 1) for l in range(len(widths) - 1))
    return int((rows * features + params) * itemsize)


def estimate_analytic(n1: int, n2: int, depth: int = 3, itemsize: int = 8) -> int:
    """Peak bytes of :func:`analytic_kernels`: two results of ``itemsize`` bytes per entry plus
    bounded block scratch and the per-layer diagonals Σ^(l)(x, x) of both input sets."""
    return int(2 * n1 * n2 * itemsize + min(64 << 20, 8 * 8 * n1 * n2) + (depth + 1) * (n1 + n2) * 8)


def estimate_training(arch, n_train: int, n_test: int, n_records: int, *,
                      itemsize: int = 8, n_ntk: int = 0, linearized: bool = False) -> int:
    """Rough peak bytes of a training run of ``arch`` (an
    :class:`~ntk_desktop.core.network.Architecture`): parameter copies, forward/backward
    features, the trajectory and the NTK snapshots."""
    P = arch.n_params
    param_copies = 3 + (3 if linearized else 0)        # θ, ∂C/∂θ, forward scratch (+ θ0, Δθ, grad)
    feats = (n_train + n_test) * (2 * sum(arch.widths[:-1]) + arch.n_out) * (2 if linearized else 1)
    nL = arch.n_out
    traj = n_records * (n_train + n_test) * nL * 8 * (2 if linearized else 1)
    ntk = (n_records + 2) * n_ntk * n_ntk * nL * nL * 8
    ntk_scratch = 4 * n_ntk * (sum(arch.widths) * nL) * itemsize if n_ntk else 0
    return int(P * itemsize * param_copies + feats * itemsize + traj + ntk + ntk_scratch)
