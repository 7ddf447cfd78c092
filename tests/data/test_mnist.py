"""MNIST files: the shipped test set, user copies (IDX, gzipped or not, npz), corrupt files,
preprocessing and reproducible subsets.

Test files are written here by hand (struct.pack / gzip / np.savez), independently of the reader.
"""
import gzip
import hashlib
import math
import struct

import numpy as np
import pytest

from ntk_desktop._resources import resource_path
from ntk_desktop.data import (
    load_mnist, mnist_subset, one_hot, preprocess, read_idx_images, read_idx_labels, read_npz,
    subset_indices,
)
from ntk_desktop.errors import NTKInputError

# Published facts about the MNIST test set (LeCun, Cortes & Burges), not derived from our reader.
PUBLISHED_MD5 = {
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
PUBLISHED_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
FIRST_TEST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


@pytest.fixture(scope="module")
def bundled():
    return load_mnist()


def idx_bytes(magic, dims, payload: bytes) -> bytes:
    return struct.pack(">i", magic) + struct.pack(f">{len(dims)}i", *dims) + payload


def write_idx(path, magic, dims, payload: bytes, *, gz=False):
    data = idx_bytes(magic, dims, payload)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def tiny_set(n=3, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) * 3 % 10).astype(np.uint8)
    return images, labels


def write_pair(folder, prefix="t10k", n=3, seed=0, *, gz_images=False, gz_labels=False, dotted=False):
    images, labels = tiny_set(n, seed)
    sep = "." if dotted else "-"
    img = folder / f"{prefix}-images{sep}idx3-ubyte{'.gz' if gz_images else ''}"
    lab = folder / f"{prefix}-labels{sep}idx1-ubyte{'.gz' if gz_labels else ''}"
    write_idx(img, 0x803, (n, 28, 28), images.tobytes(), gz=gz_images)
    write_idx(lab, 0x801, (n,), labels.tobytes(), gz=gz_labels)
    return images, labels, img, lab


def write_npz(path, **arrays):
    with open(path, "wb") as f:  # a file object: np.savez appends no .npz to the name
        np.savez(f, **arrays)
    return path


def error(call, *args, **kwargs) -> str:
    with pytest.raises(NTKInputError) as e:
        call(*args, **kwargs)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


# ---------------------------------------------------------------------------- the shipped set

def test_shipped_files_match_md5sums_and_published_sums():
    sums = {}
    for line in resource_path("mnist", "MD5SUMS").read_text().splitlines():
        digest, name = line.split()
        sums[name] = digest
    assert sums == PUBLISHED_MD5
    for name, digest in sums.items():
        assert hashlib.md5(resource_path("mnist", name).read_bytes()).hexdigest() == digest


def test_licence_note_is_shipped():
    text = resource_path("mnist", "README.md").read_text(encoding="utf-8")
    assert "Creative Commons" in text and "3.0" in text and "LeCun" in text


def test_bundled_test_set(bundled):
    images, labels = bundled
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == PUBLISHED_COUNTS
    assert labels[:10].tolist() == FIRST_TEST_LABELS
    assert images.min() == 0 and images.max() == 255
    assert images.flags.writeable


def test_bundled_set_has_no_train_split():
    assert "only the test set" in error(load_mnist, split="train")


def test_unknown_split():
    assert "choose test or train" in error(load_mnist, split="validation")


# ---------------------------------------------------------------------------- user copies

def test_folder_of_plain_idx_files(tmp_path):
    images, labels, *_ = write_pair(tmp_path)
    got_i, got_l = load_mnist(tmp_path)
    np.testing.assert_array_equal(got_i, images)
    np.testing.assert_array_equal(got_l, labels)
    assert got_i.dtype == np.uint8 and got_l.dtype == np.uint8


def test_folder_train_split_and_mixed_gzip(tmp_path):
    write_pair(tmp_path, "t10k", n=2, seed=1)
    images, labels, *_ = write_pair(tmp_path, "train", n=5, seed=2, gz_images=True)
    got_i, got_l = load_mnist(str(tmp_path), split="train")
    np.testing.assert_array_equal(got_i, images)
    np.testing.assert_array_equal(got_l, labels)
    assert load_mnist(tmp_path, split="test")[0].shape == (2, 28, 28)


def test_dotted_file_names(tmp_path):
    images, labels, *_ = write_pair(tmp_path, "train", n=4, dotted=True, gz_labels=True)
    np.testing.assert_array_equal(load_mnist(tmp_path, split="train")[1], labels)


def test_images_path_finds_labels_next_to_it(tmp_path):
    images, labels, img, _ = write_pair(tmp_path, "t10k", n=4, gz_images=True)
    got_i, got_l = load_mnist(img)
    np.testing.assert_array_equal(got_i, images)
    np.testing.assert_array_equal(got_l, labels)


def test_gzip_detected_by_content_not_name(tmp_path):
    images, labels = tiny_set(3)
    # gzipped bytes under the plain name, plain bytes under the .gz name
    write_idx(tmp_path / "t10k-images-idx3-ubyte", 0x803, (3, 28, 28), images.tobytes(), gz=True)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", 0x801, (3,), labels.tobytes(), gz=False)
    got_i, got_l = load_mnist(tmp_path)
    np.testing.assert_array_equal(got_i, images)
    np.testing.assert_array_equal(got_l, labels)


def test_read_idx_functions(tmp_path):
    images, labels, img, lab = write_pair(tmp_path, n=2)
    np.testing.assert_array_equal(read_idx_images(img), images)
    np.testing.assert_array_equal(read_idx_labels(lab), labels)


def test_keras_npz(tmp_path):
    tr_i, tr_l = tiny_set(6, seed=3)
    te_i, te_l = tiny_set(4, seed=4)
    p = write_npz(tmp_path / "mnist.npz", x_train=tr_i, y_train=tr_l, x_test=te_i, y_test=te_l)
    got_i, got_l = load_mnist(p)
    np.testing.assert_array_equal(got_i, te_i)
    np.testing.assert_array_equal(got_l, te_l)
    got_i, got_l = load_mnist(p, split="train")
    np.testing.assert_array_equal(got_i, tr_i)
    np.testing.assert_array_equal(got_l, tr_l)
    assert got_i.dtype == np.uint8 and got_l.dtype == np.uint8
    # found in a folder too, and recognised by content whatever its name
    np.testing.assert_array_equal(load_mnist(tmp_path, split="train")[1], tr_l)
    other = write_npz(tmp_path / "digits.bin", x_train=tr_i, y_train=tr_l, x_test=te_i, y_test=te_l)
    np.testing.assert_array_equal(read_npz(other, "test")[0], te_i)


def test_npz_with_int64_labels(tmp_path):
    te_i, te_l = tiny_set(4)
    p = write_npz(tmp_path / "m.npz", x_test=te_i, y_test=te_l.astype(np.int64))
    got_l = load_mnist(p)[1]
    assert got_l.dtype == np.uint8 and got_l.tolist() == te_l.tolist()


# ---------------------------------------------------------------------------- corrupt files

def test_wrong_magic(tmp_path):
    images, _ = tiny_set(2)
    p = write_idx(tmp_path / "t10k-images-idx3-ubyte", 0x0BADF00D, (2, 28, 28), images.tobytes())
    msg = error(read_idx_images, p)
    assert str(p) in msg and "magic number 0x0BADF00D" in msg and "0x00000803" in msg


def test_labels_file_given_as_images(tmp_path):
    _, _, _, lab = write_pair(tmp_path)
    msg = error(load_mnist, lab)
    assert str(lab) in msg and "this is an IDX labels file" in msg


def test_truncated_payload(tmp_path):
    images, labels = tiny_set(3)
    p = write_idx(tmp_path / "t10k-images-idx3-ubyte", 0x803, (3, 28, 28), images.tobytes()[:-100])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", 0x801, (3,), labels.tobytes())
    msg = error(load_mnist, tmp_path)
    assert str(p) in msg and "truncated" in msg and "2352" in msg and "2252" in msg


def test_truncated_header(tmp_path):
    p = tmp_path / "t10k-images-idx3-ubyte"
    p.write_bytes(struct.pack(">ii", 0x803, 3))
    msg = error(read_idx_images, p)
    assert str(p) in msg and "truncated" in msg and "header" in msg


def test_extra_bytes(tmp_path):
    _, labels = tiny_set(3)
    p = write_idx(tmp_path / "l", 0x801, (3,), labels.tobytes() + b"\0\0")
    msg = error(read_idx_labels, p)
    assert str(p) in msg and "2 unexpected bytes" in msg


def test_truncated_gzip_stream(tmp_path):
    images, _ = tiny_set(3)
    full = gzip.compress(idx_bytes(0x803, (3, 28, 28), images.tobytes()))
    p = tmp_path / "t10k-images-idx3-ubyte.gz"
    p.write_bytes(full[: len(full) // 2])
    msg = error(read_idx_images, p)
    assert str(p) in msg and "truncated gzip" in msg


def test_gzip_with_garbage_inside(tmp_path):
    p = tmp_path / "t10k-images-idx3-ubyte.gz"
    p.write_bytes(b"\x1f\x8b" + np.random.default_rng(0).bytes(500))
    msg = error(read_idx_images, p)
    assert str(p) in msg and "gzip" in msg


def test_gzip_with_bad_crc(tmp_path):
    images, _ = tiny_set(2)
    data = bytearray(gzip.compress(idx_bytes(0x803, (2, 28, 28), images.tobytes())))
    data[-8] ^= 0xFF  # the CRC32 of the uncompressed data
    p = tmp_path / "imgs.gz"
    p.write_bytes(bytes(data))
    msg = error(read_idx_images, p)
    assert str(p) in msg and "corrupt gzip" in msg


@pytest.mark.parametrize("content", [b"", b"\x00\x00", np.random.default_rng(1).bytes(3000)])
def test_garbage_bytes(tmp_path, content):
    p = tmp_path / "t10k-images-idx3-ubyte"
    p.write_bytes(content)
    msg = error(load_mnist, p)
    assert str(p) in msg and "not an IDX images file" in msg


def test_images_labels_count_mismatch(tmp_path):
    images, labels = tiny_set(3)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", 0x803, (3, 28, 28), images.tobytes())
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", 0x801, (2,), labels[:2].tobytes())
    msg = error(load_mnist, tmp_path)
    assert "3 images" in msg and "2 labels" in msg and "t10k-labels-idx1-ubyte" in msg


def test_label_out_of_range(tmp_path):
    p = write_idx(tmp_path / "l", 0x801, (3,), bytes([1, 12, 3]))
    msg = error(read_idx_labels, p)
    assert str(p) in msg and "label 12 at index 1" in msg


def test_images_not_28x28(tmp_path):
    p = write_idx(tmp_path / "i", 0x803, (2, 3, 4), bytes(24))
    msg = error(read_idx_images, p)
    assert str(p) in msg and "28x28" in msg and "(2, 3, 4)" in msg


def test_missing_labels_file(tmp_path):
    _, _, img, lab = write_pair(tmp_path)
    lab.unlink()
    msg = error(load_mnist, img)
    assert "no labels file" in msg and "t10k-labels-idx1-ubyte" in msg
    msg = error(load_mnist, tmp_path)
    assert "no MNIST test labels" in msg


def test_non_standard_images_name(tmp_path):
    images, _ = tiny_set(2)
    p = write_idx(tmp_path / "digits.idx", 0x803, (2, 28, 28), images.tobytes())
    msg = error(load_mnist, p)
    assert str(p) in msg and "labels" in msg


def test_missing_path_and_empty_folder(tmp_path):
    assert "not found" in error(load_mnist, tmp_path / "nope.gz")
    msg = error(load_mnist, tmp_path, split="train")
    assert "no MNIST train images" in msg and str(tmp_path) in msg


def test_npz_missing_keys(tmp_path):
    te_i, te_l = tiny_set(2)
    p = write_npz(tmp_path / "mnist.npz", x_test=te_i, y_test=te_l)
    msg = error(load_mnist, p, split="train")
    assert str(p) in msg and "'x_train'" in msg and "x_test, y_test" in msg
    p2 = write_npz(tmp_path / "half.npz", x_test=te_i)
    assert "'y_test'" in error(load_mnist, p2)


def test_npz_bad_contents(tmp_path):
    te_i, te_l = tiny_set(2)
    p = write_npz(tmp_path / "f.npz", x_test=te_i.astype(np.float32), y_test=te_l)
    assert "integers 0-255" in error(load_mnist, p)
    p = write_npz(tmp_path / "o.npz", x_test=np.array([None, 1], dtype=object), y_test=te_l)
    assert "not a readable .npz" in error(load_mnist, p)
    p = write_npz(tmp_path / "m.npz", x_test=te_i, y_test=te_l[:1])
    msg = error(load_mnist, p)
    assert str(p) in msg and "x_test holds 2 images but y_test holds 1 labels" in msg
    p = tmp_path / "single.npy"
    np.save(p, te_i)
    assert "single .npy array" in error(read_npz, p)
    p = tmp_path / "broken.npz"
    p.write_bytes(b"PK\x03\x04" + np.random.default_rng(2).bytes(200))
    msg = error(load_mnist, p)
    assert str(p) in msg and "not a readable .npz" in msg


# ---------------------------------------------------------------------------- preprocessing

def test_preprocess_hand_numbers():
    images = np.array([[[0, 255]], [[51, 102]]], dtype=np.uint8)  # (2, 1, 2)
    X = preprocess(images)
    assert X.dtype == np.float64 and X.shape == (2, 2)
    np.testing.assert_allclose(X, [[0.0, 1.0], [0.2, 0.4]], atol=1e-15)
    np.testing.assert_allclose(preprocess(images, center=True), [[-0.1, 0.3], [0.1, -0.3]], atol=1e-15)
    s = preprocess(images, sphere=True)  # rows scaled to norm sqrt(2)
    np.testing.assert_allclose(s, [[0.0, math.sqrt(2)], [math.sqrt(2 / 5), 2 * math.sqrt(2 / 5)]])
    np.testing.assert_allclose(preprocess(images, scale=1.0), [[0, 255], [51, 102]])
    np.testing.assert_allclose(preprocess(images, center=True, mean=[0.1, 0.1]), [[-0.1, 0.9], [0.1, 0.3]])


def test_preprocess_real_digits(bundled):
    images = bundled[0][:300]
    X = preprocess(images)
    assert X.shape == (300, 784) and X.min() == 0.0 and X.max() == 1.0
    C = preprocess(images, center=True)
    np.testing.assert_allclose(C.mean(axis=0), 0.0, atol=1e-13)
    S = preprocess(images, sphere=True)
    np.testing.assert_allclose(np.linalg.norm(S, axis=1), math.sqrt(784), rtol=1e-12)
    CS = preprocess(images, center=True, sphere=True)
    np.testing.assert_allclose(np.linalg.norm(CS, axis=1), 28.0, rtol=1e-12)
    # the sphere projection keeps directions
    np.testing.assert_allclose(CS[0] / np.linalg.norm(CS[0]), C[0] / np.linalg.norm(C[0]), atol=1e-14)


def test_preprocess_errors():
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    images[1, 5, 5] = 9
    msg = error(preprocess, images, sphere=True)
    assert "2 image(s)" in msg and "index 0, 2" in msg and "all pixels are zero" in msg
    same = np.ones((2, 28, 28), dtype=np.uint8)
    assert "after centring" in error(preprocess, same, center=True, sphere=True)
    assert "scale" in error(preprocess, images, scale=0)
    assert "shape" in error(preprocess, np.zeros(5))
    assert "one per pixel" in error(preprocess, images, center=True, mean=np.zeros(3))
    assert "non-finite" in error(preprocess, np.array([[np.nan, 1.0]]))
    assert "center=True" in error(preprocess, images, mean=np.zeros(784))


def test_one_hot():
    Y = one_hot(np.array([3, 0, 9], dtype=np.uint8))
    assert Y.shape == (3, 10) and Y.sum() == 3
    assert Y[0, 3] == Y[1, 0] == Y[2, 9] == 1.0
    assert one_hot([1, 0], n_classes=2).tolist() == [[0.0, 1.0], [1.0, 0.0]]
    assert "0..9" in error(one_hot, [10])


# ---------------------------------------------------------------------------- subsets

def test_subset_balanced_and_reproducible(bundled):
    images, labels = bundled
    X, lab, idx = mnist_subset(512, seed=0, data=bundled)
    assert X.shape == (512, 784) and X.dtype == np.float64
    assert np.bincount(lab, minlength=10).tolist() == [52, 52] + [51] * 8
    assert len(set(idx.tolist())) == 512 and np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(lab, labels[idx])
    np.testing.assert_allclose(X, images[idx].reshape(512, 784) / 255.0, rtol=1e-15, atol=0)
    X2, lab2, idx2 = mnist_subset(512, seed=0)  # loads the bundled set itself
    np.testing.assert_array_equal(idx2, idx)
    np.testing.assert_array_equal(X2, X)
    idx3 = mnist_subset(512, seed=1, data=bundled)[2]
    assert not np.array_equal(idx3, idx)


def test_subset_options(bundled):
    _, labels = bundled
    idx = subset_indices(labels, 7, seed=5, digits=[1, 7])
    assert sorted(labels[idx].tolist()) == [1, 1, 1, 1, 7, 7, 7]
    idx = subset_indices(labels, 100, seed=5, balanced=False)
    assert idx.size == 100 and len(set(idx.tolist())) == 100
    np.testing.assert_array_equal(idx, subset_indices(labels, 100, seed=5, balanced=False))
    X, _, _ = mnist_subset(20, seed=3, data=bundled, center=True, sphere=True)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 28.0, rtol=1e-12)


def test_subset_errors(bundled):
    _, labels = bundled
    msg = error(subset_indices, labels, 10000, seed=0)
    assert "1000 examples of digit 0" in msg and "only 980" in msg
    assert "only 10000" in error(subset_indices, labels, 10001, seed=0, balanced=False)
    assert "n must be" in error(subset_indices, labels, 0)
    assert "digits" in error(subset_indices, labels, 4, digits=[3, 3])
    assert "digits" in error(subset_indices, labels, 4, digits=[10])
    assert "seed" in error(subset_indices, labels, 4, seed=-1)
