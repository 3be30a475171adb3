"""Losses for one output: each returns the per-sample value and its gradient with respect to z.

`mse` and `bce` score the activation's output against the 0/1 target, as the tutorial's Keras model does
(so `bce` after a linear or step output clips it into (eps, 1 - eps), like Keras). `hinge` and `perceptron`
are margin losses on the raw weighted sum z with targets -1/+1, as in scikit-learn's SGDClassifier:
`perceptron` is hinge at margin 0, the classic perceptron criterion.

These numpy versions are the reference: the compiled training loop (kernels.py) must agree with them, and
evaluation uses them directly.
"""

import numpy as np

from fiveornot import activations

LOSSES = ("mse", "bce", "hinge", "perceptron")
MARGIN_LOSSES = ("hinge", "perceptron")
EPSILON = 1e-7  # Keras's clip for probabilities inside cross-entropy


def loss_and_gradient(loss: str, activation: str, z: np.ndarray, y: np.ndarray):
    """Per-sample loss and d loss / d z for targets y in {0, 1}."""
    z = np.asarray(z, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if loss == "mse":
        a = activations.activate(activation, z)
        return (a - y) ** 2, 2 * (a - y) * activations.derivative(activation, z)
    if loss == "bce":
        if activation == "sigmoid":
            # log(1 + e^z) - y z is the same loss, stable for any z.
            value = np.logaddexp(0, z) - y * z
            return value, activations.sigmoid(z) - y
        a = activations.activate(activation, z)
        p = np.clip(a, EPSILON, 1 - EPSILON)
        value = -(y * np.log(p) + (1 - y) * np.log(1 - p))
        inside = (a > EPSILON) & (a < 1 - EPSILON)
        gradient = np.where(inside, (p - y) / (p * (1 - p)), 0.0) * activations.derivative(activation, z)
        return value, gradient
    if loss in MARGIN_LOSSES:
        t = 2 * y - 1
        margin = 1.0 if loss == "hinge" else 0.0
        value = np.maximum(0, margin - t * z)
        active = t * z < margin if loss == "hinge" else t * z <= 0
        return value, np.where(active, -t, 0.0)
    raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")


def softmax_cross_entropy(z: np.ndarray, labels: np.ndarray):
    """Per-sample cross-entropy of softmax(z) for integer labels, and d loss / d z."""
    z = np.asarray(z, dtype=np.float64)
    shifted = z - z.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(labels))
    gradient = np.exp(log_p)
    gradient[rows, labels] -= 1
    return -log_p[rows, labels], gradient


def softmax_mse(z: np.ndarray, labels: np.ndarray):
    """Per-sample squared error (summed over classes) of softmax(z) against one-hot labels, and d loss / d z."""
    p = activations.softmax(np.asarray(z, dtype=np.float64))
    onehot = np.zeros_like(p)
    onehot[np.arange(len(labels)), labels] = 1
    d_p = 2 * (p - onehot)
    # Jacobian of softmax: dp_i/dz_j = p_i (delta_ij - p_j)
    gradient = p * (d_p - (d_p * p).sum(axis=1, keepdims=True))
    return ((p - onehot) ** 2).sum(axis=1), gradient
