"""Activations: what turns the perceptron's weighted sum z into its output.

Each activation is a pair, value and derivative, side by side. `step` is Rosenblatt's threshold unit; its true
derivative is zero almost everywhere, so training uses the straight-through derivative 1 instead: with the MSE
loss that makes the update (output - target) * x, which is exactly the classic perceptron learning rule.
"""

import numpy as np

ACTIVATIONS = ("linear", "sigmoid", "step")


def activate(name: str, z: np.ndarray) -> np.ndarray:
    if name == "linear":
        return z
    if name == "sigmoid":
        return sigmoid(z)
    if name == "step":
        return (z >= 0).astype(z.dtype)
    raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")


def derivative(name: str, z: np.ndarray) -> np.ndarray:
    """d output / d z, with the straight-through 1 for `step` (see the module docstring)."""
    if name == "sigmoid":
        s = sigmoid(z)
        return s * (1 - s)
    if name in ("linear", "step"):
        return np.ones_like(z)
    raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")


def sigmoid(z: np.ndarray) -> np.ndarray:
    # The same function as 1 / (1 + e^-z), written with tanh, which never overflows (e^-z does for z < -88).
    z = np.asarray(z, dtype=np.result_type(z, np.float32))
    return 0.5 + 0.5 * np.tanh(0.5 * z)


def softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)
