"""The compiled inner loop of training: mini-batch steps over rows of raw uint8 pixels.

An epoch at batch 32 is ~1,700 tiny steps over 785 parameters, so per-call overhead, not arithmetic, would set
the pace of a numpy loop. These numba functions run a span of batches in one call with no allocation per step.
They implement exactly the rules of activations.py, losses.py and optimizers.py (tests compare them).

Inputs stay uint8 (a quarter of the memory traffic of float32, and no float copy of the training set) and the
scaling is applied on the fly as x' = a * pixel + b per pixel. The b part is the same for every image of a
step, so it costs one pass over the weights per step instead of one per image:
    z = bias + sum_d w_d b_d + sum_d (w_d a_d) pixel_d
    dL/dw_d = a_d * sum_i dz_i pixel_id + b_d * sum_i dz_i
Each batch's rows are converted to float32 once, into a small buffer that stays in cache for the gradient.

Parameters are one flat float32 vector: for one output, 784 weights then the bias; for K outputs, a
(785, K) matrix flattened row-major, the last row being the biases.
"""

import math

import numpy as np
from numba import njit

# Integer codes: numba branches on these cheaply inside the loop.
ACTIVATION_CODES = {"linear": 0, "sigmoid": 1, "step": 2}
LOSS_CODES = {"mse": 0, "bce": 1, "hinge": 2, "perceptron": 3}
MULTICLASS_LOSS_CODES = {"ce": 0, "mse": 1}
OPTIMIZER_CODES = {"sgd": 0, "momentum": 1, "adam": 2}

# Reassociation lets LLVM vectorise the dot products; no 'nnan'/'ninf', so the divergence guard still sees NaN.
_FAST = {"reassoc", "contract", "arcp"}
_EPSILON = 1e-7
MOMENTUM, BETA1, BETA2, ADAM_EPSILON = 0.9, 0.9, 0.999, 1e-7


@njit(cache=True, fastmath=_FAST, nogil=True)
def _sigmoid(z):
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@njit(cache=True, fastmath=_FAST, nogil=True)
def _activate(code, z):
    """Output and d output / d z (straight-through 1 for step)."""
    if code == 1:
        s = _sigmoid(z)
        return s, s * (1.0 - s)
    if code == 2:
        return (1.0 if z >= 0 else 0.0), 1.0
    return z, 1.0


@njit(cache=True, fastmath=_FAST, nogil=True)
def _loss(loss_code, activation_code, z, y):
    """Output, loss value and d loss / d z for one sample with target y in {0, 1}."""
    a, da = _activate(activation_code, z)
    if loss_code == 0:  # mse
        return a, (a - y) ** 2, 2.0 * (a - y) * da
    if loss_code == 1:  # bce
        if activation_code == 1:
            value = max(z, 0.0) + math.log1p(math.exp(-abs(z))) - y * z
            return a, value, a - y
        p = min(max(a, _EPSILON), 1.0 - _EPSILON)
        value = -(y * math.log(p) + (1.0 - y) * math.log(1.0 - p))
        if a > _EPSILON and a < 1.0 - _EPSILON:
            return a, value, (p - y) / (p * (1.0 - p)) * da
        return a, value, 0.0
    t = 2.0 * y - 1.0
    if loss_code == 2:  # hinge
        return a, max(0.0, 1.0 - t * z), (-t if t * z < 1.0 else 0.0)
    return a, max(0.0, -t * z), (-t if t * z <= 0.0 else 0.0)  # perceptron


@njit(cache=True, fastmath=_FAST, nogil=True)
def _apply_update(optimizer_code, params, grad, first, second, lr, step):
    if optimizer_code == 0:
        for i in range(params.shape[0]):
            params[i] -= lr * grad[i]
    elif optimizer_code == 1:
        for i in range(params.shape[0]):
            first[i] = MOMENTUM * first[i] - lr * grad[i]
            params[i] += first[i]
    else:
        rate = lr * math.sqrt(1.0 - BETA2**step) / (1.0 - BETA1**step)
        for i in range(params.shape[0]):
            g = grad[i]
            first[i] = BETA1 * first[i] + (1.0 - BETA1) * g
            second[i] = BETA2 * second[i] + (1.0 - BETA2) * g * g
            params[i] -= rate * first[i] / (math.sqrt(second[i]) + ADAM_EPSILON)


@njit(cache=True, fastmath=_FAST, nogil=True)
def binary_batches(pixels, a, b, y, order, first_batch, stop_batch, batch_size, params, first, second, step,
                   activation_code, loss_code, optimizer_code, lr, threshold, totals):
    """Run batches [first_batch, stop_batch) of `order` (row numbers); returns the optimizer's step count.

    totals[0] accumulates the summed loss and totals[1] the count of correct answers, for the epoch's logs.
    """
    n_features = a.shape[0]
    n = order.shape[0]
    scaled = np.empty(n_features, dtype=np.float32)   # w_d * a_d, refreshed every step
    pixel_grad = np.zeros(n_features, dtype=np.float32)
    grad = np.zeros(n_features + 1, dtype=np.float32)
    rows = np.empty((batch_size, n_features), dtype=np.float32)
    dzs = np.empty(batch_size, dtype=np.float32)
    for batch in range(first_batch, stop_batch):
        lo = batch * batch_size
        count = min(lo + batch_size, n) - lo
        offset = params[n_features]
        for d in range(n_features):
            scaled[d] = params[d] * a[d]
            offset += params[d] * b[d]
            pixel_grad[d] = 0.0
        dz_sum = 0.0
        for j in range(count):
            i = order[lo + j]
            pixel_row = pixels[i]
            row = rows[j]
            z = offset
            for d in range(n_features):
                row[d] = pixel_row[d]
                z += scaled[d] * row[d]
            out, value, dz = _loss(loss_code, activation_code, z, y[i])
            totals[0] += value
            if (out >= threshold) == (y[i] > 0.5):
                totals[1] += 1.0
            dzs[j] = dz / count
            dz_sum += dzs[j]
        for j in range(count):
            row = rows[j]
            dz = dzs[j]
            for d in range(n_features):
                pixel_grad[d] += dz * row[d]
        for d in range(n_features):
            grad[d] = a[d] * pixel_grad[d] + b[d] * dz_sum
        grad[n_features] = dz_sum
        step += 1
        _apply_update(optimizer_code, params, grad, first, second, lr, step)
    return step


@njit(cache=True, fastmath=_FAST, nogil=True)
def multiclass_batches(pixels, a, b, labels, order, first_batch, stop_batch, batch_size, params, first, second,
                       step, n_classes, loss_code, optimizer_code, lr, totals):
    """The same for a softmax layer of n_classes outputs, with cross-entropy (0) or MSE (1) loss.

    Background pixels (0) are skipped: with ten outputs per pixel that halves the work on MNIST.
    """
    n_features = a.shape[0]
    n = order.shape[0]
    bias = n_features * n_classes
    scaled = np.empty(bias, dtype=np.float32)
    pixel_grad = np.zeros(bias, dtype=np.float32)
    grad = np.zeros(params.shape[0], dtype=np.float32)
    offset = np.empty(n_classes, dtype=np.float64)
    dz_sum = np.empty(n_classes, dtype=np.float64)
    z = np.empty(n_classes, dtype=np.float64)
    p = np.empty(n_classes, dtype=np.float64)
    for batch in range(first_batch, stop_batch):
        lo = batch * batch_size
        hi = min(lo + batch_size, n)
        for k in range(n_classes):
            offset[k] = params[bias + k]
            dz_sum[k] = 0.0
        for d in range(n_features):
            for k in range(n_classes):
                w = params[d * n_classes + k]
                scaled[d * n_classes + k] = w * a[d]
                offset[k] += w * b[d]
                pixel_grad[d * n_classes + k] = 0.0
        for j in range(lo, hi):
            i = order[j]
            label = labels[i]
            pixel_row = pixels[i]
            for k in range(n_classes):
                z[k] = offset[k]
            for d in range(n_features):
                x = pixel_row[d]
                if x != 0:
                    for k in range(n_classes):
                        z[k] += scaled[d * n_classes + k] * x
            top = z.max()
            total = 0.0
            best = 0
            for k in range(n_classes):
                p[k] = math.exp(z[k] - top)
                total += p[k]
                if z[k] > z[best]:
                    best = k
            for k in range(n_classes):
                p[k] /= total
            if best == label:
                totals[1] += 1.0
            if loss_code == 0:
                totals[0] -= math.log(max(p[label], 1e-300))
                for k in range(n_classes):
                    z[k] = p[k] - (1.0 if k == label else 0.0)  # z now holds d loss / d z
            else:
                dot = 0.0
                value = 0.0
                for k in range(n_classes):
                    diff = p[k] - (1.0 if k == label else 0.0)
                    value += diff * diff
                    dot += 2.0 * diff * p[k]
                totals[0] += value
                for k in range(n_classes):
                    diff = p[k] - (1.0 if k == label else 0.0)
                    z[k] = p[k] * (2.0 * diff - dot)
            scale = 1.0 / (hi - lo)
            for k in range(n_classes):
                z[k] *= scale
                dz_sum[k] += z[k]
            for d in range(n_features):
                x = pixel_row[d]
                if x != 0:
                    for k in range(n_classes):
                        pixel_grad[d * n_classes + k] += z[k] * x
        for d in range(n_features):
            for k in range(n_classes):
                grad[d * n_classes + k] = a[d] * pixel_grad[d * n_classes + k] + b[d] * dz_sum[k]
        for k in range(n_classes):
            grad[bias + k] = dz_sum[k]
        step += 1
        _apply_update(optimizer_code, params, grad, first, second, lr, step)
    return step
