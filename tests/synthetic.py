"""Small synthetic digit data sets for unit tests: learnable, seeded, and written as real IDX files.

Every class gets its own template of blobs; each image is its template shifted by up to a pixel plus noise,
so a linear model can learn "this class vs the rest" quickly.
"""

import gzip
import struct
from pathlib import Path

import numpy as np

IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def make_digits(count: int, seed: int = 0, classes: int = 10):
    """Return (images uint8 (count, 28, 28), labels uint8 (count,))."""
    templates = _templates(classes)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=count).astype(np.uint8)
    images = np.empty((count, 28, 28), dtype=np.float32)
    for i, label in enumerate(labels):
        dy, dx = rng.integers(-1, 2, size=2)
        images[i] = np.roll(templates[label], (dy, dx), axis=(0, 1))
    images += rng.normal(0, 20, size=images.shape)
    return np.clip(images, 0, 255).astype(np.uint8), labels


def _templates(classes: int) -> np.ndarray:
    rng = np.random.default_rng(1234)
    yy, xx = np.mgrid[0:28, 0:28]
    templates = np.zeros((classes, 28, 28), dtype=np.float32)
    for c in range(classes):
        for cy, cx in rng.integers(6, 22, size=(3, 2)):
            templates[c] += 255 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 8.0)
    return np.clip(templates, 0, 255)


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in the IDX format (independent of the library's writer, on purpose)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_idx_dataset(directory: Path, train_count=600, test_count=200, seed=0, compress=True) -> Path:
    """Write the four MNIST-layout IDX files of a synthetic data set into `directory`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    x_train, y_train = make_digits(train_count, seed)
    x_test, y_test = make_digits(test_count, seed + 1)
    arrays = {"train_images": x_train, "train_labels": y_train, "test_images": x_test, "test_labels": y_test}
    for key, array in arrays.items():
        data = idx_bytes(array)
        if compress:
            (directory / (IDX_NAMES[key] + ".gz")).write_bytes(gzip.compress(data, mtime=0))
        else:
            (directory / IDX_NAMES[key]).write_bytes(data)
    return directory
