"""The IDX reader and writer, load_idx_dir, and the Dataset type, on small files the tests write."""

import gzip
import pickle
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from synthetic import IDX_NAMES, idx_bytes, make_digits, write_idx_dataset

from fiveornot.data import Dataset, load_idx_dir
from fiveornot.data.dataset import array_digests
from fiveornot.data.idx import find_idx_files, read_idx, write_idx
from fiveornot.errors import DataError, IdxFormatError


def header(code=0x08, shape=(2, 3)):
    return struct.pack(">BBBB", 0, 0, code, len(shape)) + struct.pack(f">{len(shape)}I", *shape)


# ---------------------------------------------------------------------------------------------- reading


def test_reads_what_an_independent_writer_wrote(tmp_path):
    images, labels = make_digits(5)
    (tmp_path / "images").write_bytes(idx_bytes(images))
    (tmp_path / "labels.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    assert np.array_equal(read_idx(tmp_path / "images"), images)
    assert np.array_equal(read_idx(tmp_path / "labels.gz"), labels)
    assert read_idx(tmp_path / "images").dtype == np.uint8


def test_reads_bytes_and_returns_a_writable_array():
    array = read_idx(header(shape=(2, 3)) + bytes(range(6)))
    assert array.shape == (2, 3) and array.flags.writeable
    array[0, 0] = 9  # Keras's arrays are writable too


@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
@pytest.mark.parametrize("name", ["values.idx", "values.idx.gz"])
def test_write_then_read_round_trips_every_type(tmp_path, dtype, name):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    if dtype == "u1":
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = write_idx(tmp_path / name, array)
    back = read_idx(path)
    assert np.array_equal(back, array) and back.dtype == array.dtype.newbyteorder("=")
    assert path.read_bytes()[:2] == (b"\x1f\x8b" if name.endswith(".gz") else b"\x00\x00")


def test_writes_big_endian_as_the_format_requires(tmp_path):
    write_idx(tmp_path / "v", np.array([1, 256], dtype=np.int32))
    assert (tmp_path / "v").read_bytes() == header(0x0C, (2,)) + b"\x00\x00\x00\x01\x00\x00\x01\x00"


def test_write_replaces_atomically_and_leaves_the_old_file_on_failure(tmp_path, monkeypatch):
    path = write_idx(tmp_path / "v.gz", np.zeros(3, dtype=np.uint8))
    before = path.read_bytes()

    def broken_compress(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gzip, "compress", broken_compress)
    with pytest.raises(OSError):
        write_idx(path, np.ones(3, dtype=np.uint8))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["v.gz"]  # no temporary file left


def test_write_refuses_types_idx_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match="IDX cannot hold"):
        write_idx(tmp_path / "v", np.zeros(3, dtype=np.uint16))
    assert not (tmp_path / "v").exists()


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "is empty"),
        (b"\x00\x00", "too short"),
        (b"\x12\x34\x08\x01" + b"\0" * 8, "magic number 0x12340801"),
        (header(0x07, (2,)) + b"\0\0", "unknown IDX type code 0x07"),
        (struct.pack(">BBBB", 0, 0, 8, 0), "declares 0 dimensions"),
        (struct.pack(">BBBB", 0, 0, 8, 40), "declares 40 dimensions"),
        (header(shape=(2, 3))[:9], "truncated inside its header"),
        (header(shape=(2, 3)) + b"\0" * 5, "truncated: its header promises 6 bytes"),
        (header(shape=(2, 3)) + b"\0" * 7, "1 bytes more than"),
        (header(0x0C, (2,)) + b"\0" * 4, "promises 8 bytes"),
        (b"<!DOCTYPE html><html><body>Sign in</body></html>", "looks like an HTML page, not IDX data"),
        (b"  \n<html><body>502 Bad Gateway</body></html>", "looks like an HTML page"),
    ],
)
def test_bad_files_get_a_clear_error_naming_the_file(tmp_path, data, message):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(data)
    with pytest.raises(IdxFormatError, match=message) as caught:
        read_idx(path)
    assert str(path) in str(caught.value)
    with pytest.raises(IdxFormatError, match=message):  # the same when gzip'ed
        read_idx(gzip.compress(data), name="x.gz")


def test_truncated_gzip_is_reported_as_damaged(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.arange(100, dtype=np.uint8)))[:-10])
    with pytest.raises(IdxFormatError, match="t10k-labels-idx1-ubyte.gz is damaged gzip data"):
        read_idx(path)


def test_a_missing_file_is_an_idx_error_with_its_name(tmp_path):
    with pytest.raises(IdxFormatError, match="cannot read .*nothing-here"):
        read_idx(tmp_path / "nothing-here")


def test_an_absurd_shape_of_an_empty_array_is_refused():
    with pytest.raises(IdxFormatError, match="unusable shape"):
        read_idx(header(shape=(0, 2**32 - 1, 2**32 - 1, 2**32 - 1)))


# ------------------------------------------------------------------------------------ hypothesis

VALID = idx_bytes(make_digits(3)[0])


def _read_or_format_error(data):
    try:
        array = read_idx(data)
    except IdxFormatError:
        return None
    assert isinstance(array, np.ndarray)
    return array


@settings(max_examples=300, deadline=2000)
@given(st.binary(max_size=2000))
def test_random_bytes_never_crash_the_reader(data):
    _read_or_format_error(data)
    _read_or_format_error(b"\x00\x00" + data)  # past the magic check
    _read_or_format_error(gzip.compress(data))


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(
    position=st.integers(0, 15),
    value=st.integers(0, 255),
    cut=st.integers(0, len(VALID)),
    compress=st.booleans(),
)
def test_corrupted_headers_and_truncations_give_the_library_error(position, value, cut, compress):
    data = bytearray(VALID)
    data[position] = value
    data = bytes(data[:cut]) if cut < len(VALID) else bytes(data)
    if compress:
        data = gzip.compress(data)
    array = _read_or_format_error(data)
    if array is not None:  # a change that still describes a valid file must describe it exactly
        assert array.size * array.itemsize == len(gzip.decompress(data) if compress else data) - 4 - 4 * array.ndim


@settings(max_examples=100, deadline=2000)
@given(data=st.binary(min_size=1, max_size=200), start=st.integers(0, 300))
def test_damaged_gzip_streams_give_the_library_error(data, start):
    packed = bytearray(gzip.compress(VALID))
    for offset, byte in enumerate(data):
        packed[(start + offset) % len(packed)] = byte
    _read_or_format_error(bytes(packed))


# ----------------------------------------------------------------------------------- load_idx_dir


@pytest.mark.parametrize("compress", [True, False])
def test_load_idx_dir_reads_a_synthetic_data_set(tmp_path, compress):
    directory = write_idx_dataset(tmp_path / "fashion", train_count=50, test_count=20, compress=compress)
    dataset = load_idx_dir(directory)
    (x_train, y_train), (x_test, _) = dataset
    assert x_train.shape == (50, 28, 28) and y_train.shape == (50,)
    assert x_test.shape == (20, 28, 28) and x_test.dtype == np.uint8
    assert np.array_equal(x_train, make_digits(50, 0)[0])
    assert dataset.name == "fashion" and not dataset.is_mnist
    assert dataset.source == f"directory {directory}" and dataset.path == directory
    assert dataset.digests == array_digests(dataset.arrays)


def test_load_idx_dir_accepts_the_dotted_spelling(tmp_path):
    directory = write_idx_dataset(tmp_path / "d", train_count=10, test_count=5, compress=False)
    for path in directory.iterdir():
        path.rename(directory / path.name.replace("-idx", ".idx"))
    assert len(load_idx_dir(directory)[0][0]) == 10


def test_load_idx_dir_lists_the_missing_files(tmp_path):
    directory = write_idx_dataset(tmp_path / "d", train_count=10, test_count=5)
    (directory / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="lacks 1 of the 4 IDX files: t10k-labels-idx1-ubyte"):
        load_idx_dir(directory)
    assert find_idx_files(directory)[1] == ["t10k-labels-idx1-ubyte"]


def test_load_idx_dir_insists_images_and_labels_agree_in_count(tmp_path):
    directory = write_idx_dataset(tmp_path / "d", train_count=10, test_count=5, compress=False)
    (directory / IDX_NAMES["train_labels"]).write_bytes(idx_bytes(np.zeros(9, dtype=np.uint8)))
    with pytest.raises(IdxFormatError, match="holds 10 images but .*train-labels-idx1-ubyte holds 9 labels"):
        load_idx_dir(directory)


def test_load_idx_dir_wants_28_by_28_images(tmp_path):
    directory = write_idx_dataset(tmp_path / "d", train_count=10, test_count=5, compress=False)
    (directory / IDX_NAMES["test_images"]).write_bytes(idx_bytes(np.zeros((5, 32, 32), dtype=np.uint8)))
    with pytest.raises(IdxFormatError, match="32x32 images, expected 28x28"):
        load_idx_dir(directory)


def test_load_idx_dir_on_a_missing_directory(tmp_path):
    with pytest.raises(DataError, match="is not a directory"):
        load_idx_dir(tmp_path / "nope")


# ----------------------------------------------------------------------------------------- Dataset


def test_dataset_unpacks_like_keras_and_survives_pickling(tmp_path):
    dataset = load_idx_dir(write_idx_dataset(tmp_path / "d", train_count=10, test_count=5))
    (x_train, _), _ = dataset
    assert isinstance(dataset, tuple) and len(dataset) == 2
    assert "name='d'" in repr(dataset) and "train=10" in repr(dataset)
    copy = pickle.loads(pickle.dumps(dataset))
    assert isinstance(copy, Dataset) and copy.source == dataset.source and copy.digests == dataset.digests
    assert np.array_equal(copy[0][0], x_train)
