"""Tile × vectors for ntk regress's CG (``backends.products``): the Numba kernel against the NumPy
reference, both against exact float64 products, on awkward shapes (1 × 1, a single row or column,
row counts that are not a multiple of the kernel's 4-row blocks, no vectors on one side)."""
import threading

import numpy as np
import pytest

from ntk_desktop.backends import products
from ntk_desktop.backends.products import reference_products, tile_products

SHAPES = [(1, 1), (1, 7), (7, 1), (5, 3), (4, 9), (13, 17), (130, 67)]


@pytest.fixture(scope="module", autouse=True)
def numba_kernel():
    if products._kernel() is None:
        pytest.skip("Numba unavailable: tile_products is the reference itself")


def exact(B, V):
    """B @ V with every sum in Python's exactly rounded math.fsum (B converted to float64)."""
    import math

    B = np.asarray(B, dtype=np.float64)
    return np.array([[math.fsum(B[i] * V[:, r]) for r in range(V.shape[1])] for i in range(B.shape[0])])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("k1,k2", [(1, 1), (3, 10), (10, 0), (0, 2)])
def test_fast_and_reference_equal_exact_products(shape, dtype, k1, k2):
    rng = np.random.default_rng(hash((shape, k1, k2)) % 2**32)
    m, n = shape
    B = rng.standard_normal(shape).astype(dtype)
    right = rng.standard_normal((n, k1)) if k1 else None
    left = rng.standard_normal((m, k2)) if k2 else None
    for impl in (tile_products, reference_products):
        to_rows, to_cols = impl(B, right, left)
        for got, want in ((to_rows, None if right is None else exact(B, right)),
                          (to_cols, None if left is None else exact(B.T, left))):
            if want is None:
                assert got is None
                continue
            assert got.dtype == np.float64 and got.shape == want.shape
            scale = np.abs(B).astype(np.float64).sum() * 10.0
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-14 * scale)


def test_float32_tile_is_accumulated_in_float64():
    # 1e8 + 1 - 1e8: every float32 sum order loses the 1, a float64 one keeps it
    B = np.array([[1e8, 1.0, -1e8, 0.0, 0.0]] * 6, dtype=np.float32)
    ones = np.ones((5, 2))
    to_rows, to_cols = tile_products(B, ones, np.ones((6, 1)))
    assert np.array_equal(to_rows, np.ones((6, 2)))
    assert np.array_equal(to_cols[:, 0], [6e8, 6.0, -6e8, 0.0, 0.0])
    assert np.array_equal(reference_products(B, ones)[0], np.ones((6, 2)))


@pytest.mark.parametrize("layout", ["transposed", "strided"])
def test_views_give_the_products_of_their_values(layout):
    rng = np.random.default_rng(3)
    base = rng.standard_normal((23, 18)).astype(np.float32)
    B = base.T if layout == "transposed" else base[::2, 1::3]
    right = rng.standard_normal((B.shape[1], 4))
    left = rng.standard_normal((B.shape[0], 2))
    to_rows, to_cols = tile_products(B, right, left)
    np.testing.assert_allclose(to_rows, exact(B, right), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(to_cols, exact(B.T, left), rtol=1e-13, atol=1e-13)


def test_threads_at_once_each_get_their_own_products():
    rng = np.random.default_rng(4)
    tiles = [rng.standard_normal((257, 131)).astype(np.float32) for _ in range(6)]
    V = rng.standard_normal((131, 5))
    W = rng.standard_normal((257, 3))
    got = [None] * len(tiles)

    def run(i):
        for _ in range(5):
            got[i] = tile_products(tiles[i], V, W)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(tiles))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for B, (a, b) in zip(tiles, got):
        np.testing.assert_allclose(a, exact(B, V), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(b, exact(B.T, W), rtol=1e-12, atol=1e-12)


def test_mismatched_vectors_are_refused():
    B = np.zeros((4, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=r"right must be a \(3, k\) array"):
        tile_products(B, np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"left must be a \(4, k\) array"):
        tile_products(B, None, np.zeros(4))
