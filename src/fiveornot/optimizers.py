"""Optimizers: they only turn a gradient into an update of the parameters (in place).

The compiled training loop (kernels.py) implements the same three rules; these numpy versions are the
readable reference that tests compare it with.
"""

import numpy as np

OPTIMIZERS = ("sgd", "momentum", "adam")
MOMENTUM = 0.9
ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-7  # Keras's defaults


class Optimizer:
    """Holds the learning rate and per-parameter state; `step(params, grads)` updates params in place."""

    def __init__(self, name: str, lr: float):
        if name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
        self.name, self.lr, self.steps = name, lr, 0
        self.first = self.second = None

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        if self.first is None:
            self.first = np.zeros_like(params)
            self.second = np.zeros_like(params)
        self.steps += 1
        if self.name == "sgd":
            params -= self.lr * grads
        elif self.name == "momentum":
            self.first *= MOMENTUM
            self.first -= self.lr * grads
            params += self.first
        else:
            self.first = ADAM_BETA1 * self.first + (1 - ADAM_BETA1) * grads
            self.second = ADAM_BETA2 * self.second + (1 - ADAM_BETA2) * grads * grads
            rate = self.lr * np.sqrt(1 - ADAM_BETA2**self.steps) / (1 - ADAM_BETA1**self.steps)
            params -= rate * self.first / (np.sqrt(self.second) + ADAM_EPSILON)
