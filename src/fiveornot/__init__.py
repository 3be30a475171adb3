"""fiveornot: train, understand and use perceptrons on handwritten digits.

>>> from fiveornot import load_mnist, Perceptron
>>> (x_train, y_train), (x_test, y_test) = load_mnist()
>>> model = Perceptron(digit=5).fit(x_train, y_train)   # doctest: +SKIP
>>> model.score(x_test, y_test)                          # doctest: +SKIP

Names are imported lazily so that ``fiveornot --help`` starts fast.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "load_mnist": "fiveornot.data.mnist",
    "load_idx_dir": "fiveornot.data.idx",
    "Perceptron": "fiveornot.model",
    "History": "fiveornot.train",
    "FiveornotError": "fiveornot.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'fiveornot' has no attribute {name!r}")
