"""The cache: a data set's four arrays as uncompressed ``.npy`` files, memory-mapped when loaded.

Layout, where ROOT is ``--data-dir``, else ``$FIVEORNOT_DATA``, else the platform's user cache folder::

    ROOT/mnist-npy/train_images.npy  train_labels.npy  test_images.npy  test_labels.npy
    ROOT/mnist-npy/manifest.json     written last: without it nothing in the folder is trusted
    ROOT/mnist-npy.lock              held while fetching and writing (see fiveornot.data.mnist)

The manifest records, for every array, its file size and modification time, the SHA-256 of all of it,
and the SHA-256 of a sample (every 64th row). Two levels of checking:

- quick, on every load (about a millisecond): the manifest's digests are the known ones; each file has
  the recorded size and the expected shape and type; the labels are hashed in full (70 KB); the images'
  sample is hashed; and any file whose modification time changed since it was written is hashed in full.
  This catches truncation, a swapped or rewritten file, and damage to the sampled rows.
- full, for ``fiveornot data fetch`` and ``data verify`` (about 40 ms): every array hashed in full.

A cache that fails a check raises `CacheDamaged`; the loader reports it, moves the folder aside (renamed,
not deleted) and fetches again.
"""

import errno
import json
import os
import time
from pathlib import Path

import numpy as np

from fiveornot.atomic import atomic_write, remove_stale_temporaries
from fiveornot.data.dataset import ARRAY_KEYS, KnownDataSet, array_digest
from fiveornot.errors import DataError

FORMAT = 1
MANIFEST = "manifest.json"
SAMPLE_STEP = 64  # rows hashed on the quick check: 938 of MNIST's 60,000 training images


class CacheMissing(DataError):
    """The cache holds no complete copy (never written, or a write was interrupted)."""


class CacheDamaged(DataError):
    """The cache holds a copy that fails its checks."""


def cache_root(data_dir=None) -> Path:
    """The data folder: `data_dir`, else ``$FIVEORNOT_DATA``, else the user cache folder for fiveornot."""
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get("FIVEORNOT_DATA"):
        return Path(os.environ["FIVEORNOT_DATA"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("fiveornot", appauthor=False))


def cache_dir(root, known: KnownDataSet) -> Path:
    """The folder holding one data set's cached arrays."""
    return Path(root) / f"{known.name}-npy"


def read_cache(folder, known: KnownDataSet, *, full: bool = False) -> tuple[dict, dict]:
    """Memory-map the cached arrays after checking them (quick check, or every byte when `full`).

    Returns
    -------
    arrays : dict
        Read-only memory-mapped arrays keyed by `ARRAY_KEYS`.
    manifest : dict
        The manifest (``manifest["source"]`` says where the data was fetched from).

    Raises
    ------
    CacheMissing, CacheDamaged
    """
    folder = Path(folder)
    manifest = _read_manifest(folder, known)
    try:
        arrays = {key: _load_checked(folder, key, manifest["arrays"][key], known, full) for key in ARRAY_KEYS}
    except (KeyError, TypeError) as error:
        raise CacheDamaged(f"its manifest is malformed ({type(error).__name__}: {error})") from None
    return arrays, manifest


def write_cache(folder, known: KnownDataSet, arrays: dict, digests: dict, source: str) -> None:
    """Write the arrays (already checked against `known`) and then the manifest, each file atomically.

    The old manifest is removed first, so a process killed at any point leaves a folder without a
    manifest, which `read_cache` never trusts. Call this only while holding the data set's lock.

    Raises
    ------
    DataError
        One clear line when the folder is read-only or the disk is full.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MANIFEST).unlink(missing_ok=True)
        remove_stale_temporaries(folder)
        entries = {key: _write_array(folder, key, arrays[key], digests[key]) for key in ARRAY_KEYS}
        manifest = {
            "format": FORMAT,
            "name": known.name,
            "source": source,
            "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "arrays": entries,
        }
        with atomic_write(folder / MANIFEST) as file:
            file.write(json.dumps(manifest, indent=2).encode())
    except OSError as error:
        raise DataError(describe_write_error(error, folder)) from None


def set_aside(folder) -> Path:
    """Rename a damaged cache folder out of the way (kept for inspection, never deleted); return the new path."""
    folder = Path(folder)
    target = folder.with_name(f"{folder.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    try:
        os.replace(folder, target)
    except OSError as error:
        raise DataError(
            f"cannot move the damaged cache {folder} aside ({error.strerror}); delete it and run again"
        ) from None
    return target


def verify_report(folder, known: KnownDataSet) -> dict:
    """Hash every cached array in full and compare with the known digests, for ``fiveornot data verify``.

    Returns
    -------
    dict
        ``{"source", "path", "ok", "problem", "arrays": {key: {"sha256", "expected", "ok"}}}``.
    """
    folder = Path(folder)
    report = {"source": f"cache {folder}", "path": str(folder), "ok": False, "problem": None, "arrays": {}}
    for key in ARRAY_KEYS:
        entry = {"sha256": None, "expected": known.digests[key], "ok": False}
        try:
            entry["sha256"] = array_digest(np.load(folder / f"{key}.npy", mmap_mode="r", allow_pickle=False))
            entry["ok"] = entry["sha256"] == entry["expected"]
        except (OSError, ValueError) as error:
            report["problem"] = report["problem"] or f"cannot read {key}.npy: {error}"
        report["arrays"][key] = entry
    try:
        _read_manifest(folder, known)
    except DataError as error:
        report["problem"] = report["problem"] or str(error)
    if report["problem"] is None and not all(entry["ok"] for entry in report["arrays"].values()):
        report["problem"] = "digests differ: " + ", ".join(k for k, e in report["arrays"].items() if not e["ok"])
    report["ok"] = report["problem"] is None
    return report


def describe_write_error(error: OSError, folder) -> str:
    """One line for an OSError met while writing into `folder`, saying what to do about it."""
    elsewhere = "choose another place with --data-dir or FIVEORNOT_DATA"
    if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return f"no space left to cache the data in {folder} (about 55 MB needed): free some space or {elsewhere}"
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write to {folder} ({error.strerror}): {elsewhere}"
    return f"cannot write to {folder} ({error.strerror or error}): {elsewhere}"


def _read_manifest(folder: Path, known: KnownDataSet) -> dict:
    path = folder / MANIFEST
    if not path.exists():
        leftovers = folder.is_dir() and any(folder.glob("*.npy"))
        raise CacheMissing("an interrupted write, no manifest" if leftovers else "empty")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CacheDamaged(f"its manifest cannot be read ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or manifest.get("name") != known.name:
        raise CacheDamaged("its manifest is of another format or data set")
    arrays = manifest.get("arrays")
    if not isinstance(arrays, dict) or any(
        not isinstance(arrays.get(key), dict) or arrays[key].get("sha256") != known.digests[key] for key in ARRAY_KEYS
    ):
        raise CacheDamaged(f"its manifest does not list {known}'s digests")
    return manifest


def _load_checked(folder: Path, key: str, entry: dict, known: KnownDataSet, full: bool) -> np.ndarray:
    path = folder / entry["file"]
    try:
        stat = path.stat()
        if stat.st_size != entry["bytes"]:
            raise CacheDamaged(f"{path.name} is {stat.st_size} bytes, its manifest says {entry['bytes']}")
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise CacheDamaged(f"cannot read {path.name} ({error})") from None
    if array.dtype != np.uint8 or tuple(array.shape) != tuple(known.shapes[key]):
        raise CacheDamaged(f"{path.name} holds {array.dtype} {array.shape}, expected uint8 {tuple(known.shapes[key])}")
    touched = stat.st_mtime_ns != entry["mtime_ns"]
    if full or touched or key.endswith("labels"):
        if array_digest(array) != entry["sha256"]:
            raise CacheDamaged(f"{path.name} does not match its SHA-256")
    elif array_digest(array[::SAMPLE_STEP]) != entry["sample_sha256"]:
        raise CacheDamaged(f"{path.name} does not match its sample SHA-256")
    return array


def _write_array(folder: Path, key: str, array, digest: str) -> dict:
    path = folder / f"{key}.npy"
    array = np.ascontiguousarray(array)
    with atomic_write(path) as file:
        np.save(file, array, allow_pickle=False)
    stat = path.stat()
    return {
        "file": path.name,
        "shape": list(array.shape),
        "dtype": str(array.dtype),
        "bytes": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "sha256": digest,
        "sample_sha256": array_digest(array[::SAMPLE_STEP]),
    }
