"""MNIST: reading the IDX and Keras ``mnist.npz`` files, preprocessing, reproducible subsets.

The application ships the original MNIST *test* set (10,000 digits) in ``resources/mnist/``
(CC BY-SA 3.0, see the README there); :func:`load_mnist` with no path reads it.  A user's own
copy of the full set can be read from

* a folder holding the standard IDX files ``{t10k,train}-{images-idx3,labels-idx1}-ubyte``
  (each gzipped or not; the ``images.idx3-ubyte`` spelling is accepted too), or a Keras
  ``mnist.npz`` in that folder;
* an images IDX file, its labels being found next to it under the standard name;
* a Keras-style ``mnist.npz`` (arrays ``x_train``, ``y_train``, ``x_test``, ``y_test``).

IDX layout: a big-endian int32 magic number (0x00000803 for uint8 images of rank 3, 0x00000801
for uint8 labels of rank 1), one big-endian int32 per dimension, then the raw uint8 data.
Whether a file is gzipped is decided by its first bytes (1f 8b), never by its name.  Every
problem with a file (missing, unreadable, corrupt, truncated, wrong shape) raises
:class:`~ntk_desktop.errors.NTKInputError` with a one-line message naming the file.
"""
from __future__ import annotations

import gzip
import math
import numbers
import os
import struct
import zlib
from pathlib import Path
from typing import Iterable, Optional, Tuple, Union

import numpy as np

from .._resources import resource_path
from ..errors import READ_ERRORS, NTKInputError
from ._checks import count as _count, positive, rng as _rng

PathLike = Union[str, "os.PathLike[str]"]

IMAGES_MAGIC = 0x00000803  #: IDX magic of uint8 data of rank 3 (images)
LABELS_MAGIC = 0x00000801  #: IDX magic of uint8 data of rank 1 (labels)
SIDE = 28                  #: MNIST images are SIDE x SIDE pixels
N_PIXELS = SIDE * SIDE     #: n0 = 784 inputs once flattened
N_CLASSES = 10
SPLITS = ("test", "train")
_PREFIX = {"test": "t10k", "train": "train"}
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK"
_NPZ_KEYS = {"train": ("x_train", "y_train"), "test": ("x_test", "y_test")}
_KIND = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}


# --------------------------------------------------------------------------------------------
# IDX files
# --------------------------------------------------------------------------------------------

def _read_file(path: Path) -> bytes:
    """The bytes of ``path``, gunzipped when they start with the gzip magic."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NTKInputError(f"MNIST file not found: {path}") from None
    except IsADirectoryError:
        raise NTKInputError(f"{path} is a folder, not an MNIST file") from None
    except OSError as e:
        raise NTKInputError(f"cannot read {path}: {e.strerror or e}") from None
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError:
        raise NTKInputError(f"{path} is a truncated gzip file (the compressed stream ends early)") from None
    except (gzip.BadGzipFile, zlib.error, OSError) as e:
        raise NTKInputError(f"{path} is a corrupt gzip file ({e})") from None


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """Parse an IDX file of uint8 data whose magic number must be ``magic``."""
    data = _read_file(path)
    kind = _KIND[magic]
    if len(data) < 4:
        raise NTKInputError(f"{path} is not an IDX {kind} file: only {len(data)} bytes, too short for a header")
    (found,) = struct.unpack(">i", data[:4])
    if found != magic:
        hint = ""
        if found in _KIND:
            hint = f"; this is an IDX {_KIND[found]} file"
        raise NTKInputError(
            f"{path} is not an IDX {kind} file: magic number 0x{found & 0xFFFFFFFF:08X}, "
            f"expected 0x{magic:08X}{hint}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise NTKInputError(
            f"{path} is truncated: {len(data)} bytes, shorter than its {header}-byte IDX header")
    dims = struct.unpack(f">{ndim}i", data[4:header])
    if any(d < 0 for d in dims):
        raise NTKInputError(f"{path} has a corrupt IDX header: negative dimension in {dims}")
    expected = math.prod(dims)
    payload = len(data) - header
    shape = "x".join(map(str, dims))
    if payload < expected:
        raise NTKInputError(
            f"{path} is truncated: its header announces {shape} = {expected} bytes of {kind} "
            f"but only {payload} follow")
    if payload > expected:
        raise NTKInputError(
            f"{path} is corrupt: {payload - expected} unexpected bytes after the {shape} {kind}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims).copy()


def _check_images(images: np.ndarray, source) -> np.ndarray:
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise NTKInputError(
            f"{source}: MNIST images must be {SIDE}x{SIDE} (array of shape (N, {SIDE}, {SIDE})); "
            f"got shape {images.shape}")
    if images.shape[0] == 0:
        raise NTKInputError(f"{source} holds no images")
    return images


def _check_labels(labels: np.ndarray, source) -> np.ndarray:
    if labels.ndim != 1:
        raise NTKInputError(f"{source}: labels must be a 1-D array; got shape {labels.shape}")
    bad = np.flatnonzero(labels >= N_CLASSES)
    if bad.size:
        i = int(bad[0])
        raise NTKInputError(
            f"{source} holds label {int(labels[i])} at index {i}; MNIST labels are 0-{N_CLASSES - 1}")
    return labels


def read_idx_images(path: PathLike) -> np.ndarray:
    """Images from an IDX file (magic 0x00000803), gzipped or not: uint8 (N, 28, 28)."""
    path = Path(path).expanduser()
    return _check_images(_read_idx(path, IMAGES_MAGIC), path)


def read_idx_labels(path: PathLike) -> np.ndarray:
    """Labels from an IDX file (magic 0x00000801), gzipped or not: uint8 (N,), values 0-9."""
    path = Path(path).expanduser()
    return _check_labels(_read_idx(path, LABELS_MAGIC), path)


def _pair(images: np.ndarray, labels: np.ndarray, images_src, labels_src):
    if images.shape[0] != labels.shape[0]:
        raise NTKInputError(
            f"{images_src} holds {images.shape[0]} images but {labels_src} holds "
            f"{labels.shape[0]} labels")
    return images, labels


# --------------------------------------------------------------------------------------------
# Keras mnist.npz
# --------------------------------------------------------------------------------------------

def _npz_array(z, key: str, path: Path) -> np.ndarray:
    if key not in z.files:
        have = ", ".join(sorted(z.files)) or "none"
        raise NTKInputError(
            f"{path} has no array {key!r} (a Keras-style mnist.npz holds x_train, y_train, "
            f"x_test, y_test; this one holds {have})")
    a = z[key]
    if not isinstance(a, np.ndarray):  # a member that is no .npy: NumPy hands back its raw bytes
        raise NTKInputError(f"{path}: {key} is not a NumPy array")
    if a.dtype.kind not in "uib":
        raise NTKInputError(f"{path}: {key} must hold integers 0-255; got dtype {a.dtype}")
    if a.size and (a.min() < 0 or a.max() > 255):
        raise NTKInputError(f"{path}: {key} must hold integers 0-255; got values {a.min()}..{a.max()}")
    return a.astype(np.uint8, copy=False)


def read_npz(path: PathLike, split: str = "test") -> Tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` of one split of a Keras-style ``mnist.npz`` (no pickles allowed)."""
    split = _split(split)
    path = Path(path).expanduser()
    x_key, y_key = _NPZ_KEYS[split]
    try:
        # our own file object, so that it is closed even when np.load fails half-way
        with open(path, "rb") as f:
            z = np.load(f, allow_pickle=False)
            if not hasattr(z, "files"):  # np.load gave a plain .npy array
                raise NTKInputError(f"{path} is a single .npy array, not an .npz archive of MNIST arrays")
            with z:
                images = _npz_array(z, x_key, path)
                labels = _npz_array(z, y_key, path)
    except NTKInputError:
        raise
    except FileNotFoundError:
        raise NTKInputError(f"MNIST file not found: {path}") from None
    except IsADirectoryError:
        raise NTKInputError(f"{path} is a folder, not an .npz file") from None
    except READ_ERRORS:
        raise NTKInputError(f"{path} is not a readable .npz archive of NumPy arrays (corrupt, truncated or "
                            "holding other data)") from None
    _check_images(images, f"{path} [{x_key}]")
    _check_labels(labels, f"{path} [{y_key}]")
    return _pair(images, labels, f"{path} {x_key}", y_key)


# --------------------------------------------------------------------------------------------
# load_mnist
# --------------------------------------------------------------------------------------------

def _split(split) -> str:
    if split not in SPLITS:
        raise NTKInputError(f"unknown MNIST split {split!r}; choose test or train")
    return split


def _first_existing(folder: Path, names: Iterable[str]) -> Optional[Path]:
    for name in names:
        for candidate in (folder / name, folder / (name + ".gz")):
            if candidate.is_file():
                return candidate
    return None


def _idx_names(prefix: str, what: str) -> Tuple[str, str]:
    rank = 3 if what == "images" else 1
    return f"{prefix}-{what}-idx{rank}-ubyte", f"{prefix}-{what}.idx{rank}-ubyte"


def _labels_next_to(images_path: Path) -> Path:
    """The labels file that goes with an images file named the standard way."""
    name = images_path.name
    base = name[:-3] if name.endswith(".gz") else name
    for img, lab in (("-images-idx3-ubyte", "-labels-idx1-ubyte"),
                     ("-images.idx3-ubyte", "-labels.idx1-ubyte")):
        if base.endswith(img):
            wanted = base[: -len(img)] + lab
            found = _first_existing(images_path.parent, [wanted])
            if found is None:
                raise NTKInputError(
                    f"no labels file next to {images_path}: expected {wanted} or {wanted}.gz "
                    f"in {images_path.parent}")
            return found
    raise NTKInputError(
        f"cannot tell where the labels of {images_path} are: give the folder holding the IDX files, "
        "or an images file with its standard name (e.g. t10k-images-idx3-ubyte.gz) "
        "with the labels file next to it")


def _load_folder(folder: Path, split: str):
    prefix = _PREFIX[split]
    images_path = _first_existing(folder, _idx_names(prefix, "images"))
    if images_path is None:
        npz = folder / "mnist.npz"
        if npz.is_file():
            return read_npz(npz, split)
        raise NTKInputError(
            f"no MNIST {split} images in {folder}: expected {_idx_names(prefix, 'images')[0]}[.gz] "
            "or mnist.npz")
    labels_path = _first_existing(folder, _idx_names(prefix, "labels"))
    if labels_path is None:
        raise NTKInputError(
            f"no MNIST {split} labels in {folder}: expected {_idx_names(prefix, 'labels')[0]}[.gz] "
            f"next to {images_path.name}")
    return _load_idx_pair(images_path, labels_path)


def _load_idx_pair(images_path: Path, labels_path: Path):
    images = read_idx_images(images_path)
    labels = read_idx_labels(labels_path)
    return _pair(images, labels, images_path, labels_path)


def _starts_with(path: Path, magic: bytes) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(magic)) == magic
    except OSError as e:
        raise NTKInputError(f"cannot read {path}: {e.strerror or e}") from None


def bundled_mnist_dir() -> Path:
    """The folder of the MNIST test set shipped with the application (``resources/mnist``)."""
    try:
        return resource_path("mnist")
    except FileNotFoundError as e:
        raise NTKInputError(f"the bundled MNIST test set is missing ({e}); reinstall NTK Desktop") from None


def load_mnist(path: Optional[PathLike] = None, *, split: str = "test") -> Tuple[np.ndarray, np.ndarray]:
    """MNIST digits as ``(images, labels)``: uint8 (N, 28, 28) and uint8 (N,) with values 0-9.

    ``path``:

    * ``None``: the bundled test set (10,000 digits); ``split="train"`` is then an error, since
      the training set is not shipped;
    * a folder: the IDX files of ``split`` in it (``t10k-*`` for test, ``train-*`` for train,
      each gzipped or not), else the split of a ``mnist.npz`` in it;
    * a zip archive (recognised by its first bytes, whatever its name): a Keras-style
      ``mnist.npz``, of which ``split`` is read;
    * any other file: an images IDX file, the labels being the standard-named file next to it
      (``...-images-idx3-ubyte[.gz]`` → ``...-labels-idx1-ubyte[.gz]``); the file itself decides
      the split, so ``split`` is not used.
    """
    split = _split(split)
    if path is None:
        if split == "train":
            raise NTKInputError(
                "the bundled MNIST holds only the test set; give the path of your own copy of "
                "the training set (IDX files or mnist.npz) to use split 'train'")
        return _load_folder(bundled_mnist_dir(), "test")
    path = Path(path).expanduser()
    if path.is_dir():
        return _load_folder(path, split)
    if not path.exists():
        raise NTKInputError(f"MNIST file not found: {path}")
    if _starts_with(path, _ZIP_MAGIC):
        return read_npz(path, split)
    images = read_idx_images(path)
    labels_path = _labels_next_to(path)
    return _pair(images, read_idx_labels(labels_path), path, labels_path)


# --------------------------------------------------------------------------------------------
# Preprocessing and subsets
# --------------------------------------------------------------------------------------------

def preprocess(images, *, scale: float = 1.0 / 255.0, center: bool = False, sphere: bool = False,
               mean=None) -> np.ndarray:
    """Network inputs from images: float64 (N, n0) with n0 = pixels per image (784 for MNIST).

    Steps, in this order:

    1. flatten each image to a row (an (N, n0) array is taken as already flat);
    2. multiply by ``scale`` (default 1/255: uint8 pixels 0-255 become [0, 1]);
    3. ``center=True``: subtract the mean image of the given set, so every column has mean 0
       (or subtract ``mean``, a length-n0 vector in the scaled units, e.g. the mean of the
       training set when preparing test points);
    4. ``sphere=True``: rescale each row to norm sqrt(n0), the sphere on which the paper
       states its results (a row that is all zero at that point cannot be, and is an error).
    """
    a = np.asarray(images)
    if a.ndim < 2:
        raise NTKInputError(f"images must be an array (N, height, width) or (N, n0); got shape {a.shape}")
    if a.shape[0] == 0 or a[0].size == 0:
        raise NTKInputError(f"no images to preprocess (shape {a.shape})")
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool) or np.iscomplexobj(a):
        raise NTKInputError(f"images must be real numbers; got dtype {a.dtype}")
    s = positive(scale, "scale")
    X = a.reshape(a.shape[0], -1).astype(np.float64) * s
    if not np.all(np.isfinite(X)):
        raise NTKInputError("images contain non-finite values")
    if center:
        if mean is None:
            m = X.mean(axis=0)
        else:
            m = np.asarray(mean, dtype=np.float64).reshape(-1)
            if m.shape != (X.shape[1],) or not np.all(np.isfinite(m)):
                raise NTKInputError(
                    f"mean must be {X.shape[1]} finite numbers, one per pixel; got shape {np.shape(mean)}")
        X -= m
    elif mean is not None:
        raise NTKInputError("mean is only used with center=True")
    if sphere:
        norms = np.linalg.norm(X, axis=1)
        zero = np.flatnonzero(norms <= 1e-12)
        if zero.size:
            shown = ", ".join(map(str, zero[:5])) + (", ..." if zero.size > 5 else "")
            after = " after centring" if center else ""
            raise NTKInputError(
                f"cannot project {zero.size} image(s) onto the sphere: all pixels are zero{after} "
                f"(index {shown})")
        X *= (math.sqrt(X.shape[1]) / norms)[:, None]
    return X


def one_hot(labels, n_classes: int = N_CLASSES) -> np.ndarray:
    """float64 (N, n_classes) with a 1 in column ``labels[i]`` of row i and 0 elsewhere."""
    n_classes = _count(n_classes, "n_classes")
    y = np.asarray(labels)
    if y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer)):
        raise NTKInputError(f"labels must be a 1-D array of integers; got {y.dtype} of shape {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise NTKInputError(f"labels must lie in 0..{n_classes - 1}; got {y.min()}..{y.max()}")
    out = np.zeros((y.size, n_classes))
    out[np.arange(y.size), y] = 1.0
    return out


def _digits(digits) -> Tuple[int, ...]:
    if digits is None:
        return tuple(range(N_CLASSES))
    try:
        ds = tuple(digits)
    except TypeError:
        raise NTKInputError(f"digits must be a list of digits 0-9 (got {digits!r})") from None
    if not ds or any(isinstance(d, bool) or not isinstance(d, numbers.Integral)
                     or not 0 <= int(d) < N_CLASSES for d in ds):
        raise NTKInputError(f"digits must be a non-empty list of digits 0-9 (got {digits!r})")
    ds = tuple(int(d) for d in ds)
    if len(set(ds)) != len(ds):
        raise NTKInputError(f"digits lists a digit twice: {list(ds)}")
    return tuple(sorted(ds))


def subset_indices(labels, n: int, *, seed: Optional[int] = 0, balanced: bool = True,
                   digits: Optional[Iterable[int]] = None) -> np.ndarray:
    """Indices of ``n`` distinct examples drawn reproducibly from ``seed``, sorted increasingly.

    Only examples whose label is in ``digits`` (default: all ten) are eligible.  With
    ``balanced=True`` every eligible digit gets n // k examples (k = number of digits) and the
    n % k lowest digits one more, each digit's examples drawn without replacement; otherwise the
    n examples are drawn uniformly without replacement among all eligible ones.
    """
    labels = np.asarray(labels)
    n = _count(n)
    ds = _digits(digits)
    rng = _rng(seed)
    if balanced:
        base, extra = divmod(n, len(ds))
        chosen = []
        for j, d in enumerate(ds):
            want = base + (1 if j < extra else 0)
            pool = np.flatnonzero(labels == d)
            if want > pool.size:
                raise NTKInputError(
                    f"a balanced subset of {n} digits needs {want} examples of digit {d}, "
                    f"but the data hold only {pool.size}")
            chosen.append(rng.choice(pool, size=want, replace=False))
        idx = np.concatenate(chosen)
    else:
        pool = np.flatnonzero(np.isin(labels, ds))
        if n > pool.size:
            raise NTKInputError(f"asked for {n} digits but the data hold only {pool.size} eligible ones")
        idx = rng.choice(pool, size=n, replace=False)
    return np.sort(idx)


def mnist_subset(n: int, *, seed: Optional[int] = 0, balanced: bool = True,
                 digits: Optional[Iterable[int]] = None, path: Optional[PathLike] = None,
                 split: str = "test", data: Optional[Tuple[np.ndarray, np.ndarray]] = None,
                 scale: float = 1.0 / 255.0, center: bool = False, sphere: bool = False
                 ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` MNIST digits chosen reproducibly, preprocessed into network inputs.

    The digits come from ``data`` = (images, labels) when given, else from
    ``load_mnist(path, split=split)`` (by default the bundled test set).  The selection is
    :func:`subset_indices` (balanced across ``digits`` by default), in increasing index order,
    and the inputs are ``preprocess(images[indices], scale=..., center=..., sphere=...)`` —
    centring uses the mean image of the selected subset.  The paper's Figure 3 uses n = 512.

    Returns ``(X, labels, indices)``: X float64 (n, 784), labels uint8 (n,), and the indices of
    the chosen digits in the full set.
    """
    if data is None:
        images, labels = load_mnist(path, split=split)
    else:
        try:
            images, labels = data
        except (TypeError, ValueError):
            raise NTKInputError("data must be a pair (images, labels)") from None
        images, labels = np.asarray(images), np.asarray(labels)
        if labels.ndim != 1 or images.shape[:1] != labels.shape:
            raise NTKInputError(
                f"data: {images.shape[0] if images.ndim else 0} images but labels of shape {labels.shape}")
    idx = subset_indices(labels, n, seed=seed, balanced=balanced, digits=digits)
    X = preprocess(images[idx], scale=scale, center=center, sphere=sphere)
    return X, labels[idx], idx
