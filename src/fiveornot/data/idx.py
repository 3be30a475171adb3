"""The IDX file format of MNIST (and Fashion-MNIST, KMNIST, ...): read it, write it, validate it.

An IDX file is a 4-byte magic number -- two zero bytes, a type code, the number of dimensions -- then
one big-endian 32-bit size per dimension, then the values in C order, big-endian. The published copies
are gzip-compressed; this module reads either form and tells them apart by their first bytes.

Every problem with a file raises `IdxFormatError` naming the file, never another exception.
"""

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from fiveornot.atomic import atomic_write
from fiveornot.data.dataset import ARRAY_KEYS, Dataset, check_layout
from fiveornot.errors import DataError, IdxFormatError

# Type code -> numpy dtype of the values as stored (big-endian).
IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
MAX_DIMENSIONS = 16  # IDX allows 255; numpy arrays stop at 64 and nothing real uses more than 4

# The standard file names of an MNIST-layout data set (without ".gz").
IDX_FILE_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(source, *, name=None) -> np.ndarray:
    """Read one IDX file (gzip-compressed or raw) into a numpy array in native byte order.

    Parameters
    ----------
    source : str, Path, bytes or bytearray
        A file to read, or the file's content.
    name : str, optional
        What to call the data in error messages (default: the path, or "IDX data").

    Returns
    -------
    numpy.ndarray
        A writable array with the shape and type the header declares.

    Raises
    ------
    IdxFormatError
        If the file cannot be read or is not valid IDX data.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), name or "IDX data"
    else:
        name = name or str(source)
        data = _read_file(Path(source), name)
    if data.startswith(_GZIP_MAGIC):
        data = _gunzip(data, name)
    return _parse(data, name)


def write_idx(path, array) -> Path:
    """Write an array as an IDX file, gzip-compressed when the name ends in ``.gz``.

    The file appears complete or not at all (temporary file, then rename).

    Parameters
    ----------
    path : str or Path
        Where to write.
    array : array_like
        Values of a type IDX can hold: uint8, int8, int16, int32, float32 or float64.

    Returns
    -------
    Path
        The path written.
    """
    path = Path(path)
    array = np.asarray(array)
    code = _type_code(array.dtype)
    if not 1 <= array.ndim <= MAX_DIMENSIONS:
        raise ValueError(f"IDX holds arrays of 1 to {MAX_DIMENSIONS} dimensions, not {array.ndim}")
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    if path.name.endswith(".gz"):
        data = gzip.compress(data, compresslevel=6, mtime=0)
    with atomic_write(path) as file:
        file.write(data)
    return path


def find_idx_files(directory) -> tuple[dict, list]:
    """Look for the four MNIST-layout IDX files in a directory.

    Accepts each standard name raw or with ``.gz``, and the ``train-images.idx3-ubyte`` spelling some
    copies use.

    Returns
    -------
    found : dict
        Array name -> path of each file present.
    missing : list of str
        The standard file names of the ones not found.
    """
    directory = Path(directory)
    found, missing = {}, []
    for key, standard in IDX_FILE_NAMES.items():
        dotted = standard.replace("-idx", ".idx")
        candidates = [directory / f"{stem}{suffix}" for stem in (standard, dotted) for suffix in ("", ".gz")]
        present = next((path for path in candidates if path.is_file()), None)
        if present is None:
            missing.append(standard)
        else:
            found[key] = present
    return found, missing


def load_idx_dir(path) -> Dataset:
    """Load any directory holding the four MNIST-layout IDX files (gz or raw), e.g. Fashion-MNIST.

    Only the format is checked (valid IDX, uint8 28x28 images, as many labels as images); for MNIST
    itself use `load_mnist`, which also insists on MNIST's digests.

    Parameters
    ----------
    path : str or Path
        The directory.

    Returns
    -------
    Dataset
        Named ``"mnist"`` when the arrays are MNIST's, otherwise after the directory.

    Raises
    ------
    DataError
        If a file is missing; `IdxFormatError` if one is not valid.
    """
    directory = Path(path).expanduser()
    if not directory.is_dir():
        raise DataError(f"{directory} is not a directory")
    found, missing = find_idx_files(directory)
    if missing:
        raise DataError(f"{directory} lacks {len(missing)} of the 4 IDX files: {', '.join(missing)} (raw or .gz)")
    arrays = {key: read_idx(found[key]) for key in ARRAY_KEYS}
    check_layout(arrays, names={key: str(found[key]) for key in ARRAY_KEYS}, error=IdxFormatError)
    dataset = Dataset(arrays, source=f"directory {directory}", name=directory.name, path=directory)
    if dataset.is_mnist:
        dataset.name = "mnist"
    return dataset


def _read_file(path: Path, name: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise IdxFormatError(f"cannot read {name}: {error.strerror or error}") from None


def _gunzip(data: bytes, name: str) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:
        raise IdxFormatError(f"{name} is damaged gzip data ({error}); download it again") from None


def _parse(data: bytes, name: str) -> np.ndarray:
    if not data:
        raise IdxFormatError(f"{name} is empty; download it again")
    if data[:1024].lstrip()[:1] == b"<":  # IDX starts with a zero byte; "<" is a web page saved in the file's place
        raise IdxFormatError(
            f"this looks like an HTML page, not IDX data: {name} (an error or login page saved instead of the "
            "file?); download it again"
        )
    if len(data) < 4:
        raise IdxFormatError(f"{name} is too short to be IDX data ({len(data)} bytes; the header alone is 4)")
    zero1, zero2, code, ndim = data[:4]
    if zero1 or zero2:
        raise IdxFormatError(
            f"{name} is not IDX data: its magic number 0x{data[:4].hex()} does not start with two zero bytes"
        )
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02x}" for c in IDX_DTYPES)
        raise IdxFormatError(f"{name} has unknown IDX type code 0x{code:02x} (known: {known})")
    if not 1 <= ndim <= MAX_DIMENSIONS:
        raise IdxFormatError(f"{name} declares {ndim} dimensions; 1 to {MAX_DIMENSIONS} are supported")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise IdxFormatError(
            f"{name} is truncated inside its header ({len(data)} bytes, the header needs {header_size})"
        )
    shape = struct.unpack_from(f">{ndim}I", data, 4)
    dtype = IDX_DTYPES[code]
    count = math.prod(shape)
    promised, present = count * dtype.itemsize, len(data) - header_size
    if present < promised:
        raise IdxFormatError(
            f"{name} is truncated: its header promises {promised} bytes of data for shape {shape}, "
            f"only {present} follow; download it again"
        )
    if present > promised:
        raise IdxFormatError(
            f"{name} has {present - promised} bytes more than its header's shape {shape} allows: not valid IDX data"
        )
    try:
        array = np.frombuffer(data, dtype=dtype, count=count, offset=header_size).reshape(shape)
    except (ValueError, MemoryError) as error:  # e.g. an empty array with absurd dimensions
        raise IdxFormatError(f"{name} declares an unusable shape {shape}: {error}") from None
    return array.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


def _type_code(dtype) -> int:
    for code, stored in IDX_DTYPES.items():
        if dtype.kind == stored.kind and dtype.itemsize == stored.itemsize:
            return code
    raise ValueError(f"IDX cannot hold {dtype} values (only uint8, int8, int16, int32, float32, float64)")
