"""Property-based (hypothesis) test of every reader of user files (issue 13): random arrays,
shapes, dtypes and byte strings give a valid result or the project's own error
(:class:`~ntk_desktop.errors.NTKInputError`), never another exception."""
import io
import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ntk_desktop.cli.common import load_array, load_inputs
from ntk_desktop.core.network import Architecture, init_params, load_params, save_params
from ntk_desktop.data.mnist import load_mnist, read_idx_images, read_idx_labels, read_npz
from ntk_desktop.errors import NTKInputError
from ntk_desktop.session import Session, load_session, save_session

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

dtypes = st.one_of(hnp.floating_dtypes(), hnp.integer_dtypes(), hnp.unsigned_integer_dtypes(),
                   hnp.complex_number_dtypes(), hnp.boolean_dtypes(), hnp.unicode_string_dtypes(max_len=3),
                   hnp.byte_string_dtypes(max_len=3), hnp.datetime64_dtypes(), hnp.timedelta64_dtypes())
arrays = dtypes.flatmap(lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)))
keys = st.sampled_from(["W0", "b0", "W1", "b1", "W2", "x_test", "y_test", "x_train", "y_train", "X", "__session__"])


def npy_bytes(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def npz_bytes(named: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **named)
    return buf.getvalue()


def damaged(data: bytes, cut, flips) -> bytes:
    """``data`` truncated at ``cut`` (a fraction) and with bytes overwritten at ``flips``."""
    b = bytearray(data[:max(0, int(len(data) * cut))] if cut is not None else data)
    for pos, value in flips:
        if b:
            b[int(pos * (len(b) - 1))] = value
    return bytes(b)


cuts = st.one_of(st.none(), st.floats(0, 1))
flips = st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=3)
npz_contents = st.dictionaries(keys, arrays, max_size=4)
file_bytes = st.one_of(
    st.binary(max_size=300),
    st.builds(damaged, st.builds(npy_bytes, arrays), cuts, flips),
    st.builds(damaged, st.builds(npz_bytes, npz_contents), cuts, flips),
)


def call(reader, data: bytes, name: str):
    """``reader(path)`` on a file holding ``data``: a result or NTKInputError, nothing else."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            return reader(path)
        except NTKInputError as exc:
            assert str(exc) and "\n" not in str(exc) and "pickle" not in str(exc)
            return None


@SETTINGS
@given(data=file_bytes, suffix=st.sampled_from([".npy", ".npz"]))
def test_numpy_inputs(data, suffix):
    X = call(lambda p: load_inputs(p, "inputs"), data, "x" + suffix)
    if X is not None:
        assert X.ndim == 2 and X.shape[0] >= 1 and np.all(np.isfinite(X))


@SETTINGS
@given(a=arrays, suffix=st.sampled_from([".npy", ".npz"]))
def test_numpy_arrays_of_any_dtype_and_shape(a, suffix):
    data = npy_bytes(a) if suffix == ".npy" else npz_bytes({"X": a})
    X = call(lambda p: load_inputs(p, "inputs"), data, "x" + suffix)
    if X is not None:
        assert X.shape == a.shape and a.ndim == 2


text = st.text(alphabet=st.sampled_from(list("0123456789.,;eE+- \t\nnaif#")), max_size=200)


@SETTINGS
@given(body=st.one_of(text, st.binary(max_size=200).map(lambda b: b.decode("latin-1"))),
       suffix=st.sampled_from([".csv", ".txt"]))
def test_text_inputs(body, suffix):
    call(lambda p: load_array(p, "inputs"), body.encode("utf-8", "surrogatepass"), "x" + suffix)
    call(lambda p: load_inputs(p, "inputs"), body.encode("latin-1", "replace"), "x" + suffix)


@SETTINGS
@given(data=file_bytes, dtype=st.sampled_from(["float32", "float64"]))
def test_params(data, dtype):
    params = call(lambda p: load_params(p, None, dtype), data, "p.npz")
    if params is not None:
        assert all(np.all(np.isfinite(w)) for w in params.weights)


@SETTINGS
@given(named=npz_contents)
def test_params_of_any_keys_dtypes_and_shapes(named):
    call(load_params, npz_bytes(named), "p.npz")


def test_a_valid_params_file_reads_back(tmp_path):
    arch = Architecture.build(3, depth=3, width=5)
    p = init_params(arch, 1)
    save_params(tmp_path / "p.npz", p)
    q = load_params(tmp_path / "p.npz", arch)
    assert all(np.array_equal(a, b) for a, b in zip(p.weights + p.biases, q.weights + q.biases))


json_values = st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | st.floats() | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                        max_size=3), max_leaves=8)
header_keys = st.sampled_from(["format", "version", "app_version", "saved_at", "parameters", "meta", "x"])


@SETTINGS
@given(changes=st.dictionaries(header_keys, json_values, max_size=4), cut=cuts, flip=flips,
       raw_header=st.one_of(st.none(), arrays))
def test_sessions(changes, cut, flip, raw_header):
    with tempfile.TemporaryDirectory() as tmp:
        good = save_session(Path(tmp) / "s.ntksession", Session(parameters={"a": 1}, arrays={"k": np.ones(2)}))
        with np.load(good) as z:
            named = {k: z[k] for k in z.files}
    header = json.loads(str(named["__session__"]))
    header.update(changes)
    named["__session__"] = np.array(json.dumps(header, allow_nan=True)) if raw_header is None else raw_header
    session = call(load_session, damaged(npz_bytes(named), cut, flip), "s.ntksession")
    if session is not None:
        assert isinstance(session.parameters, dict) and isinstance(session.meta, dict)
        assert isinstance(session.version, int) and 1 <= session.version and np.isfinite(session.saved_at)


@SETTINGS
@given(data=file_bytes)
def test_session_from_any_bytes(data):
    call(load_session, data, "s.ntksession")


def idx_bytes(magic: int, dims, payload: bytes) -> bytes:
    import struct

    return struct.pack(f">i{len(dims)}i", magic, *dims) + payload


idx_files = st.one_of(
    st.binary(max_size=200),
    st.builds(idx_bytes, st.sampled_from([0x801, 0x803, 0x802, 0x0D03, -1]),
              st.lists(st.integers(-3, 6), min_size=0, max_size=4), st.binary(max_size=120)),
)


@SETTINGS
@given(data=idx_files, gz=st.booleans())
def test_idx_readers(data, gz):
    import gzip

    raw = gzip.compress(data) if gz else data
    images = call(read_idx_images, raw, "images-idx3-ubyte")
    labels = call(read_idx_labels, raw, "labels-idx1-ubyte")
    if images is not None:
        assert images.ndim == 3 and images.dtype == np.uint8
    if labels is not None:
        assert labels.ndim == 1 and labels.dtype == np.uint8


@SETTINGS
@given(named=npz_contents, cut=cuts, flip=flips, split=st.sampled_from(["test", "train"]))
def test_keras_npz(named, cut, flip, split):
    data = damaged(npz_bytes(named), cut, flip)
    got = call(lambda p: read_npz(p, split), data, "mnist.npz")
    if got is not None:
        images, labels = got
        assert len(images) == len(labels)
    call(lambda p: load_mnist(p, split=split), data, "mnist.npz")


@SETTINGS
@given(data=st.binary(max_size=200))
def test_zip_archives_that_are_not_npz(data):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("x_test.npy", data)
        zf.writestr("y_test.npy", data[::-1])
    call(read_npz, buf.getvalue(), "mnist.npz")
    call(load_session, buf.getvalue(), "s.ntksession")
    call(load_params, buf.getvalue(), "p.npz")
