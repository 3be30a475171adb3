"""The fit loop: callbacks and their logs, early stopping, the divergence guard, warnings, Ctrl-C."""

import os
import signal
import warnings

import numpy as np
import pytest

from fiveornot import Perceptron
from fiveornot.errors import TrainingError
from fiveornot.train import Callback, stratified_subset


class Recorder(Callback):
    def __init__(self):
        self.events = []

    def on_train_begin(self, logs):
        self.events.append(("begin", logs))

    def on_epoch_end(self, epoch, logs):
        self.events.append(("epoch", epoch, dict(logs)))

    def on_train_end(self, logs):
        self.events.append(("end", logs))


def test_callbacks_get_keras_style_logs(digits):
    (x, y), _ = digits
    recorder = Recorder()
    Perceptron(epochs=2, lr=0.01).fit(x, y, callbacks=[recorder])
    kinds = [e[0] for e in recorder.events]
    assert kinds == ["begin", "epoch", "epoch", "end"]
    logs = recorder.events[1][2]
    assert set(logs) >= {"loss", "accuracy", "val_loss", "val_accuracy", "seconds"}
    assert recorder.events[0][1]["steps_per_epoch"] == -(-540 // 32)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_early_stopping_stops_and_keeps_the_best_weights(digits):
    (x, y), _ = digits
    model = Perceptron(epochs=200, lr=0.05, patience=2)
    history = model.fit(x, y)
    assert history.status == "early_stopped" and history.epochs_run < 200
    assert min(history["val_loss"]) < history["val_loss"][-1]  # it ran past its best ...
    # ... and kept the best epoch's weights: a fresh fit stopped exactly there gives the same weights.
    best_epoch = int(np.argmin(history["val_loss"])) + 1
    again = Perceptron(epochs=best_epoch, lr=0.05)
    again.fit(x, y)
    np.testing.assert_array_equal(model.coef_, again.coef_)


def test_divergence_guard_stops_with_advice(digits):
    (x, y), _ = digits
    model = Perceptron(activation="linear", scale="none", optimizer="sgd", lr=10.0, epochs=20)
    with pytest.raises(TrainingError, match="smaller learning rate") as caught:
        model.fit(x, y)
    assert caught.value.history.status == "diverged"
    assert caught.value.history.epochs_run < 20


def test_warns_when_no_better_than_the_majority(digits):
    (x, y), _ = digits
    with pytest.warns(UserWarning, match="one class only|no better than"):
        Perceptron(epochs=1, lr=1e-9, init="zeros").fit(x, y)


def test_ctrl_c_stops_after_the_current_step_and_keeps_history(digits):
    (x, y), _ = digits

    class InterruptAtEpoch2(Callback):
        def on_epoch_end(self, epoch, logs):
            if epoch == 2:
                os.kill(os.getpid(), signal.SIGINT)

    model = Perceptron(epochs=50, lr=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = model.fit(x, y, callbacks=[InterruptAtEpoch2()])
    assert history.status == "interrupted"
    assert 2 <= history.epochs_run <= 3
    assert model.score(*digits[1]) > 0.5  # the weights so far are usable


def test_train_size_and_validation_split_are_stratified(digits):
    (x, y), _ = digits
    rng = np.random.default_rng(0)
    chosen = stratified_subset(y, 100, rng)
    assert len(chosen) == 100 and len(set(chosen)) == 100
    shares = np.bincount(y[chosen], minlength=10) / 100
    np.testing.assert_allclose(shares, np.bincount(y, minlength=10) / len(y), atol=0.011)
    model = Perceptron(epochs=1, train_size=200)
    recorder = Recorder()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x, y, callbacks=[recorder])
    assert recorder.events[0][1]["examples"] == 180  # 200 minus the 10% held out


def test_augmentation_trains_on_extra_copies(digits):
    (x, y), _ = digits
    recorder = Recorder()
    Perceptron(epochs=1, lr=0.01, augment=2).fit(x, y, callbacks=[recorder])
    assert recorder.events[0][1]["examples"] == 540 * 3


@pytest.mark.parametrize("params", [{"deskew": True}, {"scale": "standard"}])
def test_each_preparation_trains(digits, params):
    (x, y), (x_test, y_test) = digits
    model = Perceptron(**({"epochs": 3, "lr": 0.01} | params))
    model.fit(x, y)
    assert model.score(x_test, y_test) > 0.95
