"""Each optimizer minimises a tiny quadratic, and the compiled loop applies exactly the reference rules."""

import numpy as np
import pytest

from fiveornot import kernels
from fiveornot.optimizers import OPTIMIZERS, Optimizer


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_optimizer_minimises_a_quadratic(name):
    target = np.array([1.0, -2.0, 0.5])
    params = np.zeros(3)
    optimizer = Optimizer(name, lr=0.05 if name != "adam" else 0.1)
    for _ in range(500):
        optimizer.step(params, 2 * (params - target))
    np.testing.assert_allclose(params, target, atol=1e-2)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_compiled_update_matches_reference(name):
    rng = np.random.default_rng(1)
    params = rng.normal(size=6).astype(np.float32)
    reference = params.astype(np.float64)
    first, second = np.zeros(6, np.float32), np.zeros(6, np.float32)
    optimizer = Optimizer(name, lr=0.01)
    for step in range(1, 6):
        grad = rng.normal(size=6).astype(np.float32)
        kernels._apply_update(kernels.OPTIMIZER_CODES[name], params, grad, first, second, 0.01, step)
        optimizer.step(reference, grad.astype(np.float64))
    np.testing.assert_allclose(params, reference, rtol=1e-5, atol=1e-6)


def test_unknown_optimizer_is_refused():
    with pytest.raises(ValueError, match="unknown optimizer"):
        Optimizer("rmsprop", 0.1)
