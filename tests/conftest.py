import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # lets tests import `synthetic`

from synthetic import make_digits, write_idx_dataset  # noqa: E402


@pytest.fixture
def digits():
    """A small learnable data set in memory: ((x_train, y_train), (x_test, y_test))."""
    return make_digits(600, seed=0), make_digits(200, seed=1)


@pytest.fixture
def synthetic_data_dir(tmp_path, monkeypatch):
    """A synthetic MNIST-layout IDX data set that every command and load uses (via FIVEORNOT_DATA)."""
    directory = write_idx_dataset(tmp_path / "data")
    monkeypatch.setenv("FIVEORNOT_DATA", str(directory))
    return directory


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    directory = tmp_path / "runs"
    monkeypatch.setenv("FIVEORNOT_RUNS", str(directory))
    return directory


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST, fetched once into the user's cache through the normal source chain."""
    from fiveornot import load_mnist

    env = {k: os.environ.pop(k) for k in ("FIVEORNOT_DATA",) if k in os.environ}
    try:
        return load_mnist()
    finally:
        os.environ.update(env)
