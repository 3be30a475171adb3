"""Stand-ins for the outside world in the data tests: a mirror on 127.0.0.1, fake wheels, a known data set.

Nothing here touches the internet. The synthetic data set plays MNIST's part: `synthetic_known` describes
its exact contents (digests, label counts, MD5s of its .gz files) the way `sources.MNIST` describes MNIST's.
"""

import base64
import gzip
import hashlib
import io
import pickle
import threading
import zipfile
from collections import Counter
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from synthetic import IDX_NAMES, make_digits, write_idx_dataset

from fiveornot.data.dataset import ARRAY_KEYS, KnownDataSet, array_digests
from fiveornot.data.sources import PackagedCopy

TRAIN_COUNT, TEST_COUNT, SEED = 120, 40, 7


PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
PROXY_VARIABLES += tuple(name.lower() for name in PROXY_VARIABLES)


def without_proxies(monkeypatch) -> None:
    """Talk to 127.0.0.1 directly, whatever the machine's proxy settings say."""
    for variable in PROXY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


def synthetic_arrays(train_count=TRAIN_COUNT, test_count=TEST_COUNT, seed=SEED) -> dict:
    """The arrays `write_idx_dataset` writes with the same arguments."""
    x_train, y_train = make_digits(train_count, seed)
    x_test, y_test = make_digits(test_count, seed + 1)
    return {"train_images": x_train, "train_labels": y_train, "test_images": x_test, "test_labels": y_test}


def write_synthetic(directory, compress=True) -> Path:
    return write_idx_dataset(directory, train_count=TRAIN_COUNT, test_count=TEST_COUNT, seed=SEED, compress=compress)


def synthetic_known(gz_directory, packages=()) -> KnownDataSet:
    """A KnownDataSet for the synthetic data whose .gz files `write_synthetic` put in `gz_directory`."""
    arrays = synthetic_arrays()
    gz_md5 = {
        key: hashlib.md5((Path(gz_directory) / f"{IDX_NAMES[key]}.gz").read_bytes()).hexdigest() for key in ARRAY_KEYS
    }
    return KnownDataSet(
        name="synth",
        title="synthetic digits",
        digests=array_digests(arrays),
        shapes={key: tuple(array.shape) for key, array in arrays.items()},
        label_counts={
            key: tuple(int(n) for n in np.bincount(arrays[key], minlength=10))
            for key in ("train_labels", "test_labels")
        },
        gz_md5=gz_md5,
        packages=tuple(packages),
    )


def known_to_json(known: KnownDataSet) -> dict:
    """For passing a KnownDataSet to a subprocess (rebuild it with ``KnownDataSet(**value)``)."""
    value = asdict(known)
    value["packages"] = []
    return value


def mirror_files(gz_directory) -> dict:
    """File name -> bytes of the four .gz files, as a mirror serves them."""
    return {path.name: path.read_bytes() for path in Path(gz_directory).glob("*.gz")}


class FakeMirror:
    """An HTTP server on 127.0.0.1 serving files from a dict, counting requests, misbehaving on demand.

    ``modes[file_name]`` picks the behaviour: "ok" (default), "404", "500", "truncated" (half the body, then
    the connection closes), "html" (a login page), "wrong" (other bytes), "stall" (no answer until stopped).
    With ``as_proxy`` it also answers proxy-style requests for any host.
    """

    HTML = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Please log in</body></html>\n"

    def __init__(self, files: dict):
        self.files = dict(files)
        self.modes = {}
        self.requests = Counter()
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/mnist/"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self):
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.rsplit("/", 1)[-1]
                mirror.requests[name] += 1
                mode = mirror.modes.get(name, "ok")
                body = mirror.files.get(name)
                if body is None or mode == "404":
                    self.send_error(404)
                elif mode == "500":
                    self.send_error(500)
                elif mode == "stall":
                    mirror._release.wait(30)
                elif mode == "html":
                    self._send(mirror.HTML, content_type="text/html")
                elif mode == "wrong":
                    self._send(gzip.compress(b"\0" * 64))
                elif mode == "truncated":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                else:
                    self._send(body)

            def _send(self, body, content_type="application/octet-stream"):
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # keep test output clean
                pass

        return Handler


# ------------------------------------------------------------------------------------------ wheels


def csv_member(images, labels) -> bytes:
    """The packaged CSV layout: a header, then label and 784 pixels per row."""
    header = "label," + ",".join(f"{r}x{c}" for r in range(1, 29) for c in range(1, 29))
    rows = np.column_stack([labels, images.reshape(len(images), -1)]).astype(int)
    buffer = io.StringIO()
    np.savetxt(buffer, rows, fmt="%d", delimiter=",", header=header, comments="")
    return buffer.getvalue().encode()


def pickle_member(arrays: dict, valid_count=20) -> bytes:
    """The classic mnist.pkl.gz layout: ((train), (valid), (test)), images as float32 byte/256 rows."""

    def floats(images):
        return (images.reshape(len(images), -1).astype(np.float32) / 256).astype(np.float32)

    x_train, y_train = arrays["train_images"], arrays["train_labels"].astype(np.int64)
    split = len(x_train) - valid_count
    data = (
        (floats(x_train[:split]), y_train[:split]),
        (floats(x_train[split:]), y_train[split:]),
        (floats(arrays["test_images"]), arrays["test_labels"].astype(np.int64)),
    )
    return gzip.compress(pickle.dumps(data, protocol=4))  # the real file is protocol 2 from Python 2


def make_wheel(directory, name, version, members: dict) -> Path:
    """Write a minimal valid wheel holding `members` (path -> bytes) that pip can download from a folder."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    files = dict(members)
    files[f"{dist}/__init__.py"] = b""
    files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: fiveornot-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [f"{path},sha256={_record_hash(data)},{len(data)}" for path, data in files.items()]
    files[f"{info}/RECORD"] = ("\n".join(record + [f"{info}/RECORD,,"]) + "\n").encode()
    wheel = Path(directory) / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def packaged_copy_for(wheel: Path, name, version, kind, members) -> PackagedCopy:
    return PackagedCopy(
        name=name,
        version=version,
        wheel=wheel.name,
        sha256=hashlib.sha256(wheel.read_bytes()).hexdigest(),
        size_mb=wheel.stat().st_size / 1e6,
        kind=kind,
        members=tuple(members),
    )


def _record_hash(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
