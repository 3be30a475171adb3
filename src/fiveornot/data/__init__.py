"""Getting data: real MNIST from any reachable source (verified, cached), and other MNIST-layout IDX sets.

>>> from fiveornot.data import load_mnist
>>> (x_train, y_train), (x_test, y_test) = load_mnist()   # doctest: +SKIP
"""

from fiveornot.data.dataset import MNIST_DIGESTS, Dataset
from fiveornot.data.idx import load_idx_dir
from fiveornot.data.mnist import load_dataset, load_mnist

__all__ = ["MNIST_DIGESTS", "Dataset", "load_dataset", "load_idx_dir", "load_mnist"]
