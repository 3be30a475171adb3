"""The fit loop: data split, epochs of compiled mini-batch steps, logs, callbacks and guards.

Callbacks follow Keras's protocol (any subset of the hooks below) and receive one flat `logs` dict with
the keys loss, accuracy, val_loss, val_accuracy, seconds. A callback stops training by setting
`model.stop_training = True`; it never raises to do so.
"""

from __future__ import annotations

import signal
import threading
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from fiveornot import kernels
from fiveornot.errors import TrainingError
from fiveornot.losses import loss_and_gradient, softmax_cross_entropy, softmax_mse
from fiveornot.prepare import Preparation

# How --augment varies each copy. Gentle on purpose: bigger rotations and rescalings make digits unlike
# MNIST's own (measured with 2 px, 10 degrees and 10% scale: the five-detector lost 0.1-0.6 points). With
# --deskew, which undoes shifts and slants anyway, no setting tried raised test accuracy.
AUGMENTATION = {"max_shift": 1.0, "max_rotate": 5.0, "max_scale": 0.05}
STEPS_PER_CALL = 256  # batches per compiled call: progress and Ctrl-C are seen this often
EXPLODED = 1e12       # a mean loss beyond this means the weights are running away


class Callback:
    """Do-nothing hooks; subclass and override the ones you need."""

    def on_train_begin(self, logs): ...
    def on_epoch_begin(self, epoch, logs): ...
    def on_train_batch_end(self, step, logs): ...
    def on_epoch_end(self, epoch, logs): ...
    def on_train_end(self, logs): ...


@dataclass
class History:
    """Per-epoch logs of one fit, and how it ended (completed, early_stopped, interrupted, diverged)."""

    rows: list = field(default_factory=list)
    status: str = "completed"
    message: str = ""
    train_seconds: float = 0.0
    warnings: list = field(default_factory=list)

    @property
    def epochs_run(self) -> int:
        return len(self.rows)

    def column(self, key: str) -> list:
        return [row.get(key) for row in self.rows]

    def __getitem__(self, key):  # history["val_accuracy"] like Keras's history.history
        return self.column(key)


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved for `patience` epochs; keep the best weights seen."""

    def __init__(self, model, patience: int, monitor: str = "val_loss"):
        self.model, self.patience, self.monitor = model, patience, monitor
        self.best, self.best_params, self.waited = np.inf, None, 0

    def on_epoch_end(self, epoch, logs):
        if self.monitor not in logs or logs[self.monitor] is None:
            available = ", ".join(k for k, v in logs.items() if v is not None)
            raise TrainingError(f"Early stopping watches {self.monitor!r}, which this training does not log "
                                f"(it logs {available}); use a validation split above 0.")
        if logs[self.monitor] < self.best:
            self.best, self.best_params, self.waited = logs[self.monitor], self.model.params_.copy(), 0
            return
        self.waited += 1
        if self.waited >= self.patience:
            self.model.stop_training = True
            self.model.stop_reason = "early_stopped"

    def on_train_end(self, logs):
        if self.best_params is not None and self.model.stop_reason == "early_stopped":
            self.model.params_[:] = self.best_params


class DivergenceGuard(Callback):
    """Stop when the loss becomes NaN, infinite or explodes: the learning rate is too big for the inputs."""

    def __init__(self, model):
        self.model = model

    def on_epoch_end(self, epoch, logs):
        loss = logs["loss"]
        if not np.isfinite(loss) or loss > EXPLODED or not np.all(np.isfinite(self.model.params_)):
            self.model.stop_training = True
            self.model.stop_reason = "diverged"


def train(model, X, y, *, callbacks=(), validation_data=None) -> History:
    rng = np.random.default_rng(model.seed)
    images, labels = _as_images(X), np.asarray(y)
    if len(images) != len(labels):
        raise TrainingError(f"Got {len(images)} images but {len(labels)} labels; they must be the same count.")
    if labels.size == 0 or labels.min() < 0 or labels.max() > 9:
        raise TrainingError("Labels must be digits 0..9 (and there must be at least one).")
    train_idx, held = _split(model, labels, rng, hold_out=validation_data is None)
    model.validation_indices_ = held   # which of X were held out (None when none were), to score on later
    if validation_data is not None:
        val_images, val_labels = _as_images(validation_data[0]), np.asarray(validation_data[1])
    elif held is not None:
        val_images, val_labels = images[held], labels[held]
    else:
        val_images = val_labels = None

    # Index once (a copy of the uint8 training images), never the float matrix: see kernels.py.
    train_images, train_labels = images[train_idx], labels[train_idx]
    model.preparation_ = Preparation(scale=model.scale, deskew=model.deskew)
    pixel_rows = model.preparation_.fit_rows(train_images)
    X_val = model.preparation_.transform(val_images) if val_images is not None else None
    model.params_ = model.init_params(rng)
    data = _TrainingData(model, train_images, train_labels, pixel_rows)
    return _run_epochs(model, data, X_val, val_labels, list(callbacks), rng)


def _split(model, labels, rng, hold_out: bool):
    """(training indices, held-out validation indices or None): a stratified `train_size` subset first, then
    `validation_split` of it held out, both stratified by digit."""
    chosen = np.arange(len(labels))
    if model.train_size is not None and model.train_size < len(labels):
        chosen = stratified_subset(labels, model.train_size, rng)
    held = None
    if hold_out and model.validation_split > 0:
        held = chosen[stratified_subset(labels[chosen], max(1, round(len(chosen) * model.validation_split)), rng)]
        chosen = np.setdiff1d(chosen, held, assume_unique=True)
    if len(chosen) == 0:
        raise TrainingError(f"No training images are left after holding out {model.validation_split:.0%} for "
                            "validation: use a smaller --validation-split or a larger --train-size.")
    return chosen, held


class _TrainingData:
    """What the compiled loop reads: uint8 pixel rows, the scaling as x' = a*pixel + b, and the targets."""

    def __init__(self, model, images, labels, pixel_rows):
        self.model, self.images, self.labels, self.pixel_rows = model, images, labels, pixel_rows
        self.a, self.b = model.preparation_.affine()
        self.targets = _kernel_targets(model, labels)

    def epoch_parts(self, rng):
        """The training rows, then (with augmentation) fresh random copies, made in chunks to bound memory."""
        yield self.pixel_rows, self.targets
        if self.model.augment:
            from fiveornot.prepare import augment_batches

            for copies, copy_labels in augment_batches(self.images, self.labels, self.model.augment, rng,
                                                       elastic=self.model.elastic, **AUGMENTATION):
                yield self.model.preparation_.rows(copies), _kernel_targets(self.model, copy_labels)


def _run_epochs(model, data, X_val, val_labels, callbacks, rng) -> History:
    history = History()
    guards = [DivergenceGuard(model)]
    if model.patience is not None:
        guards.append(EarlyStopping(model, model.patience))
    callbacks = guards + callbacks
    model.stop_training, model.stop_reason = False, "completed"
    optimizer_state = [np.zeros_like(model.params_), np.zeros_like(model.params_), 0]
    count = len(data.labels)
    steps_per_epoch = -(-count // min(model.batch_size, count)) * (1 + model.augment)
    begin = {"epochs": model.epochs, "steps_per_epoch": steps_per_epoch, "examples": count * (1 + model.augment)}
    for callback in callbacks:
        callback.on_train_begin(begin)
    started = time.perf_counter()
    with _StopOnInterrupt(model):
        for epoch in range(1, model.epochs + 1):
            for callback in callbacks:
                callback.on_epoch_begin(epoch, {})
            epoch_started = time.perf_counter()
            totals, seen = np.zeros(2), 0
            for pixel_rows, targets in data.epoch_parts(rng):
                seen += _train_part(model, data, pixel_rows, targets, optimizer_state, totals, callbacks, seen, rng)
                if model.stop_reason == "interrupted":
                    break
            if seen == 0:
                break
            logs = {"epoch": epoch, "loss": totals[0] / seen, "accuracy": totals[1] / seen,
                    "val_loss": None, "val_accuracy": None}
            if X_val is not None:
                logs["val_loss"], logs["val_accuracy"] = validation_scores(model, X_val, val_labels)
            logs["seconds"] = time.perf_counter() - epoch_started
            history.rows.append(logs)
            for callback in callbacks:
                callback.on_epoch_end(epoch, logs)
            if model.stop_training:
                break
    history.train_seconds = time.perf_counter() - started
    history.status = model.stop_reason
    for callback in callbacks:
        callback.on_train_end({"status": history.status})
    model.set_params_vector(model.params_)
    model.history_ = history
    if history.status == "diverged":
        history.message = (f"Training diverged at epoch {history.epochs_run} (loss "
                           f"{history.rows[-1]['loss']:.3g}): try a smaller learning rate (--lr) or scaled inputs "
                           "(--scale unit).")
        error = TrainingError(history.message)
        error.history = history
        raise error
    _warn_if_useless(model, X_val, val_labels, history)
    return history


def _train_part(model, data, pixel_rows, targets, state, totals, callbacks, seen_before, rng) -> int:
    """Train one pass over some rows (the training set, or one augmented chunk); returns the rows seen."""
    order = rng.permutation(len(targets)) if model.shuffle else np.arange(len(targets))
    batch_size = min(model.batch_size, len(order))  # a batch never needs more room than the rows there are
    batches = -(-len(order) // batch_size)
    first, second, step = state
    seen = 0
    for start in range(0, batches, STEPS_PER_CALL):
        stop = min(start + STEPS_PER_CALL, batches)
        if model.multiclass:
            step = kernels.multiclass_batches(
                pixel_rows, data.a, data.b, targets, order, start, stop, batch_size,
                model.params_, first, second, step, 10, kernels.MULTICLASS_LOSS_CODES[model.loss_],
                kernels.OPTIMIZER_CODES[model.optimizer], model.lr, totals)
        else:
            step = kernels.binary_batches(
                pixel_rows, data.a, data.b, targets, order, start, stop, batch_size,
                model.params_, first, second, step, kernels.ACTIVATION_CODES[model.activation],
                kernels.LOSS_CODES[model.loss_], kernels.OPTIMIZER_CODES[model.optimizer], model.lr,
                model.threshold_, totals)
        seen = min(stop * batch_size, len(order))
        logs = {"loss": totals[0] / (seen_before + seen), "accuracy": totals[1] / (seen_before + seen)}
        for callback in callbacks:
            callback.on_train_batch_end(step, logs)
        if model.stop_reason == "interrupted":
            break
    state[2] = step
    return seen


def _kernel_targets(model, labels) -> np.ndarray:
    if model.multiclass:
        return np.ascontiguousarray(labels, dtype=np.int64)
    return (labels == model.digit).astype(np.float32)


def validation_scores(model, X_val, val_labels):
    """(mean loss, accuracy) of the current parameters on prepared validation rows."""
    model.set_params_vector(model.params_)
    z = model.decision_function_prepared(X_val)
    if model.multiclass:
        loss_function = softmax_cross_entropy if model.loss_ == "ce" else softmax_mse
        return float(np.mean(loss_function(z, val_labels)[0])), float(np.mean(z.argmax(axis=1) == val_labels))
    targets = val_labels == model.digit
    loss = float(np.mean(loss_and_gradient(model.loss_, model.activation, z, targets)[0]))
    return loss, float(np.mean(model.predict_from_raw(z) == targets))


def _warn_if_useless(model, X_val, val_labels, history) -> None:
    """Say so when the model is no better than always answering the majority class (the tutorial's failure)."""
    if X_val is None or len(val_labels) == 0 or model.multiclass:
        return
    predictions = model.predict_from_raw(model.decision_function_prepared(X_val))
    targets = val_labels == model.digit
    baseline = max(targets.mean(), 1 - targets.mean())
    accuracy = float(np.mean(predictions == targets))
    if predictions.all() or not predictions.any():
        answer = "yes" if predictions.all() else "no"
        message = (f"The model answers '{answer}' for every validation image: it predicts one class only. "
                   "Try --activation sigmoid, --scale unit or a smaller --lr.")
    elif accuracy <= baseline:
        message = (f"Validation accuracy {accuracy:.1%} is no better than always answering the majority class "
                   f"({baseline:.1%}). Try --activation sigmoid, --scale unit or a smaller --lr.")
    else:
        return
    history.warnings.append(message)
    warnings.warn(message, UserWarning, stacklevel=5)


def stratified_subset(labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of `count` items keeping each label's share (sorted, so data order is preserved)."""
    count = min(count, len(labels))
    chosen = []
    classes, sizes = np.unique(labels, return_counts=True)
    quotas = np.floor(sizes / len(labels) * count).astype(int)
    # hand the rounding remainder to the classes with the largest fractional parts
    remainder = count - quotas.sum()
    fractions = sizes / len(labels) * count - quotas
    quotas[np.argsort(-fractions, kind="stable")[:remainder]] += 1
    for label, quota in zip(classes, quotas):
        members = np.flatnonzero(labels == label)
        chosen.append(rng.choice(members, size=quota, replace=False))
    return np.sort(np.concatenate(chosen))


def _as_images(X) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim == 2 and X.shape[1] == 784:
        return X.reshape(-1, 28, 28)
    if X.ndim == 3 and X.shape[1:] == (28, 28):
        return X
    raise TrainingError(f"Expected images shaped (N, 28, 28) or (N, 784); got {X.shape}.")


class _StopOnInterrupt:
    """Turn Ctrl-C into "stop after the current step" for the duration of training (main thread only)."""

    def __init__(self, model):
        self.model, self.previous = model, None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._stop)
        return self

    def _stop(self, signum, frame):
        self.model.stop_training = True
        self.model.stop_reason = "interrupted"

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False
