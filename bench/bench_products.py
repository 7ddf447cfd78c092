"""Benchmark: the CG products of ``ntk regress`` — a kernel tile times float64 vectors, both
halves of a symmetric tile, accumulated in float64 (``backends/products.py``).

    python bench/bench_products.py [--tiles 24] [--block 2048] [--k 10] [--dtype float32] [--repeats 3]

Times, in the same run and with the same threads (one per CPU, each taking every n-th tile, BLAS
limited to one thread: the layout of ``StoredOperator.matmat``), per tile:

* **read floor**: summing each tile once (``np.add.reduce``), the memory traffic any product needs;
* **NumPy reference** (``reference_products``): the tile converted to float64 by blocks, then BLAS
  for ``B @ V`` and ``Bᵀ @ W``;
* **fused** (``tile_products``, the Numba kernel ``ntk regress`` runs).

The tiles (``--tiles`` × ``--block``², default 24 × 16 MB in float32) are more than any cache, as
in a full-MNIST solve where 465 tiles stream from RAM at every iteration.
"""
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import common  # noqa: F401  (sets sys.path)
from common import base_parser, header, load, med, table, timeit
from ntk_desktop.backends.products import reference_products, tile_products
from ntk_desktop.experiments import blas_threads


def main():
    p = base_parser(__doc__.splitlines()[1])
    p.add_argument("--tiles", type=int, default=24)
    p.add_argument("--block", type=int, default=2048)
    p.add_argument("--k", type=int, default=10, help="right-hand sides (10 classes of MNIST)")
    args = p.parse_args()
    if args.quick:
        args.tiles, args.block = 4, 512
    repeats = args.repeats or (2 if args.quick else 3)
    header("CG tile products (ntk regress)", args)
    rng = np.random.default_rng(0)
    b, k = args.block, args.k
    tiles = [rng.standard_normal((b, b)).astype(args.dtype) for _ in range(args.tiles)]
    V, W = rng.standard_normal((b, k)), rng.standard_normal((b, k))
    n = max(1, min(os.cpu_count() or 1, len(tiles)))

    def over_tiles(work):
        def part(i):
            for B in tiles[i::n]:
                work(B)
        with blas_threads(1), ThreadPoolExecutor(n) as pool:
            list(pool.map(part, range(n)))

    cases = [("read floor: sum of each tile", lambda B: np.add.reduce(B, axis=None)),
             ("NumPy reference: float64 blocks + BLAS", lambda B: reference_products(B, V, W)),
             ("fused (tile_products, Numba)", lambda B: tile_products(B, V, W))]
    rows, floor = [], None
    for name, work in cases:
        t = med(timeit(lambda: over_tiles(work), repeats=repeats)) / len(tiles)
        floor = floor or t
        rows.append([name, f"{t * 1e3:.2f}", f"{t / floor:.2f}",
                     f"{tiles[0].nbytes / t / 1e9:.1f}"])
    print(f"{len(tiles)} tiles of {b}² {args.dtype}, k = {k} vectors each side, {n} threads")
    table(rows, ["case", "ms per tile", "× read floor", "tile GB/s"])
    print(f"load average at end: {load()}")


if __name__ == "__main__":
    main()
