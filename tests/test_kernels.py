"""The compiled epoch loop against a naive per-sample numpy reference built from losses.py and optimizers.py.

The loop reads uint8 pixels and scales them on the fly (x' = a * pixel + b); the reference works on the scaled
float matrix, so these tests also check that the on-the-fly scaling changes nothing.
"""

import numpy as np
import pytest

from fiveornot import kernels, losses
from fiveornot.optimizers import Optimizer


def reference_epoch(X, y, order, params, batch_size, activation, loss, optimizer):
    n_features = X.shape[1]
    for lo in range(0, len(order), batch_size):
        rows = order[lo : lo + batch_size]
        grad = np.zeros_like(params)
        for i in rows:
            z = X[i] @ params[:n_features] + params[n_features]
            _, dz = losses.loss_and_gradient(loss, activation, np.array([z]), np.array([y[i]]))
            grad[:n_features] += dz[0] * X[i] / len(rows)
            grad[n_features] += dz[0] / len(rows)
        optimizer.step(params, grad)
    return params


def random_pixels(rng, count, features):
    """uint8 pixels, mostly background like MNIST, and a per-pixel scaling that has an offset (like z-scores)."""
    pixels = rng.integers(0, 256, size=(count, features)).astype(np.uint8)
    pixels[rng.random((count, features)) < 0.6] = 0
    a = rng.uniform(0.002, 0.01, features).astype(np.float32)
    b = rng.uniform(-0.5, 0.5, features).astype(np.float32)
    return pixels, a, b


@pytest.mark.parametrize("activation,loss", [("sigmoid", "mse"), ("linear", "mse"), ("sigmoid", "bce"),
                                             ("linear", "hinge"), ("step", "perceptron"), ("step", "mse")])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_binary_kernel_matches_reference(activation, loss, optimizer):
    rng = np.random.default_rng(0)
    pixels, a, b = random_pixels(rng, 70, 12)
    y = (rng.random(70) < 0.4).astype(np.float32)
    order = rng.permutation(70)
    start = (rng.normal(size=13) * 0.3).astype(np.float32)

    params = start.copy()
    first, second, totals = np.zeros_like(params), np.zeros_like(params), np.zeros(2)
    batches = -(-70 // 16)
    kernels.binary_batches(pixels, a, b, y, order, 0, batches, 16, params, first, second, 0,
                           kernels.ACTIVATION_CODES[activation], kernels.LOSS_CODES[loss],
                           kernels.OPTIMIZER_CODES[optimizer], 0.05, 0.5, totals)
    X = pixels * a.astype(np.float64) + b
    expected = reference_epoch(X, y, order, start.astype(np.float64), 16, activation, loss,
                               Optimizer(optimizer, 0.05))
    np.testing.assert_allclose(params, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_multiclass_kernel_matches_reference(loss):
    rng = np.random.default_rng(2)
    pixels, a, b = random_pixels(rng, 40, 8)
    labels = rng.integers(0, 10, 40)
    order = rng.permutation(40)
    start = (rng.normal(size=9 * 10) * 0.1).astype(np.float32)
    params = start.copy()
    first, second, totals = np.zeros_like(params), np.zeros_like(params), np.zeros(2)
    kernels.multiclass_batches(pixels, a, b, labels, order, 0, 4, 10, params, first, second,
                               0, 10, kernels.MULTICLASS_LOSS_CODES[loss], kernels.OPTIMIZER_CODES["adam"], 0.01,
                               totals)
    X = pixels * a.astype(np.float64) + b

    reference = start.astype(np.float64).reshape(9, 10)
    optimizer = Optimizer("adam", 0.01)
    function = losses.softmax_cross_entropy if loss == "ce" else losses.softmax_mse
    for lo in range(0, 40, 10):
        rows = order[lo : lo + 10]
        z = X[rows] @ reference[:8] + reference[8]
        _, dz = function(z, labels[rows])
        grad = np.vstack([X[rows].T @ dz, dz.sum(axis=0)]) / len(rows)
        optimizer.step(reference, grad)
    np.testing.assert_allclose(params, reference.ravel(), rtol=1e-4, atol=1e-5)
