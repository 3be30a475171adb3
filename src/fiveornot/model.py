"""Perceptron: one dense layer over the 784 pixels of a digit, with scikit-learn's vocabulary.

``Perceptron(digit=5)`` answers "is this a five?" with one output unit; ``Perceptron(digit="all")`` is the
10-class softmax perceptron. The input preparation (scaling, deskewing) is learned at `fit`, stored in the
model file and applied identically wherever the model is used.
"""

from __future__ import annotations

import hashlib
import json
import numbers
from pathlib import Path

import numpy as np

from fiveornot import __version__, activations
from fiveornot.atomic import atomic_write
from fiveornot.errors import FiveornotError, ModelFileError
from fiveornot.losses import LOSSES, MARGIN_LOSSES
from fiveornot.optimizers import OPTIMIZERS
from fiveornot.prepare import SCALES, Preparation

FORMAT = "fiveornot-perceptron"
FORMAT_VERSION = "1"
N_PIXELS = 784
MULTICLASS_LOSSES = ("ce", "mse")


class ParameterError(FiveornotError, ValueError):
    """A Perceptron parameter is outside its allowed range."""


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)


# name -> (check, description of the allowed values); checked at fit, with one message shape for all.
_CONSTRAINTS = {
    "digit": (lambda v: v == "all" or (_is_int(v) and 0 <= v <= 9), "an integer in 0..9 or 'all'"),
    "activation": (lambda v: v in activations.ACTIVATIONS, f"one of {activations.ACTIVATIONS}"),
    "loss": (lambda v: v is None or v in LOSSES + MULTICLASS_LOSSES, f"one of {LOSSES + ('ce',)} or None"),
    "optimizer": (lambda v: v in OPTIMIZERS, f"one of {OPTIMIZERS}"),
    "lr": (lambda v: _is_number(v) and v > 0, "a float in the range (0, inf)"),
    "epochs": (lambda v: _is_int(v) and v >= 1, "an integer in the range [1, inf)"),
    "batch_size": (lambda v: _is_int(v) and v >= 1, "an integer in the range [1, inf)"),
    "validation_split": (lambda v: _is_number(v) and 0 <= v < 1, "a float in the range [0, 1)"),
    "scale": (lambda v: v in SCALES, f"one of {SCALES}"),
    "deskew": (lambda v: isinstance(v, bool), "a bool"),
    "augment": (lambda v: _is_int(v) and v >= 0, "an integer in the range [0, inf)"),
    "elastic": (lambda v: isinstance(v, bool), "a bool"),
    "train_size": (lambda v: v is None or (_is_int(v) and v >= 10), "None or an integer in the range [10, inf)"),
    "patience": (lambda v: v is None or (_is_int(v) and v >= 1), "None or an integer in the range [1, inf)"),
    "init": (lambda v: v in ("glorot", "zeros"), "one of ('glorot', 'zeros')"),
    "seed": (lambda v: _is_int(v) and v >= 0, "an integer in the range [0, inf)"),
    "threshold": (lambda v: v is None or _is_number(v), "None or a finite float"),
    "shuffle": (lambda v: isinstance(v, bool), "a bool"),
}


class Perceptron:
    """A single-layer perceptron on 28x28 digits.

    Parameters
    ----------
    digit : int or "all", default 5
        The digit to detect ("this digit vs the rest"), or "all" for ten softmax outputs.
    activation : {"sigmoid", "linear", "step"}, default "sigmoid"
        Output of the unit. "linear" with ``scale="none"`` is the tutorial's failing model. Ignored (softmax)
        when ``digit="all"``.
    loss : {"mse", "bce", "hinge", "perceptron", "ce"} or None, default None
        None means "mse" for one output (the tutorial's choice) and "ce" (cross-entropy) for ten.
    optimizer : {"adam", "sgd", "momentum"}, default "adam"
    lr : float, default 0.001
        Learning rate.
    epochs, batch_size : int, default 10 and 32
    validation_split : float, default 0.1
        Share of the training images held out (stratified by digit) to report val_loss/val_accuracy.
    scale : {"unit", "none", "standard"}, default "unit"
        Input scaling: /255, raw 0..255, or z-scores from training statistics.
    deskew : bool, default False
        Straighten each digit by its second moments before scaling.
    augment : int, default 0
        Extra randomly shifted/rotated/scaled copies of each training image, made anew each epoch.
    elastic : bool, default False
        Also distort the augmented copies elastically (Simard et al., 2003).
    train_size : int or None
        Use only this many training images (a stratified, seeded subset).
    patience : int or None
        Stop after this many epochs without a better val_loss, keeping the best weights.
    init : {"glorot", "zeros"}, default "glorot"
    seed : int, default 0
        One seed for everything random: the same seed gives bit-identical weights and metrics.
    threshold : float or None
        Decision threshold on the output; None picks 0.5 (0 for a linear unit trained with a margin loss).

    Attributes
    ----------
    coef_ : ndarray (784,) or (784, 10)
    intercept_ : float or ndarray (10,)
    preparation_ : Preparation
    classes_ : ndarray, the labels `predict` answers with
    history_ : History of the last fit
    """

    def __init__(self, digit=5, activation="sigmoid", loss=None, optimizer="adam", lr=0.001, epochs=10,
                 batch_size=32, validation_split=0.1, scale="unit", deskew=False, augment=0, elastic=False,
                 train_size=None, patience=None, init="glorot", seed=0, threshold=None, shuffle=True):
        self.digit, self.activation, self.loss, self.optimizer, self.lr = digit, activation, loss, optimizer, lr
        self.epochs, self.batch_size, self.validation_split = epochs, batch_size, validation_split
        self.scale, self.deskew, self.augment, self.elastic, self.train_size = scale, deskew, augment, elastic, train_size
        self.patience, self.init, self.seed, self.threshold, self.shuffle = patience, init, seed, threshold, shuffle

    # ---- configuration -------------------------------------------------------------------------------

    def get_params(self) -> dict:
        return {name: getattr(self, name) for name in _CONSTRAINTS}

    def validate_params(self) -> None:
        """Raise ParameterError naming the first parameter outside its allowed values."""
        for name, (check, allowed) in _CONSTRAINTS.items():
            value = getattr(self, name)
            if not check(value):
                raise ParameterError(f"The {name!r} parameter of Perceptron must be {allowed}. Got {value!r} instead.")
        if self.multiclass and self.loss not in (None, "ce", "bce", "mse"):
            raise ParameterError(f"The {self.loss!r} loss works with one output only; use 'ce' or 'mse' with digit='all'.")
        if not self.multiclass and self.loss == "ce":
            raise ParameterError("The 'ce' loss is for digit='all'; with one output use 'bce' (binary cross-entropy).")
        if self.multiclass and self.activation != "sigmoid":
            raise ParameterError(f"digit='all' always uses a softmax output; activation={self.activation!r} would be "
                                 "ignored. Leave the activation at its default.")
        if self.elastic and not self.augment:
            raise ParameterError("elastic=True distorts the augmented copies, but augment=0 makes none: set augment "
                                 "to 1 or more.")
        if self.patience is not None and self.validation_split == 0:
            raise ParameterError("Early stopping (patience) watches the validation loss, but validation_split=0 "
                                 "holds out no images: give a validation_split above 0.")

    @property
    def multiclass(self) -> bool:
        return self.digit == "all"

    @property
    def loss_(self) -> str:
        """The loss actually used: None resolves to mse (one output) or ce (ten); bce means ce for ten."""
        if self.multiclass:
            return "mse" if self.loss == "mse" else "ce"
        return self.loss or "mse"

    @property
    def activation_(self) -> str:
        return "softmax" if self.multiclass else self.activation

    @property
    def threshold_(self) -> float:
        if self.threshold is not None:
            return float(self.threshold)
        return 0.0 if (self.activation == "linear" and self.loss_ in MARGIN_LOSSES) else 0.5

    @property
    def classes_(self) -> np.ndarray:
        return np.arange(10) if self.multiclass else np.array([False, True])

    @property
    def n_outputs(self) -> int:
        return 10 if self.multiclass else 1

    def __repr__(self) -> str:
        defaults = Perceptron().get_params()
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if v != defaults[k] or k == "digit"]
        return f"Perceptron({', '.join(changed)})"

    # ---- learning ------------------------------------------------------------------------------------

    def fit(self, X, y, *, callbacks=(), validation_data=None):
        """Train on images X (N, 28, 28) or (N, 784) uint8 and digit labels y (N,) in 0..9.

        Returns the History (also kept as ``history_``). Ctrl-C stops after the current step with
        ``history.status == "interrupted"`` and the weights so far.
        """
        from fiveornot.train import train

        self.validate_params()
        return train(self, X, y, callbacks=callbacks, validation_data=validation_data)

    def init_params(self, rng: np.random.Generator) -> np.ndarray:
        """Flat float32 parameters (weights then biases; see kernels.py), Glorot-uniform or zeros."""
        params = np.zeros((N_PIXELS + 1) * self.n_outputs, dtype=np.float32)
        if self.init == "glorot":
            limit = np.sqrt(6 / (N_PIXELS + self.n_outputs))
            params[: N_PIXELS * self.n_outputs] = rng.uniform(-limit, limit, N_PIXELS * self.n_outputs)
        return params

    def set_params_vector(self, params: np.ndarray) -> None:
        if self.multiclass:
            matrix = params.reshape(N_PIXELS + 1, 10)
            self.coef_, self.intercept_ = matrix[:N_PIXELS].copy(), matrix[N_PIXELS].copy()
        else:
            self.coef_, self.intercept_ = params[:N_PIXELS].copy(), float(params[N_PIXELS])

    # ---- using ---------------------------------------------------------------------------------------

    def _check_fitted(self):
        if not hasattr(self, "coef_"):
            raise FiveornotError("This Perceptron is not trained yet: call fit() or Perceptron.load() first.")

    def decision_function(self, X) -> np.ndarray:
        """The raw weighted sum z = w.x + b of each image: (N,) or (N, 10). Not squashed by any activation."""
        self._check_fitted()
        return self.decision_function_prepared(self.preparation_.transform(X))

    def decision_function_prepared(self, X_prepared: np.ndarray) -> np.ndarray:
        return X_prepared @ self.coef_ + self.intercept_

    def output_from_raw(self, z: np.ndarray) -> np.ndarray:
        """The unit's output for raw sums z: the activation (one output) or softmax probabilities (ten)."""
        if self.multiclass:
            return activations.softmax(z.astype(np.float64))
        return activations.activate(self.activation, z)

    def predict_proba(self, X) -> np.ndarray:
        """One output: the unit's output for each image (a probability for sigmoid). Ten: (N, 10) softmax."""
        return self.output_from_raw(self.decision_function(X))

    def predict_from_raw(self, z: np.ndarray) -> np.ndarray:
        if self.multiclass:
            return z.argmax(axis=1)
        return self.output_from_raw(z) >= self.threshold_

    def predict(self, X) -> np.ndarray:
        """One output: bool (is it the digit?). Ten: the digit 0..9."""
        return self.predict_from_raw(self.decision_function(X))

    def targets(self, labels) -> np.ndarray:
        """What this model is asked to predict for digit labels: bool for one digit, the labels for all."""
        labels = np.asarray(labels)
        return labels.astype(np.int64) if self.multiclass else labels == self.digit

    def score(self, X, y) -> float:
        """Accuracy on images X with digit labels y."""
        return float(np.mean(self.predict(X) == self.targets(y)))

    def evaluate(self, X, y) -> dict:
        """Test metrics (see metrics.py) for images X with digit labels y."""
        from fiveornot import metrics

        z = self.decision_function(X)
        if self.multiclass:
            return metrics.multiclass_metrics(np.asarray(y), z.argmax(axis=1))
        # Answers come from the output and the threshold; ROC-AUC ranks the raw sums, which keep their order
        # even where a step output is only 0 or 1.
        return metrics.binary_metrics(self.targets(y), self.output_from_raw(z), threshold=self.threshold_,
                                      ranking=z)

    def evaluate_detector(self, X, y, digit: int = 5) -> dict:
        """Binary metrics for "is it `digit`?". A 10-class model answers yes when its top digit is `digit`
        (ROC-AUC ranks that digit's margin over the best other one); a one-output model must detect `digit`."""
        from fiveornot import metrics

        if not self.multiclass:
            if digit != self.digit:
                raise FiveornotError(f"This model detects {self.digit}, not {digit}.")
            return self.evaluate(X, y)
        z = self.decision_function(X)
        others = np.delete(z, digit, axis=1).max(axis=1)
        answers = (z.argmax(axis=1) == digit).astype(np.float64)
        return metrics.binary_metrics(np.asarray(y) == digit, answers, threshold=0.5, ranking=z[:, digit] - others)

    # ---- files ---------------------------------------------------------------------------------------

    def save(self, path) -> Path:
        """Write weights and metadata to a .safetensors file (atomically). No code, no pickle."""
        from safetensors.numpy import save

        self._check_fitted()
        tensors = {"weights": np.ascontiguousarray(self.coef_, dtype=np.float32),
                   "bias": np.atleast_1d(np.asarray(self.intercept_, dtype=np.float32))}
        tensors.update(self.preparation_.to_tensors())
        metadata = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "fiveornot_version": __version__,
            "params": json.dumps(self.get_params()),
            "threshold": repr(self.threshold_),
            "training_data_digest": getattr(self, "training_data_digest_", ""),
            "tensors_sha256": _tensors_digest(tensors),
        }
        metadata.update({f"prep.{k}": v for k, v in self.preparation_.to_metadata().items()})
        path = Path(path)
        with atomic_write(path) as file:
            file.write(save(tensors, metadata=metadata))
        return path

    @classmethod
    def load(cls, path) -> "Perceptron":
        """Read a model file written by `save`, refusing anything truncated, tampered or unknown."""
        path = Path(path)
        tensors, metadata = _read_safetensors(path)
        if metadata.get("format") != FORMAT:
            raise ModelFileError(f"{path} is not a fiveornot model file (its metadata has no format {FORMAT!r}).")
        if metadata.get("format_version") != FORMAT_VERSION:
            raise ModelFileError(
                f"{path} has model format version {metadata.get('format_version')!r}; this fiveornot "
                f"({__version__}) reads version {FORMAT_VERSION}. Retrain the model or upgrade fiveornot.")
        if metadata.get("tensors_sha256") != _tensors_digest(tensors):
            raise ModelFileError(f"{path} has been modified since it was saved (its weights do not match their "
                                 "checksum). Retrain or restore the file.")
        try:
            params = json.loads(metadata["params"])
            model = cls(**params)
            model.validate_params()
            model.threshold = float(metadata["threshold"])
            prep_meta = {k[len("prep."):]: v for k, v in metadata.items() if k.startswith("prep.")}
            model.preparation_ = Preparation.from_saved(prep_meta, tensors)
        except (KeyError, TypeError, ValueError) as error:
            raise ModelFileError(f"{path} has invalid model metadata ({error}). Retrain the model.") from None
        expected = (N_PIXELS, 10) if model.multiclass else (N_PIXELS,)
        weights, bias = tensors.get("weights"), tensors.get("bias")
        if weights is None or bias is None or weights.shape != expected or bias.shape != (model.n_outputs,):
            raise ModelFileError(f"{path} holds weights of the wrong shape (expected {expected}). Retrain the model.")
        if not (np.all(np.isfinite(weights)) and np.all(np.isfinite(bias))):
            raise ModelFileError(f"{path} holds weights that are not finite numbers: its training diverged. "
                                 "Retrain with a smaller --lr or --scale unit.")
        model.coef_ = weights
        model.intercept_ = bias if model.multiclass else float(bias[0])
        model.training_data_digest_ = metadata.get("training_data_digest", "")
        return model


def _tensors_digest(tensors: dict) -> str:
    digest = hashlib.sha256()
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _read_safetensors(path: Path):
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelFileError(f"No model file at {path}.") from None
    if len(data) < 8:
        raise ModelFileError(f"{path} is truncated or empty; it is not a model file.")
    try:
        header_size = int.from_bytes(data[:8], "little")
        if header_size > len(data) - 8:
            raise ValueError("header runs past the end of the file")
        metadata = json.loads(data[8 : 8 + header_size]).get("__metadata__") or {}
        tensors = load(data)
    except (SafetensorError, ValueError, UnicodeDecodeError, AttributeError) as error:
        raise ModelFileError(f"{path} is not a readable model file ({error}); it may be truncated or "
                             "corrupted. Retrain the model.") from None
    return tensors, metadata
