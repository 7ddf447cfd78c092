"""Shared helpers of the benchmark scripts: machine description, baselines, timing, inputs.

Every script prints the machine, the BLAS NumPy uses (threadpoolctl's view: library, version,
threads and the kernel it picked, e.g. ``Haswell``) and the load average before and after, then
median (and minimum) times over repeats and ratios to baselines measured in the same run.

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, when set, change OpenBLAS's kernel choice and blocking (and
can slow NumPy a lot); run the benchmarks with both unset *in that command only*:
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_empirical.py``.  The scripts
print what they saw.
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_lines() -> list:
    try:
        from threadpoolctl import threadpool_info

        out = []
        for p in threadpool_info():
            if p.get("user_api") == "blas":
                out.append(f"BLAS: {p.get('internal_api')} {p.get('version')} threads={p.get('num_threads')} "
                           f"kernel={p.get('architecture')} ({Path(p.get('filepath', '')).name})")
        return out or ["BLAS: threadpoolctl found no BLAS"]
    except ImportError:
        return ["BLAS: (pip install threadpoolctl to see the library and kernel)"]


def machine_lines() -> list:
    import numba

    mem = "?"
    try:
        with open("/proc/meminfo") as fh:
            mem = f"{int(fh.readline().split()[1]) / 2 ** 20:.1f} GiB"
    except OSError:
        pass
    lines = [
        f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs, {mem} RAM, {platform.system()} {platform.release()}",
        f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__} "
        f"({numba.config.NUMBA_NUM_THREADS} threads)",
    ]
    lines += blas_lines()
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        lines.append(f"  {var}={os.environ.get(var, '(unset)')}")
    try:
        from ntk_desktop.backends import describe

        lines += [f"  {line}" for line in describe() if "device" in line or "backend" in line]
    except Exception as exc:  # pragma: no cover
        lines.append(f"  backends: {exc}")
    return lines


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def cpu_busy(seconds: float = 1.0) -> float:
    """Fraction of all CPUs busy over ``seconds`` (from /proc/stat; -1 when unknown)."""
    def snap():
        with open("/proc/stat") as fh:
            v = [int(x) for x in fh.readline().split()[1:]]
        return sum(v), v[3] + (v[4] if len(v) > 4 else 0)

    try:
        t0, i0 = snap()
        time.sleep(seconds)
        t1, i1 = snap()
    except (OSError, ValueError):
        return -1.0
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


_QUIET = {"wait": 0.0}


def set_wait_quiet(seconds: float) -> None:
    _QUIET["wait"] = float(seconds or 0.0)


def wait_quiet(threshold: float = 0.1) -> str:
    """Wait (at most ``--wait-quiet`` seconds) until other processes leave the CPUs idle; returns
    a note with the background load seen, for the record."""
    if _QUIET["wait"] <= 0:
        return ""
    deadline = time.time() + _QUIET["wait"]
    busy = cpu_busy()
    while busy > threshold and time.time() < deadline:
        busy = cpu_busy(2.0)
    return f"background {100 * busy:.0f}%"


def timeit(fn, repeats: int = 5, warmup: int = 1) -> list:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        gc.collect()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


class GemmProbe:
    """A square GEMM of about ``seconds`` run just before each timed repeat (:func:`paired`): the
    ratio op-rate / GEMM-rate of the same repeat is robust to a slowly changing background load
    on a shared machine."""

    def __init__(self, dtype, seconds: float = 0.1, rate_guess: float = 150e9):
        n = int(round((seconds * rate_guess / 2) ** (1 / 3) / 64)) * 64
        self.n = max(256, min(4096, n))
        rng = np.random.default_rng(1)
        self.a = rng.standard_normal((self.n, self.n)).astype(dtype)
        self.b = rng.standard_normal((self.n, self.n)).astype(dtype)
        self.c = np.empty_like(self.a)
        np.matmul(self.a, self.b, out=self.c)

    def rate(self) -> float:
        t = time.perf_counter()
        np.matmul(self.a, self.b, out=self.c)
        return 2.0 * self.n ** 3 / (time.perf_counter() - t) / 1e9


def paired(fn, probe: "GemmProbe", repeats: int = 5, warmup: int = 1):
    """(times of fn, GEMM rates measured right before each repeat) — see :class:`GemmProbe`."""
    for _ in range(warmup):
        fn()
    times, rates = [], []
    for _ in range(repeats):
        gc.collect()
        rates.append(probe.rate())
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times, rates


def med(times) -> float:
    return statistics.median(times)


def gemm_rate(dtype, n: int = 4096, repeats: int = 5) -> float:
    """GFLOP/s of NumPy's square matrix product (2n³ flops) in ``dtype``, median of repeats."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    c = np.empty((n, n), dtype=dtype)
    t = med(timeit(lambda: np.matmul(a, b, out=c), repeats))
    return 2.0 * n ** 3 / t / 1e9


def inputs(n: int, n0: int = 784, use_mnist: bool = True, seed: int = 0):
    """(X, source): n MNIST test digits on the sphere of radius √784 when ntk_desktop.data
    exists (and n <= 10000), else Gaussian inputs of dimension n0."""
    if use_mnist and n0 == 784 and n <= 10000:
        try:
            from ntk_desktop.data import mnist_subset

            X, _, _ = mnist_subset(n, seed=seed, sphere=True)
            return X, f"MNIST test digits (bundled), n0=784, on the sphere |x|=√784"
        except Exception as exc:  # pragma: no cover
            print(f"(MNIST unavailable: {exc}; using Gaussian inputs)")
    return np.random.default_rng(seed).standard_normal((n, n0)), f"Gaussian N(0, 1) inputs, n0={n0}"


def backends_for(names: str, device=None) -> list:
    """[(label, backend or None, why not)] for a comma-separated list of backend names."""
    from ntk_desktop import backends
    from ntk_desktop.errors import NTKInputError

    out = []
    for name in [s.strip() for s in names.split(",") if s.strip()]:
        try:
            chain = backends.select(name, device if name == "opencl" else None)
            be = chain.primary
            label = name
            if name == "opencl":
                label = f"opencl[{be.dev.name}]"
                try:  # choose the work-group tiles now (timed on first use), outside every timing
                    print(f"  {label}: work-group tiles {be.tiles.label()}; {be.dev.note}")
                except backends.BackendUnsupported as exc:
                    out.append((label, None, str(exc)))
                    continue
            out.append((label, be, ""))
        except NTKInputError as exc:
            out.append((name, None, str(exc)))
    return out


#: FP32 lanes per streaming multiprocessor by NVIDIA compute capability (CUDA programming guide,
#: "arithmetic instructions" throughput table): the FP32 peak is SMs × lanes × 2 × clock
NV_FP32_LANES = {(6, 0): 64, (6, 1): 128, (6, 2): 128, (7, 0): 64, (7, 2): 64, (7, 5): 64, (8, 0): 64,
                 (8, 6): 128, (8, 7): 128, (8, 9): 128, (9, 0): 128, (10, 0): 128, (12, 0): 128}


def fp32_peak(be, given: float = None):
    """(GF/s, how it was obtained) of an OpenCL device's FP32 peak, or (None, why not).

    ``given`` (``--peak-gflops``, e.g. from the vendor's data sheet) wins; an NVIDIA GPU's peak is
    computed from its compute capability, SM count and maximum clock."""
    if given:
        return float(given), "given with --peak-gflops"
    dev = getattr(be, "dev", None)
    cl_dev = getattr(dev, "cl_device", None)
    if cl_dev is None or dev.type != "GPU":
        return None, "not a GPU"
    try:
        cc = (int(cl_dev.compute_capability_major_nv), int(cl_dev.compute_capability_minor_nv))
    except Exception:
        return None, "unknown (not NVIDIA: give --peak-gflops)"
    lanes = NV_FP32_LANES.get(cc)
    if lanes is None:
        return None, f"unknown for compute capability {cc[0]}.{cc[1]} (give --peak-gflops)"
    sms, mhz = int(cl_dev.max_compute_units), int(cl_dev.max_clock_frequency)
    return sms * lanes * 2 * mhz / 1e3, f"{sms} SMs × {lanes} FP32 lanes × 2 × {mhz} MHz (sm_{cc[0]}{cc[1]})"


def base_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="small sizes and few repeats (a smoke run)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per case (median reported)")
    p.add_argument("--backends", default="numpy,numba,opencl", help="comma-separated backends to time")
    p.add_argument("--device", default=None, help="OpenCL device (as for ntk --device)")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    p.add_argument("--random-inputs", action="store_true", help="Gaussian inputs instead of MNIST")
    p.add_argument("--gemm-size", type=int, default=None, help="size of the square GEMM baseline (default 4096)")
    p.add_argument("--peak-gflops", type=float, default=None,
                   help="the OpenCL GPU's FP32 peak in GFLOP/s for the '%% of FP32 peak' figure (default: "
                        "computed for NVIDIA GPUs from compute capability, SMs and clock)")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                   help="before each case wait up to SECONDS for other processes to leave the CPUs idle "
                        "(shared machines); the background load seen is printed")
    return p


def header(title: str, args) -> None:
    set_wait_quiet(getattr(args, "wait_quiet", 0.0))
    print(f"# {title}")
    for line in machine_lines():
        print(line)
    print(f"load average at start: {load()}")
    print(f"arguments: {' '.join(sys.argv[1:]) or '(defaults)'}")


def table(rows: list, cols: list) -> None:
    widths = [max(len(str(c)), *(len(str(r[i])) for r in rows)) for i, c in enumerate(cols)]
    print("| " + " | ".join(str(c).ljust(w) for c, w in zip(cols, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(str(v).ljust(w) for v, w in zip(r, widths)) + " |")
